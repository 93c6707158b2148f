"""Running host commands and handling the processes the sandbox starts, by PID only."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from djship.errors import DjshipError


class HostCommandError(DjshipError):
    """A command run on this machine for the sandbox failed."""

    def __init__(self, what: str, argv: Sequence[str], code: int, output: str, hint: str):
        super().__init__(f"{what} failed (exit {code})", hint=hint)
        self.argv = list(argv)
        self.output = output

    def details(self) -> list[str]:
        tail = self.output.strip().splitlines()[-20:]
        return [f"  command: {' '.join(self.argv)}", *(f"    {line}" for line in tail)]


def run(argv: Sequence[str], *, what: str, hint: str = "", check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a host command, capturing output; raise HostCommandError on failure if check."""
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise HostCommandError(what, argv, proc.returncode, proc.stderr or proc.stdout,
                               hint or "see the command output above")
    return proc


def start_time(pid: int) -> int | None:
    """The start time of a process (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    """True if the process we started (same PID and start time) still runs."""
    return pid > 0 and start_time(pid) == started


def signal_if_ours(pid: int, started: int, sig: signal.Signals) -> bool:
    """Send sig only if pid is still the process we started (guards against PID reuse)."""
    if not alive(pid, started):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def reap(pid: int) -> None:
    """Collect the exit status if pid is our own child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
