"""Which Python a release runs on: what the project asks for, and how the server provides it.

The project's requirement comes from up to three places, all of which must hold:
``project.python`` in djship.toml, ``requires-python`` (or poetry's ``python`` dependency) in
pyproject.toml, and ``.python-version``. An "X.Y" in djship.toml or .python-version means
X.Y.x (as uv and pyenv read it); ">=3.12" accepts newer minors. djship prefers the server's
own python3, which Debian keeps patched, then another interpreter already on the server
(a distribution's or a hand-installed python3.X, or one uv installed); it downloads one only
when project.python_source names where from. Otherwise the deploy stops before uploading
anything, listing the ways out.

Versions are compared at minor granularity (the server reports major.minor), optimistically:
">=3.11.4" accepts a 3.11 server.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from djship.config.python import Clause, Requirement, parse
from djship.errors import DjshipError

__all__ = ["Clause", "Requirement", "parse"]

SYSTEM_PYTHON = "/usr/bin/python3"
# Minor versions djship picks from when it asks uv for an interpreter (newest allowed first).
KNOWN_MINORS = tuple((3, m) for m in range(8, 15))
# Debian releases and the python3 each ships, for the "a newer OS release" way out.
DEBIAN_PYTHON = (("Debian 11 (bullseye)", (3, 9)), ("Debian 12 (bookworm)", (3, 11)),
                 ("Debian 13 (trixie)", (3, 13)))


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
        found.append(parse(configured, "project.python in djship.toml"))
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
            found.append(parse(f"{m.group(1)}.{m.group(2)}", where))
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


def minor_of(path: str) -> tuple[int, int] | None:
    """(3, 12) for an interpreter named like ".../python3.12", else None."""
    m = re.search(r"/python(\d+)\.(\d+)$", path)
    return (int(m.group(1)), int(m.group(2))) if m else None


def pick_interpreter(reqs: list[Requirement], found: tuple[str, ...]) -> str | None:
    """The interpreter on the server to use: the newest allowed minor; among equals, the
    one listed first (the probe lists the distribution's before hand-installed and uv's)."""
    best: tuple[tuple[int, int], str] | None = None
    for path in found:
        minor = minor_of(path)
        if minor is not None and allows(reqs, minor) and (best is None or minor > best[0]):
            best = (minor, path)
    return best[1] if best else None


class PythonUnavailable(DjshipError):
    """No interpreter on the server satisfies the project, and none may be downloaded."""

    def __init__(self, reqs: list[Requirement], server: tuple[int, int], os_name: str,
                 site: str | None = None) -> None:
        have = ".".join(map(str, server))
        on = f", {os_name}" if os_name else ""
        super().__init__(
            f"the project needs Python {describe(reqs)}; the server has Python {have} "
            f"({SYSTEM_PYTHON}{on}) and no other interpreter that satisfies it; nothing "
            "was installed", hint="take one of the ways out above, then deploy again")
        self.ways = ways_out(reqs, server)
        self.site = site

    def where(self) -> dict[str, str]:
        return {"site": self.site, "step": "python"} if self.site else {"step": "python"}

    def details(self) -> list[str]:
        return ["  ways out (any one):", *(f"    - {w}" for w in self.ways)]


def allowed_minors(reqs: list[Requirement]) -> str:
    """The known minors every requirement accepts, in words: "3.12" or "3.12, 3.13 or 3.14"."""
    names = [f"{a}.{b}" for a, b in KNOWN_MINORS if allows(reqs, (a, b))]
    if not names:
        return describe(reqs)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def ways_out(reqs: list[Requirement], server: tuple[int, int]) -> list[str]:
    """What the user can do when the server lacks the Python the project needs."""
    ways = []
    releases = [f"{name} ships Python {a}.{b}" for name, (a, b) in DEBIAN_PYTHON
                if (a, b) > server and allows(reqs, (a, b))]
    if releases:
        ways.append(f"a server on a newer OS release: {'; '.join(releases)}")
    ways.append(f"install Python {allowed_minors(reqs)} on the server yourself (as "
                "/usr/local/bin/python3.X): djship uses an interpreter it finds there")
    ways.append('name where the server may download one: project.python_source = "uv" '
                "(needs a route to the internet) or the URL of a mirror of uv's Python builds")
    have = ".".join(map(str, server))
    strict = [r.source for r in reqs if not r.allows(server)]
    ways.append(f"relax the requirement so that Python {have} satisfies it: "
                + ", ".join(strict))
    return ways
