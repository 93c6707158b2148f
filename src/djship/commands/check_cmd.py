"""`djship check` and `djship settings fix`: is the project ready for production, and make it so."""

from __future__ import annotations

import functools

import click
from rich.markup import escape

from djship.commands.base import State, pass_state, site_option
from djship.errors import DjshipError
from djship.ops import envvars
from djship.settings import Finding, apply_plan, plan_settings, run_check
from djship.settings.envcheck import ServerEnv
from djship.settings.fix import verify_applied
from djship.settings.split import is_split, plan_split


@click.command("check")
@site_option
@click.option("--no-env", is_flag=True,
              help="Do not build a check environment with the project's dependencies (uv, "
                   "cached): print the command that does.")
@pass_state
def check(state: State, site: str | None, no_env: bool) -> None:
    """Check the project for production: `manage.py check --deploy` and more.

    \b
    Runs locally with the project's Python and the environment djship sets on the servers
    (secrets replaced by throwaway values), then checks what Django's own checks let through:
    a SECRET_KEY that is empty or changes per import, ALLOWED_HOSTS without the site's
    domains, the proxy header nginx sends, STATIC_ROOT/MEDIA_ROOT from the environment,
    the dependency file, error mails. Exit status 1 when there are errors.

    Without a virtualenv of the project's (.venv, venv or an active one) whose Python can
    import Django and the settings' packages, djship installs the project's dependencies
    with uv into a cached check environment (~/.cache/djship/envs), reused while the
    dependency files are unchanged; `djship deploy` then uses it too.
    """
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        # A variable the settings need and djship does not set counts when it is set on the
        # servers (`djship env set`): asked only then, as a stand-in of the same shape.
        findings = run_check(ctx.root, ctx.config, name,
                             server=lambda: envvars.server_env(ctx, name),
                             env_use="off" if no_env else "build", progress=state.ui.info)
    finally:
        ctx.close()
    print_findings(state, findings)
    errors = sum(f.level == "error" for f in findings)
    if errors:
        # Through the one error handler, so the exit status (1) is the same as any failure.
        raise DjshipError(f"{errors} error(s), {len(findings) - errors} warning(s)",
                          hint="fix the errors above as each `fix:` line says")


def print_findings(state: State, findings: list[Finding]) -> None:
    """Each finding with its fix, then a one-line summary when nothing is an error."""
    out = state.ui.err
    for f in findings:
        colour = "red bold" if f.level == "error" else "yellow"
        out.print(f"[{colour}]{f.level}:[/{colour}] {escape(state.ui.mask(f.message))} "
                  f"[dim]({f.code})[/dim]", highlight=False)
        out.print(f"  [cyan]fix:[/cyan] {escape(state.ui.mask(f.fix))}", highlight=False)
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    if not findings:
        out.print("[green]ok:[/green] no problems found", highlight=False)
    elif not errors:
        out.print(f"ok: 0 error(s), {warnings} warning(s)", highlight=False)


@click.group("settings")
def settings_group() -> None:
    """Production settings of the Django project."""


@settings_group.command("fix")
@site_option
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (for scripts).")
@click.option("--split", is_flag=True,
              help="Move settings.py to settings/{base,dev,production}.py; djship uses production.")
@pass_state
def settings_fix_command(state: State, site: str | None, yes: bool, split: bool) -> None:
    """Show the settings changes production needs as a diff, and apply them on confirmation."""
    settings_fix(state, site, yes=yes, split=split)


def settings_fix(state: State, site: str | None, *, yes: bool, split: bool = False) -> None:
    """Plan, show, confirm and apply the settings changes, keeping a backup."""
    ctx = state.context()
    name = ctx.site_name(site)
    app_dir = (ctx.root / ctx.config.project.manage).parent

    @functools.cache
    def on_servers() -> ServerEnv:  # variables set with `djship env set`, as stand-ins
        return envvars.server_env(ctx, name)

    if split and not is_split(app_dir, ctx.config.settings_module(name)):
        plan = plan_split(ctx.root, ctx.config, name, ctx.source.path)
    else:
        plan = plan_settings(ctx.root, ctx.config, name, (ctx.source.path, ctx.source.table),
                             server=on_servers)
    if not plan.changes:
        state.ui.info(f"settings: no change needed ({plan.module} is production-ready)")
        return
    click.echo(plan.diff(ctx.root), nl=False)
    for reason in plan.reasons:
        state.ui.info(f"  - {reason}")
    if not yes and not click.confirm("Apply these changes?", default=False, err=True):
        raise DjshipError("settings left unchanged", hint="rerun with --yes to apply")
    backup = apply_plan(ctx.root, plan)
    verify_applied(ctx.root, ctx.config, name, plan, on_servers)
    state.ui.info(f"settings: changed {len(plan.changes)} file(s); backup and diff in "
                  f"{backup.relative_to(ctx.root)}")
    for note in plan.notes:
        state.ui.info(f"note: {note}")
