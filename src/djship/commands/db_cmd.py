"""`djship db`: back up, list, restore and download database backups."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import click

from djship.commands.base import State, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.errors import RemoteFailure
from djship.ops import db
from djship.ops.restore import Restore
from djship.paths import SitePaths
from djship.runner import Runner
from djship.shell import Script, cmd
from djship.steps.provision import job_host
from djship.transport.base import Transport
from djship.transport.ssh import SshTransport


def db_host(ctx: Context, site: str) -> Host:
    """The host that makes and keeps backups: the site's job host (it has the env file)."""
    return job_host(ctx.config, site) or ctx.hosts(site)[0]


@click.group("db")
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
    backups = db.parse_listing(res.stdout)
    if not backups:
        ctx.ui.info(f"no backups of site {name} on {host.name} yet: `djship db backup` makes one")
    for b in backups:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created))
        click.echo(f"{b.name:<40} {db.human(b.size):>10}  {when}")


@db_group.command("restore")
@site_option
@click.argument("backup")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def db_restore(state: State, site: str | None, backup: str, yes: bool) -> None:
    """Replace the site's data with BACKUP (see `djship db list`).

    The app stops on every host while the restore runs (visitors get an error page for
    those seconds) and starts again afterwards. The data as it was is saved first as a
    `prerestore-` backup, so a wrong restore can be undone. Runs under the deploy lock.
    """
    db.check_name(backup)
    ctx = state.context()
    name = ctx.site_name(site)
    if not yes:
        click.confirm(f"Replace the data of site {name} with {backup}?", abort=True)
    try:
        safety = Restore(ctx, name).execute(backup)
    finally:
        ctx.close()
    ctx.ui.info(f"restored {backup}; the data before it is in {safety}")


@db_group.command("download")
@site_option
@click.argument("backup")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Local file (default: the backup's name).")
@pass_state
def db_download(state: State, site: str | None, backup: str, output: Path | None) -> None:
    """Copy a backup to this machine (mode 0600; replaced only once complete)."""
    db.check_name(backup)
    ctx = state.context()
    name = ctx.site_name(site)
    host = db_host(ctx, name)
    target = output or Path(backup)
    try:
        size = fetch(ctx.transport(host), f"{SitePaths(name).backups}/{backup}", target)
    finally:
        ctx.close()
    click.echo(f"{target} ({db.human(size)})")


def fetch(transport: Transport, remote: str, target: Path) -> int:
    """Stream a remote file into a private temp file beside ``target``, then rename it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp: mode 0600
            if isinstance(transport, SshTransport):
                transport.connect()
                script = Script.of([cmd("cat", "--", remote)])
                err = subprocess.run(transport.argv(script), stdout=out, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, check=False)
                if err.returncode != 0:
                    raise RemoteFailure(transport.name, "download", f"cat -- {remote}",
                                        err.returncode, err.stderr.decode(errors="replace"),
                                        hint_text="see `djship db list`")
            else:
                out.write(transport.get(remote))
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target.stat().st_size
