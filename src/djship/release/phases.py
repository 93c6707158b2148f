"""Pure planners of a release's phases: config, the build and a host's facts in, actions out.

A deploy is clean → upload → venv → check and migrate (on the first app host) → static →
complete → start → switch → finish; rollback and restart are start → switch → finish with
a kept release. Every action that leaves something behind carries its undo, which the
engine runs (newest first) when a later action fails or the user interrupts; the dry run
prints these same plans. Nothing here touches a host.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from djship.config import Config, Site
from djship.errors import DjshipError
from djship.paths import SitePaths, other_slot
from djship.plan import Action, Plan, Put, Run, Sync
from djship.release import scripts
from djship.release.build import Build
from djship.release.check import CheckReport
from djship.release.record import (
    checks_fingerprint,
    fingerprint,
    meta_json,
    static_fingerprint,
)
from djship.release.state import META, HostState
from djship.remote.envtool import quote
from djship.shell import Command, Script, cmd
from djship.steps import workers
from djship.steps.tools import envtool_file

UPLOAD_MARGIN = 64 * 1024 * 1024  # room a release needs beyond its files (bytecode, logs)


@dataclass(frozen=True)
class Shipment:
    """What a deploy ships to a site: the build, and how."""

    config: Config
    site: str
    build: Build
    force: bool = False

    @property
    def release(self) -> str:
        """The new release's id."""
        return self.build.release_id

    @property
    def paths(self) -> SitePaths:
        """The site's paths on a server."""
        return SitePaths(self.site)

    @property
    def site_config(self) -> Site:
        """The site's section of the config."""
        return self.config.sites[self.site]


class DiskFull(DjshipError):
    """The server has less free space than the release needs: refused before uploading."""

    def __init__(self, folder: str, free: int, needed: int) -> None:
        super().__init__(f"not enough disk space under {folder}: {free // 2**20} MiB free, "
                         f"the release needs about {needed // 2**20} MiB",
                         hint="free some space on the server (old backups, logs, "
                              "`journalctl --vacuum-size`), then deploy again")


def stop_slot(p: SitePaths, slot: str) -> Run:
    """Stop one slot (the undo of starting it)."""
    return Run(scripts.stop_slot(p, slot), f"stop slot {slot}")


def plan_clean(p: SitePaths, state: HostState) -> Plan:
    """Remove what interrupted runs left (unfinished release folders, a running idle slot);
    bring djship's env helper up to date (the release steps rely on it)."""
    actions: list[Action] = []
    helper = envtool_file()
    if state.envtool != hashlib.sha256(helper.content).hexdigest():
        actions.append(Put(helper.path, helper.content, "update djship's env helper",
                           mode=helper.mode))
    if state.scopes:
        actions.append(Run(scripts.stop_scopes(p), f"stop {len(state.scopes)} command(s) "
                           "an interrupted run left running"))
    if state.incomplete:
        actions.append(Run(Script.of([scripts.remove_release(p, r) for r in state.incomplete]),
                           f"remove {len(state.incomplete)} unfinished release(s) left by an "
                           f"interrupted run: {', '.join(state.incomplete)}"))
    if state.idle_active and state.live_slot:
        idle = other_slot(state.live_slot)
        actions.append(Run(scripts.stop_slot(p, idle),
                           f"stop slot {idle}, left running by an interrupted run"))
    return Plan(tuple(actions), "nothing left over")


def release_env(site: Site) -> bytes:
    """The site's configured (non-secret) variables as a systemd EnvironmentFile.

    It lives in the release, so the new slot starts with the new values, the old one keeps
    its own, and a rollback brings the old ones back.
    """
    lines = [f"{k}={quote(v)}" for k, v in sorted(site.env.items())]
    warm = {"DJSHIP_WARM_PATH": site.health_path,
            "DJSHIP_WARM_HOST": site.domains[0] if site.domains else "localhost",
            "DJSHIP_WARM_HTTPS": "1" if site.tls.enabled else "0"}
    return ("# djship: [sites.*.env] of this release\n" + "\n".join(lines) + "\n"
            "# djship: what each gunicorn worker asks itself before it accepts (warm-up)\n"
            + "".join(f"{k}={quote(v)}\n" for k, v in warm.items())).encode()


def plan_upload(s: Shipment, state: HostState) -> Plan:
    """Upload the release by content, hard-linking what equals the live release's files."""
    p, build = s.paths, s.build
    rel = p.release(s.release)
    needed = sum(f.stat().st_size for f in map(build.root.joinpath, build.files)
                 if f.is_file()) + UPLOAD_MARGIN
    if 0 <= state.free < needed:
        raise DiskFull(p.root, state.free, needed)
    if shared_venv(s).rsplit("/", 1)[1] not in state.venvs:
        python_plan(s, state)  # no interpreter for the project: refused before uploading
    link = p.release(state.current) if state.current else None
    discard = Run(scripts.discard(p, None, s.release), f"remove release {s.release}")
    actions: list[Action] = [
        Sync(str(build.root), build.files, rel, link,
             f"upload {len(build.files)} files to {rel} (by content)", undo=(discard,)),
        *(Put(f"{rel}/{name}", data, f"write {name}") for name, data in build.generated),
        Put(f"{rel}/{scripts.RELEASE_ENV}", release_env(s.site_config),
            "the release's environment ([sites.*.env])"),
    ]
    return Plan(tuple(actions))


