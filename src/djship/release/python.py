"""Which Python a release runs on: what the project asks for, and how the server provides it.

The project's requirement comes from up to three places, all of which must hold:
``project.python`` in djship.toml, ``requires-python`` (or poetry's ``python`` dependency) in
pyproject.toml, and ``.python-version``. An "X.Y" in djship.toml or .python-version means
"X.Y or newer": djship prefers the server's own python3, which Debian keeps patched; a project
that needs exactly one minor version says so with a specifier such as "==3.10.*".

Versions are compared at minor granularity (the server reports major.minor), optimistically:
">=3.11.4" accepts a 3.11 server.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from djship.config.python import Clause, Requirement, parse

__all__ = ["Clause", "Requirement", "parse"]

SYSTEM_PYTHON = "/usr/bin/python3"
# Minor versions djship picks from when it asks uv for an interpreter (newest allowed first).
KNOWN_MINORS = tuple((3, m) for m in range(8, 15))
def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _pyproject_python(path: Path) -> str | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    spec = data.get("project", {}).get("requires-python") or (
        data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python"))
    return spec if isinstance(spec, str) else None


def read_requirements(root: Path, app_dir: Path, configured: str | None) -> list[Requirement]:
    """The project's Python requirements: djship.toml, pyproject.toml, .python-version."""
    found: list[Requirement] = []
    if configured:
        found.append(parse(configured, "project.python in djship.toml", bare_is_minimum=True))
    for folder in dict.fromkeys([root, app_dir]):
        spec = _pyproject_python(folder / "pyproject.toml")
        if spec:
            where = (folder / "pyproject.toml").relative_to(root).as_posix()
            found.append(parse(spec, f"requires-python in {where}"))
            break
    for folder in dict.fromkeys([root, app_dir]):
        text = _read_text(folder / ".python-version")
        m = re.search(r"(\d+)\.(\d+)", text or "")
        if m:
            where = (folder / ".python-version").relative_to(root).as_posix()
            found.append(parse(f"{m.group(1)}.{m.group(2)}", where, bare_is_minimum=True))
            break
    return found


def allows(reqs: list[Requirement], minor: tuple[int, int]) -> bool:
    """True when every requirement accepts ``minor``."""
    return all(r.allows(minor) for r in reqs)


def describe(reqs: list[Requirement]) -> str:
    """All requirements in words, for messages."""
    return " and ".join(r.describe() for r in reqs)


def uv_request(reqs: list[Requirement]) -> str:
    """The version to ask uv for: the newest known minor every requirement accepts."""
    for minor in reversed(KNOWN_MINORS):
        if allows(reqs, minor):
            return f"{minor[0]}.{minor[1]}"
    return ",".join(r.spec for r in reqs)


def key(reqs: list[Requirement]) -> str:
    """A stable text of the requirements (part of the dependency hash)."""
    return ";".join(sorted(r.spec for r in reqs))
