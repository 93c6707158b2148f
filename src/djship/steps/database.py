"""Steps: PostgreSQL running, and the site's role, database and environment file."""

from __future__ import annotations

import json
from dataclasses import dataclass

from djship.config import Site
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Run, Step
from djship.shell import Script, cmd, raw
from djship.steps.envfile import desired_hashes
from djship.steps.tools import ENVTOOL
from djship.transport.base import Result


def service_probe(unit: str) -> Script:
    """Print 'enabled active' style state of a unit."""
    return Script.of([cmd("echo", raw(f"$(systemctl is-enabled {unit} 2>/dev/null || true)"),
                          raw(f"$(systemctl is-active {unit} 2>/dev/null || true)"))])


def parse_service(result: Result) -> tuple[str, str]:
    """(enabled-state, active-state) of a unit."""
    parts = result.stdout.split()
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def plan_service(unit: str, state: tuple[str, str]) -> Plan:
    """Enable and start a unit that is not."""
    if state == ("enabled", "active"):
        return Plan.nothing(f"{unit} enabled and running")
    return Plan.of(Run(Script.of([cmd("systemctl", "enable", "--now", unit)]),
                       f"enabled and started {unit}"))


def service_step(name: str, unit: str) -> Step[tuple[str, str]]:
    """Ensure a systemd unit is enabled and running."""
    return Step(name, Fact(service_probe(unit), parse_service, ("", "")),
                lambda s: plan_service(unit, s))


@dataclass(frozen=True)
class EnvFact:
    """Hashes of the env file's entries and whether the site's database exists."""

    hashes: dict[str, str]
    database: bool


def env_probe(p: SitePaths, with_db: bool, env_file: str | None = None) -> Script:
    """Ask the helper for entry hashes (never values) and check the database exists."""
    request = json.dumps({"op": "hashes", "file": env_file or p.env_file})
    cmds = [cmd("python3", ENVTOOL, raw("<<'DJSHIP_JSON'\n" + request + "\nDJSHIP_JSON"))]
    if with_db:
        sql = f"SELECT 'db:' || count(*) FROM pg_database WHERE datname = '{p.db_name}'"  # noqa: S608
        cmds.append(cmd("runuser", "-u", "postgres", "--", "psql", "-XtAc", sql))
    return Script.of(cmds)


def parse_env(result: Result) -> EnvFact:
    """Read the helper's JSON line and the database count."""
    lines = result.stdout.splitlines()
    hashes = json.loads(lines[0]) if lines else {}
    return EnvFact(hashes, any(line.strip() == "db:1" for line in lines[1:]))


def plan_env(p: SitePaths, site: Site, fact: EnvFact, with_db: bool,
             shared: dict[str, str] | None = None) -> Plan:
    """Set the shared secrets (one SECRET_KEY and DATABASE_URL for all the site's hosts),
    generate SECRET_KEY once, create a local database once.

    The site's ``[sites.X.env]`` is not written here: it is part of each release (its
    ``.djship-env``, read after this file), so a deploy applies it and a rollback restores
    it."""
    wanted_env = dict(shared or {})
    if site.database == "sqlite" and "DATABASE_URL" not in fact.hashes | wanted_env:
        # The database lives in the shared data folder: it survives every release.
        wanted_env["DATABASE_URL"] = f"sqlite:///{p.data}/db.sqlite3"
    want = desired_hashes(wanted_env)
    changed = sorted(k for k, h in want.items() if fact.hashes.get(k) != h)
    key = site.env_name("SECRET_KEY")  # generated under the name the settings read
    need_key = key not in fact.hashes and key not in wanted_env
    need_db = with_db and (not fact.database or "DATABASE_URL" not in fact.hashes)
    if not (changed or need_key or need_db):
        return Plan.nothing("environment file up to date")
    request: dict[str, object] = {"file": p.env_file, "set": wanted_env, "generate": [key]}
    if need_db:
        request["database"] = {"name": p.db_name}
    what = [*changed, *([f"{key} (generated)"] if need_key else []),
            *([f"database {p.db_name}"] if need_db else [])]
    return Plan.of(Run(Script.of([cmd("python3", ENVTOOL)]), "set " + ", ".join(what),
                       stdin=json.dumps(request).encode()))


def env_step(p: SitePaths, site: Site, with_db: bool,
             shared: dict[str, str] | None = None) -> Step[EnvFact]:
    """Keep the site's environment file (and database, when local) as configured."""
    return Step("environment", Fact(env_probe(p, with_db), parse_env, EnvFact({}, False)),
                lambda f: plan_env(p, site, f, with_db, shared))
