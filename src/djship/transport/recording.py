"""A fake transport that records what would be sent and answers probes from fixtures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from djship.shell import Script
from djship.transport.base import Result


@dataclass
class Sent:
    """One thing the recording transport received."""

    kind: str
    text: str
    stdin: bytes | None = None
    mode: int | None = None
    owner: str | None = None


Responder = Callable[[str], Result | None]


@dataclass
class RecordingTransport:
    """Records scripts and files; probes are answered by ``responses`` (substring → Result)."""

    name: str = "fake"
    responses: dict[str, Result] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    connected: bool = False

    def connect(self) -> None:
        """Pretend to connect (recorded, so tests can assert that nothing connected)."""
        self.connected = True

    def run(self, script: Script, *, stdin: bytes | None = None,
            timeout: float | None = None) -> Result:
        """Record the script and return the first matching canned response."""
        self.connect()
        text = script.render()
        self.sent.append(Sent("run", text, stdin))
        for needle, result in self.responses.items():
            if needle in text:
                return result
        return Result(0, "", "")

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root",
            group: str = "root") -> None:
        """Record a file write and keep its content."""
        self.connect()
        self.files[path] = data
        self.sent.append(Sent("put", path, data, mode, owner))

    def get(self, path: str) -> bytes:
        """Return a previously put or preset file."""
        self.connect()
        return self.files[path]

    def sync(self, source: str, files: Sequence[str], dest: str, link_dest: str | None
             ) -> Result:
        """Record an upload (``text`` is ``DEST <- SOURCE``, link-dest in ``owner``)."""
        self.connect()
        self.sent.append(Sent("sync", f"{dest} <- {source} ({len(files)} files)",
                              owner=link_dest))
        for needle, result in self.responses.items():
            if needle in f"sync {dest}":
                return result
        return Result(0, "", "")

    def cancel(self) -> None:
        """Recorded, so tests can see an interruption reached the transport."""
        self.sent.append(Sent("cancel", ""))

    def close(self) -> None:
        """Nothing to close."""

    def scripts(self) -> list[str]:
        """The rendered scripts sent so far."""
        return [s.text for s in self.sent if s.kind == "run"]
