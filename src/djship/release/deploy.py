"""`djship deploy`, `rollback` and graceful restarts, built on the pipeline."""

from __future__ import annotations

import re
from collections.abc import Callable

from djship.context import Context
from djship.errors import DjshipError, RemoteFailure, UsageError
from djship.plan import Put, Run
from djship.release import diagnose, scripts
from djship.release.build import Build
from djship.release.pipeline import (
    Pipeline,
    Target,
    fingerprint,
    meta_json,
    static_fingerprint,
    upload,
)
from djship.release.state import META
from djship.runner import describe
from djship.shell import Script

DANGEROUS = re.compile(r"^\s*(Remove field|Delete model|Rename field|Rename model|"
                       r"Rename table)", re.IGNORECASE | re.MULTILINE)


def pending_migrations(plan_output: str) -> list[str]:
    """Operations listed by ``migrate --plan`` (empty when nothing is pending)."""
    if "No planned migration operations" in plan_output:
        return []
    return [ln.rstrip() for ln in plan_output.splitlines()
            if ln.strip() and not ln.startswith("Planned operations")]


def risky_operations(plan_output: str) -> list[str]:
    """Operations that can break the still-running old release."""
    return [m.group(0).strip() for m in DANGEROUS.finditer(plan_output)]


class Deploy(Pipeline):
    """Ship a build to the site's hosts with zero downtime."""

    def __init__(self, ctx: Context, site: str, build: Build, *, force: bool = False) -> None:
        super().__init__(ctx, site)
        self.build = build
        self.force = force
        self.release = build.release_id

    def unchanged(self) -> bool:
        """True when every host already runs exactly this code, config and environment."""
        for t in self.targets:
            meta = t.state.release(t.state.current)
            want = fingerprint(self.ctx, self.site, self.build, t.state.env_digest)
            if meta is None or meta.fingerprint != want or (t.serves and
                                                             not t.state.slot_active):
                return False
        return True

    def prepare(self, t: Target) -> str:
        """Upload the code and build the venv (hard-linked from the current one if deps match)."""
        current = t.state.release(t.state.current)
        upload(t, self.build, self.paths, self.release, current.id if current else None)
        t.uploaded = True
        reuse = current.id if current and current.deps_hash == self.build.deps_hash \
            and not self.force else None
        py = ".".join(map(str, t.state.python))
        for name, data in self.build.generated:
            t.transport.put(data, f"{self.paths.release(self.release)}/{name}")
        try:
            self.run(t, "venv", scripts.build_venv(self.config, self.paths, self.release, reuse,
                                                   t.state.python, self.build.python),
                     hint="a dependency failed to install: see the output above")
        except RemoteFailure as exc:
            raise diagnose.explain(exc) from None
        fp = fingerprint(self.ctx, self.site, self.build, t.state.env_digest)
        static = static_fingerprint(self.ctx, self.site, self.build, t.state.env_digest)
        t.transport.put(meta_json(self.build, self.release, fp, py, static),
                        f"{self.paths.release(self.release)}/{META}")
        return "venv reused" if reuse else "dependencies installed"

    def migrate(self, t: Target) -> str:
        """check --deploy, then back up and migrate when migrations are pending."""
        rel = self.paths.release(self.release)
        out = self.run(t, "check", Script.of([scripts.manage(
            self.config, self.site, rel, "check", "--deploy")]),
            hint="`djship check` runs the same checks locally")
        for line in out.splitlines():
            if line.startswith("?") or "WARNING" in line:
                self.ctx.ui.warn(f"{t.name}: {line}")
        plan = self.run(t, "migrate plan", Script.of([scripts.manage(
            self.config, self.site, rel, "migrate", "--plan")]))
        pending = pending_migrations(plan)
        if not pending:
            return "no pending migrations"
        for op in pending[:12]:
            self.ctx.ui.info(f"  {t.name}: {op.strip()}")
        if len(pending) > 12:
            self.ctx.ui.info(f"  {t.name}: ... and {len(pending) - 12} more")
        for op in risky_operations(plan) if t.state.current else []:
            self.ctx.ui.warn(f"{op}: the running release still uses the old schema while "
                             "this migration runs; prefer adding before removing")
        keep = self.config.sites[self.site].keep_releases
        self.run(t, "backup", scripts.backup_db(self.paths, self.release, keep))
        self.run(t, "migrate", Script.of([scripts.manage(
            self.config, self.site, rel, "migrate", "--noinput")]),
            hint="the old release is still serving; fix the migration and deploy again")
        return f"{len(pending)} operation(s) applied after a backup"

    def collectstatic(self, t: Target) -> str:
        """Collect static files into the release, then merge them into the served folder.

        collectstatic straight into the served folder deletes and rewrites files the live
        release's pages use; collecting elsewhere and merging with rsync (atomic rename per
        file, nothing deleted) keeps every old and new hashed file available throughout.
        When the static inputs (every file but plain Python code, the dependencies, the
        site's config and environment) equal the live release's, its collected files are
        hard-linked instead: no Django start, no copying.
        """
        current = t.state.release(t.state.current)
        fp = static_fingerprint(self.ctx, self.site, self.build, t.state.env_digest)
        if current and fp and current.static == fp and not self.force:
            self.run(t, "static", scripts.reuse_static(self.paths, current.id, self.release))
            return f"unchanged: no static input changed since {current.id}"
        rel = self.paths.release(self.release)
        self.run(t, "static", scripts.collect_static(self.config, self.site, rel))
        return "collected"

    def prune_all(self) -> None:
        """Keep the newest releases (and always the live and previous one)."""
        keep = self.config.sites[self.site].keep_releases

        def prune(t: Target) -> str | None:
            ids = [r.id for r in t.state.releases] + [self.release]
            protect = {self.release, t.state.current or ""}
            script = scripts.prune(self.paths, ids, keep, protect)
            if script is None:
                return None
            self.run(t, "prune", script)
            return f"removed {len(script.commands)} old release(s)"

        self.phase("prune", prune)

    def execute(self) -> bool:
        """Run the whole deploy; returns False when nothing changed."""
        self.lock_all()
        try:
            self.read_state()
            if self.unchanged() and not self.force:
                return False
            try:
                self.phase("upload", self.prepare)
                self.phase("migrate", self.migrate, self.targets[:1])
                self.phase("static", self.collectstatic)  # workers render templates too
                self.start_and_check(lambda _t: self.release)
                self.switch_all(lambda _t: self.release)
            except DjshipError:
                self.abandon()
                raise
            self.retire_all()
            self.restart_workers()
            self.prune_all()
            return True
        finally:
            self.unlock_all()

    def abandon(self) -> None:
        """Undo a failed deploy: stop the new slot, delete the new release; live untouched."""
        for t in self.targets:
            if t.uploaded and not t.switched:
                t.transport.run(scripts.discard(self.paths, t.slot, self.release))


