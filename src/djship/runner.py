"""Run steps on hosts in parallel: facts, plans, actions, progress, dry runs and failures."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from djship.errors import DjshipError, RemoteFailure
from djship.plan import Action, AnyStep, Call, Plan, Put, Run, Sync
from djship.shell import FAILED_MARK, Command, Script, cmd, raw
from djship.transport.base import Result, Transport
from djship.ui import UI


@dataclass
class HostReport:
    """What happened on one host."""

    host: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    error: DjshipError | None = None


class Interrupted(DjshipError):
    """The user (Ctrl-C) or the system (SIGTERM) stopped the run; what was done is undone."""

    def __init__(self, signal_name: str, exit_code: int,
                 outcome: str = "what this run had done was undone; the live release kept "
                                "serving") -> None:
        super().__init__(f"interrupted by {signal_name}: {outcome}")
        self.exit_code = exit_code


@dataclass
class Journal:
    """The undo of each action a run carried out on one host, oldest first (an undo may be
    several actions, run in their own order)."""

    entries: list[tuple[str, tuple[Action, ...]]] = field(default_factory=list)

    def record(self, step: str, action: Action) -> None:
        """Remember the undo of an action that was carried out."""
        if action.undo:
            self.entries.append((step, action.undo))

    def clear(self) -> None:
        """Forget everything: the run reached the point where nothing is to be undone."""
        self.entries.clear()


class MultiHostFailure(DjshipError):
    """One or more hosts failed; each failure is listed."""

    def __init__(self, failures: list[DjshipError]) -> None:
        names = ", ".join(getattr(f, "host", "?") for f in failures)
        super().__init__(f"{len(failures)} hosts failed: {names}")
        self.failures = failures


def failed_command(result: Result, script: Script) -> str:
    """The command that broke, from the ERR trap's first line in stderr (a script run inside
    another reports the inner command first), else the script's last command."""
    for line in result.stderr.splitlines():
        if line.startswith(FAILED_MARK):
            return line.removeprefix(FAILED_MARK)
    return script.commands[-1].render() if script.commands else ""


def strip_marks(text: str) -> str:
    """Remove the ERR-trap marker lines from command output."""
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith(FAILED_MARK))


class Runner:
    """Executes steps on a host through its transport, or prints them in a dry run."""

    def __init__(self, ui: UI, *, dry_run: bool = False, site: str | None = None) -> None:
        self.ui = ui
        self.dry_run = dry_run
        self.site = site

    def check(self, transport: Transport, script: Script, step: str,
              stdin: bytes | None = None, hint: str | None = None) -> Result:
        """Run a script and raise RemoteFailure (host, step, command, stderr) if it fails."""
        self.ui.debug(f"[{transport.name}] {step}:\n{script.render()}")
        result = transport.run(script, stdin=stdin)
        if result.stdout.strip() or result.stderr.strip():
            self.ui.debug(f"[{transport.name}] {step} output:\n"
                          f"{strip_marks(result.stdout + result.stderr)}")
        if not result.ok:
            raise RemoteFailure(transport.name, step, self.ui.mask(failed_command(result, script)),
                                result.status, self.ui.mask(strip_marks(result.stderr)),
                                self.ui.mask(result.stdout), site=self.site, hint_text=hint)
        return result

    def read_fact(self, transport: Transport, step: AnyStep) -> Any:
        """Probe the host for a step's fact (the assumed value in a dry run)."""
        if step.fact.probe is None:
            return step.fact.parse(Result(0, "", ""))
        if self.dry_run:
            return step.fact.assume
        result = self.check(transport, step.fact.probe, f"{step.name} (probe)")
        return step.fact.parse(result)

    def apply(self, transport: Transport, step: str, action: Action) -> None:
        """Carry out one action."""
        if isinstance(action, Run):
            self.check(transport, action.script, step, stdin=action.stdin)
        elif isinstance(action, Call):
            action.fn(transport)
        elif isinstance(action, Sync):
            self.ui.debug(f"[{transport.name}] {step}: {action.summary}")
            result = transport.sync(action.source, action.files, action.dest, action.link_dest)
            if not result.ok:
                raise upload_failure(transport, step, action, result, self.site)
        else:
            transport.put(action.content, action.path, mode=action.mode, owner=action.owner,
                          group=action.group)

    def execute(self, transport: Transport, step: str, plan: Plan, journal: Journal,
                stop: threading.Event) -> None:
        """Carry out a plan's actions in order, recording each one's undo in ``journal``
        before it runs; checks ``stop`` (set by Ctrl-C/SIGTERM) before each action."""
        for action in plan.actions:
            if stop.is_set():
                raise DjshipError(f"{transport.name}: stopped before {step}")
            # Recorded first: an action cut short (a partial upload, a slot that started but
            # failed its check) is undone too, so every undo must be safe to run twice.
            journal.record(step, action)
            self.apply(transport, step, action)

    def undo(self, transport: Transport, journal: Journal) -> list[str]:
        """Run a journal's undo actions, newest first; every one is tried. Problems, if any."""
        problems = []
        for step, actions in reversed(journal.entries):
            try:
                for action in actions:
                    self.apply(transport, f"undo {step}", action)
            except DjshipError as exc:
                problems.append(f"{transport.name}: undo of {step} failed: {exc.message}")
        journal.clear()
        return problems

    def run_step(self, transport: Transport, step: AnyStep) -> Plan:
        """Read the fact, plan, and apply (or show) the plan; reports progress."""
        start = time.monotonic()
        plan = step.plan(self.read_fact(transport, step))
        if self.dry_run:
            self.show_plan(transport.name, step.name, plan)
            return plan
        for action in plan.actions:
            self.apply(transport, step.name, action)
        summary = "; ".join(a.summary for a in plan.actions if a.summary) or plan.reason
        self.ui.step(transport.name, step.name, "changed" if plan.changes else "ok", summary,
                     time.monotonic() - start)
        return plan

    def drift(self, transport: Transport, steps: Sequence[AnyStep]) -> list[str]:
        """Names of steps that would change something (read-only: facts and plans only)."""
        return [s.name for s in steps if s.plan(self.read_fact(transport, s)).changes]

    def run_steps(self, transport: Transport, steps: Sequence[AnyStep]) -> HostReport:
        """Run steps in order on one host; stop at the first failure."""
        report = HostReport(transport.name)
        current = ""
        try:
            if not self.dry_run:
                transport.connect()
            for step in steps:
                current = step.name
                plan = self.run_step(transport, step)
                (report.changed if plan.changes else report.unchanged).append(step.name)
        except DjshipError as exc:
            self.ui.step(transport.name, current or "connect", "failed", exc.message)
            report.error = exc
        return report

    def run_many(self, jobs: Sequence[tuple[Transport, Callable[[Transport], HostReport]]]
                 ) -> list[HostReport]:
        """Run one job per host in parallel; raise if any host failed, after all finish."""
        if not jobs:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
            reports = list(pool.map(lambda job: job[1](job[0]), jobs))
        failures = [r.error for r in reports if r.error is not None]
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise MultiHostFailure(failures)
        return reports

    def show_plan(self, host: str, step: str, plan: Plan) -> None:
        """Print the exact scripts and files of a plan (secrets masked, secret files elided)."""
        if not plan.changes:
            self.ui.data(f"# [{host}] {step}: no change ({plan.reason})")
            return
        for action in plan.actions:
            self.ui.data(describe(host, step, action))


