"""`djship site remove`: take a site off its servers."""

from __future__ import annotations

import click

from djship.cli import State, cli, pass_state
from djship.ops.site import remove_site
from djship.paths import SitePaths
from djship.runner import Runner


@cli.group()
def site() -> None:
    """Manage the sites on the servers."""


@site.command("remove")
@click.argument("name")
@click.option("--purge-data", is_flag=True,
              help="Also drop the database and role, delete backups, env file and user.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def remove(state: State, name: str, purge_data: bool, yes: bool) -> None:
    """Stop a site and remove its units, nginx block and releases from its hosts.

    The database, its backups and the environment file are kept unless --purge-data.
    Other sites on the same servers are not touched.
    """
    ctx = state.context()
    name = ctx.site_name(name)
    hosts = ctx.hosts(name)
    what = "and ALL ITS DATA " if purge_data else ""
    if not yes:
        click.confirm(f"Remove site {name} {what}from {', '.join(h.name for h in hosts)}?",
                      abort=True)
    runner = Runner(ctx.ui, site=name)
    script = remove_site(SitePaths(name), purge_data)
    try:
        for host in hosts:
            runner.check(ctx.transport(host), script, "remove site")
            ctx.ui.step(host.name, "remove site", "changed",
                        "removed" + (" with its data" if purge_data else "; data kept"))
    finally:
        ctx.close()
