"""`djship init`: write djship.toml from the project, and optionally its production settings."""

from __future__ import annotations

import click

from djship.commands.base import State, pass_state, site_option
from djship.commands.check_cmd import settings_fix
from djship.config import CONFIG_NAME
from djship.errors import UsageError
from djship.init import run_init


@click.command("init")
@click.option("--force", is_flag=True, help=f"Replace an existing {CONFIG_NAME}.")
@click.option("--settings", "with_settings", is_flag=True,
              help="Also propose the settings changes production needs (a diff to confirm).")
@click.option("-y", "--yes", is_flag=True, help="Apply the settings changes without asking.")
@click.option("--split", is_flag=True,
              help="Put production settings in their own module (settings/production.py).")
@site_option
@pass_state
def init(state: State, force: bool, with_settings: bool, yes: bool, split: bool,
         site: str | None) -> None:
    """Write djship.toml from what the project has; with --settings, fix the settings too.

    \b
    djship init                      write a commented djship.toml
    djship init --settings           ... then show the settings diff and ask to apply it
    djship init --settings --yes     ... and apply it without asking (scripts)
    Running --settings again proposes nothing once the settings are production-ready.
    """
    root = state.project_dir.resolve()
    if split and not with_settings:
        raise UsageError("--split goes with --settings", hint="djship init --settings --split")
    if not with_settings or force or not (root / CONFIG_NAME).exists():
        result = run_init(root, force=force)
        state.ui.info(f"wrote {result.path}")
        for line in result.missing:
            state.ui.warn(f"not found: {line}")
        for line in result.notes:
            state.ui.info(f"note: {line}")
    else:
        state.ui.info(f"using the existing {root / CONFIG_NAME}")
    if with_settings:
        settings_fix(state, site, yes=yes, split=split)
