"""Removing a site from a server: units, nginx block and code go; data stays unless purged."""

from __future__ import annotations

import json

from djship import paths
from djship.paths import SitePaths
from djship.release.scripts import guarded_rm, trash
from djship.shell import Command, Script, cmd, nginx_reload, raw
from djship.steps import dbhost, redis
from djship.steps.security import ALLOW_DIR, FIREWALL_UNIT
from djship.steps.tools import ENVTOOL


def site_units(p: SitePaths) -> str:
    """Shell words listing the site's unit files (app and its socket, workers, jobs, backups).

    Found by their ``Description=djship SITE: `` line, not by a name pattern: a glob such as
    ``djship-shop-*`` would also match the units of a site called ``shop-staging``.
    """
    return (f"$(grep -l -e '^Description=djship {p.site}: ' {paths.SYSTEMD}/djship-*.service "
            f"{paths.SYSTEMD}/djship-*.timer {paths.SYSTEMD}/djship-*.socket 2>/dev/null || true)")


def stop_units(p: SitePaths) -> list[Command]:
    """Stop and disable every unit of the site (all instances of templates), remove the files."""
    loop = (
        f"for f in {site_units(p)}; do u=${{f##*/}}; case $u in "
        # A template: stop its instances, drop their enable links (prefix ends at '@').
        f'*@.service) systemctl stop "${{u%.service}}*.service"; '
        f'rm -f -- {paths.SYSTEMD}/*.wants/"${{u%.service}}"*.service;; '
        f'*@.socket) systemctl stop "${{u%.socket}}*.socket"; '
        f'rm -f -- {paths.SYSTEMD}/*.wants/"${{u%.socket}}"*.socket;; '
        '*) systemctl disable --now --quiet "$u";; esac; '
        'rm -f -- "$f"; done')
    return [cmd(raw(loop)), cmd("systemctl", "daemon-reload"),
            cmd("systemctl", "reset-failed", raw("2>/dev/null || true"))]


def close_redis_access(site: str) -> list[Command]:
    """On a Redis host: drop the site's ACL user and firewall rules (its password and
    database number stay in its root-only file, so provisioning the site again restores
    the same user)."""
    acl, allow = redis.acl_file(site), f"{ALLOW_DIR}/{site}.redis.nft"
    return [
        cmd(raw(f"if [ -e {acl} ]; then"), "rm", "-f", "--", acl, raw(";"),
            "systemctl", "restart", redis.SERVICE, raw("; fi")),
        cmd(raw(f"if [ -e {allow} ]; then"), "rm", "-f", "--", allow, raw(";"),
            "systemctl", "reload-or-restart", FIREWALL_UNIT, raw("; fi")),
    ]


def close_database_access(site: str) -> list[Command]:
    """On a database host: drop the site's firewall rules and empty its pg_hba block."""
    allow = dbhost.allow_file(site)
    empty = json.dumps({"op": "block", "file": dbhost.HBA_GLOB, "name": site, "content": ""})
    return [
        cmd(raw(f"if [ -e {allow} ]; then"), "rm", "-f", "--", allow, raw(";"),
            "systemctl", "reload-or-restart", FIREWALL_UNIT, raw("; fi")),
        cmd(raw(f"if grep -qsx '# djship:{site} begin' {dbhost.HBA_GLOB}; then"),
            "printf", "%s", empty, raw(f"| python3 {ENVTOOL} >/dev/null;"),
            "systemctl", "reload", "postgresql", raw("; fi")),
    ]


def remove_site(p: SitePaths, purge: bool) -> Script:
    """Stop and remove everything of a site but its database, env file and backups."""
    cmds = [
        *stop_units(p),
        cmd("rm", "-f", "--", p.nginx_enabled, p.nginx_site, p.nginx_upstream),
        nginx_reload(when="command -v nginx >/dev/null && nginx -t -q"),
        *close_database_access(p.site),
        *close_redis_access(p.site),
        guarded_rm(p.releases, p.root),
        guarded_rm(trash(p), p.root),
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
            cmd("rm", "-f", "--", p.env_file, dbhost.db_env_file(p.site),
                redis.env_file(p.site)),
            cmd(raw(f"if id {p.user} >/dev/null 2>&1; then userdel {p.user}; fi")),
        ]
    return Script.of(cmds)
