"""`djship deploy`, `rollback` and graceful restarts: phases planned per host, run by the
engine, undone on failure or interruption."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from djship.context import Context
from djship.errors import DjshipError, RemoteFailure, UsageError
from djship.paths import other_slot
from djship.plan import Plan, Run
from djship.release import check, diagnose, scripts
from djship.release.build import Build
from djship.release.phases import (
    Shipment,
    checks_stand,
    plan_clean,
    plan_commands,
    plan_complete,
    plan_finish,
    plan_health,
    plan_late_check,
    plan_migrate,
    plan_start,
    plan_static,
    plan_switch,
    plan_upload,
    plan_venv,
    static_reusable,
)
from djship.release.pipeline import Pipeline, Target
from djship.release.record import fingerprint
from djship.runner import Interrupted
from djship.shell import Script

DEFERRED = ("check --deploy after migrate: the database has no migration applied yet and "
            "nothing is live")
FIRST_DRY = ("; a database with no migration applied yet is migrated first, then checked "
             "by `manage.py check --deploy`")
LATE_CHECK_FAILED = (
    "fix what the check reports (`djship check` runs it locally; a check that needs the "
    "database ran here against the migrated tables), or add its id to SILENCED_SYSTEM_CHECKS "
    "if deliberate; then `djship deploy` again: nothing was live, the database keeps its "
    "migrations")


class Background:
    """A job (the local checks) run in a thread beside the deploy; ``wait`` joins it and
    raises what it raised."""

    def __init__(self, job: Callable[[], None] | None) -> None:
        self.job = job
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin the job (nothing when there is none)."""
        job = self.job
        if job is None:
            return

        def run() -> None:
            try:
                job()
            except BaseException as exc:  # handed to wait(), in the deploy's thread
                self.error = exc

        self.thread = threading.Thread(target=run, name="djship-checks", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        """Block until the job ends; raise its error, if any."""
        if self.thread is not None:
            while self.thread.is_alive():
                self.thread.join(0.1)  # short joins keep Ctrl-C/SIGTERM handlers running
            self.thread = None
        if self.error is not None:
            raise self.error


class Release(Pipeline):
    """What deploy, rollback and restart share: going live with a release, and finishing."""

    def start_slots(self, release_for: Callable[[Target], str]) -> None:
        """Start the release in each web host's idle slot."""
        site = self.config.sites[self.site]
        for t in self.targets:
            t.slot = other_slot(t.state.live_slot or "green") if t.serves else None

        def start(t: Target) -> Plan:
            if t.slot is None:
                return Plan.nothing("no app server on a worker-only host")
            return plan_start(site, self.paths, t.slot, release_for(t))

        self.plan_phase("start", start)

    def go_live(self, release_for: Callable[[Target], str],
                before_switch: Callable[[], None] | None = None, *,
                started: bool = False) -> None:
        """Start the release in each web host's idle slot (unless ``started``), health-check
        it, then switch every host to it (all or none: a failed switch is undone on every
        host)."""
        site = self.config.sites[self.site]
        if not started:
            self.start_slots(release_for)

        def health(t: Target) -> Plan:
            if t.slot is None:
                return Plan.nothing("no app server on a worker-only host")
            return plan_health(site, self.paths, t.slot, release_for(t))

        self.plan_phase("health", health)
        if before_switch is not None:
            before_switch()
        self.plan_phase("switch", lambda t: plan_switch(self.paths, t.state, t.slot,
                                                        release_for(t)))
        self.commit()

    def finish(self, release_for: Callable[[Target], str], *, prune: bool) -> None:
        """Retire the old slots, restart workers and prune, one round trip per host."""
        self.plan_phase("finish", lambda t: plan_finish(
            self.config, self.site, t.state, slot=t.slot, roles=t.host.roles,
            release=release_for(t), prune=prune, root=self.ctx.root))

    def leftovers(self) -> Script | None:
        """What ends this run's commands still running on a host, before its undo."""
        return None

    def guarded(self, body: Callable[[], None]) -> None:
        """Run ``body``; on any failure or interruption before the switch, undo it all."""
        try:
            body()
        except BaseException:
            if not self.committed:
                self.undo_all(first=self.leftovers())
            raise


class Deploy(Release):
    """Ship a build to the site's hosts with zero downtime."""

    def __init__(self, ctx: Context, site: str, build: Build, *, force: bool = False,
                 checks: Callable[[], None] | None = None) -> None:
        super().__init__(ctx, site)
        self.shipment = Shipment(ctx.config, site, build, force)
        self.build = build
        self.force = force
        self.release = build.release_id
        self.checks = Background(checks)

    def leftovers(self) -> Script:
        """This deploy's scopes: their commands outlive a cut ssh connection or Ctrl-C;
        stopping them rolls a migration back and ends a build."""
        return scripts.stop_scopes(self.paths, self.release)

    def unchanged(self) -> bool:
        """True when every host already runs exactly this code, config and environment."""
        for t in self.targets:
            meta = t.state.release(t.state.current)
            want = fingerprint(self.config, self.site, self.build, t.state.env_digest)
            if meta is None or meta.fingerprint != want or (t.serves and
                                                             not t.state.slot_active):
                return False
        return True

    def execute(self) -> bool:
        """Run the whole deploy; returns False when nothing changed."""
        with self.interruptible():
            self.checks.start()
            try:
                self.lock_all()
                try:
                    if not self.dry_run and self.unchanged() and not self.force:
                        self.checks.wait()
                        return False
                    self.guarded(self.ship)
                    self.finish(lambda _t: self.release, prune=True)
                    return True
                finally:
                    self.unlock_all()
            except DjshipError as exc:
                # The local checks' errors say more than what they made fail later (or a
                # server that was not reachable): they are the ones to fix first.
                if not isinstance(exc, Interrupted):
                    self.checks.wait()
                raise

    def ship(self) -> None:
        """Every phase up to and including the switch."""
        s = self.shipment
        self.plan_phase("clean", lambda t: plan_clean(self.paths, t.state))
        self.plan_phase("upload", lambda t: plan_upload(s, t.state))
        try:
            self.plan_phase("venv", lambda t: plan_venv(s, t.state))
        except RemoteFailure as exc:
            raise diagnose.explain(exc) from None
        if s.site_config.build:
            self.plan_phase("build", lambda _t: plan_commands(s, "build"))
        first = self.targets[0]
        collect = not static_reusable(s, first.state)
        # Checks that stand are skipped even when static files are collected: collectstatic
        # alone starts Django as fast as with check and migrate --plan beside it.
        stand = None if self.checks.job is None else checks_stand(s, first.state)
        if stand:
            self.ctx.ui.step(first.name, "check", "ok", stand)
        else:
            self.check_and_migrate(first, collect=collect)
        def static() -> None:
            self.plan_phase("static", lambda t: plan_static(  # workers render templates too
                s, t.state, collected=collect and not stand and t is first))

        # Same settings as the live release, whose app read none of its collected files (a
        # plain storage: no manifest): the new slot starts while they are collected.
        overlap = (bool(stand) and collect and not s.site_config.release
                   and all(t.state.static_plain for t in self.targets))
        if overlap:
            self.together(static, lambda: self.start_slots(lambda _t: self.release))
        else:
            static()
        if s.site_config.release:
            self.plan_phase("release", lambda _t: plan_commands(s, "release"))
        self.plan_phase("complete", lambda t: plan_complete(s, t.state))
        self.go_live(lambda _t: self.release, before_switch=self.checks.wait, started=overlap)

    def check_and_migrate(self, t: Target, *, collect: bool = False) -> None:
        """check --deploy and migrate --plan (and collectstatic) in one process; back up and
        migrate if needed."""
        report = check.UNKNOWN
        rel = self.paths.release(self.release)
        # Nothing of the site is live anywhere: a database with no migration applied yet is
        # migrated before the check (check.PROGRAM decides, it can read the database).
        first = not any(x.state.current for x in self.targets)
        probe = scripts.scoped(self.paths, self.release, "check",
                               check.script(self.config, self.site, rel, collect=collect,
                                            first=first))
        if self.dry_run:
            self.show(t.name, "check", Plan.of(Run(probe, "check --deploy and migrate --plan "
                                                          "(read; they decide the migrate step"
                                                          + FIRST_DRY * first + ")")))
        else:
            began = time.monotonic()
            try:
                res = self.runner.check(t.transport, probe, "check",
                                        hint="`djship check` runs the same checks locally")
            except RemoteFailure as exc:
                if self.checks.job is None:  # --skip-checks: nothing ran here to compare
                    raise
                self.checks.wait()  # the local checks' own errors come first
                raise diagnose.server_only(exc, t.state.python, t.state.os,
                                           diagnose.local_platform()) from None
            report = check.parse(res.stdout, res.stderr)
            for line in report.warnings:
                self.ctx.ui.debug(f"{t.name}: {line}")
            codes = ", ".join(dict.fromkeys(check.code(w) for w in report.warnings))
            said = (DEFERRED if report.deferred else
                    f"check --deploy: {len(report.warnings)} warning(s)"
                    + (f" ({codes}; -v shows them)" if codes else ""))
            self.ctx.ui.step(t.name, "check", "ok",
                             f"{said}; {len(report.pending)} migration operation(s) pending",
                             time.monotonic() - began)
            for op in report.pending[:12]:
                self.ctx.ui.info(f"  {t.name}: {op.strip()}")
            if len(report.pending) > 12:
                self.ctx.ui.info(f"  {t.name}: ... and {len(report.pending) - 12} more")
            for op in report.risky if t.state.current else ():
                self.ctx.ui.warn(f"{op}: the running release still uses the old schema while "
                                 "this migration runs; prefer adding before removing")
        if report.pending:
            self.checks.wait()  # a migration cannot be undone: the local checks decide first
        self.plan_phase("migrate", lambda h: plan_migrate(self.shipment, h.state, report), [t])
        if report.deferred:
            try:
                self.plan_phase("check", lambda _h: plan_late_check(self.shipment, report), [t])
            except RemoteFailure as exc:
                raise replace(exc, hint_text=LATE_CHECK_FAILED) from None


class Activate(Release):
    """Serve an already-built release through the idle slot: rollback and restart."""

    def execute(self, pick: str | None) -> str:
        """Roll back to ``pick`` (default: the release before the current one)."""
        return self.activate(lambda: pick or self.previous())

    def restart(self) -> str:
        """Restart gracefully: serve the current release again from a fresh slot."""
        return self.activate(self.current)

    def activate(self, choose: Callable[[], str]) -> str:
        """Under the lock, start the chosen kept release in the idle slots and switch to it."""
        with self.interruptible():
            self.lock_all()
            try:
                target = choose()
                for t in self.targets:
                    if t.state.release(target) is None:
                        raise UsageError(f"{t.name} does not keep release {target}",
                                         hint="see `djship releases` (only releases that "
                                              "completed their checks and migrations are kept)")
                self.guarded(lambda: self.go_live(lambda _t: target))
                self.finish(lambda _t: target, prune=False)
                return target
            finally:
                self.unlock_all()

    def current(self) -> str:
        """The live release (on the first host)."""
        current = self.targets[0].state.current
        if not current:
            raise UsageError(f"site {self.site} has no release yet", hint="run `djship deploy`")
        return current

    def previous(self) -> str:
        """The release before the current one (on the first host)."""
        t = self.targets[0]
        ids = [r.id for r in t.state.releases]
        if t.state.current not in ids or ids.index(t.state.current) == 0:
            raise UsageError("there is no earlier release to roll back to")
        return ids[ids.index(t.state.current) - 1]


def dry_run(ctx: Context, site: str, build: Build) -> None:
    """Print what a first deploy would run on each host, from the same planners; connects
    to nothing."""
    if not ctx.dry_run:
        raise DjshipError("dry_run needs a dry-run context")
    Deploy(ctx, site, build).execute()
