"""`djship logs`, `run`, `shell`, `ssh`: reach the running site."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import click

from djship.commands.base import State, pass_state, site_option
from djship.config import Host
from djship.context import Context
from djship.errors import DjshipError, RemoteFailure, UsageError
from djship.ops import logs as logs_ops
from djship.paths import SitePaths
from djship.release.scripts import app_exec
from djship.runner import MultiHostFailure, strip_marks
from djship.shell import Script, cmd, raw
from djship.transport.ssh import SshTransport


def ssh_transport(ctx: Context, host_name: str | None, site: str,
                  app: bool = False) -> SshTransport:
    """The ssh transport of one host (unless named, the site's first; with ``app``, its
    first web or worker host, where the releases are)."""
    hosts = ctx.hosts(site, host_name)
    if app:
        hosts = [h for h in hosts if {"web", "worker"} & set(h.roles)]
        if not hosts:
            where = f"host {host_name}" if host_name else f"site {site}"
            raise UsageError(f"{where} has no web or worker role, so no release to run in",
                             hint="name a web or worker host with -H")
    host = hosts[0]
    transport = ctx.transport(host)
    if not isinstance(transport, SshTransport):  # pragma: no cover - only ssh is interactive
        raise DjshipError("interactive commands need the ssh transport")
    return transport


@click.command()
@site_option
@click.argument("source", type=click.Choice([*logs_ops.SOURCES, "all"]), default="app")
@click.option("-H", "--host", "only_host", metavar="NAME", help="Only this host.")
@click.option("-f", "--follow", is_flag=True,
              help="Keep printing new lines; Ctrl-C ends (exit status 0).")
@click.option("-n", "--lines", type=click.IntRange(min=1),
              help=f"Lines of history per log (default {logs_ops.DEFAULT_LINES}; "
                   "with --since: all of them).")
@click.option("--since", help="Only app entries newer than this: 1h, 30min, '2026-01-01 12:00'.")
@click.option("--grep", metavar="TEXT", help="Only lines containing TEXT (case-sensitive).")
@pass_state
def logs(state: State, site: str | None, source: str, only_host: str | None, follow: bool,
         lines: int | None, since: str | None, grep: str | None) -> None:
    """Show the app's journal, nginx's or PostgreSQL's logs from every host.

    \b
      djship logs                          the app's last 50 lines on every host
      djship logs nginx -f                 follow nginx (Ctrl-C ends it)
      djship logs app --since 1h --grep ERROR
      djship logs all -H web1 -n 20
    Each line starts with `[host source]`. The app log is the journal of the site's
    units (gunicorn, workers, jobs, backups); nginx and postgres are their log files,
    read on the hosts with those roles. --since applies to the app log only.
    """
    ctx = state.context()
    name = ctx.site_name(site)
    query = logs_ops.Query(lines, follow, since, grep)
    jobs = [(host, src) for host in ctx.hosts(name, only_host)
            for src in logs_ops.sources_on(host, source)]
    if not jobs:
        raise UsageError(f"no host of site {name} has the {source} log",
                         hint="app: web/worker hosts; nginx: web/lb; postgres: db")
    if since and any(src != "app" for _, src in jobs):
        ctx.ui.warn("--since filters the app log only; nginx and postgres show their last lines")
    try:
        if follow:
            follow_logs(ctx, name, jobs, query)
        else:
            print_logs(ctx, name, jobs, query)
    finally:
        ctx.close()


def print_logs(ctx: Context, site: str, jobs: list[tuple[Host, str]],
               query: logs_ops.Query) -> None:
    """Read each log once (in parallel), then print them in order, host by host."""
    p = SitePaths(site)

    def read(job: tuple[Host, str]) -> str | DjshipError:
        host, src = job
        command = logs_ops.log_command(p, src, query)
        try:
            res = ctx.transport(host).run(Script.of([command]))
        except DjshipError as exc:
            return exc
        if res.ok or logs_ops.no_entries(res.status, strip_marks(res.stderr)):
            return res.stdout
        return RemoteFailure(host.name, f"logs {src}", ctx.ui.mask(command.render()),
                             res.status, ctx.ui.mask(strip_marks(res.stderr)), site=site)

    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        outputs = list(pool.map(read, jobs))
    failures = []
    for (host, src), out in zip(jobs, outputs, strict=True):
        if isinstance(out, DjshipError):
            failures.append(out)
            continue
        for line in out.splitlines():
            click.echo(f"[{host.name} {src}] {line}")
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise MultiHostFailure(failures)


def stream(prefix: str, proc: subprocess.Popen[bytes]) -> None:
    """Copy a process's output line by line with a host prefix."""
    assert proc.stdout is not None
    for line in iter(proc.stdout.readline, b""):
        sys.stdout.write(f"{prefix} {line.decode(errors='replace')}")
        sys.stdout.flush()


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a follow like Ctrl-C does."""
    raise KeyboardInterrupt


def follow_logs(ctx: Context, site: str, jobs: list[tuple[Host, str]],
                query: logs_ops.Query) -> None:
    """Stream every log until Ctrl-C (a clean end, exit 0) or until the streams end."""
    p = SitePaths(site)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    interrupted = False
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        for host, src in jobs:
            t = ssh_transport(ctx, host.name, site)
            t.connect()
            script = Script.of([logs_ops.log_command(p, src, query)])
            # Each stream on a connection of its own: when it ends (Ctrl-C), sshd ends the
            # remote tail/journalctl with it, whether or not a line was due.
            procs.append((f"[{host.name} {src}]", subprocess.Popen(
                t.argv(script, own_connection=True), stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL)))
        threads = [threading.Thread(target=stream, args=pp, daemon=True) for pp in procs]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in procs:
            proc.wait(timeout=10)
    # Ctrl-C reaches the ssh children too (same process group): that is an interrupt.
    ended = [(prefix, proc.returncode) for prefix, proc in procs
             if proc.returncode not in (0, -signal.SIGINT)]
    if ended and not interrupted:
        names = ", ".join(f"{prefix} (exit {code})" for prefix, code in ended)
        raise DjshipError(f"following the logs ended early: {names}",
                          hint="see the messages above; is the host up?")


def app_command(ctx: Context, site: str, argv: tuple[str, ...]) -> Script:
    """Run ARGV in the current release as the site user with the site's environment."""
    p = SitePaths(site)
    path = f"PATH={p.current}/.venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    return Script.of([
        cmd(raw(f"[ -d {p.current}/ ] || {{ echo"),
            f"djship: site {site} has no release on this host yet; run `djship deploy` (a "
            "first deploy migrates the database itself, before the checks that need it)",
            raw(">&2; exit 1; }")),
        cmd(raw("exec"), *app_exec(ctx.config, site, p.current, list(argv), (path,))),
    ])