def shared_venv(s: Shipment) -> str:
    """The virtualenv a release of these dependencies uses."""
    return scripts.venv_path(s.paths, s.build.deps_hash[:16], s.release, fresh=s.force)


def python_plan(s: Shipment, state: HostState) -> scripts.PythonPlan:
    """The interpreter for the release's venv on this host (raises when there is none)."""
    return scripts.plan_python(s.build.python, state.python, state.interpreters,
                               s.config.project.python_source, os_name=state.os, site=s.site)


def plan_venv(s: Shipment, state: HostState) -> Plan:
    """Link the shared virtualenv of these dependencies, or build it (undo: remove it)."""
    p = s.paths
    venv = shared_venv(s)
    if venv.rsplit("/", 1)[1] in state.venvs:
        return Plan.of(Run(scripts.link_venv(p, venv, s.release),
                           "venv reused: same dependencies as a kept release"))
    build = scripts.scoped(p, s.release, "venv", scripts.build_venv(
        s.config, p, s.release, venv, python_plan(s, state)))
    return Plan.of(Run(build, "dependencies installed",
                       undo=(Run(scripts.remove_venv(p, venv), f"remove {venv}"),)))


def plan_migrate(s: Shipment, state: HostState, report: CheckReport) -> Plan:
    """Back up and migrate when ``migrate --plan`` lists operations; else nothing.

    When the check was deferred (a first deploy: nothing live, no migration applied), the
    migration skips the system checks Django's migrate runs itself: one that queries the
    database would fail on the tables it is about to create (plan_late_check runs them)."""
    if not report.pending:
        return Plan.nothing("no pending migrations")
    p = s.paths
    rel = p.release(s.release)
    keep = s.site_config.keep_releases
    skip = ("--skip-checks",) if report.deferred else ()
    return Plan.of(
        Run(scripts.scoped(p, s.release, "backup", scripts.backup_db(p, s.release, keep)),
            "back up the database"),
        Run(scripts.scoped(p, s.release, "migrate", Script.of([
            scripts.manage(s.config, s.site, rel, "migrate", "--noinput", *skip)])),
            f"{len(report.pending)} migration operation(s)"))


def plan_late_check(s: Shipment, report: CheckReport) -> Plan:
    """`check --deploy` after the first migrate, when the check was deferred: against the
    real tables, before anything serves the release (a failure refuses it)."""
    if not report.deferred:
        return Plan.nothing("checked before migrate")
    p = s.paths
    return Plan.of(Run(scripts.scoped(p, s.release, "check", Script.of([
        scripts.manage(s.config, s.site, p.release(s.release), "check", "--deploy")])),
        "check --deploy after the first migrate (checks that query the database see its "
        "tables)"))


def static_reusable(s: Shipment, state: HostState) -> bool:
    """True when no static input changed since the live release: its files can be linked."""
    current = state.release(state.current)
    fp = static_fingerprint(s.config, s.site, s.build, state.env_digest)
    return bool(current and fp and current.static == fp and not s.force)


def plan_static(s: Shipment, state: HostState, *, collected: bool = False) -> Plan:
    """Collect static files into the release, or hard-link the live release's when no
    static input changed (``collected``: the check process already did it)."""
    p = s.paths
    current = state.release(state.current)
    if current and static_reusable(s, state):
        return Plan.of(Run(scripts.reuse_static(p, current.id, s.release),
                           f"unchanged: no static input changed since {current.id}"))
    if collected:
        return Plan.nothing("collected by the check process")
    return Plan.of(Run(scripts.scoped(p, s.release, "static", scripts.collect_static(
        s.config, s.site, p.release(s.release))), "collected"))


def plan_commands(s: Shipment, which: str) -> Plan:
    """The project's ``build`` or ``release`` commands, in order, in the new release (each in
    its scope: an interrupted run stops it). Nothing to undo of their own: a failure
    discards the release they ran in."""
    commands = getattr(s.site_config, which)
    if not commands:
        return Plan.nothing(f"no {which} commands (sites.{s.site}.{which})")
    p, rel = s.paths, s.paths.release(s.release)
    runs = [Run(scripts.scoped(p, s.release, f"{which}{n}", Script.of([
        cmd(*scripts.app_exec(s.config, s.site, rel, shlex.split(line)))])), line)
        for n, line in enumerate(commands, 1)]
    if which == "release":  # after collectstatic: what they wrote there is not merged yet
        runs.append(Run(scripts.publish_static(s.site, rel),
                        "static files the release commands wrote: precompressed, merged"))
    return Plan.of(*runs)


