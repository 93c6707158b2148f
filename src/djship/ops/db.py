"""Database backups: scripts and parsers for `djship db`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from djship.errors import UsageError
from djship.paths import SitePaths
from djship.shell import Script, cmd, raw
from djship.steps.tools import ENVTOOL

# manual: `djship db backup`; scheduled: the timer; pre: before a deploy's migrations;
# prerestore: what the database held just before a `djship db restore`.
KINDS = ("manual", "scheduled", "pre", "prerestore")
NAME = re.compile(rf"^({'|'.join(KINDS)})-[0-9A-Za-z-]+\.dump$")


@dataclass(frozen=True)
class Backup:
    """One dump in the site's backup folder."""

    name: str
    size: int
    created: float


def check_name(name: str) -> str:
    """Only plain backup file names (never paths) are accepted."""
    if not NAME.match(name):
        raise UsageError(f"not a backup name: {name!r}", hint="see `djship db list`")
    return name


def backup(p: SitePaths, keep: int | None, kind: str = "manual", now: float | None = None
           ) -> tuple[Script, str]:
    """Dump now into the backup folder; then keep the newest ``keep`` of this kind."""
    name = f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.dump"
    dump = cmd("python3", ENVTOOL, "backup", p.env_file, f"{p.backups}/{name}")
    return Script.of([dump, *(rotate(p, kind, keep).commands if keep else [])]), name


def rotate(p: SitePaths, kind: str, keep: int) -> Script:
    """Delete all but the newest ``keep`` backups of a kind."""
    return Script.of([cmd(raw(f"ls -1t {p.backups}/{kind}-*.dump 2>/dev/null | "
                              f"tail -n +{keep + 1} |"), "xargs", "-r", "rm", "-f", "--")])


def listing(p: SitePaths) -> Script:
    """Print name, size and mtime of each backup."""
    return Script.of([cmd(raw(f"find {p.backups} -maxdepth 1 -name '*.dump' -printf "
                              "'%f %s %T@\\n' 2>/dev/null || true"))])


def parse_listing(text: str) -> list[Backup]:
    """Backups, newest first."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(Backup(parts[0], int(parts[1]), float(parts[2])))
    return sorted(out, key=lambda b: b.created, reverse=True)


def exists(p: SitePaths, name: str) -> Script:
    """Exit 0 when the backup is there."""
    return Script.of([cmd("test", "-f", f"{p.backups}/{check_name(name)}")])


def stop_app(p: SitePaths) -> Script:
    """Stop the site's gunicorn slots and worker processes on a host: the live slot, and
    an old one still draining after a deploy (its stop may be pending), so that nothing
    holds the database while it is replaced. The slots' sockets stop too: left listening,
    a request would start the app on the half-restored database."""
    return Script.of([cmd("systemctl", "stop", f"djship-{p.site}@*.socket",
                          f"djship-{p.site}@*.service", f"djship-{p.site}-*@*.service")])


def restore(p: SitePaths, name: str) -> Script:
    """Restore the dump into the site's database (one transaction: all or nothing)."""
    return Script.of([
        cmd("python3", ENVTOOL, "restore", p.env_file, f"{p.backups}/{check_name(name)}"),
    ])


def start_app(p: SitePaths, slot: str) -> Script:
    """Start the live slot again (the release it served is still linked to it)."""
    unit = p.unit_name(slot)
    return Script.of([
        cmd(raw("if ! systemctl start"), unit, raw("; then"), "journalctl", "-u", unit, "-n",
            "40", "--no-pager", "-o", "cat", raw(">&2; exit 1; fi")),
    ])


def human(size: int) -> str:
    """Bytes as a short human string."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
