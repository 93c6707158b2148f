"""`djship provision`: make the site's servers ready, idempotently."""

from __future__ import annotations

import time

import click

from djship.cli import State, cli, dry_run_option, pass_state, site_option
from djship.runner import HostReport, Runner
from djship.steps.provision import provision_steps
from djship.transport.base import Transport


@cli.command()
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@dry_run_option
@pass_state
def provision(state: State, site: str | None, only_host: str | None, dry_run: bool) -> None:
    """Prepare the servers: packages, user, PostgreSQL, systemd, nginx, firewall, SSH.

    Safe to run again: each step reads the server first and changes only what differs;
    a second run reports no change.
    """
    ctx = state.context(dry_run)
    name = ctx.site_name(site)
    hosts = ctx.hosts(name, only_host)
    runner = Runner(ctx.ui, dry_run=dry_run, site=name)
    start = time.monotonic()

    def job_for(host_name: str) -> object:
        host = next(h for h in hosts if h.name == host_name)
        steps = provision_steps(ctx.config, name, host, ctx.root)
        return lambda t: runner.run_steps(t, steps)

    jobs: list[tuple[Transport, object]] = [(ctx.transport(h), job_for(h.name)) for h in hosts]
    try:
        reports: list[HostReport] = runner.run_many(jobs)  # type: ignore[arg-type]
    finally:
        ctx.close()
    if dry_run:
        return
    changed = sum(len(r.changed) for r in reports)
    took = time.monotonic() - start
    if changed:
        ctx.ui.info(f"provisioned {len(reports)} host(s): {changed} step(s) changed ({took:.1f}s)")
    else:
        ctx.ui.info(f"no change: {len(reports)} host(s) already provisioned ({took:.1f}s)")
