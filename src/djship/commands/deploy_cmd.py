"""`djship deploy`, `rollback`, `releases`, `lock release`."""

from __future__ import annotations

import time

import click

from djship.commands.base import State, dry_run_option, pass_state, site_option
from djship.commands.check_cmd import print_findings
from djship.context import Context
from djship.errors import DjshipError
from djship.ops import envvars
from djship.ops.hooks import HookRun
from djship.paths import SitePaths
from djship.release import scripts
from djship.release.build import Build, build
from djship.release.deploy import Activate, Deploy
from djship.release.deploy import dry_run as print_dry_run
from djship.release.pipeline import Pipeline
from djship.settings import gate
from djship.settings.check import deploy_check

# What --skip-checks skips, exactly (Deploy runs the server's check whatever the flag).
SKIPPED = ("--skip-checks: the local check (`djship check`) is skipped; the server still runs "
           "`manage.py check --deploy` in the new release (after migrate on a first deploy "
           "whose database has no migration applied) and refuses the release on its errors")


@click.command()
@site_option
@dry_run_option
@click.option("--clean", is_flag=True, help="Refuse to deploy uncommitted changes.")
@click.option("--force", is_flag=True,
              help="Deploy even when nothing changed; reinstall dependencies.")
@click.option("--skip-checks", is_flag=True,
              help="Skip the local `djship check` (not recommended); the server's `manage.py "
                   "check --deploy` of the new release still runs and refuses it on errors.")
@pass_state
def deploy(state: State, site: str | None, dry_run: bool, clean: bool, force: bool,
           skip_checks: bool) -> None:
    """Ship a release with zero downtime; on any failure the old release keeps serving.

    Builds the release from the files git would ship, uploads only what changed, installs
    dependencies into the release's own venv, backs up and migrates the database, collects
    static files, starts the new release beside the old one, health-checks it, then switches
    nginx to it and stops the old one. First it runs `djship check` locally and refuses to
    deploy when it finds errors (--skip-checks skips that local check; the server's own
    `check --deploy` still runs, after migrate on a first deploy).
    """
    ctx = state.context(dry_run)
    name = ctx.site_name(site)
    start = time.monotonic()
    b = build(ctx.root, ctx.config, clean=clean)
    for warning in b.warnings:
        ctx.ui.warn(warning)
    if skip_checks:
        ctx.ui.warn(SKIPPED)
    hooks = ctx.config.hooks
    if dry_run:
        if not skip_checks:
            preflight(state, ctx, name, b)
        for when in ("pre_deploy", "post_deploy"):
            for command in getattr(hooks, when):
                ctx.ui.data(f"# [local] {when}: {command}")
        print_dry_run(ctx, name, b)
        return
    local = HookRun(ctx.ui, ctx.root, name, b.release_id, [h.name for h in ctx.hosts(name)])
    local.run("pre_deploy", hooks.pre_deploy)  # before anything on the servers changes
    # The local checks run beside the first phases (lock, upload, venv, the server's own
    # check); the deploy waits for them before anything it cannot undo (migrate, switch).
    checks = None if skip_checks else (lambda: preflight(state, ctx, name, b))
    try:
        changed = Deploy(ctx, name, b, force=force, checks=checks).execute()
    except BaseException:
        if hooks.post_deploy:
            try:
                local.run("post_deploy", hooks.post_deploy, outcome="failed")
            except DjshipError as hook:  # the deploy's own error is the one to report
                ctx.ui.warn(hook.message)
        raise
    finally:
        ctx.close()
    took = time.monotonic() - start
    if not changed:
        ctx.ui.info(f"nothing changed: {name} already runs this code, config and environment "
                    f"({took:.1f}s)")
    else:
        ctx.ui.info(f"deployed {b.release_id} to {name} in {took:.1f}s")
        site_cfg = ctx.config.sites[name]
        if site_cfg.domains:
            scheme = "https" if site_cfg.tls.enabled else "http"
            ctx.ui.data(f"{scheme}://{site_cfg.domains[0]}/")
    local.run("post_deploy", hooks.post_deploy, outcome="deployed" if changed else "unchanged")


def preflight(state: State, ctx: Context, site: str, b: Build) -> None:
    """Run `djship check`; show errors in full, count warnings; refuse on errors."""
    began = time.monotonic()
    key = gate.check_key(b, ctx.config, site)
    if gate.passed_before(ctx.root, site, key):
        ctx.ui.step("local", "check", "ok", "passed before for these files and this config")
        return
    # Settings unchanged since they passed (only app code changed): only `check --deploy`
    # runs again, not the two settings imports beside it.
    skey = gate.settings_key(b, ctx.config, site)
    settings_passed = bool(b.checks_hash) and gate.passed_before(ctx.root, f"{site}::settings",
                                                                 skey)
    findings = deploy_check(ctx.root, ctx.config, site, settings_passed=settings_passed,
                            server=lambda: envvars.server_env(ctx, site))
    gate.remember(ctx.root, site, key, findings)
    gate.remember(ctx.root, f"{site}::settings", skey, findings)
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    if errors:
        print_findings(state, errors)
    took = time.monotonic() - began
    summary = f"{len(errors)} error(s), {len(warnings)} warning(s)" + \
        (" (settings unchanged since they passed: check --deploy only)" if settings_passed
         else "")
    if warnings:
        summary += f" ({', '.join(dict.fromkeys(f.code for f in warnings))}: `djship check` " \
                   "explains them)"
    ctx.ui.step("local", "check", "failed" if errors else "ok", summary, took)
    if not errors:
        return
    if ctx.dry_run:
        ctx.ui.warn("a real deploy would stop here: the production checks found errors")
        return
    raise DjshipError(f"the production checks found {len(errors)} error(s): nothing was deployed",
                      hint="fix them (`djship check` shows them again), or deploy anyway with "
                           "--skip-checks (it skips this local check only: the server's "
                           "`check --deploy` still runs in the new release and refuses it on "
                           "its errors)")


@click.command()
@site_option
@click.argument("release", required=False)
@pass_state
def rollback(state: State, site: str | None, release: str | None) -> None:
    """Serve an earlier kept release again (default: the one before current).

    Health-gated and with zero downtime like a deploy; no rebuild. Database migrations are
    not reversed: the older code runs against the newer schema.
    """
    ctx = state.context()
    name = ctx.site_name(site)
    if release:
        scripts.check_release_id(release)
    try:
        target = Activate(ctx, name).execute(release)
    finally:
        ctx.close()
    ctx.ui.warn("database migrations are not reversed by a rollback")
    ctx.ui.info(f"{name} now serves {target}")


@click.command()
@site_option
@pass_state
def releases(state: State, site: str | None) -> None:
    """List the kept releases per host, marking the current one."""
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        pipe = Pipeline(ctx, name)
        pipe.read_state()
    finally:
        ctx.close()
    for t in pipe.targets:
        for r in reversed(t.state.releases):
            mark = "*" if r.id == t.state.current else " "
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)) if r.created else ""
            ctx.ui.data(f"{mark} {t.name:<12} {r.id:<28} {when:<17} {r.commit or '-'}")


@click.group()
def lock() -> None:
    """Inspect or clear the per-site deploy lock."""


@lock.command("release")
@site_option
@pass_state
def lock_release(state: State, site: str | None) -> None:
    """Remove a stale deploy lock (only when no deploy is running)."""
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        for host in ctx.hosts(name):
            ctx.transport(host).run(scripts.unlock(SitePaths(name)))
            ctx.ui.step(host.name, "lock", "changed", "released")
    finally:
        ctx.close()
