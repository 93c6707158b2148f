"""Step: nginx on an `lb` host, in front of the site's web hosts with failover."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.render import render
from djship.steps.base import Step
from djship.steps.files import File, files_step


def lb_addresses(config: Config, site: str) -> list[str]:
    """IP addresses of the site's load balancers (lb hosts that are not web hosts).

    The web hosts believe these addresses' X-Forwarded-Proto. A load balancer configured
    by host name is not trusted (nginx's geo needs addresses): give its IP address.
    """
    out = []
    for h in config.site_hosts(site):
        if "lb" in h.roles and "web" not in h.roles:
            try:
                out.append(str(ipaddress.ip_address(h.address)))
            except ValueError:
                continue
    return out


def backends(config: Config, site: str) -> list[str]:
    """Addresses of the site's web hosts."""
    return [h.address for h in config.site_hosts(site) if "web" in h.roles]


def lb_files(config: Config, site: str, root: Path | None) -> list[File]:
    """The load balancer's server block and the default server."""
    from djship.steps.web import site_id

    p = SitePaths(site)
    domains = config.sites[site].domains or ["_"]
    text = render("nginx-lb.conf.j2", root, site=site, site_id=site_id(site),
                  backends=backends(config, site), server_names=" ".join(domains))
    default = render("nginx-default.conf.j2", root)
    return [File(p.nginx_site, text.encode()),
            File(f"{paths.NGINX_AVAILABLE}/djship-default.conf", default.encode())]


def lb_step(config: Config, site: str, root: Path | None) -> Step[Any]:
    """Keep the load balancer's nginx config, tested before reload."""
    from djship.steps.web import NGINX_RELOAD, NGINX_TEST, NGINX_UNLINK_DANGLING, enable_links

    return files_step("load balancer", lb_files(config, site, root),
                      validate=[*enable_links(SitePaths(site)), *NGINX_TEST],
                      then=NGINX_RELOAD, on_fail=NGINX_UNLINK_DANGLING)
