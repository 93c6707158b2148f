"""The `djship` command: parse arguments, load config, hand a plan to the runner.

This module imports no command module: each is loaded on first use (LazyGroup), so
`djship --version` and `djship --help` start without rich, pydantic, jinja2 or dnspython.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from djship import __version__
from djship.errors import DjshipError

if TYPE_CHECKING:
    from djship.ui import UI

# name: ("module:attribute" of the click command, the first paragraph of its help).
# `djship --help` shows the help from here; tests/unit/test_cli.py checks it is the command's.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check_cmd:check",
              "Check the project for production: `manage.py check --deploy` and more."),
    "config": ("config_cmd:config_command",
               "Check and print the effective configuration (secrets masked)."),
    "db": ("db_cmd:db_group",
           "Database backups: pg_dump (custom format) or a SQLite copy, kept on the server."),
    "deploy": ("deploy_cmd:deploy",
               "Ship a release with zero downtime; on any failure the old release keeps "
               "serving."),
    "domains": ("tls_cmd:domains_group", "The site's domain names: do they point at its servers?"),
    "env": ("env_cmd:env",
            "The site's environment variables (secrets live only on the servers, mode 0600)."),
    "export": ("export_cmd:export_group",
               "Write platform files (Procfile, Dockerfile, compose.yaml) for the project."),
    "init": ("init_cmd:init",
             "Write djship.toml from what the project has; with --settings, fix the settings "
             "too."),
    "lock": ("deploy_cmd:lock", "Inspect or clear the per-site deploy lock."),
    "logs": ("ops_cmd:logs",
             "Show the app's journal, nginx's or PostgreSQL's logs from every host."),
    "provision": ("provision_cmd:provision",
                  "Prepare the servers: packages, user, PostgreSQL, systemd, nginx, firewall, "
                  "SSH."),
    "releases": ("deploy_cmd:releases",
                 "List the kept releases per host, marking the current one."),
    "rollback": ("deploy_cmd:rollback",
                 "Serve an earlier kept release again (default: the one before current)."),
    "run": ("ops_cmd:run",
            "Run `manage.py ARGS` (or any command) in the live release, as the site user."),
    "sandbox": ("sandbox_cmd:sandbox",
                "Boot disposable Debian servers on this machine (root, systemd-nspawn)."),
    "settings": ("check_cmd:settings_group", "Production settings of the Django project."),
    "shell": ("ops_cmd:shell", "Open a Django shell in the live release."),
    "site": ("site_cmd:site", "Manage the sites on the servers."),
    "ssh": ("ops_cmd:ssh_command", "Open a login shell on a host of the site."),
    "status": ("status_cmd:status",
               "Show each host's release, app service, HTTP health, disk, database, TLS and "
               "drift."),
    "tls": ("tls_cmd:tls_group", "Certificates of the site's domains."),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in djship.commands and are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, without importing any command module."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, importing its module the first time it is asked for."""
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attr = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(f"djship.commands.{module}"), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong table entry
            raise TypeError(f"djship.commands.{module}.{attr} is not a click command")
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help, from the table: no command module is imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                # A stand-in with the same help shortens it exactly as the command would.
                stand_in = click.Command(name, help=self.lazy[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
            else:
                command = super().get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="djship")
@click.option("-C", "--project-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(), show_default=True, help="The Django project's root folder.")
@click.option("-e", "--environment", metavar="ENV",
              help="Apply djship.ENV.toml over djship.toml (e.g. staging).")
@click.option("-v", "--verbose", is_flag=True, help="Show commands, their output, tracebacks.")
def cli(project_dir: Path, environment: str | None, verbose: bool) -> None:
    """Deploy a Django project to your own Linux servers.

    \b
    Typical first run:
      djship init                 write djship.toml from what the project has
      djship sandbox up demo      (optional) a local practice server
      djship provision            prepare the servers: nginx, PostgreSQL, systemd, firewall
      djship deploy               ship a release with zero downtime
    """
    # The options stay in this context's params: djship.commands.base makes the State from
    # them when a subcommand first asks for it.


def report(ui: UI, exc: DjshipError) -> None:
    """The one place errors are printed: what, where, details, hint."""
    from rich.markup import escape  # here: `djship --version` imports no rich

    where = " ".join(f"{k}={v}" for k, v in exc.where().items())
    # Messages are text, not markup: "[sites.blog.env]" must print as written.
    ui.err.print(f"[red bold]error:[/red bold] {escape(ui.mask(exc.message))}"
                 + (f" [dim]\\[{where}][/dim]" if where else ""), highlight=False)
    for line in exc.details():
        ui.err.print(ui.mask(line), markup=False, highlight=False)
    for sub in getattr(exc, "failures", []):
        report(ui, sub)
    if exc.hint:
        ui.err.print(f"[cyan]hint:[/cyan] {escape(ui.mask(exc.hint))}", highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning djship errors into one clear report and exit code."""
    try:
        code = cli.main(args=argv, prog_name="djship", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except DjshipError as exc:
        from djship.ui import UI  # rich: loaded only when there is an error to print

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
