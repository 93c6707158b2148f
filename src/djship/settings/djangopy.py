"""Which Python the project's pinned Django needs (Django 6 refuses to install on 3.11)."""

from __future__ import annotations

import contextlib
import re
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from djship.config.python import Requirement, parse
from djship.config.schema import Project
from djship.release import python as pyreq
from djship.release.build import requirement_includes

# The oldest Python each Django release supports (Django's release notes); a newer minor of
# a known major needs at least what its major's last known release needs.
DJANGO_PYTHON = {(3, 2): (3, 6), (4, 0): (3, 8), (4, 1): (3, 8), (4, 2): (3, 8),
                 (5, 0): (3, 10), (5, 1): (3, 10), (5, 2): (3, 10), (6, 0): (3, 12)}
# "Django==6.0.1", "django>=5.2,<6", "Django~=5.1": the lowest version the pin allows.
_PIN = re.compile(r"^\s*django\s*(?:\[[^\]]*\])?\s*(?:==|~=|>=|===)\s*(\d+)\.(\d+)", re.I)


class DjangoPin(NamedTuple):
    """The lowest Django major.minor the project's dependencies allow, and where it is set."""

    version: tuple[int, int]
    where: str


def python_for(version: tuple[int, int]) -> tuple[int, int] | None:
    """The oldest Python that Django ``version`` supports; None for an unknown old one."""
    if version in DJANGO_PYTHON:
        return DJANGO_PYTHON[version]
    known = [k for k in DJANGO_PYTHON if k[0] == version[0] and k < version]
    if known:
        return DJANGO_PYTHON[max(known)]
    newer = [k for k in DJANGO_PYTHON if k < version]
    return DJANGO_PYTHON[max(newer)] if newer else None


def pinned_django(root: Path, proj: Project) -> DjangoPin | None:
    """The Django the project installs: from the lock when there is one, else the pin."""
    if proj.dependencies in ("uv", "poetry"):
        lock = "uv.lock" if proj.dependencies == "uv" else "poetry.lock"
        found = _locked(root / lock)
        if found:
            return DjangoPin(found, lock)
    if proj.dependencies == "requirements":
        for rel in requirement_includes(root, proj.requirements, constraints=False):
            found = _pinned(_read(root / rel).splitlines())
            if found:
                return DjangoPin(found, rel)
        return None
    data = _toml(root / "pyproject.toml")
    listed = data.get("project", {}).get("dependencies", [])
    found = _pinned([x for x in listed if isinstance(x, str)])
    if found is None:
        spec = data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("django")
        spec = spec.get("version") if isinstance(spec, dict) else spec
        m = re.match(r"^\s*[\^~>=]*\s*(\d+)\.(\d+)", spec) if isinstance(spec, str) else None
        found = (int(m.group(1)), int(m.group(2))) if m else None
    return DjangoPin(found, "pyproject.toml") if found else None


def django_requirement(root: Path, proj: Project) -> Requirement | None:
    """The pinned Django's need as a Python requirement (">=3.12 (Django 6.0 in ...)")."""
    pin = pinned_django(root, proj)
    need = python_for(pin.version) if pin else None
    if pin is None or need is None:
        return None
    return parse(f">={need[0]}.{need[1]}", f"Django {_v(pin.version)} in {pin.where}")


def python_note(root: Path, proj: Project, app_dir: Path) -> str | None:
    """For `djship init`: the Python the pinned Django needs, when that rules out a Python
    the project would otherwise accept, and which Debian releases ship one."""
    pin = pinned_django(root, proj)
    need = python_for(pin.version) if pin else None
    if pin is None or need is None:
        return None
    declared = pyreq.read_requirements(root, app_dir, proj.python)
    # Worth saying when a current Debian's python3 is too old, or when the project's own
    # requirement accepts a Python the pinned Django refuses.
    too_old = [v for _, v in pyreq.DEBIAN_PYTHON[1:] if v < need]
    lower = [m for m in pyreq.KNOWN_MINORS if m < need and pyreq.allows(declared, m)]
    if not too_old and not (declared and lower):
        return None
    ships = [f"{name} ships {a}.{b}" for name, (a, b) in pyreq.DEBIAN_PYTHON if (a, b) >= need]
    lack = [f"{name} ({a}.{b})" for name, (a, b) in pyreq.DEBIAN_PYTHON if (a, b) < need]
    text = (f"Django {_v(pin.version)} ({pin.where}) needs Python >= {_v(need)}: "
            f"{'; '.join(ships) or 'no Debian release ships it yet'}")
    if lack:
        text += (f"; on {', '.join(lack)} the deploy needs another Python "
                 '(project.python_source = "uv", or one you install)')
    return text


def _v(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _pinned(lines: list[str]) -> tuple[int, int] | None:
    for line in lines:
        m = _PIN.match(line.split("#", 1)[0])
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def _locked(path: Path) -> tuple[int, int] | None:
    for package in _toml(path).get("package", []):
        if isinstance(package, dict) and str(package.get("name", "")).lower() == "django":
            m = re.match(r"(\d+)\.(\d+)", str(package.get("version", "")))
            if m:
                return int(m.group(1)), int(m.group(2))
    return None


def _read(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8")
    return ""


def _toml(path: Path) -> dict[str, Any]:
    with contextlib.suppress(tomllib.TOMLDecodeError):
        data: dict[str, Any] = tomllib.loads(_read(path))
        return data
    return {}
