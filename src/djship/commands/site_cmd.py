"""`djship site remove`: take a site off its servers."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from djship.commands.base import State, pass_state
from djship.config import Host
from djship.errors import DjshipError
from djship.ops.site import remove_site
from djship.paths import SitePaths
from djship.runner import HostReport, Runner
from djship.transport.base import Transport


@click.group()
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
    done = "removed" + (" with its data" if purge_data else "; database, backups and env kept")

    def job(host: Host) -> Callable[[Transport], HostReport]:
        def run(t: Transport) -> HostReport:
            report = HostReport(host.name)
            start = time.monotonic()
            try:
                runner.check(t, script, "remove site")
            except DjshipError as exc:  # reported per host; run_many raises after all finish
                ctx.ui.step(host.name, "remove site", "failed", exc.message)
                report.error = exc
                return report
            ctx.ui.step(host.name, "remove site", "changed", done, time.monotonic() - start)
            report.changed.append("remove site")
            return report
        return run

    try:
        runner.run_many([(ctx.transport(h), job(h)) for h in hosts])
    finally:
        ctx.close()
    ctx.ui.info(f"site {name} removed from {len(hosts)} host(s)")
