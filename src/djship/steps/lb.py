"""Steps: nginx on an `lb` host, in front of the site's web hosts with failover.

With TLS on, the load balancer terminates it: certbot runs there (the domains point at it),
the web hosts behind it serve plain HTTP and believe its X-Forwarded-Proto.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.plan import AnyStep, Fact, Plan, Step
from djship.render import render
from djship.shell import cmd
from djship.steps.files import File, files_step, plan_files
from djship.steps.nginx import (
    NGINX_RELOAD,
    NGINX_TEST,
    NGINX_UNLINK_DANGLING,
    enable_links,
    site_id,
)
from djship.tls import nginx as tls_nginx
from djship.tls import steps as tls_steps
from djship.tls.certs import WEBROOT, cert_paths


def backends(config: Config, site: str) -> list[str]:
    """Addresses of the site's web hosts."""
    return [h.address for h in config.site_hosts(site) if "web" in h.roles]


def lb_conf(config: Config, site: str, root: Path | None, cert_ready: bool) -> str:
    """The load balancer's server blocks: HTTP, or HTTPS once the certificate is there."""
    s = config.sites[site]
    return render("nginx-lb.conf.j2", root, site=site, site_id=site_id(site),
                  backends=backends(config, site), server_names=" ".join(s.domains or ["_"]),
                  tls=s.tls.enabled, webroot=WEBROOT,
                  cert=cert_paths(site, s.tls) if s.tls.enabled and cert_ready else None,
                  redirects=tls_nginx.redirects(s.domains, s.canonical),
                  hsts=tls_nginx.hsts_header(s.tls.hsts_max_age),
                  websockets=config.project.websockets)


def lb_files(config: Config, site: str, root: Path | None, cert_ready: bool = False
             ) -> list[File]:
    """The load balancer's server block and the default server(s)."""
    p = SitePaths(site)
    files = [File(p.nginx_site, lb_conf(config, site, root, cert_ready).encode()),
             File(f"{paths.NGINX_AVAILABLE}/djship-default.conf",
                  render("nginx-default.conf.j2", root).encode())]
    if config.sites[site].tls.enabled:
        default_tls = render("nginx-tls-default.conf.j2", root)
        files.append(File(tls_nginx.DEFAULT_TLS, default_tls.encode()))
    return files


def lb_step(config: Config, site: str, root: Path | None) -> Step[Any]:
    """Keep the load balancer's nginx config, tested before reload."""
    links = enable_links(SitePaths(site))
    if not config.sites[site].tls.enabled:
        return files_step("load balancer", lb_files(config, site, root),
                          validate=[*links, *NGINX_TEST], then=NGINX_RELOAD,
                          on_fail=NGINX_UNLINK_DANGLING)
    links = [*links, cmd("ln", "-sfn", tls_nginx.DEFAULT_TLS, tls_nginx.DEFAULT_TLS_ENABLED)]
    file_paths = [f.path for f in lb_files(config, site, root)]

    def plan(facts: tls_nginx.NginxTlsFacts) -> Plan:
        return plan_files(lb_files(config, site, root, facts.cert_ready), facts.states,
                          validate=[*links, *NGINX_TEST], then=NGINX_RELOAD,
                          on_fail=NGINX_UNLINK_DANGLING, label="load balancer")

    fact = Fact(tls_nginx.probe(config, site, file_paths), tls_nginx.parse,
                tls_nginx.NginxTlsFacts({}, False))
    return Step("load balancer", fact, plan)


def lb_steps(config: Config, site: str, root: Path | None) -> list[AnyStep]:
    """The lb's nginx, with TLS around it when the site has TLS on (certbot runs here)."""
    nginx = lb_step(config, site, root)
    return [*tls_steps.before_nginx(config, site, root), nginx,
            *tls_steps.after_nginx(config, site, nginx)]
