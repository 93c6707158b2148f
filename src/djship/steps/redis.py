"""Steps: Redis on the site's db host, for the sites that ask for it (``[sites.X.redis]``).

One Redis server per host, shared by its sites: each site has its own ACL user (a generated
password, stored root-only like the database password; Redis's config holds only its
SHA-256) and its own database number, so two sites (staging and production) never share
Celery's queues or a cache key. The default user is switched off: nothing answers without a
password. Redis listens on localhost, plus the host's private address when app hosts
elsewhere use it, and then the firewall lets in only those hosts.
"""

from __future__ import annotations

import json
from typing import Any

from djship import paths
from djship.config import Config, Host
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Run, Step
from djship.shell import Script, cmd, raw
from djship.steps.dbhost import client_addresses
from djship.steps.files import File, files_step
from djship.steps.security import ALLOW_DIR, FIREWALL_RELOAD, NFT_FILE
from djship.steps.tools import ENVTOOL
from djship.transport.base import Result

PORT = 6379
PACKAGE = "redis-server"
SERVICE = "redis-server"
MAIN_CONF = "/etc/redis/redis.conf"
CONF = "/etc/redis/djship.conf"
USERS_DIR = "/etc/redis/djship.d"
RESTART = cmd("systemctl", "restart", SERVICE)


def redis_host(config: Config, site: str) -> Host | None:
    """The host running the site's Redis: its db host (None when the site wants none)."""
    if not config.sites[site].redis.enabled:
        return None
    return next((h for h in config.site_hosts(site) if "db" in h.roles), None)


def remote(config: Config, site: str) -> bool:
    """True when the site's app hosts reach Redis over the network (a separate db host)."""
    host = redis_host(config, site)
    return host is not None and not {"web", "worker"} & set(host.roles)


def sites_on(config: Config, host: Host) -> list[str]:
    """The sites whose Redis runs on ``host``."""
    return [s for s in config.sites if (h := redis_host(config, s)) and h.name == host.name]


def user_name(site: str) -> str:
    """The site's Redis ACL user."""
    return f"djship-{site}"


def env_file(site: str) -> str:
    """Where the Redis host keeps the site's password, database number and URL (root-only)."""
    return f"{paths.ETC}/{site}.redis.env"


def acl_file(site: str) -> str:
    """The site's ACL user, included by djship's Redis config."""
    return f"{USERS_DIR}/{site}.conf"


def main_conf(config: Config, host: Host) -> str:
    """djship's Redis settings: where it listens, and no access without a user."""
    bind = ["127.0.0.1", "-::1"]
    if any(remote(config, s) for s in sites_on(config, host)):
        bind.append(host.address)
    return ("# Managed by djship: Redis for the sites on this host; one ACL user per site in\n"
            f"# {USERS_DIR}/, each with its own database number.\n"
            f"bind {' '.join(bind)}\n"
            f"port {PORT}\n"
            "protected-mode yes\n"
            "user default off resetpass resetkeys resetchannels -@all\n"
            f"include {USERS_DIR}/*.conf\n")


def config_step(config: Config, host: Host) -> Step[Any]:
    """djship's Redis config file, included at the end of Debian's redis.conf."""
    include = {"op": "block", "file": MAIN_CONF, "name": "redis",
               "content": f"include {CONF}"}
    files = [File(CONF, main_conf(config, host).encode(), 0o640, "root", "redis")]
    return files_step("redis config", files, then=[
        cmd("install", "-d", "-m", "750", "-o", "root", "-g", "redis", USERS_DIR),
        cmd("python3", ENVTOOL, raw("<<'DJSHIP_JSON' >/dev/null\n" + json.dumps(include)
                                    + "\nDJSHIP_JSON")),
        RESTART])


def user_request(config: Config, site: str, host: Host, *, check: bool) -> dict[str, Any]:
    """The helper's request: the site's user, database number and URL (created once)."""
    s = config.sites[site]
    request: dict[str, Any] = {
        "op": "redis", "check": check, "file": env_file(site), "acl": acl_file(site),
        "user": user_name(site), "host": host.address if remote(config, site) else "127.0.0.1",
        "port": PORT}
    if not remote(config, site):  # the app runs here: the URL goes straight to its env file
        request |= {"env_file": SitePaths(site).env_file, "names": s.redis.env}
    return request


def parse_ready(result: Result) -> bool:
    """The helper's answer to a check request."""
    lines = result.stdout.strip().splitlines()
    return bool(lines) and bool(json.loads(lines[-1]).get("ready"))


def plan_user(config: Config, site: str, host: Host, ready: bool) -> Plan:
    """Create what is missing, then restart Redis so it knows the user."""
    if ready:
        return Plan.nothing(f"Redis user {user_name(site)} in place")
    request = json.dumps(user_request(config, site, host, check=False)).encode()
    return Plan.of(Run(Script.of([
        cmd("install", "-d", "-m", "750", "-o", "root", "-g", "redis", USERS_DIR),
        cmd("python3", ENVTOOL), RESTART]),
        f"Redis user {user_name(site)} and its database", stdin=request))


def user_step(config: Config, site: str, host: Host) -> Step[bool]:
    """The site's Redis user, password and database number (and URL in its env file)."""
    probe = json.dumps(user_request(config, site, host, check=True))
    script = Script.of([cmd("python3", ENVTOOL, raw("<<'DJSHIP_JSON'\n" + probe
                                                    + "\nDJSHIP_JSON"))])
    return Step("redis user", Fact(script, parse_ready, False),
                lambda ready: plan_user(config, site, host, ready))


def firewall_rules(config: Config, site: str) -> str:
    """nft rules letting the site's web and worker hosts (only) reach Redis."""
    addrs = client_addresses(config, site)
    v6 = [a for a in addrs if ":" in a]
    v4 = [a for a in addrs if a not in v6]
    lines = [f"# Managed by djship: Redis clients of site {site} (its web and worker hosts)."]
    for family, group in (("ip", v4), ("ip6", v6)):
        if group:
            lines.append(f"add rule inet djship input {family} saddr {{ {', '.join(group)} }} "
                         f"tcp dport {PORT} accept")
    return "\n".join(lines) + "\n"


def firewall_step(config: Config, site: str) -> Step[Any]:
    """Open Redis's port to the site's own hosts on a separate db host."""
    files = [File(f"{ALLOW_DIR}/{site}.redis.nft", firewall_rules(config, site).encode(),
                  0o600)]
    return files_step("redis firewall", files, validate=[cmd("nft", "-c", "-f", NFT_FILE)],
                      then=FIREWALL_RELOAD)


def host_steps(config: Config, site: str, host: Host) -> list[Step[Any]]:
    """Redis for ``site`` when ``host`` runs it: user, config, and the firewall if remote."""
    here = redis_host(config, site)
    if here is None or here.name != host.name:
        return []
    steps: list[Step[Any]] = [user_step(config, site, host), config_step(config, host)]
    if remote(config, site):
        steps.append(firewall_step(config, site))
    return steps


def read_url_request(site: str) -> tuple[Script, bytes]:
    """Helper call printing the Redis host's URL for the site as JSON (into memory only)."""
    body = {"op": "get", "file": env_file(site), "keys": ["REDIS_URL"]}
    return Script.of([cmd("python3", ENVTOOL)]), json.dumps(body).encode()
