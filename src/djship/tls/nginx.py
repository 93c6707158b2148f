"""The nginx site of a TLS site: HTTPS server, HTTP→HTTPS redirect, ACME webroot, HSTS.

Until the certificate exists the site is served over plain HTTP (with the ACME webroot),
because nginx refuses a config naming certificate files that are not there yet. The nginx
step therefore reads both the files and whether the certificate is present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from djship import paths
from djship.config import Config
from djship.facts import files as file_facts
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Step
from djship.render import render
from djship.shell import Command, Script, cmd, raw
from djship.steps.files import File, plan_files
from djship.steps.nginx import nginx_files, site_id
from djship.tls.certs import WEBROOT, cert_paths
from djship.tls.dns import dns_names
from djship.transport.base import Result

DEFAULT_TLS = f"{paths.NGINX_AVAILABLE}/djship-default-tls.conf"
DEFAULT_TLS_ENABLED = f"{paths.NGINX_ENABLED}/djship-default-tls.conf"
READY_MARK = "djship-tls-cert:ready"


def redirects(domains: Sequence[str], canonical: str) -> list[tuple[str, str]]:
    """(name, canonical name) pairs: www.<apex> → apex for 'apex', the reverse for 'www'."""
    names = [d.lower() for d in dns_names(domains)]
    if canonical == "apex":
        return [(n, n[4:]) for n in names if n.startswith("www.") and n[4:] in names]
    if canonical == "www":
        return [(n, "www." + n) for n in names if "www." + n in names]
    return []


def hsts_header(max_age: int) -> str:
    """The HSTS add_header line, or '' when max_age is 0 (the default: off)."""
    if max_age <= 0:
        return ""
    return f'add_header Strict-Transport-Security "max-age={max_age}" always;'


def site_conf(config: Config, site: str, root: Path | None, cert_ready: bool) -> str:
    """The site's nginx config: HTTPS when the certificate is there, else HTTP plus ACME."""
    s = config.sites[site]
    return render("nginx-tls-site.conf.j2", root, site=site, site_id=site_id(site),
                  paths=SitePaths(site), server_names=" ".join(s.domains or ["_"]),
                  webroot=WEBROOT, cert=cert_paths(site, s.tls) if cert_ready else None,
                  redirects=redirects(s.domains, s.canonical),
                  hsts=hsts_header(s.tls.hsts_max_age),
                  websockets=config.project.websockets)


def nginx_tls_files(config: Config, site: str, root: Path | None, cert_ready: bool
                    ) -> list[File]:
    """The site file, the HTTP default server and the HTTPS default server."""
    plain = nginx_files(config, site, root)
    default_tls = render("nginx-tls-default.conf.j2", root)
    return [File(SitePaths(site).nginx_site, site_conf(config, site, root, cert_ready).encode()),
            *plain[1:], File(DEFAULT_TLS, default_tls.encode())]


@dataclass(frozen=True)
class NginxTlsFacts:
    """The managed files on the host, and whether the site's certificate is there."""

    states: file_facts.FileStates
    cert_ready: bool


def probe(config: Config, site: str, file_paths: Sequence[str]) -> Script:
    """Files' hashes and modes, then a marker line when the certificate chain exists."""
    chain = cert_paths(site, config.sites[site].tls).fullchain
    mark = cmd("test", "-s", chain, raw("&& echo"), READY_MARK, raw("|| true"))
    return Script.of([*file_facts.probe(file_paths).commands, mark])


def parse(result: Result) -> NginxTlsFacts:
    """Both facts from :func:`probe`'s output."""
    ready = READY_MARK in result.stdout.splitlines()
    return NginxTlsFacts(file_facts.parse(result), ready)


def nginx_tls_step(config: Config, site: str, root: Path | None, *, name: str,
                   links: Sequence[Command], test: Sequence[Command],
                   reload: Sequence[Command], on_fail: Sequence[Command]) -> Step[NginxTlsFacts]:
    """Keep the TLS site's nginx files: staged, enabled, tested, reloaded."""
    file_paths = [f.path for f in nginx_tls_files(config, site, root, False)]
    all_links = [*links, cmd("ln", "-sfn", DEFAULT_TLS, DEFAULT_TLS_ENABLED)]

    def plan(facts: NginxTlsFacts) -> Plan:
        files = nginx_tls_files(config, site, root, facts.cert_ready)
        return plan_files(files, facts.states, validate=[*all_links, *test], then=reload,
                          on_fail=on_fail, label=name)

    fact = Fact(probe(config, site, file_paths), parse, NginxTlsFacts({}, False))
    return Step(name, fact, plan)
