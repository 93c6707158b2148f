"""`djship env`: list, get, set and unset the site's environment variables."""

from __future__ import annotations

import json
import sys

import click

from djship.cli import State, cli, pass_state, site_option
from djship.context import Context
from djship.ops import envvars
from djship.paths import SitePaths
from djship.release.deploy import Activate
from djship.runner import Runner


def read_values(ctx: Context, site: str, keys: list[str] | None) -> dict[str, str]:
    """The env file's values on the site's first host."""
    host = ctx.hosts(site)[0]
    script, stdin = envvars.get_request(SitePaths(site), keys)
    res = Runner(ctx.ui, site=site).check(ctx.transport(host), script, "env read", stdin=stdin)
    values: dict[str, str] = json.loads(res.stdout)
    for value in values.values():
        ctx.ui.add_secret(value)
    return values


@cli.group()
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
        raise SystemExit(1)
    click.echo(values[key])


def apply(ctx: Context, site: str, change: envvars.EnvChange, restart: bool) -> None:
    """Write the change on every host of the site, then restart gracefully."""
    p = SitePaths(site)
    runner = Runner(ctx.ui, site=site)
    script, stdin = envvars.apply_request(p, change)
    for value in change.set.values():
        ctx.ui.add_secret(value)
    for host in ctx.hosts(site):
        if {"web", "worker"} & set(host.roles):
            res = runner.check(ctx.transport(host), script, "env", stdin=stdin)
            changed = json.loads(res.stdout)["changed"]
            ctx.ui.step(host.name, "env", "changed" if changed else "ok",
                        ", ".join(changed) or "no change")
    if restart:
        release = Activate(ctx, site).restart()
        ctx.ui.info(f"restarted {site} on release {release} with the new environment")


@env.command("set")
@site_option
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--no-restart", is_flag=True, help="Do not restart the app.")
@pass_state
def env_set(state: State, site: str | None, assignments: tuple[str, ...],
            no_restart: bool) -> None:
    """Set variables (KEY=VALUE, or KEY=- to read the value from stdin), then restart.

    Values travel to the servers on stdin, never on a command line there. `KEY=-` keeps
    a value out of your shell history too.
    """
    values = envvars.parse_assignments(assignments)
    for key, value in values.items():
        if value == "-":
            values[key] = sys.stdin.readline().rstrip("\n")
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
    """Remove variables, then restart."""
    unset = envvars.check_unset(keys, force)
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        apply(ctx, name, envvars.EnvChange({}, unset), not no_restart)
    finally:
        ctx.close()
