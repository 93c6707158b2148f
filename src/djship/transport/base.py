"""The transport interface: run a script, put a file atomically, get a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from djship.shell import Script


@dataclass(frozen=True)
class Result:
    """What a remote script returned."""

    status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the exit status is zero."""
        return self.status == 0


class Endpoint(Protocol):
    """What a transport needs to reach a host (config's Host has it): the transport layer
    stays below config."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def identity_file(self) -> str | None: ...
    @property
    def known_hosts_file(self) -> str | None: ...


class Transport(Protocol):
    """Carries scripts and files to one host."""

    name: str

    def connect(self) -> None:
        """Open the connection now, so failures surface before any step runs."""
        ...

    def run(self, script: Script, *, stdin: bytes | None = None,
            timeout: float | None = None) -> Result:
        """Run ``script`` with bash (as root, through sudo when needed); never raises on status."""
        ...

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root",
            group: str = "root") -> None:
        """Write ``data`` to ``path`` atomically (temp file then rename) with mode and owner."""
        ...

    def get(self, path: str) -> bytes:
        """Read a file from the host."""
        ...

    def sync(self, source: str, files: Sequence[str], dest: str, link_dest: str | None
             ) -> Result:
        """Copy ``files`` (relative to local ``source``) into ``dest`` by content, hard-linking
        those equal to their copy in ``link_dest``; the status is rsync's exit code."""
        ...

    def cancel(self) -> None:
        """Stop every command running on the host through this transport now (Ctrl-C)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
