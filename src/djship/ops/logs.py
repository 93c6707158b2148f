"""`djship logs`: which hosts have which log, and the command that prints (or follows) it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from djship.config import Host
from djship.paths import SitePaths
from djship.shell import Command, cmd, raw

SOURCES = ("app", "nginx", "postgres")
# Where each log lives: the app's units run on web and worker hosts, nginx on web and
# load-balancer hosts, PostgreSQL on db hosts.
ROLES = {"app": {"web", "worker"}, "nginx": {"web", "lb"}, "postgres": {"db"}}
FILES = {"nginx": ("/var/log/nginx/access.log", "/var/log/nginx/error.log"),
         "postgres": ("/var/log/postgresql/*.log",)}
DEFAULT_LINES = 50
SHORT_SINCE = re.compile(r"^\d+\s*[a-z]+$")


@dataclass(frozen=True)
class Query:
    """What to show: history length, follow, time window, text filter."""

    lines: int | None = None
    follow: bool = False
    since: str | None = None
    grep: str | None = None


def sources_on(host: Host, wanted: str) -> list[str]:
    """The log sources of ``wanted`` ('all' or one) this host has."""
    chosen = SOURCES if wanted == "all" else (wanted,)
    return [s for s in chosen if ROLES[s] & set(host.roles)]


def since_arg(since: str) -> str:
    """journalctl's --since: '1h' or '30 min' mean that long ago; dates pass unchanged."""
    return f"-{since}" if SHORT_SINCE.match(since) else since


def journal(p: SitePaths, q: Query) -> Command:
    """The site's units in the journal: both gunicorn slots, workers, jobs and backups."""
    argv = ["journalctl", "--no-pager", "-q", "-o", "short-iso", "-u", f"djship-{p.site}@*",
            "-u", f"djship-{p.site}-*"]
    if q.since:
        argv += ["--since", since_arg(q.since)]
    else:
        argv += ["-n", str(q.lines or DEFAULT_LINES)]
    if q.follow:
        argv.append("-f")
    if q.grep:  # journalctl matches a regular expression; the user gave plain text
        argv += ["--case-sensitive=yes", "--grep", re.escape(q.grep)]
    if q.since and q.lines and not q.follow:
        # With --since, journalctl's -n counts from the oldest entry; keep the newest.
        return cmd(*argv, raw("| tail -n"), str(q.lines))
    return cmd(*argv)


def files(source: str, q: Query) -> Command:
    """nginx's or PostgreSQL's log files (--since does not apply to them)."""
    names = " ".join(FILES[source])  # globs: expanded by the remote shell
    tail = f"tail -q -n {int(q.lines or DEFAULT_LINES)}{' -F' if q.follow else ''} {names}"
    if q.grep:
        # grep exits 1 when nothing matched: that is an empty answer, not a failure.
        return cmd(raw(f"{tail} | {{ grep --line-buffered -F -- "), q.grep,
                   raw("|| [ $? -eq 1 ]; }"))
    return cmd(raw(tail))


def no_entries(status: int, stderr: str) -> bool:
    """journalctl exits 1, saying nothing with -q, when no entry matched: not a failure.

    ``stderr`` is without the script's failed-command marks (see runner.strip_marks).
    """
    return status == 1 and not stderr.strip()


def log_command(p: SitePaths, source: str, q: Query) -> Command:
    """The remote command printing (and with ``follow``, following) one log source."""
    return journal(p, q) if source == "app" else files(source, q)
