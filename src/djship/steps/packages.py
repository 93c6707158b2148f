"""Step: system packages, installed in one apt transaction."""

from __future__ import annotations

from collections.abc import Sequence

from djship.config import Config, Host
from djship.plan import Fact, Plan, Run, Step
from djship.shell import Script, cmd, raw
from djship.steps import redis
from djship.transport.base import Result

BASE = ["python3", "python3-venv", "python3-dev", "build-essential", "libpq-dev", "rsync",
        "curl", "ca-certificates", "sudo", "nftables", "unattended-upgrades", "openssh-server"]
WEB = ["nginx", "certbot", "python3-certbot-nginx", "postgresql-client"]
DB = ["postgresql"]


def wanted_packages(config: Config, host: Host, local_db: bool) -> list[str]:
    """Packages a host needs for its roles and the project's declared system packages."""
    pkgs = list(BASE)
    if {"web", "lb", "worker"} & set(host.roles):
        pkgs += WEB
    if "db" in host.roles and local_db:
        pkgs += DB
    if redis.sites_on(config, host):
        pkgs.append(redis.PACKAGE)
    pkgs += config.project.system_packages
    return list(dict.fromkeys(pkgs))


def probe(packages: Sequence[str]) -> Script:
    """List which of ``packages`` are installed."""
    return Script.of([cmd("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n",
                          *packages, raw("2>/dev/null || true"))])


def parse_installed(result: Result) -> set[str]:
    """Names of packages dpkg reports as installed."""
    out = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "installed":
            out.add(parts[0].split(":")[0])
    return out


def plan_packages(wanted: Sequence[str], installed: set[str]) -> Plan:
    """Install what is missing, all at once."""
    missing = [p for p in wanted if p not in installed]
    if not missing:
        return Plan.nothing(f"{len(wanted)} packages installed")
    env = raw("DEBIAN_FRONTEND=noninteractive")
    return Plan.of(Run(Script.of([
        cmd(env, "apt-get", "update", "-q"),
        cmd(env, "apt-get", "install", "-y", "-q", "--no-install-recommends",
            "-o", "Dpkg::Options::=--force-confold", *missing),
    ]), f"installed {' '.join(missing)}"))


def packages_step(wanted: Sequence[str]) -> Step[set[str]]:
    """Ensure ``wanted`` packages are installed."""
    return Step("packages", Fact(probe(wanted), parse_installed, set()),
                lambda installed: plan_packages(wanted, installed))
