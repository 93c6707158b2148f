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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djship.errors import UsageError

SYSTEM_PYTHON = "/usr/bin/python3"
# Minor versions djship picks from when it asks uv for an interpreter (newest allowed first).
KNOWN_MINORS = tuple((3, m) for m in range(8, 15))
_CLAUSE = re.compile(r"^(===|==|!=|~=|>=|<=|>|<|\^|~)?\s*(\d+(?:\.\d+)*)(\.\*)?$")
_BARE = re.compile(r"^\d+\.\d+$")
_OP_SPACE = re.compile(r"(===|==|!=|~=|>=|<=|>|<|\^|~)\s+")


@dataclass(frozen=True)
class Clause:
    """One comparison: ``op`` and the version it compares to (``wild`` for "==3.10.*")."""

    op: str
    version: tuple[int, ...]
    wild: bool = False

    def allows(self, minor: tuple[int, int]) -> bool:
        """Whether some patch release of ``minor`` satisfies the clause."""
        if self.wild or (self.op in ("==", "===") and len(self.version) < 3):
            prefix = self.version[:2]
            match = minor[:len(prefix)] == prefix
            return not match if self.op == "!=" else match
        if self.op in ("==", "==="):
            return minor == self.version[:2]
        if self.op == "!=":
            return True  # excludes one patch release: others of the same minor remain
        v = (*self.version, 0, 0, 0)[:3]
        low, high = (*minor, 0), (*minor, 10**6)
        return {">=": high >= v, ">": high > v, "<=": low <= v, "<": low < v}[self.op]


@dataclass(frozen=True)
class Requirement:
    """A Python requirement from one source, e.g. ">=3.12" from requires-python."""

    spec: str
    source: str
    clauses: tuple[tuple[Clause, ...], ...]  # alternatives ("||"), each a conjunction

    def allows(self, minor: tuple[int, int]) -> bool:
        """True when ``minor`` (e.g. (3, 11)) satisfies the requirement."""
        return any(all(c.allows(minor) for c in alt) for alt in self.clauses)

    def describe(self) -> str:
        """'>=3.12 (requires-python in pyproject.toml)'."""
        return f"{self.spec} ({self.source})"


def _expand(op: str, version: tuple[int, ...], wild: bool) -> list[Clause]:
    """Clauses for one written comparison (poetry's ^ and ~, and ~=, become two)."""
    if op == "^":
        first = next((i for i, x in enumerate(version) if x), len(version) - 1)
        upper = (*version[:first], version[first] + 1)
        return [Clause(">=", version), Clause("<", upper)]
    if op == "~" or (op == "~=" and len(version) == 1):
        upper = (version[0] + 1,) if len(version) == 1 else (version[0], version[1] + 1)
        return [Clause(">=", version), Clause("<", upper)]
    if op == "~=":
        return [Clause(">=", version), Clause("==", version[:-1], wild=True)]
    return [Clause(op or "==", version, wild)]


def parse(spec: str, source: str, *, bare_is_minimum: bool = False) -> Requirement:
    """Parse a PEP 440 or poetry specifier (",", spaces and "||"); raise UsageError if bad."""
    text = spec.strip()
    if bare_is_minimum and _BARE.match(text):
        text = f">={text}"
    alternatives = []
    for alt in re.split(r"\|\|?", text):
        clauses: list[Clause] = []
        for word in re.split(r"[,\s]+", _OP_SPACE.sub(r"\1", alt.strip())):
            if word in ("", "*"):
                continue
            m = _CLAUSE.match(word)
            if not m:
                raise UsageError(f"{source}: cannot read the Python requirement {spec!r}",
                                 hint='write it as "3.12", ">=3.12" or "==3.11.*"')
            version = tuple(int(x) for x in m.group(2).split("."))
            clauses += _expand(m.group(1) or "", version, bool(m.group(3)))
        alternatives.append(tuple(clauses))
    return Requirement(spec.strip(), source, tuple(alternatives))


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
