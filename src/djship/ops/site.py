"""Removing a site from a server: units, nginx block and code go; data stays unless purged."""

from __future__ import annotations

from djship import paths
from djship.paths import SitePaths
from djship.release.scripts import guarded_rm
from djship.shell import Script, cmd, raw


def remove_site(p: SitePaths, purge: bool) -> Script:
    """Stop and remove everything of a site but its database, env file and backups."""
    units = f"djship-{p.site}@*.service djship-{p.site}-*.service djship-{p.site}-*.timer"
    cmds = [
        cmd(raw(f"systemctl list-units --all --plain --no-legend {units} | cut -d' ' -f1 |"),
            "xargs", "-r", "systemctl", "disable", "--now", "--quiet"),
        cmd(raw(f"systemctl list-unit-files --plain --no-legend {units} | cut -d' ' -f1 |"),
            "xargs", "-r", "systemctl", "disable", "--quiet"),
        cmd("rm", "-f", "--", p.unit_file, raw(f"{paths.SYSTEMD}/djship-{p.site}-*.service"),
            raw(f"{paths.SYSTEMD}/djship-{p.site}-*.timer")),
        cmd("systemctl", "daemon-reload"),
        cmd("rm", "-f", "--", p.nginx_enabled, p.nginx_site, p.nginx_upstream),
        cmd(raw("if command -v nginx >/dev/null; then nginx -t -q && systemctl reload nginx; fi")),
        guarded_rm(p.releases, p.root),
        guarded_rm(f"{p.root}/slots", p.root),
        cmd("rm", "-f", "--", p.current, p.live_slot),
    ]
    if purge:
        db = p.db_name
        cmds += [
            cmd(raw("if command -v psql >/dev/null && id postgres >/dev/null 2>&1; then"),
                "runuser", "-u", "postgres", "--", "dropdb", "--if-exists", db,
                raw("&&"), "runuser", "-u", "postgres", "--", "dropuser", "--if-exists", db,
                raw("; fi")),
            guarded_rm(p.root, paths.SRV_ROOT),
            cmd("rm", "-f", "--", p.env_file),
            cmd(raw(f"if id {p.user} >/dev/null 2>&1; then userdel {p.user}; fi")),
        ]
    return Script.of(cmds)
