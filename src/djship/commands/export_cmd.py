"""`djship export heroku|docker`: platform files from the same project and config."""

from __future__ import annotations

from collections.abc import Callable

import click

from djship.commands.base import State, pass_state, site_option
from djship.export import files as f
from djship.export.docker import docker_files
from djship.export.docker import next_steps as docker_steps
from djship.export.heroku import heroku_files
from djship.export.heroku import next_steps as heroku_steps
from djship.export.target import Target, load_target

Builder = Callable[[Target], tuple[list[f.Planned], list[str]]]
Steps = Callable[[Target], list[str]]
_LABEL = {"create": "create", "update": "update", "unchanged": "ok", "kept": "keep",
          "conflict": "CHANGED"}


@click.group("export")
def export_group() -> None:
    """Write platform files (Procfile, Dockerfile, compose.yaml) for the project."""


def _options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--force", is_flag=True,
                      help="Overwrite generated files you changed since djship wrote them.")(fn)
    fn = click.option("--dry-run", is_flag=True,
                      help="Show the files and diffs; write nothing.")(fn)
    return site_option(fn)


@export_group.command("heroku")
@_options
@pass_state
def heroku(state: State, site: str | None, dry_run: bool, force: bool) -> None:
    """Procfile, .python-version, runtime.txt, requirements.txt and WhiteNoise settings.

    \b
    Also right for Render, Railway and Dokku (Procfile + buildpack platforms).
    Running it again on an unchanged project writes nothing.
    """
    run_export(state, "heroku", heroku_files, heroku_steps, site, dry_run, force)


@export_group.command("docker")
@_options
@pass_state
def docker(state: State, site: str | None, dry_run: bool, force: bool) -> None:
    """Dockerfile, .dockerignore, compose.yaml (web, nginx, PostgreSQL) and .env.docker.example.

    \b
    nginx's config comes from the same template as on djship's servers.
    Running it again on an unchanged project writes nothing.
    """
    run_export(state, "docker", docker_files, docker_steps, site, dry_run, force)


def run_export(state: State, platform: str, build: Builder, steps: Steps, site: str | None,
               dry_run: bool, force: bool) -> None:
    """Plan the files, show them (with diffs), write them unless dry-run, say what is next."""
    target = load_target(state.project_dir, state.environment, site)
    planned, reasons = build(target)
    plan = f.make_plan(target.root, platform, planned)
    for d in plan.decisions:
        state.ui.info(f"  {_LABEL[d.status]:<8} {d.planned.path}")
    for reason in reasons:
        state.ui.info(f"  settings: {reason}")
    diff = plan.diff()
    if diff:
        state.ui.data(diff.rstrip("\n"))
    if dry_run:
        state.ui.info("dry run: nothing written")
        return
    backup = f.apply(plan, force)
    if backup is None:
        state.ui.info(f"nothing to change: the {platform} files are up to date")
        return
    state.ui.info(f"wrote {len(plan.writes()) + (len(plan.conflicts()) if force else 0)} "
                  f"file(s); replaced versions are in {backup.relative_to(target.root)}")
    state.ui.info("next steps:")
    for i, line in enumerate(steps(target), 1):
        state.ui.info(f"  {i}. {line}")
