"""Fact: hash, mode and owner of files on the host."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from djship.plan import Fact
from djship.shell import Script, cmd, raw
from djship.transport.base import Result


@dataclass(frozen=True)
class FileState:
    """A file as it is on the host."""

    sha256: str
    mode: int
    owner: str
    group: str


FileStates = dict[str, FileState]


def probe(paths: Sequence[str]) -> Script:
    """Print ``stat`` and ``sha256sum`` lines for the paths that exist."""
    return Script.of([
        cmd("stat", "-c", "stat|%n|%a|%U|%G", "--", *paths, raw("2>/dev/null || true")),
        cmd("sha256sum", "--", *paths, raw("2>/dev/null || true")),
    ])


def parse(result: Result) -> FileStates:
    """Combine stat and sha256sum lines into FileState per existing path."""
    stats: dict[str, tuple[int, str, str]] = {}
    hashes: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith("stat|"):
            _, name, mode, owner, group = line.split("|", 4)
            stats[name] = (int(mode, 8), owner, group)
        elif "  " in line:
            digest, name = line.split("  ", 1)
            hashes[name] = digest
    return {p: FileState(hashes[p], *stats[p]) for p in stats if p in hashes}


def file_states(paths: Sequence[str]) -> Fact[FileStates]:
    """The fact for ``paths``; a dry run assumes none exist yet."""
    return Fact(probe(paths), parse, {})
