"""`djship logs`, `run`, `shell`, `ssh`: reach the running site."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import click

from djship.cli import State, cli, pass_state, site_option
from djship.context import Context
from djship.errors import DjshipError
from djship.paths import SitePaths
from djship.release.scripts import app_exec
from djship.shell import Command, Script, cmd, raw
from djship.transport.ssh import SshTransport

SOURCES = ("app", "nginx", "postgres", "all")


def log_command(p: SitePaths, source: str, lines: int, follow: bool, since: str | None,
                grep: str | None) -> Command:
    """The remote command printing (and following) one log source."""
    if source == "app":
        argv = ["journalctl", "--no-pager", "-o", "short-iso", "-u", f"djship-{p.site}@*",
                "-n", str(lines)]
        argv += ["-f"] if follow else []
        argv += ["--since", f"-{since}" if since and since[0].isdigit() else since] if since else []
        argv += ["--grep", grep] if grep else []
        return cmd(*argv)
    files = {"nginx": "/var/log/nginx/access.log /var/log/nginx/error.log",
             "postgres": "/var/log/postgresql/*.log"}[source]
    tail = f"tail -q -n {int(lines)} {'-F' if follow else ''} {files}"
    if grep:
        return cmd(raw(tail + " | grep --line-buffered -F --"), grep)
    return cmd(raw(tail))


def ssh_transport(ctx: Context, host_name: str | None, site: str) -> SshTransport:
    """The ssh transport of one host (the first of the site unless named)."""
    host = ctx.hosts(site, host_name)[0]
    transport = ctx.transport(host)
    if not isinstance(transport, SshTransport):  # pragma: no cover - only ssh is interactive
        raise DjshipError("interactive commands need the ssh transport")
    return transport


def stream(prefix: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy a process's output line by line with a host prefix."""
    assert proc.stdout is not None
    for line in iter(proc.stdout.readline, b""):
        sys.stdout.write(f"{prefix} {line.decode(errors='replace')}")
        sys.stdout.flush()


@cli.command()
@site_option
@click.argument("source", type=click.Choice(SOURCES), default="app")
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C ends).")
@click.option("-n", "--lines", default=50, show_default=True, help="Lines of history.")
@click.option("--since", help="Only newer entries, e.g. 1h, 30m, '2026-01-01' (app log).")
@click.option("--grep", help="Only lines containing TEXT.")
@pass_state
def logs(state: State, site: str | None, source: str, only_host: str | None, follow: bool,
         lines: int, since: str | None, grep: str | None) -> None:
    """Show the app's journal, nginx's or PostgreSQL's logs from every host."""
    ctx = state.context()
    name = ctx.site_name(site)
    p = SitePaths(name)
    sources = ["app", "nginx", "postgres"] if source == "all" else [source]
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    for host in ctx.hosts(name, only_host):
        t = ssh_transport(ctx, host.name, name)
        t.connect()
        for src in sources:
            script = Script.of([log_command(p, src, lines, follow, since, grep)])
            procs.append((f"[{host.name} {src}]", subprocess.Popen(
                t.argv(script), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)))
    threads = [threading.Thread(target=stream, args=pp, daemon=True) for pp in procs]
    for th in threads:
        th.start()
    try:
        for th in threads:
            th.join()
    except KeyboardInterrupt:
        pass
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in procs:
            proc.wait(timeout=10)
        ctx.close()


def app_command(ctx: Context, site: str, argv: tuple[str, ...]) -> Script:
    """Run ARGV in the current release as the site user with the site's environment."""
    p = SitePaths(site)
    path = f"PATH={p.current}/.venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    return Script.of([cmd(raw("exec"), *app_exec(ctx.config, site, p.current, list(argv),
                                                 (path,)))])


def run_interactive(state: State, site: str | None, host: str | None,
                    argv: tuple[str, ...]) -> None:
    """Run a command in the app's context, attached to the terminal, passing its status."""
    if not argv:
        raise click.UsageError("give a command, e.g. djship run -- manage.py migrate --plan")
    ctx = state.context()
    name = ctx.site_name(site)
    transport = ssh_transport(ctx, host, name)
    try:
        code = transport.interactive(app_command(ctx, name, argv), tty=sys.stdin.isatty())
    finally:
        ctx.close()
    raise SystemExit(code)


@cli.command(context_settings={"ignore_unknown_options": True})
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Host to run on (default: first).")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@pass_state
def run(state: State, site: str | None, only_host: str | None, argv: tuple[str, ...]) -> None:
    """Run `manage.py ARGS` (or any command) in the live release, as the site user.

    \b
      djship run -- manage.py createsuperuser
      djship run -- manage.py migrate --plan
    Interactive when a terminal is attached; the exit status is passed through.
    """
    run_interactive(state, site, only_host, argv)


@cli.command()
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Host to run on (default: first).")
@pass_state
def shell(state: State, site: str | None, only_host: str | None) -> None:
    """Open a Django shell in the live release."""
    run_interactive(state, site, only_host, ("manage.py", "shell"))


@cli.command("ssh")
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Host (default: first).")
@pass_state
def ssh_command(state: State, site: str | None, only_host: str | None) -> None:
    """Open a login shell on a host of the site."""
    ctx = state.context()
    name = ctx.site_name(site)
    transport = ssh_transport(ctx, only_host, name)
    raise SystemExit(transport.interactive(None, tty=True))
