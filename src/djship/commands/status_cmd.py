"""`djship status`: health, versions, disk, database, certificates and drift per host."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import click

from djship.commands.base import State, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.errors import DjshipError
from djship.ops import status as st
from djship.paths import SitePaths
from djship.runner import Runner
from djship.steps.provision import provision_steps
from djship.tls.certs import cert_paths


def probe_target(ctx: Context, site: str, host: Host) -> st.Target:
    """What to check on a host: the health URL through nginx, the certificate if any."""
    s = ctx.config.sites[site]
    cert = cert_paths(site, s.tls).cert if s.tls.enabled else None
    return st.Target(st.health_host(s.domains, s.canonical), s.health_path,
                     "web" in host.roles, https=s.tls.enabled, cert=cert)


def host_status(ctx: Context, site: str, host: Host) -> st.HostStatus:
    """Probe one host; a host that cannot be reached is reported, not raised."""
    transport = ctx.transport(host)
    try:
        res = transport.run(st.probe(SitePaths(site), probe_target(ctx, site, host)))
    except DjshipError as exc:
        return st.HostStatus(host.name, list(host.roles), service=f"unreachable: {exc.message}")
    status = st.parse(host.name, host.roles, res)
    try:
        status.drift = Runner(ctx.ui, site=site).drift(
            transport, provision_steps(ctx.config, site, host, ctx.root))
    except DjshipError as exc:
        status.drift = [f"not checked ({exc.message})"]
    if "db" not in host.roles:
        status.postgres = "n/a"
    return status


def line(r: st.HostStatus) -> str:
    """One host's report as a line."""
    http = f"HTTP {r.http_status} in {r.latency_ms:.0f} ms" if r.http_status else "HTTP -"
    drift = ("drift: " + ", ".join(r.drift)) if r.drift else "no drift"
    up = f" for {age(time.time() - r.uptime_s)}" if r.uptime_s else ""
    cert = r.cert_expiry or "-"
    if r.cert_days_left is not None:
        cert += f" ({r.cert_days_left} days)"
    text = (f"{r.host}: release {r.release or '-'} ({r.commit or '-'}, "
            f"{age(r.released_at)} old), slot {r.slot or '-'}, app {r.service}{up}, {http}, "
            f"disk free {r.disk_free or '-'}, postgres {r.postgres}, cert {cert}, {drift}")
    return text + (f"; PROBLEMS: {', '.join(r.problems)}" if r.problems else "")


def age(ts: float) -> str:
    """'3h' style age of a timestamp."""
    if not ts:
        return "-"
    secs = int(time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


@click.command()
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def status(state: State, site: str | None, only_host: str | None, as_json: bool) -> None:
    """Show each host's release, app service, HTTP health, disk, database, TLS and drift.

    The health check goes through nginx with the site's name (over HTTPS when the site
    has TLS). Exits 1 when anything is wrong: an app down or not answering, PostgreSQL
    down on a db host, a certificate close to expiry, a host unreachable. Drift (files
    changed by hand since `djship provision`) is shown but is not an error.
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
            ctx.ui.data(line(r))
    if any(r.problems for r in reports):
        raise SystemExit(1)
