"""`djship provision`: make the servers ready for every site, idempotently."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import replace

import click

from djship.commands.base import State, dry_run_option, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.ops import envvars
from djship.paths import SitePaths
from djship.plan import AnyStep
from djship.runner import HostReport, Runner
from djship.steps import dbhost, redis
from djship.steps.provision import provision_steps
from djship.transport.base import Transport


def host_steps(state_steps: Callable[[str, Host], list[AnyStep]], sites: list[str],
               host: Host) -> list[AnyStep]:
    """Steps for every site on a host; host-wide steps (packages, firewall...) only once."""
    seen: set[str] = set()
    out: list[AnyStep] = []
    for site in sites:
        for step in state_steps(site, host):
            if not step.labels.get("site"):
                if step.name in seen:
                    continue
                seen.add(step.name)
            elif len(sites) > 1:
                step = replace(step, name=f"{site}: {step.name}")
            out.append(step)
    return out


def shared_env(ctx: Context, name: str) -> dict[str, str]:
    """Values every host of a site must agree on: the db host's DATABASE_URL and Redis URL
    (under each name the site reads it from), and one SECRET_KEY (an existing one, else a
    new one) so sessions and CSRF work across hosts."""
    out: dict[str, str] = {}
    db = dbhost.db_host(ctx.config, name)
    if db is not None:
        stored = envvars.read_values(ctx, db, dbhost.read_url_request(name), site=name,
                                     missing_ok=True)
        if stored.get("DATABASE_URL"):
            out["DATABASE_URL"] = stored["DATABASE_URL"]
    if redis.remote(ctx.config, name) and (host := redis.redis_host(ctx.config, name)):
        url = envvars.read_values(ctx, host, redis.read_url_request(name), site=name,
                                  missing_ok=True).get("REDIS_URL")
        out |= dict.fromkeys(ctx.config.sites[name].redis.env, url) if url else {}
    apps = [h for h in ctx.config.site_hosts(name) if {"web", "worker"} & set(h.roles)]
    secret = ctx.config.sites[name].env_name("SECRET_KEY")
    if len(apps) > 1:
        for host in apps:
            request = envvars.get_request(SitePaths(name), [secret])
            if key := envvars.read_values(ctx, host, request, site=name,
                                          missing_ok=True).get(secret):
                out[secret] = key
                break
        else:
            out[secret] = secrets.token_urlsafe(50)
            ctx.ui.add_secret(out[secret])
    return out


@click.command()
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@dry_run_option
@pass_state
def provision(state: State, site: str | None, only_host: str | None, dry_run: bool) -> None:
    """Prepare the servers: packages, user, PostgreSQL, systemd, nginx, firewall, SSH.

    Every site in the config is provisioned on its hosts unless --site picks one. Safe to run
    again: each step reads the server first and changes only what differs; a second run
    reports no change.
    """
    ctx = state.context(dry_run)
    sites = [ctx.site_name(site)] if site else list(ctx.config.sites)
    hosts: dict[str, Host] = {}
    for name in sites:
        for h in ctx.hosts(name, only_host):
            hosts[h.name] = h
    runner = Runner(ctx.ui, dry_run=dry_run, site=sites[0] if len(sites) == 1 else None)
    start = time.monotonic()

    urls: dict[str, dict[str, str]] = {}

    def steps_for(name: str, host: Host) -> list[AnyStep]:
        if host.name not in [h.name for h in ctx.config.site_hosts(name)]:
            return []
        return provision_steps(ctx.config, name, host, ctx.root, urls.get(name))

    def job(host: Host) -> Callable[[Transport], HostReport]:
        steps = host_steps(steps_for, sites, host)
        return lambda t: runner.run_steps(t, steps)

    # Separate database hosts first: the app hosts need the DATABASE_URL they create.
    db_only = {d.name for s in sites if (d := dbhost.db_host(ctx.config, s)) is not None}
    try:
        reports = runner.run_many([(ctx.transport(h), job(h)) for h in hosts.values()
                                   if h.name in db_only])
        if not dry_run:
            for name in sites:
                urls[name] = shared_env(ctx, name)
        reports += runner.run_many([(ctx.transport(h), job(h)) for h in hosts.values()
                                    if h.name not in db_only])
    finally:
        ctx.close()
    if dry_run:
        return
    changed = sum(len(r.changed) for r in reports)
    took = time.monotonic() - start
    if changed:
        ctx.ui.info(f"provisioned {len(reports)} host(s): {changed} step(s) changed ({took:.1f}s)")
    else:
        ctx.ui.info(f"no change: {len(reports)} host(s) already provisioned ({took:.1f}s)")
