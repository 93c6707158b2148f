"""`djship env`: list, get, set and unset the site's environment variables."""

from __future__ import annotations

import json
import sys

import click

from djship.commands.base import State, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.errors import UsageError
from djship.ops import envvars
from djship.paths import SitePaths
from djship.release.deploy import Activate
from djship.runner import Runner
from djship.shell import Script, cmd
from djship.steps import tools


def app_hosts(ctx: Context, site: str) -> list[Host]:
    """The hosts that keep the site's environment file (web and worker)."""
    hosts = [h for h in ctx.hosts(site) if {"web", "worker"} & set(h.roles)]
    if not hosts:
        raise UsageError(f"site {site!r} has no web or worker host, so no environment file",
                         hint='give a host roles = ["web"]')
    return hosts


def read_values(ctx: Context, site: str, keys: list[str] | None) -> dict[str, str]:
    """The env file's values on the site's first app host."""
    request = envvars.get_request(SitePaths(site), keys)
    return envvars.read_values(ctx, app_hosts(ctx, site)[0], request, site=site)


@click.group()
def env() -> None:
    """The site's environment variables (secrets live only on the servers, mode 0600)."""


@env.command("list")
@site_option
@click.option("--reveal", is_flag=True, help="Show values instead of ***.")
@pass_state
def env_list(state: State, site: str | None, reveal: bool) -> None:
    """List the variables, values masked unless --reveal."""
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        values = read_values(ctx, name, None)
    finally:
        ctx.close()
    for line in envvars.render_list(values, reveal):
        click.echo(line)


@env.command("get")
@site_option
@click.argument("key")
@pass_state
def env_get(state: State, site: str | None, key: str) -> None:
    """Print one variable's value (exit 1 when unset)."""
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        values = read_values(ctx, name, [key])
    finally:
        ctx.close()
    if key not in values:
        click.echo(f"{key} is not set for site {name}", err=True)
        raise SystemExit(1)
    value = values[key]
    # A value of several lines exactly as it is, a single line with a line ending (which
    # `env set K=-` drops again): `env get K > f` then `env set K=- < f` gives it back.
    click.echo(value, nl=not any(c in value for c in "\r\n"))


def apply(ctx: Context, site: str, change: envvars.EnvChange, restart: bool) -> None:
    """Write the change on every app host, then restart gracefully if anything changed."""
    p = SitePaths(site)
    runner = Runner(ctx.ui, site=site)
    script, stdin = envvars.apply_request(p, change)
    envvars.mask_values(ctx.ui, change.set.values())
    hosts = app_hosts(ctx, site)
    for host in hosts:  # every host reachable and provisioned before any file changes
        ctx.transport(host).connect()
        if not ctx.transport(host).run(Script.of([cmd("test", "-f", p.env_file)])).ok:
            raise UsageError(f"site {site} is not provisioned on {host.name} yet, so it has "
                             "no environment file: nothing was changed",
                             hint="run `djship provision`, then this command again (values "
                                  "set then count for `djship check` and the first deploy)")
    changed_any = False
    for host in hosts:
        update_helper(ctx, runner, host)
        res = runner.check(ctx.transport(host), script, "env", stdin=stdin,
                           hint="hosts listed above as changed have the new values already")
        changed = json.loads(res.stdout)["changed"]
        changed_any = changed_any or bool(changed)
        ctx.ui.step(host.name, "env", "changed" if changed else "ok",
                    ", ".join(changed) or "no change")
    if not changed_any:
        ctx.ui.info("nothing changed; the app keeps running as it is")
    elif not ctx.transport(hosts[0]).run(Script.of([cmd("test", "-L", p.current)])).ok:
        ctx.ui.info(f"set; {site} has no release yet: the first `djship deploy` starts it with "
                    "these values")
    elif restart:
        release = Activate(ctx, site).restart()
        ctx.ui.info(f"restarted {site} on release {release} with the new environment")
    else:
        ctx.ui.info("not restarted (--no-restart): `djship run` sees the change now, the "
                    "running app after the next `djship deploy`")


def update_helper(ctx: Context, runner: Runner, host: Host) -> None:
    """Bring djship's env helper on the host up to date, as a deploy would: one from an
    older djship refuses values of several lines."""
    step = tools.envtool_step()
    plan = step.plan(runner.read_fact(ctx.transport(host), step))
    for action in plan.actions:
        runner.apply(ctx.transport(host), step.name, action)
    if plan.changes:
        ctx.ui.step(host.name, step.name, "changed", "updated djship's env helper")


def read_stdin_values(values: dict[str, str]) -> None:
    """Replace a `-` value by stdin: a hidden prompt on a terminal, else all of stdin."""
    keys = [key for key, value in values.items() if value == "-"]
    if keys and sys.stdin.isatty():
        for key in keys:
            typed = click.prompt(f"{key} (one line; a file: {key}=- < FILE)", hide_input=True,
                                 err=True)
            values[key] = envvars.check_prompted(key, typed)
    elif len(keys) > 1:
        # Reading a line for each would cut a multi-line value short without a word.
        raise UsageError(f"{', '.join(keys)} all ask for stdin, which holds one value",
                         hint="one KEY=- per command, e.g. djship env set A=- < a.pem; "
                              "djship env set B=- < b.json")
    elif keys:
        values[keys[0]] = envvars.stdin_value(keys[0], sys.stdin.buffer.read())


@env.command("set")
@site_option
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--no-restart", is_flag=True, help="Do not restart the app.")
@pass_state
def env_set(state: State, site: str | None, assignments: tuple[str, ...],
            no_restart: bool) -> None:
    """Set variables on every host, then restart the app with zero downtime.

    \b
      djship env set EMAIL_HOST=smtp.example.com EMAIL_PORT=587
      djship env set EMAIL_HOST_PASSWORD=-     (asks, or reads stdin)
      djship env set JWT_PRIVATE_KEY=- < key.pem
    Values travel to the servers on stdin, never on a command line there. `KEY=-` keeps a
    value out of your shell history and process list too; it takes all of stdin byte for
    byte (several lines are fine), but a single line loses its line ending. The restart is
    skipped when nothing changed.
    """
    values = envvars.parse_assignments(assignments)
    read_stdin_values(values)
    envvars.check_values(values)
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        apply(ctx, name, envvars.EnvChange(values, []), not no_restart)
    finally:
        ctx.close()


@env.command("unset")
@site_option
@click.argument("keys", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Allow unsetting DATABASE_URL or SECRET_KEY.")
@click.option("--no-restart", is_flag=True, help="Do not restart the app.")
@pass_state
def env_unset(state: State, site: str | None, keys: tuple[str, ...], force: bool,
              no_restart: bool) -> None:
    """Remove variables on every host, then restart (DATABASE_URL and SECRET_KEY need --force)."""
    ctx = state.context()
    name = ctx.site_name(site)
    # The site's secret key under the name its settings read (DJANGO_SECRET_KEY) too.
    unset = envvars.check_unset(keys, force, (*envvars.PROTECTED,
                                              ctx.config.sites[name].env_name("SECRET_KEY")))
    try:
        apply(ctx, name, envvars.EnvChange({}, unset), not no_restart)
    finally:
        ctx.close()
