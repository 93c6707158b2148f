"""Run steps on hosts in parallel: facts, plans, actions, progress, dry runs and failures."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from djship.errors import DjshipError, RemoteFailure
from djship.plan import Action, AnyStep, Call, Plan, Run
from djship.shell import FAILED_MARK, Script
from djship.transport.base import Result, Transport
from djship.ui import UI


@dataclass
class HostReport:
    """What happened on one host."""

    host: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    error: DjshipError | None = None


class MultiHostFailure(DjshipError):
    """One or more hosts failed; each failure is listed."""

    def __init__(self, failures: list[DjshipError]) -> None:
        names = ", ".join(getattr(f, "host", "?") for f in failures)
        super().__init__(f"{len(failures)} hosts failed: {names}")
        self.failures = failures


def failed_command(result: Result, script: Script) -> str:
    """The command that broke, from the ERR trap's line in stderr (else the script's last)."""
    for line in reversed(result.stderr.splitlines()):
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
        else:
            transport.put(action.content, action.path, mode=action.mode, owner=action.owner,
                          group=action.group)

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
    digest = hashlib.sha256(action.content).hexdigest()[:12]
    head = (f"# [{host}] {step}: put {action.path} mode={action.mode:o} "
            f"owner={action.owner}:{action.group} sha256={digest}")
    if action.secret:
        return head + "\n(secret content not shown)"
    body = action.content.decode(errors="replace")
    return head + "\n" + body + ("" if body.endswith("\n") else "\n") + "# end of file"