def plan_complete(s: Shipment, state: HostState) -> Plan:
    """Write the release's record last: only now is it listed and a rollback target."""
    py = ".".join(map(str, state.python))
    fp = fingerprint(s.config, s.site, s.build, state.env_digest)
    static = static_fingerprint(s.config, s.site, s.build, state.env_digest)
    checks = checks_fingerprint(s.config, s.site, s.build, state.env_digest)
    return Plan.of(Put(f"{s.paths.release(s.release)}/{META}",
                       meta_json(s.build, s.release, fp, py, static, checks),
                       "mark the release complete"))


def checks_stand(s: Shipment, state: HostState) -> str | None:
    """Why the server's check may be skipped (only application code or static assets changed
    since the live release, whose checks passed and whose migrations were applied; the local
    check ran on the new code), or None when it must run."""
    current = state.release(state.current)
    fp = checks_fingerprint(s.config, s.site, s.build, state.env_digest)
    if current is None or not fp or current.checks != fp or s.force:
        return None
    return (f"skipped: same migrations, settings, dependencies, config and environment as "
            f"{current.id}, whose checks passed")


def plan_start(site: Site, p: SitePaths, slot: str, release: str) -> Plan:
    """Start ``release`` in the idle ``slot`` beside the live one."""
    return Plan.of(Run(scripts.start_slot(p, slot, release, site.health_timeout),
                       f"start slot {slot} with {release}", undo=(stop_slot(p, slot),)))


def health_check(site: Site, p: SitePaths, slot: str) -> Script:
    """The slot's health check as nginx would ask: the site's Host, and its scheme."""
    host = site.domains[0] if site.domains else "localhost"
    return scripts.health(p, slot, host, site.health_path, site.health_timeout,
                          https=site.tls.enabled, warm=site.workers)


def plan_health(site: Site, p: SitePaths, slot: str, release: str) -> Plan:
    """Health-check the started slot on its socket."""
    return Plan.of(Run(health_check(site, p, slot), f"{slot} serving {release} healthy"))


def plan_switch(p: SitePaths, state: HostState, slot: str | None, release: str) -> Plan:
    """Send traffic to the new slot (web) or move ``current`` (worker-only host)."""
    if slot is None:
        back: tuple[Action, ...] = (Run(scripts.point_current(p, state.current),
                                        f"current back to {state.current}"),) \
            if state.current else ()
        return Plan.of(Run(scripts.point_current(p, release), f"current → {release}",
                           undo=back))
    undo: tuple[Action, ...] = ()
    if state.live_slot and state.current:
        undo = (Put(p.nginx_upstream + ".djship-new",
                    scripts.upstream_conf(p, state.live_slot),
                    f"upstream back to {state.live_slot}"),
                Run(scripts.switch(p, state.live_slot, state.current),
                    f"traffic back to {state.live_slot}"))
    return Plan.of(Put(p.nginx_upstream + ".djship-new", scripts.upstream_conf(p, slot),
                       f"upstream → {slot}"),
                   Run(scripts.switch(p, slot, release), f"traffic → {slot}", undo=undo))


def plan_finish(config: Config, site: str, state: HostState, *, slot: str | None,
                roles: Sequence[str], release: str, prune: bool,
                root: Path | None = None) -> Plan:
    """After every host switched: stop the old slot after a drain, bring the worker units
    in line with the config (a process added, changed or removed needs no provision) and
    restart the workers, drop releases beyond keep_releases. One round trip, after the
    upload of the worker unit files."""
    p = SitePaths(site)
    commands: list[Command] = []
    said: list[str] = []
    if slot and state.live_slot and state.live_slot != slot:
        commands += scripts.retire(p, state.live_slot).commands
        said.append(f"{state.live_slot} stops after a {scripts.DRAIN_SECONDS:g}s drain")
    units = workers.deploy_units(config, site, root, roles)
    staged = [Put(f.path + workers.STAGED, f.content, f"stage {Path(f.path).name}")
              for f in units]
    commands += workers.sync_units(config, site, units)
    restart = workers.restart_workers(config, site) if "worker" in roles else None
    if restart is not None:
        commands += restart.commands
        said.append("workers restarted")
    if prune:
        ids = [r.id for r in state.releases] + [release]
        protect = {release, state.current or ""}
        keep = config.sites[site].keep_releases
        doomed = scripts.doomed_releases(ids, keep, protect)
        script = scripts.prune(p, ids, keep, protect)
        if script is not None:
            commands += script.commands
            said.append(f"removed {len(doomed)} old release(s)")
    return Plan.of(*staged, Run(Script.of(commands), "; ".join(said) or "worker units current"))
