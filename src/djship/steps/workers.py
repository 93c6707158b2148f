"""Worker processes from config (Celery, django-q, RQ...): one template unit per process."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.render import render
from djship.shell import Script, cmd
from djship.steps.base import Step
from djship.steps.files import File, files_step


def unit_name(site: str, process: str) -> str:
    """Template unit name of a worker process (instances 1..N)."""
    return f"djship-{site}-{process}@"


def exec_start(p: SitePaths, command: str) -> str:
    """The command with its program resolved in the live release's venv."""
    words = shlex.split(command)
    venv = f"{p.current}/.venv/bin"
    if words[0] in ("manage.py", "./manage.py"):
        words = [f"{venv}/python", "manage.py", *words[1:]]
    elif not words[0].startswith("/"):
        words[0] = f"{venv}/{words[0]}"
    return shlex.join(words)


def worker_files(config: Config, site: str, root: Path | None, local_db: bool) -> list[File]:
    """One unit file per configured process."""
    from djship.release.scripts import django_env
    from djship.steps.web import app_subdir

    p = SitePaths(site)
    out = []
    for name, proc in config.sites[site].processes.items():
        text = render("worker.service.j2", root, site=site, name=name, user=p.user, paths=p,
                      app_subdir=app_subdir(config), django_env=django_env(config, site),
                      exec_start=exec_start(p, proc.command), local_db=local_db)
        out.append(File(f"{paths.SYSTEMD}/{unit_name(site, name)}.service", text.encode()))
    return out


def worker_step(config: Config, site: str, root: Path | None, local_db: bool) -> Step[Any]:
    """Keep the worker units current."""
    return files_step("worker units", worker_files(config, site, root, local_db),
                      then=[cmd("systemctl", "daemon-reload")])


def restart_workers(config: Config, site: str) -> Script | None:
    """Enable and restart every worker instance on the new release (after the switch)."""
    units = [f"{unit_name(site, name)}{i}.service"
             for name, proc in config.sites[site].processes.items()
             for i in range(1, proc.instances + 1)]
    if not units:
        return None
    return Script.of([cmd("systemctl", "enable", "--quiet", *units),
                      cmd("systemctl", "restart", *units)])
