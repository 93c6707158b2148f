"""Steps: the app's systemd template unit and the nginx site."""

from __future__ import annotations

from pathlib import Path

from djship.config import Config
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Put, Step
from djship.release.scripts import django_env
from djship.render import render
from djship.shell import Script, cmd, raw
from djship.steps.files import File, files_step
from djship.steps.nginx import (
    NGINX_RELOAD,
    NGINX_TEST,
    NGINX_UNLINK_DANGLING,
    enable_links,
    fronted,
    nginx_files,
)
from djship.steps.tools import GUNICORN_CONF, gunicorn_conf_file
from djship.tls.nginx import nginx_tls_step

NO_RELEASE = "# no release deployed yet\nserver unix:/run/djship-none.sock down;\n"


def app_args(config: Config, site: str) -> str:
    """gunicorn arguments selecting the WSGI app, or uvicorn workers for ASGI-only projects."""
    preload = "--preload " if config.sites[site].preload else ""
    if config.project.wsgi:
        return preload + config.project.wsgi
    return f"{preload}-k uvicorn_worker.UvicornWorker {config.project.asgi}"


def unit_file(config: Config, site: str, root: Path | None, local_db: bool) -> File:
    """The app's template unit (instance = release id)."""
    p = SitePaths(site)
    s = config.sites[site]
    text = render("app.service.j2", root, site=site, paths=p, user=p.user,
                  settings=config.settings_module(site), app_args=app_args(config, site),
                  workers=s.workers, start_timeout=int(s.health_timeout) + 30,
                  worker_timeout=max(30, int(s.health_timeout)),
                  server_name="gunicorn", local_db=local_db, gunicorn_conf=GUNICORN_CONF,
                  django_env=django_env(config, site, p.slot("%i")),
                  app_subdir=app_subdir(config), overrides=s.unit_overrides())
    return File(p.unit_file, text.encode())


def socket_file(site: str, root: Path | None) -> File:
    """The slots' socket template unit: systemd holds each slot's socket, so connections
    wait while the app starts instead of failing."""
    p = SitePaths(site)
    return File(p.socket_unit_file, render("app.socket.j2", root, site=site, paths=p,
                                           user=p.user).encode())


def app_unit_step(config: Config, site: str, root: Path | None, local_db: bool) -> Step[object]:
    """Keep the app and socket units (and the gunicorn configuration they start the app
    with) current and systemd aware of them."""
    files = [unit_file(config, site, root, local_db), socket_file(site, root),
             gunicorn_conf_file()]
    return files_step("app unit", files,  # type: ignore[return-value]
                      then=[cmd("systemctl", "daemon-reload")])


def app_subdir(config: Config) -> str:
    """'/sub' when manage.py is not at the project root, else ''."""
    parent = str(Path(config.project.manage).parent)
    return "" if parent in ("", ".") else "/" + parent


def nginx_step(config: Config, site: str, root: Path | None) -> Step[object]:
    """Keep the nginx site in place: staged, enabled, tested with nginx -t, then reloaded."""
    links = enable_links(SitePaths(site))
    on_fail = NGINX_UNLINK_DANGLING
    # HTTPS server, redirect, ACME webroot: djship.tls (on the lb instead, when there is one)
    if config.sites[site].tls.enabled and not fronted(config, site):
        return nginx_tls_step(config, site, root, name="nginx", links=links,  # type: ignore[return-value]
                              test=NGINX_TEST, reload=NGINX_RELOAD, on_fail=on_fail)
    return files_step("nginx", nginx_files(config, site, root),  # type: ignore[return-value]
                      validate=[*links, *NGINX_TEST], then=NGINX_RELOAD, on_fail=on_fail)


def plan_upstream(p: SitePaths, exists: bool) -> Plan:
    """Create the upstream include before the first deploy (deploys rewrite it)."""
    if exists:
        return Plan.nothing("upstream in place")
    return Plan.of(Put(p.nginx_upstream, NO_RELEASE.encode(), "created upstream placeholder"))


def upstream_step(site: str) -> Step[bool]:
    """Ensure the upstream include nginx's site file needs exists."""
    p = SitePaths(site)
    probe = Script.of([cmd("test", "-e", p.nginx_upstream, raw("&& echo yes || echo no"))])
    return Step("nginx upstream", Fact(probe, lambda r: r.stdout.strip() == "yes", False),
                lambda e: plan_upstream(p, e))
