"""Worker processes from config (Celery, django-q, RQ...): one template unit per process."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djship import paths
from djship.config import Config
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Run, Step
from djship.release.scripts import django_env
from djship.render import render
from djship.shell import Command, Script, cmd, raw
from djship.steps.files import File, files_step
from djship.steps.web import app_subdir
from djship.transport.base import Result


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
    p = SitePaths(site)
    out = []
    for name, proc in config.sites[site].processes.items():
        text = render("worker.service.j2", root, site=site, name=name, user=p.user, paths=p,
                      app_subdir=app_subdir(config), django_env=django_env(config, site, p.current),
                      exec_start=exec_start(p, proc.command), local_db=local_db,
                      instances=proc.instances,
                      overrides=config.sites[site].unit_overrides())
        out.append(File(f"{paths.SYSTEMD}/{unit_name(site, name)}.service", text.encode()))
    return out


def worker_step(config: Config, site: str, root: Path | None, local_db: bool) -> Step[Any]:
    """Keep the worker units current; when they change and a release is live, restart them.

    The instance count is part of the unit file, so a change of ``instances`` restarts too
    (``stale workers`` then stops instances beyond it).
    """
    units = instance_units(config, site)
    live = SitePaths(site).current
    restart = cmd(raw(f"if [ -e {live} ]; then"), "systemctl", "enable", "--quiet", *units,
                  raw("&&"), "systemctl", "restart", *units, raw("; fi"))
    return files_step("worker units", worker_files(config, site, root, local_db),
                      then=[cmd("systemctl", "daemon-reload"), *([restart] if units else [])])


def instance_units(config: Config, site: str) -> list[str]:
    """Every configured worker instance (process@1..N) of the site."""
    return [f"{unit_name(site, name)}{i}.service"
            for name, proc in config.sites[site].processes.items()
            for i in range(1, proc.instances + 1)]


STAGED = ".djship-new"  # a unit file a deploy uploads beside the one in use


def deploy_units(config: Config, site: str, root: Path | None, roles: Sequence[str]
                 ) -> list[File]:
    """The worker unit files an app host should have now (none without the worker role)."""
    if "worker" not in roles:
        return []
    local_db = "db" in roles and config.sites[site].database == "postgres"
    return worker_files(config, site, root, local_db)


def sync_units(config: Config, site: str, files: Sequence[File]) -> list[Command]:
    """Commands that make the site's worker units follow the config at a deploy: each staged
    file (``FILE.djship-new``) replaces its unit where it differs; units of processes the
    config dropped, and instances beyond a process's count, are stopped and removed (found
    by their Description, as provision's stale-workers step does); systemd reloads once, if
    anything changed."""
    wanted = " ".join(Path(f.path).name for f in files)
    keep = " ".join(instance_units(config, site)) if files else ""
    cmds = [cmd(raw("changed=0"))]
    for f in files:
        new, cur = shlex.quote(f.path + STAGED), shlex.quote(f.path)
        cmds.append(cmd(raw(f"if cmp -s {new} {cur}; then rm -f {new}; "
                            f"else mv -f {new} {cur}; changed=1; fi")))
    each_unit = ("for u in $(systemctl list-units --all --plain --no-legend {} "
                 "| awk '{{print $1}}'); do ")
    cmds.append(cmd(raw(
        f"for f in $(grep -l -e '^Description=djship {site}: .* worker %i$' "
        f"{paths.SYSTEMD}/djship-*@.service 2>/dev/null || true); do t=${{f##*/}}; "
        f'case " {wanted} " in *" $t "*) continue;; esac; '
        + each_unit.format('"${t%.service}*.service"')
        + 'systemctl disable --now --quiet "$u" || true; done; '
        'rm -f -- "$f"; changed=1; done')))
    for f in files:
        prefix = Path(f.path).name.removesuffix(".service")
        cmds.append(cmd(raw(
            each_unit.format(f"'{prefix}*.service'")
            + f'case " {keep} " in *" $u "*) ;; *) '
            'systemctl disable --now --quiet "$u" || true;; esac; done')))
    cmds.append(cmd(raw('[ "$changed" = 0 ] || systemctl daemon-reload')))
    return cmds


def restart_workers(config: Config, site: str) -> Script | None:
    """Enable and restart every worker instance on the new release (after the switch)."""
    units = instance_units(config, site)
    if not units:
        return None
    return Script.of([cmd("systemctl", "enable", "--quiet", *units),
                      cmd("systemctl", "restart", *units)])


@dataclass(frozen=True)
class WorkerFact:
    """The site's worker template units on a host, and the instances loaded or enabled."""

    templates: frozenset[str] = frozenset()
    instances: frozenset[str] = frozenset()


def probe_workers(site: str) -> Script:
    """Find the site's worker templates by description (a name glob would also match the
    units of a site whose name starts with this one's), and every djship instance."""
    return Script.of([
        cmd(raw(f"grep -l -e '^Description=djship {site}: .* worker %i$' "
                f"{paths.SYSTEMD}/djship-*@.service 2>/dev/null | sed 's|.*/|template |' "
                "|| true")),
        cmd(raw("systemctl list-units --all --plain --no-legend 'djship-*@*.service' | "
                "awk '{print \"unit \" $1}'")),
        cmd(raw(f"find {paths.SYSTEMD} -path '*.wants/djship-*@*.service' -printf 'unit %f\\n'")),
    ])


def parse_workers(result: Result) -> WorkerFact:
    """Templates, and the instances that belong to them."""
    templates: set[str] = set()
    units: set[str] = set()
    for line in result.stdout.splitlines():
        kind, _, name = line.strip().partition(" ")
        if kind == "template":
            templates.add(name)
        elif kind == "unit" and "@" in name and not name.endswith("@.service"):
            units.add(name)
    prefixes = tuple(t.removesuffix(".service") for t in templates)
    return WorkerFact(frozenset(templates),
                      frozenset(u for u in units if prefixes and u.startswith(prefixes)))


def plan_stale_workers(config: Config, site: str, here: bool, fact: WorkerFact) -> Plan:
    """Stop instances and remove templates the config no longer asks of this host."""
    procs = config.sites[site].processes if here else {}
    templates = {f"{unit_name(site, name)}.service" for name in procs}
    instances = {f"{unit_name(site, name)}{i}.service"
                 for name, proc in procs.items() for i in range(1, proc.instances + 1)}
    stop = sorted(fact.instances - instances)
    drop = sorted(fact.templates - templates)
    if not stop and not drop:
        return Plan.nothing("no stale worker processes")
    cmds = []
    if stop:  # SIGTERM, then TimeoutStopSec for the job in hand, as on every stop
        cmds.append(cmd("systemctl", "disable", "--now", "--quiet", *stop))
    if drop:
        cmds += [cmd("rm", "-f", "--", *(f"{paths.SYSTEMD}/{t}" for t in drop)),
                 cmd("systemctl", "daemon-reload")]
    return Plan.of(Run(Script.of(cmds), "stopped " + ", ".join(stop or drop)))


def stale_workers_step(config: Config, site: str, here: bool) -> Step[WorkerFact]:
    """Stop the site's worker processes this host should not run (any more)."""
    return Step("stale workers", Fact(probe_workers(site), parse_workers, WorkerFact()),
                lambda f: plan_stale_workers(config, site, here, f))
