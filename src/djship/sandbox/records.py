"""What the state dir records about each sandbox, and SandboxInfo, its public view."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from djship.errors import DjshipError
from djship.sandbox.fs import write_atomic
from djship.sandbox.proc import alive
from djship.sandbox.state import Layout


@dataclass
class Record:
    """What machine.json keeps about one sandbox."""

    name: str
    address: str
    release: str
    internet: bool = False
    pid: int = 0
    started: int = 0
    egress: list[tuple[str, int]] = field(default_factory=list)
    boot_seconds: float = 0.0


@dataclass(frozen=True)
class SandboxInfo:
    """A sandbox as users and tests see it, with helpers to reach it over SSH."""

    name: str
    address: str
    release: str
    identity_file: Path
    known_hosts_file: Path
    state: str = "running"
    internet: bool = False
    boot_seconds: float = 0.0

    def ssh_argv(self, command: str | Sequence[str] = ()) -> list[str]:
        """An ssh command line for root on this sandbox; a list command is quoted exactly."""
        argv = [
            "ssh", "-i", str(self.identity_file), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts_file}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "LogLevel=ERROR", f"root@{self.address}",
        ]
        remote = command if isinstance(command, str) else shlex.join(command)
        return [*argv, "--", remote] if remote else argv

    def run(self, command: str | Sequence[str], *, check: bool = True,
            timeout: float | None = 600, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run a command as root on the sandbox and capture its output."""
        argv = self.ssh_argv(command)
        argv.insert(1, "-oBatchMode=yes")
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise DjshipError(
                f"command failed on sandbox {self.name} (exit {done.returncode}): {command}\n"
                f"{done.stderr.strip()[-2000:]}")
        return done

    def host_entry(self, roles: Sequence[str] = ("web", "db")) -> str:
        """A [[hosts]] entry for djship.toml reaching this sandbox."""
        def q(value: object) -> str:
            return json.dumps(str(value))  # a JSON string is a valid TOML basic string
        return (
            f"[[hosts]]\nname = {q(self.name)}\naddress = {q(self.address)}\n"
            f'user = "root"\nidentity_file = {q(self.identity_file)}\n'
            f"known_hosts_file = {q(self.known_hosts_file)}\n"
            f"roles = [{', '.join(q(r) for r in roles)}]\n"
        )


def record_path(layout: Layout, name: str) -> Path:
    """Where a sandbox's record lives."""
    return layout.machine(name) / "machine.json"


def save(layout: Layout, rec: Record) -> None:
    """Write a sandbox's record atomically."""
    write_atomic(record_path(layout, rec.name), json.dumps(asdict(rec), indent=2) + "\n")


def load(layout: Layout, name: str) -> Record:
    """Read a sandbox's record."""
    data = json.loads(record_path(layout, name).read_text())
    data["egress"] = [tuple(e) for e in data.get("egress", [])]
    return Record(**data)


def info(layout: Layout, rec: Record) -> SandboxInfo:
    """The public view of a record, with the process checked for liveness."""
    state = "running" if alive(rec.pid, rec.started) else "stopped"
    if rec.pid == 0:
        state = "starting"
    return SandboxInfo(rec.name, rec.address, rec.release, layout.key,
                       layout.machine(rec.name) / "known_hosts", state, rec.internet,
                       rec.boot_seconds)