def run_interactive(state: State, site: str | None, host: str | None,
                    argv: tuple[str, ...]) -> None:
    """Run a command in the app's context, attached to the terminal, passing its status."""
    if not argv:
        raise click.UsageError("give a command, e.g. djship run -- manage.py migrate --plan")
    ctx = state.context()
    name = ctx.site_name(site)
    transport = ssh_transport(ctx, host, name, app=True)
    try:
        code = transport.interactive(app_command(ctx, name, argv), tty=sys.stdin.isatty())
    finally:
        ctx.close()
    raise SystemExit(code)


@click.command(context_settings={"ignore_unknown_options": True})
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


@click.command()
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Host to run on (default: first).")
@pass_state
def shell(state: State, site: str | None, only_host: str | None) -> None:
    """Open a Django shell in the live release."""
    run_interactive(state, site, only_host, ("manage.py", "shell"))


@click.command("ssh")
@site_option
@click.option("-H", "--host", "only_host", metavar="NAME", help="Host (default: first).")
@pass_state
def ssh_command(state: State, site: str | None, only_host: str | None) -> None:
    """Open a login shell on a host of the site."""
    ctx = state.context()
    name = ctx.site_name(site)
    transport = ssh_transport(ctx, only_host, name)
    try:
        code = transport.interactive(None, tty=True)
    finally:
        ctx.close()
    raise SystemExit(code)