class Activate(Pipeline):
    """Serve an already-built release through the idle slot: rollback and restart."""

    def execute(self, pick: str | None) -> str:
        """Roll back to ``pick`` (default: the release before the current one)."""
        return self.activate(lambda: pick or self.previous())

    def restart(self) -> str:
        """Restart gracefully: serve the current release again from a fresh slot."""
        return self.activate(self.current)

    def activate(self, choose: Callable[[], str]) -> str:
        """Under the lock, start the chosen kept release in the idle slots and switch to it."""
        self.lock_all()
        try:
            self.read_state()
            target = choose()
            for t in self.targets:
                if t.state.release(target) is None:
                    raise UsageError(f"{t.name} does not keep release {target}",
                                     hint="see `djship releases`")
            try:
                self.start_and_check(lambda _t: target)
                self.switch_all(lambda _t: target)
            except DjshipError:
                self.stop_new()
                raise
            self.retire_all()
            self.restart_workers()
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
    """Print what a first deploy would send to each host, connecting to nothing."""
    from djship.paths import SitePaths

    p = SitePaths(site)
    rel = p.release(build.release_id)
    cfg = ctx.config
    s = cfg.sites[site]
    for host in ctx.hosts(site):
        steps: list[tuple[str, Run | Put]] = [
            ("lock", Run(scripts.lock(p, "you@here"), "take the site lock")),
            ("upload", Run(Script.of([]), f"rsync {len(build.files)} files to {rel}/")),
            ("venv", Run(scripts.build_venv(cfg, p, build.release_id, None, (3, 11),
                                            build.python),
                         "build the release venv")),
            ("migrate", Run(Script.of([scripts.manage(cfg, site, rel, "migrate", "--noinput")]),
                            "migrate (after check --deploy and a backup, when pending)")),
            ("static", Run(Script.of([scripts.manage(cfg, site, rel, "collectstatic",
                                                     "--noinput")]), "collect static files")),
            ("start", Run(scripts.start_slot(p, "blue", build.release_id,
                                                    s.health_timeout), "start slot blue")),
            ("health", Run(scripts.health(p, "blue", (s.domains or ["localhost"])[0],
                                          s.health_path, s.health_timeout,
                                          https=s.tls.enabled), "health check")),
            ("switch", Put(p.nginx_upstream + ".djship-new", scripts.upstream_conf(p, "blue"))),
            ("switch", Run(scripts.switch(p, "blue", build.release_id), "switch traffic")),
            ("unlock", Run(scripts.unlock(p), "release the lock")),
        ]
        for name, action in steps:
            ctx.ui.data(describe(host.name, name, action))
