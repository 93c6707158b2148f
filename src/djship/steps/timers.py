"""Steps: scheduled jobs and database backups as systemd timers (no overlapping runs)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.render import render
from djship.shell import cmd
from djship.steps.base import Step
from djship.steps.files import File, files_step
from djship.steps.tools import ENVTOOL


def job_exec(config: Config, site: str, command: str) -> str:
    """ExecStart of a job: the command in the live release, as the site user, with its env."""
    from djship.release.scripts import app_exec

    argv = app_exec(config, site, SitePaths(site).current, shlex.split(command))
    return shlex.join(["/usr/bin/python3", *argv[1:]])  # systemd wants an absolute path


def timer_files(site: str, unit: str, description: str, schedule: str, exec_start: str,
                root: Path | None) -> list[File]:
    """A oneshot service and its timer."""
    service = render("timer.service.j2", root, site=site, description=description,
                     exec_start=exec_start.replace("%", "%%"), user=True)
    timer = render("timer.timer.j2", root, site=site, unit=unit, description=description,
                   schedule=schedule)
    return [File(f"{paths.SYSTEMD}/{unit}.service", service.encode()),
            File(f"{paths.SYSTEMD}/{unit}.timer", timer.encode())]


def timers(config: Config, site: str, root: Path | None,
           run_jobs: bool) -> list[tuple[str, list[File]]]:
    """(timer unit, files) for the site's jobs (on the designated host) and backups."""
    p = SitePaths(site)
    s = config.sites[site]
    out = []
    if run_jobs:
        for name, job in s.jobs.items():
            unit = f"djship-{site}-job-{name}"
            out.append((unit, timer_files(site, unit, f"job {name}", job.schedule,
                                          job_exec(config, site, job.command), root)))
    if s.backups.schedule:
        unit = f"djship-{site}-backup"
        exec_start = shlex.join(["/usr/bin/python3", ENVTOOL, "scheduled", p.env_file,
                                 p.backups, str(s.backups.keep)])
        out.append((unit, timer_files(site, unit, "database backup", s.backups.schedule,
                                      exec_start, root)))
    return out


def timer_steps(config: Config, site: str, root: Path | None, run_jobs: bool) -> list[Step[Any]]:
    """One files step per timer, enabling it when written."""
    steps: list[Step[Any]] = []
    for unit, files in timers(config, site, root, run_jobs):
        steps.append(files_step(f"timer {unit.removeprefix('djship-')}", files,
                                validate=[cmd("systemd-analyze", "verify", files[1].path)],
                                then=[cmd("systemctl", "daemon-reload"),
                                      cmd("systemctl", "enable", "--now", f"{unit}.timer")]))
    return steps
