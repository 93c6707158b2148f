"""The plain nginx site that web hosts, load balancers and the TLS site all build on.

Its server block and default server, the links that enable them, the test and reload
commands, and which load balancers front the site (their addresses are the proxies the
site trusts). Kept apart from ``web`` and ``lb`` so that ``djship.tls.nginx`` can build on
it while ``web`` and ``lb`` build on ``djship.tls``: no module imports one that imports it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.render import render
from djship.shell import Command, cmd, nginx_reload
from djship.steps.files import File

NGINX_TEST = [cmd("nginx", "-t", "-q")]
NGINX_RELOAD = [nginx_reload("reload-or-restart")]
NGINX_UNLINK_DANGLING = [cmd("find", paths.NGINX_ENABLED, "-xtype", "l", "-delete")]


def site_id(site: str) -> str:
    """A name usable as an nginx upstream identifier."""
    return re.sub(r"[^A-Za-z0-9_]", "_", site)


def lb_hosts(config: Config, site: str) -> list[str]:
    """Names of the site's load balancers (lb hosts that are not also web hosts)."""
    return [h.name for h in config.site_hosts(site) if "lb" in h.roles and "web" not in h.roles]


def fronted(config: Config, site: str) -> bool:
    """True when the site's web hosts sit behind a load balancer (which then owns TLS)."""
    return bool(lb_hosts(config, site))


def lb_addresses(config: Config, site: str) -> list[str]:
    """IP addresses of the site's load balancers.

    The web hosts believe these addresses' X-Forwarded-Proto. A load balancer configured
    by host name is not trusted (nginx's geo needs addresses): give its IP address.
    """
    out = []
    names = lb_hosts(config, site)
    for h in config.site_hosts(site):
        if h.name in names:
            try:
                out.append(str(ipaddress.ip_address(h.address)))
            except ValueError:
                continue
    return out


def nginx_files(config: Config, site: str, root: Path | None) -> list[File]:
    """The site's server block, its enabling symlink target and the default server."""
    p = SitePaths(site)
    domains = config.sites[site].domains or ["_"]
    site_conf = render("nginx-site.conf.j2", root, site=site, site_id=site_id(site), paths=p,
                       server_names=" ".join(domains),
                       trusted_proxies=lb_addresses(config, site),
                       websockets=config.project.websockets)
    default = render("nginx-default.conf.j2", root)
    return [File(p.nginx_site, site_conf.encode()),
            File(f"{paths.NGINX_AVAILABLE}/djship-default.conf", default.encode())]


def enable_links(p: SitePaths) -> list[Command]:
    """Enable the site's server block and djship's default server; drop Debian's default."""
    return [
        cmd("ln", "-sfn", p.nginx_site, p.nginx_enabled),
        cmd("ln", "-sfn", f"{paths.NGINX_AVAILABLE}/djship-default.conf",
            f"{paths.NGINX_ENABLED}/djship-default.conf"),
        cmd("rm", "-f", f"{paths.NGINX_ENABLED}/default"),
    ]
