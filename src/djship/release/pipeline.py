"""The release engine: a site's plans run across its hosts, with the lock, undo and signals.

Every command that changes releases (deploy, rollback, restart, restore) runs here: the
site lock and the hosts' facts in one round trip, then phases, each a pure planner per host
(release/phases.py) whose actions the runner carries out in parallel across hosts, keeping
each action's undo. When an action fails, the user presses Ctrl-C or the process gets
SIGTERM, the undo of everything done so far runs (newest first), so no half-made release,
running idle slot or switched host stays behind, and the live release never stops serving.
A run killed outright (SIGKILL, a lost machine) leaves its lock and leftovers, which the
next run takes over and cleans up, saying so.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import TypeVar

from djship.config import Host
from djship.context import Context
from djship.errors import DjshipError, RemoteFailure
from djship.paths import SitePaths
from djship.plan import Plan, Run
from djship.release import scripts, state
from djship.runner import Interrupted, Journal, MultiHostFailure, Runner, describe, undo_lines
from djship.shell import Script
from djship.steps import workers
from djship.transport.base import Transport

R = TypeVar("R")
LOCK_STALE_AFTER = 3600.0  # a lock older than this (seconds) is taken over, whoever held it
HOLDER = re.compile(r"^(?P<who>\S+)@(?P<machine>\S+) pid (?P<pid>\d+) since .* "
                    r"\(epoch (?P<epoch>\d+)\)$")


@dataclass
class Target:
    """One host's part in a run."""

    host: Host
    transport: Transport
    state: state.HostState = field(default_factory=state.HostState)
    slot: str | None = None
    locked: bool = False
    journal: Journal = field(default_factory=Journal)

    @property
    def name(self) -> str:
        """The host's name."""
        return self.host.name

    @property
    def serves(self) -> bool:
        """True on web hosts: they run the app server slots; worker-only hosts do not."""
        return "web" in self.host.roles


def holder_line() -> str:
    """Who takes the lock: user, machine, process and when (parsed by ``is_stale``)."""
    now = time.time()
    return (f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(now))} (epoch {int(now)})")


