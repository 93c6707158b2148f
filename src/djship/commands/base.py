"""What every subcommand shares: the invocation's State and the --site and --dry-run options.

The global options (-C, -e, -v) are parsed by the `djship` group in djship.cli, which imports
no command module (it loads each on first use). The State is built here, from those options,
the first time a subcommand asks for it, so the cli layer needs nothing from this one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import click

from djship.context import Context, make_context
from djship.ui import UI

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


class State:
    """Global options, shared by every subcommand."""

    def __init__(self, project_dir: Path, environment: str | None, verbose: bool) -> None:
        self.project_dir = project_dir
        self.environment = environment
        self.verbose = verbose
        self.ui = UI(verbose=verbose)

    def context(self, dry_run: bool = False) -> Context:
        """Load the configuration for this invocation."""
        return make_context(self.project_dir, self.environment, self.ui, dry_run)


def current_state() -> State:
    """The invocation's State, made once from the `djship` group's global options."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, State):
        params = root.params
        root.obj = State(params.get("project_dir") or Path(), params.get("environment"),
                         bool(params.get("verbose")))
    return root.obj


def pass_state(fn: Callable[Concatenate[State, P], R]) -> Callable[P, R]:
    """Call the command with the invocation's State as its first argument."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(current_state(), *args, **kwargs)

    return update_wrapper(wrapper, fn)


def site_option(fn: F) -> F:
    """--site NAME (needed only when the config has several sites)."""
    return click.option("-s", "--site", help="Site to act on (when the config has several).")(fn)


def dry_run_option(fn: F) -> F:
    """--dry-run: print the exact scripts and files without connecting."""
    return click.option("--dry-run", is_flag=True,
                        help="Print the exact scripts and files each host would get; "
                             "connect to nothing.")(fn)
