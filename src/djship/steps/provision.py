"""The provision plan: which steps each host gets for its roles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from djship.config import Config, Host
from djship.paths import SitePaths
from djship.plan import AnyStep
from djship.steps import (
    database,
    dbhost,
    lb,
    packages,
    python,
    redis,
    security,
    site,
    timers,
    tools,
    web,
    workers,
)
from djship.steps.nginx import fronted
from djship.tls import steps as tls_steps


def uses_local_db(config: Config, site_name: str) -> bool:
    """True when the site's PostgreSQL runs on one of its own hosts (role db)."""
    return config.sites[site_name].database == "postgres" and any(
        "db" in h.roles for h in config.site_hosts(site_name))


def job_host(config: Config, site_name: str) -> Host | None:
    """Where scheduled jobs and backups run: the first worker host, else the first web host."""
    hosts = config.site_hosts(site_name)
    chosen = [h for h in hosts if "worker" in h.roles] or [h for h in hosts if "web" in h.roles]
    return chosen[0] if chosen else None


def is_job_host(config: Config, site_name: str, host: Host) -> bool:
    """Scheduled jobs run on one host only (job_host())."""
    chosen = job_host(config, site_name)
    return chosen is not None and chosen.name == host.name


HOST_WIDE = {"packages", "security updates", "firewall", "ssh hardening", "postgresql", "uv",
             "helpers", "nginx service", "redis config"}


def provision_steps(config: Config, site_name: str, host: Host, root: Path | None,
                    shared: dict[str, str] | None = None) -> list[AnyStep]:
    """Every step, in order, for one host of a site (site steps labelled with the site)."""
    return [s if s.name in HOST_WIDE else replace(s, labels={"site": site_name})
            for s in _steps(config, site_name, host, root, shared)]


def _steps(config: Config, site_name: str, host: Host, root: Path | None,
           shared: dict[str, str] | None) -> list[AnyStep]:
    p = SitePaths(site_name)
    s = config.sites[site_name]
    roles = set(host.roles)
    app_host = bool(roles & {"web", "worker"})
    db_here = "db" in roles and s.database == "postgres"
    single = db_here and app_host
    separate_db = db_here and not app_host
    # Before anything is installed: can this server run the project's Python at all?
    steps: list[AnyStep] = [python.python_step(config, site_name, root)] if app_host else []
    steps += [
        packages.packages_step(packages.wanted_packages(config, host, db_here)),
        security.upgrades_step(root),
        security.firewall_step(host, root),
        security.sshd_step(host, root),
    ]
    if db_here:
        steps.append(database.service_step("postgresql", "postgresql"))
    if separate_db:
        steps += [tools.envtool_step(), dbhost.network_step(config, site_name, host),
                  dbhost.firewall_step(config, site_name), dbhost.db_create_step(site_name, host)]
    if app_host:
        steps += [
            tools.uv_step(),
            tools.envtool_step(),
            site.user_step(p, has_nginx="web" in roles),
            site.layout_step(p),
            database.env_step(p, s, with_db=single, shared=shared),
        ]
    if redis_steps := redis.host_steps(config, site_name, host):
        # The URL goes into the env file written above (or is read from here by the app hosts).
        steps += [*([] if app_host or separate_db else [tools.envtool_step()]), *redis_steps]
    if "web" in roles:  # worker-only hosts run the processes, not the app server
        steps.append(web.app_unit_step(config, site_name, root, local_db=single))
    if "worker" in roles and s.processes:
        steps.append(workers.worker_step(config, site_name, root, local_db=single))
    if app_host:
        steps.append(workers.stale_workers_step(config, site_name, here="worker" in roles))
    if app_host:
        job_host = is_job_host(config, site_name, host)
        steps += timers.timer_steps(config, site_name, root, run_jobs=job_host)
    if "lb" in roles and "web" not in roles:
        steps += [database.service_step("nginx service", "nginx"),
                  *lb.lb_steps(config, site_name, root)]
    if "web" in roles:
        nginx = web.nginx_step(config, site_name, root)
        tls_here = not fronted(config, site_name)  # else TLS ends at the load balancer
        steps += [
            database.service_step("nginx service", "nginx"),
            web.upstream_step(site_name),
            *(tls_steps.before_nginx(config, site_name, root) if tls_here else []),
            nginx,
            *(tls_steps.after_nginx(config, site_name, nginx) if tls_here else []),
        ]
    return steps
