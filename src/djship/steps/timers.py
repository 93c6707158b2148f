"""Steps: scheduled jobs and database backups as systemd timers (no overlapping runs)."""

from __future__ import annotations

import shlex
from pathlib import Path, PurePosixPath
from typing import Any

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Run, Step
from djship.release.scripts import app_exec
from djship.render import render
from djship.shell import Script, cmd, raw
from djship.steps.files import File, files_step
from djship.steps.tools import ENVTOOL
from djship.transport.base import Result


def job_exec(config: Config, site: str, command: str) -> str:
    """ExecStart of a job: the command in the live release, as the site user, with its env."""
    argv = app_exec(config, site, SitePaths(site).current, shlex.split(command))
    return shlex.join(["/usr/bin/python3", *argv[1:]])  # systemd wants an absolute path


def timer_files(site: str, unit: str, description: str, schedule: str, exec_start: str,
                root: Path | None, needs: str = "") -> list[File]:
    """A oneshot service and its timer; runs are skipped while ``needs`` does not exist."""
    service = render("timer.service.j2", root, site=site, description=description,
                     exec_start=exec_start.replace("%", "%%"), user=True, needs=needs)
    timer = render("timer.timer.j2", root, site=site, unit=unit, description=description,
                   schedule=schedule)
    return [File(f"{paths.SYSTEMD}/{unit}.service", service.encode()),
            File(f"{paths.SYSTEMD}/{unit}.timer", timer.encode())]


def timers(config: Config, site: str, root: Path | None,
           run_jobs: bool) -> list[tuple[str, list[File]]]:
    """(timer unit, files) for the site's jobs and scheduled backups (designated host only).

    Backups are kept on the host that made them, so they run on the one host `djship db`
    reads them from: running them on every app host would dump the same database N times.
    """
    p = SitePaths(site)
    s = config.sites[site]
    out = []
    if run_jobs:
        for name, job in s.jobs.items():
            unit = f"djship-{site}-job-{name}"
            out.append((unit, timer_files(site, unit, f"job {name}", job.schedule,
                                          job_exec(config, site, job.command), root,
                                          needs=p.current)))
    if run_jobs and s.backups.schedule:
        unit = f"djship-{site}-backup"
        exec_start = shlex.join(["/usr/bin/python3", ENVTOOL, "scheduled", p.env_file,
                                 p.backups, str(s.backups.keep)])
        out.append((unit, timer_files(site, unit, "database backup", s.backups.schedule,
                                      exec_start, root)))
    return out


def job_timers_probe(site: str) -> Script:
    """List the site's job and backup timers on the host, by description (not a name glob)."""
    return Script.of([cmd(raw(f"grep -l -e '^Description=djship {site}: schedule for job ' "
                              f"-e '^Description=djship {site}: schedule for database backup$' "
                              f"{paths.SYSTEMD}/djship-*.timer 2>/dev/null || true"))])


def parse_job_timers(result: Result) -> set[str]:
    """Timer unit names (without .timer) from the probe's file paths."""
    return {PurePosixPath(line.strip()).name.removesuffix(".timer")
            for line in result.stdout.splitlines() if line.strip().endswith(".timer")}


def plan_stale_jobs(wanted: set[str], found: set[str]) -> Plan:
    """Stop and delete job timers this host should not have (any more).

    Jobs run on one designated host; when it changes (a worker host is added, a job leaves
    the config) the old host's timer must go, or both hosts would run the job.
    """
    stale = sorted(found - wanted)
    if not stale:
        return Plan.nothing("no stale job timers")
    files = [f"{paths.SYSTEMD}/{u}.{kind}" for u in stale for kind in ("timer", "service")]
    return Plan.of(Run(Script.of([
        cmd("systemctl", "disable", "--now", "--quiet", *(f"{u}.timer" for u in stale)),
        cmd("rm", "-f", "--", *files),
        cmd("systemctl", "daemon-reload"),
    ]), f"removed job timer(s) {', '.join(stale)}"))


def stale_jobs_step(config: Config, site: str, root: Path | None, run_jobs: bool
                    ) -> Step[set[str]]:
    """Remove the site's job timers that are not (or no longer) this host's."""
    wanted = {unit for unit, _ in timers(config, site, root, run_jobs)}
    return Step("stale jobs", Fact(job_timers_probe(site), parse_job_timers, set()),
                lambda found: plan_stale_jobs(wanted, found))


def timer_steps(config: Config, site: str, root: Path | None, run_jobs: bool) -> list[Step[Any]]:
    """One files step per timer, enabling it when written; then stale job timers go."""
    steps: list[Step[Any]] = []
    for unit, files in timers(config, site, root, run_jobs):
        steps.append(files_step(f"timer {unit.removeprefix('djship-')}", files,
                                validate=[cmd("systemd-analyze", "verify", files[1].path)],
                                then=[cmd("systemctl", "daemon-reload"),
                                      cmd("systemctl", "enable", "--now", f"{unit}.timer")]))
    steps.append(stale_jobs_step(config, site, root, run_jobs))
    return steps
