"""Python version requirements: PEP 440 and poetry specifiers read at minor granularity.

A bare "3.12" (djship.toml's project.python, .python-version) means 3.12.x, as uv and pyenv
read .python-version: a project that accepts newer minors says so with ">=3.12".

Config validates ``project.python`` with this parser, and the release code decides the
interpreter with it, so it lives with config (data), below the planners.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from djship.errors import UsageError

_CLAUSE = re.compile(r"^(===|==|!=|~=|>=|<=|>|<|\^|~)?\s*(\d+(?:\.\d+)*)(\.\*)?$")
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


def parse(spec: str, source: str) -> Requirement:
    """Parse a PEP 440 or poetry specifier (",", spaces and "||"), a bare "3.12" meaning
    3.12.x; raise UsageError if bad."""
    text = spec.strip()
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
