"""Database backups: scripts and parsers for `djship db`."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from djship.errors import UsageError
from djship.paths import SitePaths
from djship.shell import Script, cmd, raw
from djship.steps.tools import ENVTOOL

NAME = re.compile(r"^(manual|scheduled|pre)-[0-9A-Za-z-]+\.dump$")


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


def backup(p: SitePaths, keep: int, kind: str = "manual", now: float | None = None
           ) -> tuple[Script, str]:
    """Dump now into the backup folder; keep the newest ``keep`` of this kind."""
    name = f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.dump"
    script = Script.of([
        cmd("python3", ENVTOOL, "backup", p.env_file, f"{p.backups}/{name}"),
        cmd(raw(f"ls -1t {p.backups}/{kind}-*.dump 2>/dev/null | tail -n +{keep + 1} |"),
            "xargs", "-r", "rm", "-f", "--"),
    ])
    return script, name


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


def restore(p: SitePaths, name: str, slot: str) -> Script:
    """Stop the app, restore the dump into the site's database, start the app again."""
    unit = p.unit_name(slot)
    return Script.of([
        cmd("test", "-f", f"{p.backups}/{check_name(name)}"),
        cmd("systemctl", "stop", unit),
        cmd(raw("trap 'systemctl start " + unit + "' EXIT")),
        cmd("python3", ENVTOOL, "restore", p.env_file, f"{p.backups}/{name}"),
    ])


def human(size: int) -> str:
    """Bytes as a short human string."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