def pid_alive(pid: int) -> bool:
    """True when a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(holder: str, *, machine: str, now: float,
             alive: Callable[[int], bool] = pid_alive) -> str | None:
    """Why a lock held by ``holder`` may be taken over (its process is gone, or it is older
    than LOCK_STALE_AFTER), or None when it must be respected."""
    m = HOLDER.match(holder.strip())
    if m is None:
        return None
    if m["machine"] == machine and not alive(int(m["pid"])):
        return f"its process {m['pid']} on {machine} is gone"
    age = now - int(m["epoch"])
    if age > LOCK_STALE_AFTER:
        return f"it was taken {age / 3600:.1f} h ago on {m['machine']}"
    return None


class Pipeline:
    """Runs a site's release plans on its web and worker hosts."""

    # Phases whose running commands Ctrl-C may cut short: their undo removes all they made.
    interrupt_outcome: tuple[str, ...] = ()  # what an interruption leaves, when not undone
    # A cut-short command's remote side is stopped too (its scope, see scripts.scoped): a
    # migration then rolls back in its transaction.
    CANCELLABLE = frozenset({"clean", "upload", "venv", "build", "check", "migrate", "static",
                             "release", "complete", "start", "health"})

    def __init__(self, ctx: Context, site: str) -> None:
        self.ctx = ctx
        self.site = site
        self.paths = SitePaths(site)
        self.config = ctx.config
        self.dry_run = ctx.dry_run
        self.runner = Runner(ctx.ui, site=site, dry_run=ctx.dry_run)
        hosts = [h for h in ctx.hosts(site) if {"web", "worker"} & set(h.roles)]
        if not hosts:
            raise DjshipError(f"site {site!r} has no host with the web or worker role",
                              hint="add roles = [\"web\"] to a host")
        self.targets = [Target(h, ctx.transport(h)) for h in hosts]
        self.stopping = threading.Event()
        self.signal_name = ""
        self.current_phase = ""
        self.committed = False

    # -- phases ---------------------------------------------------------------------------

    def phase(self, name: str, fn: Callable[[Target], str | None],
              targets: Sequence[Target] | None = None) -> None:
        """Run ``fn`` on each target in parallel with progress; raise after all finish."""
        chosen = list(self.targets if targets is None else targets)
        self.raise_if_stopped()
        self.current_phase = name

        def one(t: Target) -> DjshipError | None:
            start = time.monotonic()
            try:
                detail = fn(t)
            except DjshipError as exc:
                shown = "interrupted" if self.stopping.is_set() else exc.message
                self.ctx.ui.step(t.name, name, "failed", shown, time.monotonic() - start)
                return exc
            if not self.dry_run:
                self.ctx.ui.step(t.name, name, "ok", detail or "", time.monotonic() - start)
            return None

        errors = [e for e in self.each(one, chosen) if e is not None]
        self.raise_if_stopped()
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise MultiHostFailure(errors)

    def plan_phase(self, name: str, planner: Callable[[Target], Plan],
                   targets: Sequence[Target] | None = None) -> None:
        """Plan per host, then carry the plan out (recording undo) or print it (dry run)."""
        def one(t: Target) -> str:
            plan = planner(t)
            if self.dry_run:
                self.show(t.name, name, plan)
            else:
                self.runner.execute(t.transport, name, plan, t.journal, self.stopping)
            return "; ".join(a.summary for a in plan.actions if a.summary) or plan.reason

        self.phase(name, one, targets)

    def show(self, host: str, step: str, plan: Plan) -> None:
        """Print a plan for --dry-run, with what would undo each action."""
        if not plan.changes:
            self.ctx.ui.data(f"# [{host}] {step}: no change ({plan.reason})")
        for action in plan.actions:
            self.ctx.ui.data(describe(host, step, action))
            for line in undo_lines(host, step, action):
                self.ctx.ui.data(line)

    def run(self, t: Target, step: str, script: Script, hint: str | None = None) -> str:
        """Run a script on a target, raising a located failure."""
        return self.runner.check(t.transport, script, step, hint=hint).stdout

    def each(self, fn: Callable[[Target], R], targets: Sequence[Target] | None = None
             ) -> list[R]:
        """``fn`` on every target (or those given) at once; the results in target order."""
        chosen = list(self.targets if targets is None else targets)
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(chosen)))) as pool:
            return list(pool.map(fn, chosen))

    def together(self, *jobs: Callable[[], None]) -> None:
        """Run phases at the same time (each on every host); after all of them ended, raise
        the first one's failure (every action either took is in the journals, for undo)."""
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(job) for job in jobs]
            failures = [exc for f in futures if (exc := f.exception()) is not None]
        if failures:
            raise failures[0]

    def undo_all(self, first: Script | None = None) -> None:
        """Undo, on every host at once, what this run did (newest first); ``first`` runs
        before the undo on each host (ending what the run still runs there)."""
        if self.dry_run:
            return

        def one(t: Target) -> list[str]:
            if first is not None:
                t.transport.run(first)
            return self.runner.undo(t.transport, t.journal)

        problems = [p for found in self.each(one) for p in found]
        for problem in problems:
            self.ctx.ui.warn(problem)

    def commit(self) -> None:
        """The run went live: nothing of it is to be undone any more."""
        self.committed = True
        for t in self.targets:
            t.journal.clear()

    # -- interruption ---------------------------------------------------------------------

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop the run at the next safe point and undo it (main thread
        only; elsewhere signals keep their default meaning)."""
        if self.dry_run or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Ask the run to stop; cut running commands short where that is safe."""
        name = signal.Signals(signum).name
        if self.committed:
            self.ctx.ui.warn(f"{name}: the new release is already live; finishing up")
            return
        if self.stopping.is_set():
            self.ctx.ui.warn(f"{name}: still undoing this run; wait a moment")
            return
        self.signal_name = name
        self.stopping.set()
        self.ctx.ui.warn(f"{name}: stopping; what this run did is being undone")
        if self.current_phase in self.CANCELLABLE:
            for t in self.targets:
                t.transport.cancel()

    def raise_if_stopped(self) -> None:
        """Turn a received signal into the error that undoes the run."""
        if self.stopping.is_set() and not self.committed:
            sig = self.signal_name or "SIGINT"
            raise Interrupted(sig, 130 if sig == "SIGINT" else 143, *self.interrupt_outcome)

    # -- lock and facts -------------------------------------------------------------------

    def lock_all(self) -> None:
        """Take the site lock and read each host's facts, in one round trip per host.

        A lock left by a run that is gone (a dead process on this machine, or older than
        LOCK_STALE_AFTER) is taken over with a message; any other refusal stops the run.
        """
        holder = holder_line()
        script = scripts.lock(self.paths, holder) + state.probe(self.paths)
        if self.dry_run:
            for t in self.targets:
                self.show(t.name, "lock", Plan.of(Run(script, "take the site lock, read facts",
                                                      undo=(Run(scripts.unlock(self.paths),
                                                                "release the lock"),))))
                t.state = state.HostState(python=(3, 11))
            return

        def take(t: Target) -> str:
            res = t.transport.run(script)
            took_over = ""
            if res.status == scripts.LOCKED:
                took_over = self.take_over(t, res.stderr, holder)
                res = self.runner.check(t.transport, state.probe(self.paths), "state")
            elif not res.ok:
                raise RemoteFailure(t.name, "lock", "mkdir lock", res.status, res.stderr,
                                    site=self.site)
            t.locked = True
            t.state = state.parse(res)
            return f"{took_over}current {t.state.current or 'none'}"

        self.phase("lock", take)

    def take_over(self, t: Target, stderr: str, holder: str) -> str:
        """Take a stale lock over (saying whose), or refuse naming who holds it."""
        held = stderr.strip().removeprefix("deploy lock held by:").strip()
        why = is_stale(held, machine=socket.gethostname(), now=time.time())
        if why is None:
            raise DjshipError(f"{t.name}: another deploy is running on site {self.site} "
                              f"(held by {held})",
                              hint="wait for it; if it died, run `djship lock release`")
        res = t.transport.run(scripts.take_over(self.paths, held, holder))
        if res.status == scripts.LOCKED:
            raise DjshipError(f"{t.name}: another run took the stale lock of site {self.site} "
                              "first", hint="wait for it, then deploy again")
        if not res.ok:
            raise RemoteFailure(t.name, "lock", "take over the lock", res.status, res.stderr,
                                site=self.site)
        self.ctx.ui.warn(f"{t.name}: took over the stale deploy lock of {held} ({why}); "
                         "what that run left behind is cleaned up now")
        return "stale lock taken over; "

    def unlock_all(self) -> None:
        """Release the lock wherever this run took it."""
        if self.dry_run:
            for t in self.targets:
                self.show(t.name, "unlock", Plan.of(Run(scripts.unlock(self.paths),
                                                        "release the lock")))
            return
        for t in self.targets:
            if t.locked:
                t.transport.run(scripts.unlock(self.paths))
                t.locked = False

    def read_state(self) -> None:
        """Read every host's releases, slot and environment digest (without the lock)."""
        def read(t: Target) -> str:
            t.state = state.parse(self.runner.check(t.transport, state.probe(self.paths),
                                                    "state"))
            return f"current {t.state.current or 'none'}"

        self.phase("state", read)

    def restart_workers(self) -> None:
        """Restart worker processes on worker hosts, now that the new release is live."""
        script = workers.restart_workers(self.config, self.site)
        if script is None:
            return
        chosen = [t for t in self.targets if "worker" in t.host.roles]

        def restart(t: Target) -> str:
            self.run(t, "workers", script)
            return "restarted on the new release"

        self.phase("workers", restart, chosen)