def describe(host: str, step: str, action: Action) -> str:
    """Human-readable rendering of an action for --dry-run."""
    if isinstance(action, Run):
        stdin = f" (+{len(action.stdin)} bytes on stdin, not shown)" if action.stdin else ""
        return f"# [{host}] {step}: {action.summary}{stdin}\n{action.script.render()}"
    if isinstance(action, Call):
        return f"# [{host}] {step}: {action.summary} (checked from here)"
    if isinstance(action, Sync):
        link = f", hard-linking unchanged files from {action.link_dest}" \
            if action.link_dest else ""
        return (f"# [{host}] {step}: {action.summary}\n"
                f"rsync --checksum {len(action.files)} files to {action.dest}/{link}")
    return describe_put(host, step, action)


def describe_put(host: str, step: str, action: Put) -> str:
    """A file write for --dry-run (secret files elided)."""
    digest = hashlib.sha256(action.content).hexdigest()[:12]
    head = (f"# [{host}] {step}: put {action.path} mode={action.mode:o} "
            f"owner={action.owner}:{action.group} sha256={digest}")
    if action.secret:
        return head + "\n(secret content not shown)"
    body = action.content.decode(errors="replace")
    return head + "\n" + body + ("" if body.endswith("\n") else "\n") + "# end of file"


def undo_lines(host: str, step: str, action: Action) -> list[str]:
    """The dry run's note of what undoes an action if a later one fails."""
    return [f"#   undo on failure: {u.summary or describe(host, step, u).splitlines()[0]}"
            for u in action.undo]


RSYNC_ADVICE = {
    11: "the server's disk is full",
    12: "the connection broke during the upload",
    20: "the upload was interrupted",
    23: "some files could not be read here or written there",
    24: "some files vanished while they were being uploaded (the project changed meanwhile)",
    30: "the server stopped answering during the upload",
    255: "the connection to the server was lost",
}


def upload_failure(transport: Transport, step: str, action: Sync, result: Result,
                   site: str | None) -> RemoteFailure:
    """A failed upload, explained from rsync's exit code (and a probe of the server)."""
    what = RSYNC_ADVICE.get(result.status, "rsync failed")
    hint = "deploy again; nothing of the new release is kept"
    folder = action.dest.rsplit("/", 2)[0]
    if result.status == 11:
        free = transport.run(Script.of([_df(folder)]))
        needed = sum(_size(action.source, f) for f in action.files)
        hint = (f"{free.stdout.strip() or '?'} bytes are free under {folder}; this release "
                f"needs up to {needed} bytes: free some space (old backups, logs) and deploy "
                "again")
    elif result.status == 12 and not transport.run(Script.of([_has_rsync()])).ok:
        what, hint = "rsync is not installed on the server", "run `djship provision`"
    return RemoteFailure(transport.name, step, f"rsync to {action.dest}", result.status,
                         f"{what}\n{result.stderr}", site=site, hint_text=hint)


def _df(folder: str) -> Command:
    return cmd("df", "-B1", "--output=avail", folder, raw("| tail -n 1"))


def _has_rsync() -> Command:
    return cmd("command", "-v", "rsync")


def _size(root: str, name: str) -> int:
    try:
        return (Path(root) / name).stat().st_size
    except OSError:
        return 0
