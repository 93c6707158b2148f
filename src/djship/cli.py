"""The `djship` command: parse arguments, load config, hand a plan to the runner."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from djship import __version__
from djship.context import Context, make_context
from djship.errors import DjshipError
from djship.ui import UI

F = TypeVar("F", bound=Callable[..., Any])


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


pass_state = click.make_pass_decorator(State)


def site_option(fn: F) -> F:
    """--site NAME (needed only when the config has several sites)."""
    return click.option("-s", "--site", help="Site to act on (when the config has several).")(fn)


def dry_run_option(fn: F) -> F:
    """--dry-run: print the exact scripts and files without connecting."""
    return click.option("--dry-run", is_flag=True,
                        help="Print the exact scripts and files each host would get; "
                             "connect to nothing.")(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="djship")
@click.option("-C", "--project-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(), show_default=True, help="The Django project's root folder.")
@click.option("-e", "--environment", metavar="ENV",
              help="Apply djship.ENV.toml over djship.toml (e.g. staging).")
@click.option("-v", "--verbose", is_flag=True, help="Show commands, their output, tracebacks.")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path, environment: str | None, verbose: bool) -> None:
    """Deploy a Django project to your own Linux servers.

    \b
    Typical first run:
      djship init                 write djship.toml from what the project has
      djship sandbox up demo      (optional) a local practice server
      djship provision            prepare the servers: nginx, PostgreSQL, systemd, firewall
      djship deploy               ship a release with zero downtime
    """
    ctx.obj = State(project_dir, environment, verbose)


def report(ui: UI, exc: DjshipError) -> None:
    """The one place errors are printed: what, where, details, hint."""
    where = " ".join(f"{k}={v}" for k, v in exc.where().items())
    ui.err.print(f"[red bold]error:[/red bold] {ui.mask(exc.message)}"
                 + (f" [dim]\\[{where}][/dim]" if where else ""), highlight=False)
    for line in exc.details():
        ui.err.print(ui.mask(line), markup=False, highlight=False)
    for sub in getattr(exc, "failures", []):
        report(ui, sub)
    if exc.hint:
        ui.err.print(f"[cyan]hint:[/cyan] {ui.mask(exc.hint)}", highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning djship errors into one clear report and exit code."""
    from djship import commands  # noqa: F401 - registers the subcommands

    try:
        code = cli.main(args=argv, prog_name="djship", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except DjshipError as exc:
        ui = UI(verbose="-v" in (argv or sys.argv))
        if ui.verbose:
            traceback.print_exc()
        report(ui, exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
