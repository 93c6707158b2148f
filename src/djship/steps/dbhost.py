"""Steps for a separate database host: PostgreSQL on the private address, reachable only
from the site's own hosts (pg_hba with scram-sha-256, and the firewall)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from djship.config import Config, Host
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Put, Run, Step
from djship.shell import Script, cmd, raw
from djship.steps.database import EnvFact, env_probe, parse_env
from djship.steps.files import File, files_step
from djship.steps.security import ALLOW_DIR, FIREWALL_RELOAD, NFT_FILE
from djship.steps.tools import ENVTOOL
from djship.transport.base import Result

CONF_NAME = "djship.conf"
HBA_GLOB = "/etc/postgresql/*/main/pg_hba.conf"


def client_addresses(config: Config, site: str) -> list[str]:
    """Addresses of the site's web and worker hosts (the only database clients)."""
    return [h.address for h in config.site_hosts(site) if {"web", "worker"} & set(h.roles)]


def db_host(config: Config, site: str) -> Host | None:
    """The site's separate database host, if it has one (a db host without app roles)."""
    hosts = config.site_hosts(site)
    for h in hosts:
        if "db" in h.roles and not {"web", "worker"} & set(h.roles):
            return h
    return None


def _ip_version(addr: str) -> int | None:
    """4 or 6 for an IP address, None for a host name."""
    try:
        return ipaddress.ip_address(addr).version
    except ValueError:
        return None


def hba_block(config: Config, site: str) -> str:
    """pg_hba lines letting only the site's hosts reach its database, with scram-sha-256."""
    db = SitePaths(site).db_name
    masks = {4: "/32", 6: "/128", None: ""}  # pg_hba takes a host name as it is
    return "\n".join(f"host {db} {db} {addr}{masks[_ip_version(addr)]} scram-sha-256"
                      for addr in client_addresses(config, site))


def allow_file(site: str) -> str:
    """The site's own firewall rules on its database host."""
    return f"{ALLOW_DIR}/{site}.nft"


def firewall_rules(config: Config, site: str) -> str:
    """nft rules adding PostgreSQL from the site's web and worker hosts to djship's table.

    Each site has its own file, so a database host shared by several sites (of one project
    or of several) lets in the union of their hosts, and removing a site removes only its.
    """
    addrs = client_addresses(config, site)
    v6 = [a for a in addrs if _ip_version(a) == 6]
    v4 = [a for a in addrs if a not in v6]  # names resolve when nft loads the file
    lines = [f"# Managed by djship: PostgreSQL clients of site {site} (its web and worker hosts)."]
    for family, group in (("ip", v4), ("ip6", v6)):
        if group:
            lines.append(f"add rule inet djship input {family} saddr {{ {', '.join(group)} }} "
                         "tcp dport 5432 accept")
    return "\n".join(lines) + "\n"


def firewall_step(config: Config, site: str) -> Step[Any]:
    """Let the site's hosts (only) through the database host's firewall to PostgreSQL."""
    files = [File(allow_file(site), firewall_rules(config, site).encode(), 0o600)]
    return files_step("postgres firewall", files, validate=[cmd("nft", "-c", "-f", NFT_FILE)],
                      then=FIREWALL_RELOAD)


def listen_conf(host: Host) -> str:
    """postgresql.conf drop-in: listen on localhost and the private address."""
    return (f"# Managed by djship: listen on the private address for the site's hosts.\n"
            f"listen_addresses = 'localhost,{host.address}'\n"
            "password_encryption = 'scram-sha-256'\n")


@dataclass(frozen=True)
class PgFact:
    """Cluster folder, our drop-in's hash, and the site's pg_hba block hash."""

    folder: str
    conf: str
    hba: str


def probe(site: str) -> Script:
    """Find the cluster's config folder and hash what djship manages there."""
    request = json.dumps({"op": "block", "file": HBA_GLOB, "name": site})
    find = "folder=$(ls -d /etc/postgresql/*/main | sort -V | tail -1)"
    return Script.of([
        cmd(raw(find)),
        cmd(raw('echo "folder:$folder"')),
        cmd(raw(f'echo "conf:$(sha256sum "$folder/conf.d/{CONF_NAME}" 2>/dev/null | '
                'cut -d" " -f1)"')),
        cmd("printf", "%s", request, raw(f"| python3 {ENVTOOL} | sed 's/^/hba:/'")),
    ])


def parse(result: Result) -> PgFact:
    """Read the probe's lines."""
    folder = conf = hba = ""
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        if key == "folder":
            folder = value
        elif key == "conf":
            conf = value
        elif key == "hba" and value:
            hba = json.loads(value)["digest"]
    return PgFact(folder, conf, hba)


def plan_network(config: Config, site: str, host: Host, fact: PgFact) -> Plan:
    """Write the listen drop-in and the site's hba block; restart/reload as needed."""
    folder = fact.folder or "/etc/postgresql/15/main"
    conf = listen_conf(host)
    block = hba_block(config, site)
    actions: list[Put | Run] = []
    if hashlib.sha256(conf.encode()).hexdigest() != fact.conf:
        actions += [Put(f"{folder}/conf.d/{CONF_NAME}", conf.encode(), "listen on private address",
                        0o644, "postgres", "postgres"),
                    Run(Script.of([cmd("systemctl", "restart", "postgresql")]), "")]
    if hashlib.sha256(block.encode()).hexdigest() != fact.hba:
        request = {"op": "block", "file": HBA_GLOB, "name": site, "content": block}
        actions.append(Run(Script.of([cmd("python3", ENVTOOL),
                                      cmd("systemctl", "reload", "postgresql")]),
                           f"allowed {', '.join(client_addresses(config, site))} in pg_hba",
                           stdin=json.dumps(request).encode()))
    return Plan.of(*actions) if actions else Plan.nothing("PostgreSQL network access in place")


def network_step(config: Config, site: str, host: Host) -> Step[PgFact]:
    """PostgreSQL reachable from the site's hosts only."""
    return Step("postgres network", Fact(probe(site), parse, PgFact("", "", "")),
                lambda f: plan_network(config, site, host, f))


def db_env_file(site: str) -> str:
    """Where the db host keeps the site's DATABASE_URL (root-only)."""
    return f"/etc/djship/{site}.db.env"


def db_create_step(site: str, host: Host) -> Step[Any]:
    """Create the site's role and database on the db host, password stored root-only there."""
    p = SitePaths(site)
    probe_script = env_probe(p, with_db=True, env_file=db_env_file(site))

    def plan(fact: EnvFact) -> Plan:
        if fact.database and "DATABASE_URL" in fact.hashes:
            return Plan.nothing(f"database {p.db_name} exists")
        request = {"file": db_env_file(site),
                   "database": {"name": p.db_name, "host": host.address}}
        return Plan.of(Run(Script.of([cmd("python3", ENVTOOL)]), f"created database {p.db_name}",
                           stdin=json.dumps(request).encode()))

    return Step("database", Fact(probe_script, parse_env, EnvFact({}, False)), plan)


def read_url_request(site: str) -> tuple[Script, bytes]:
    """Helper call printing the db host's DATABASE_URL as JSON (read into memory only)."""
    body = {"op": "get", "file": db_env_file(site), "keys": ["DATABASE_URL"]}
    return Script.of([cmd("python3", ENVTOOL)]), json.dumps(body).encode()
