"""`djship domains check`, `djship tls status` and `djship tls renew`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import click

from djship.commands.base import State, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.errors import DjshipError
from djship.runner import Runner
from djship.shell import Script, cmd
from djship.steps.nginx import fronted
from djship.tls import certs, status
from djship.tls.dns import NAMESERVER_ENV, Check
from djship.tls.lookup import check_site, make_resolver


@click.group("domains")
def domains_group() -> None:
    """The site's domain names: do they point at its servers?"""


@domains_group.command("check")
@site_option
@click.option("--nameserver", metavar="IP[:PORT]", envvar=NAMESERVER_ENV,
              help=f"Ask this DNS server (default: the system resolver; env {NAMESERVER_ENV}).")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds per lookup.")
@pass_state
def domains_check(state: State, site: str | None, nameserver: str | None,
                  timeout: float) -> None:
    """Resolve every domain (A, AAAA, CNAME) and compare with the web (or lb) hosts.

    \b
    Prints domain, records found, expected addresses and a verdict, and for each wrong or
    missing record the exact record to add. A www name may be a CNAME to the apex.
    Exit status 1 when any domain is wrong or missing.
    """
    ctx = state.context()
    names = [site] if site else list(ctx.config.sites)
    for name in names:
        ctx.site_name(name)
    res = make_resolver(nameserver, timeout)
    checks = {name: check_site(ctx.config, name, res) for name in names}
    for name in names:
        print_checks(state, name, checks[name])
    bad = [c for cs in checks.values() for c in cs if not c.ok]
    if bad:
        raise DjshipError(f"{len(bad)} domain(s) not pointing at the site's servers: "
                          + ", ".join(c.domain for c in bad),
                          hint="add the records shown above at your DNS provider, wait for "
                               "the TTL, then check again")


def print_checks(state: State, site: str, checks: list[Check]) -> None:
    """The table of one site, then the records to add."""
    rows = [("DOMAIN", "FOUND", "EXPECTED", "VERDICT")]
    rows += [(c.domain, c.found, c.expected, c.verdict) for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    state.ui.data(f"site {site}:")
    for r in rows:
        state.ui.data("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False))
                      + "  " + r[3])
    for c in checks:
        if c.note and c.verdict != "ok":
            state.ui.data(f"  {c.domain}: {c.note}")
    for title, records in (("records to add:", [r for c in checks for r in c.add]),
                           ("records to remove:", [r for c in checks for r in c.remove])):
        if records:
            state.ui.data(f"  {title}")
            for line in records:
                state.ui.data(f"    {line}")


@click.group("tls")
def tls_group() -> None:
    """Certificates of the site's domains."""


@tls_group.command("status")
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@pass_state
def tls_status(state: State, site: str | None, only_host: str | None) -> None:
    """Per web host and domain: the certificate nginx serves, its expiry and issuer.

    Read on the server with openssl (as a browser would get it, by name). Exit status 1
    when a domain has no valid certificate or it expires within 14 days.
    """
    ctx = state.context()
    name = ctx.site_name(site)
    hosts = ctx.hosts(name, only_host, role=tls_role(ctx, name))
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            rows = [r for rs in pool.map(lambda h: host_tls(ctx, name, h), hosts) for r in rs]
    finally:
        ctx.close()
    for line in status.table(rows):
        state.ui.data(line)
    bad = [r for r in rows if not r.healthy]
    if bad:
        raise DjshipError(f"{len(bad)} domain(s) without a valid certificate for 14 more days",
                          hint="run `djship domains check`, then `djship provision`")


def tls_role(ctx: Context, site: str) -> str:
    """Where the site's certificate lives: its load balancers when it has any, else web."""
    return "lb" if fronted(ctx.config, site) else "web"


def host_tls(ctx: Context, site: str, host: Host) -> list[status.CertRow]:
    """Read the served certificate of each domain on one host."""
    domains = ctx.config.sites[site].domains
    result = Runner(ctx.ui, site=site).check(ctx.transport(host), status.probe(domains),
                                             "tls status")
    return status.parse(host.name, domains, result.stdout)


@tls_group.command("renew")
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@click.option("--dry-run", is_flag=True,
              help="Ask the CA for a test certificate and keep the current one (certbot's "
                   "--dry-run); the deploy hook does not run.")
@click.option("--force", is_flag=True, help="Renew now even if not due (the hook reloads nginx).")
@pass_state
def tls_renew(state: State, site: str | None, only_host: str | None, dry_run: bool,
              force: bool) -> None:
    """Renew the site's certificate as certbot.timer would, with djship's renewal config."""
    ctx = state.context()
    name = ctx.site_name(site)
    tls = ctx.config.sites[name].tls
    if not certs.uses_acme(tls):
        raise DjshipError(f"site {name} gets no certificate from an ACME server",
                          hint="set tls.enabled = true (and no tls.certificate)")
    # Asked for now: certbot's renew otherwise sleeps at random (up to 8 min) without a TTY.
    argv = ["certbot", "renew", "--non-interactive", "--no-random-sleep-on-renew",
            "--cert-name", name]
    argv += ["--dry-run"] if dry_run else []
    if dry_run and tls.acme_server:  # certbot's --dry-run otherwise swaps in LE staging
        argv += ["--server", tls.acme_server]
    argv += ["--force-renewal"] if force else []
    if tls.acme_ca_bundle:
        argv = ["env", f"REQUESTS_CA_BUNDLE={certs.ACME_CA}", *argv]
    runner = Runner(ctx.ui, site=name)
    try:
        for host in ctx.hosts(name, only_host, role=tls_role(ctx, name)):
            result = runner.check(ctx.transport(host), Script.of([cmd(*argv)]), "renew",
                                  hint="see the certbot output above; `djship domains check`")
            for line in (result.stdout + result.stderr).splitlines():
                if line.strip():
                    state.ui.data(f"[{host.name}] {line}")
    finally:
        ctx.close()
