"""`djship db`: back up, list, restore and download database backups."""

from __future__ import annotations

import time
from pathlib import Path

import click

from djship.cli import State, cli, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.ops import db
from djship.paths import SitePaths
from djship.release import state as release_state
from djship.runner import Runner


def db_host(ctx: Context, site: str) -> Host:
    """The host that runs backups: the first web/worker host (it has the env file)."""
    hosts = [h for h in ctx.hosts(site) if {"web", "worker"} & set(h.roles)]
    return (hosts or ctx.hosts(site))[0]


@cli.group("db")
def db_group() -> None:
    """Database backups: pg_dump (custom format) or a SQLite copy, kept on the server."""


@db_group.command("backup")
@site_option
@pass_state
def db_backup(state: State, site: str | None) -> None:
    """Back up the site's database now (keeps the newest `backups.keep`)."""
    ctx = state.context()
    name = ctx.site_name(site)
    host = db_host(ctx, name)
    script, file = db.backup(SitePaths(name), ctx.config.sites[name].backups.keep)
    try:
        Runner(ctx.ui, site=name).check(ctx.transport(host), script, "backup")
    finally:
        ctx.close()
    ctx.ui.step(host.name, "backup", "changed", file)
    click.echo(file)


@db_group.command("list")
@site_option
@pass_state
def db_list(state: State, site: str | None) -> None:
    """List backups (manual, scheduled and pre-deploy) with sizes and times."""
    ctx = state.context()
    name = ctx.site_name(site)
    host = db_host(ctx, name)
    try:
        res = Runner(ctx.ui, site=name).check(ctx.transport(host),
                                              db.listing(SitePaths(name)), "list")
    finally:
        ctx.close()
    for b in db.parse_listing(res.stdout):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created))
        click.echo(f"{b.name:<40} {db.human(b.size):>10}  {when}")


@db_group.command("restore")
@site_option
@click.argument("backup")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def db_restore(state: State, site: str | None, backup: str, yes: bool) -> None:
    """Restore BACKUP into the site's database (the app stops while it runs)."""
    db.check_name(backup)
    ctx = state.context()
    name = ctx.site_name(site)
    if not yes:
        click.confirm(f"Replace the data of site {name} with {backup}?", abort=True)
    host = db_host(ctx, name)
    p = SitePaths(name)
    runner = Runner(ctx.ui, site=name)
    try:
        t = ctx.transport(host)
        st = release_state.parse(runner.check(t, release_state.probe(p), "state"))
        runner.check(t, db.restore(p, backup, st.live_slot or "blue"), "restore",
                     hint="the app was started again; the database may be partly restored")
    finally:
        ctx.close()
    ctx.ui.step(host.name, "restore", "changed", f"restored {backup}")


@db_group.command("download")
@site_option
@click.argument("backup")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Local file (default: the backup's name).")
@pass_state
def db_download(state: State, site: str | None, backup: str, output: Path | None) -> None:
    """Copy a backup to this machine (written with mode 0600)."""
    db.check_name(backup)
    ctx = state.context()
    name = ctx.site_name(site)
    try:
        data = ctx.transport(db_host(ctx, name)).get(f"{SitePaths(name).backups}/{backup}")
    finally:
        ctx.close()
    target = output or Path(backup)
    target.touch(mode=0o600)
    target.write_bytes(data)
    click.echo(f"{target} ({db.human(len(data))})")
