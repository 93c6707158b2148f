"""Run scripts on this machine: the same interface as ssh, for local targets and tests."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from djship.shell import Script, cmd
from djship.transport.base import Result
from djship.transport.ssh import put_script


class LocalTransport:
    """Runs scripts with the local bash."""

    def __init__(self, name: str = "local") -> None:
        self.name = name

    def connect(self) -> None:
        """Nothing to open locally."""

    def run(self, script: Script, *, stdin: bytes | None = None,
            timeout: float | None = None) -> Result:
        """Run a script with bash; never raises on a non-zero status."""
        proc = subprocess.run(["bash", "-c", script.render()], input=stdin or b"",
                              capture_output=True, timeout=timeout, check=False)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"),
                      proc.stderr.decode(errors="replace"))

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root",
            group: str = "root") -> None:
        """Write a file atomically with mode and owner."""
        res = self.run(put_script(path, mode, owner, group), stdin=data)
        if not res.ok:
            raise OSError(f"cannot write {path}: {res.stderr.strip()}")

    def get(self, path: str) -> bytes:
        """Read a local file."""
        res = subprocess.run(["bash", "-c", cmd("cat", "--", path).render()],
                             capture_output=True, check=True)
        return res.stdout

    def sync(self, source: str, files: Sequence[str], dest: str, link_dest: str | None
             ) -> Result:
        """rsync by content into a local folder."""
        argv = ["rsync", "-rlp", "--checksum", "--delete", "--files-from=-"]
        if link_dest:
            argv.append(f"--link-dest={link_dest}")
        proc = subprocess.run([*argv, f"{source}/", f"{dest}/"],
                              input="".join(f"{f}\n" for f in files).encode(),
                              capture_output=True, check=False)
        return Result(proc.returncode, proc.stdout.decode(errors="replace"),
                      proc.stderr.decode(errors="replace"))

    def cancel(self) -> None:
        """Local commands end with the process; nothing to stop."""

    def close(self) -> None:
        """Nothing to close."""
