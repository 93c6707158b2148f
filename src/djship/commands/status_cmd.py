"""`djship status`: health, versions, disk, database, certificates and drift per host."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import click

from djship.cli import State, cli, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.errors import DjshipError
from djship.ops import status as st
from djship.paths import SitePaths
from djship.runner import Runner
from djship.steps.provision import provision_steps


def host_status(ctx: Context, site: str, host: Host) -> st.HostStatus:
    """Probe one host; a host that cannot be reached is reported, not raised."""
    s = ctx.config.sites[site]
    transport = ctx.transport(host)
    try:
        res = transport.run(st.probe(SitePaths(site), (s.domains or ["localhost"])[0],
                                     s.health_path, "web" in host.roles))
        status = st.parse(host.name, res)
        runner = Runner(ctx.ui, site=site)
        status.drift = runner.drift(transport, provision_steps(ctx.config, site, host, ctx.root))
    except DjshipError as exc:
        status = st.HostStatus(host.name, service=f"unreachable: {exc.message}")
    if "db" not in host.roles:
        status.postgres = "n/a"
    return status


def age(ts: float) -> str:
    """'3h' style age of a timestamp."""
    if not ts:
        return "-"
    secs = int(time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


@cli.command()
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def status(state: State, site: str | None, only_host: str | None, as_json: bool) -> None:
    """Show each host's release, app service, HTTP health, disk, database, TLS and drift.

    Exits 1 when any web host's app is down or does not answer through nginx.
    """
    ctx = state.context()
    name = ctx.site_name(site)
    hosts = ctx.hosts(name, only_host)
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            reports = list(pool.map(lambda h: host_status(ctx, name, h), hosts))
    finally:
        ctx.close()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        for r in reports:
            http = f"HTTP {r.http_status} in {r.latency_ms:.0f} ms" if r.http_status else "HTTP -"
            drift = ("drift: " + ", ".join(r.drift)) if r.drift else "no drift"
            ctx.ui.data(f"{r.host}: release {r.release or '-'} ({r.commit or '-'}, "
                        f"{age(r.released_at)} old), slot {r.slot or '-'}, app {r.service}, "
                        f"{http}, disk free {r.disk_free or '-'}, postgres {r.postgres}, "
                        f"cert {r.cert_expiry or '-'}, {drift}")
    web = [r for r, h in zip(reports, hosts, strict=True) if "web" in h.roles]
    if any(not r.healthy for r in web):
        raise SystemExit(1)
