"""Findings from the imported settings' values: what `check --deploy` lets through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit

from djship.config.schema import Config
from djship.settings import releasecmds
from djship.settings.analysis import PROXY_HEADER
from djship.settings.envcheck import Probed
from djship.settings.finding import FIX_SETTINGS, Finding


def settings_findings(probed: Probed, again: dict[str, Any], config: Config, site: str,
                      proposed: set[str] | None = None) -> list[Finding]:
    """What `check --deploy` lets through: secret key, hosts, proxy header, file roots, mail."""
    first, env = probed.data, probed.env
    fix = _fixer(proposed)
    out = _secret_findings(first, again, probed.secret_var, fix)
    reads = first.get("reads") or {}
    hosts_var = probed.renamed.get("ALLOWED_HOSTS") or config.sites[site].env_name(
        "ALLOWED_HOSTS")
    out += _host_findings(first, config.sites[site].domains,
                          hosts_var if hosts_var in reads else None, fix)
    if tuple(first["proxy_header"] or ()) != PROXY_HEADER:
        out.append(Finding("error", "settings.proxy_header",
                           f"SECURE_PROXY_SSL_HEADER is {first['proxy_header']}: Django will not "
                           "see HTTPS requests as secure behind djship's nginx",
                           "set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"))
    for key in ("STATIC_ROOT", "MEDIA_ROOT"):
        got = first[key.lower()]
        if got is None or Path(got) != Path(env[key]):
            out.append(Finding("error", f"settings.{key.lower()}",
                               f"{key} is {got!r}, not the {key} variable djship's servers set, "
                               "so nginx will not find the files",
                               fix(key, f"{key} = os.environ.get('{key}') or ... in the "
                                        "settings")))
    if first["db_name"] != env["DATABASE_URL"].removeprefix("sqlite:///"):
        out.append(Finding("error", "settings.database", "DATABASES ignores DATABASE_URL, which "
                           "djship sets to the site's database",
                           fix("DATABASES", "read DATABASES from the DATABASE_URL variable "
                                            "(dj-database-url or django-environ's env.db())")))
    return out + _mail_findings(first, site, fix) + release_findings(first, config, site)


def release_findings(first: dict[str, Any], config: Config, site: str) -> list[Finding]:
    """Offline compression with no ``manage.py compress`` in the site's release commands."""
    release = config.sites[site].release
    if not releasecmds.compress_offline(first) or releasecmds.has_command(
            release, releasecmds.COMPRESS):
        return []
    line = "release = " + tomlkit.item([*release, releasecmds.COMPRESS]).as_string()
    return [Finding("error", "settings.compress",
                    "COMPRESS_OFFLINE is on, but no release command runs `manage.py compress`: "
                    "every page with a {% compress %} block would answer 500",
                    f"set {line} in [sites.{site}] of djship.toml")]


Fixer = Callable[[str, str], str]


def _fixer(proposed: set[str] | None) -> Fixer:
    """``fix(key, by_hand)``: `djship init --settings` when it would change ``key``, else the
    change to make by hand (it leaves a value the project set alone)."""
    def fix(key: str, by_hand: str) -> str:
        if proposed is None or key in proposed:
            return FIX_SETTINGS
        return by_hand
    return fix


def _secret_findings(first: dict[str, Any], again: dict[str, Any], var: str,
                     fix: Fixer) -> list[Finding]:
    by_hand = (f"read SECRET_KEY from the {var} variable in the settings, with no random "
               f"fallback: djship generates {var} on the servers")
    if first["secret_key_empty"]:
        return [Finding("error", "settings.secret_key", "SECRET_KEY is empty",
                        fix("SECRET_KEY", by_hand))]
    if first["secret_key_sha"] != again["secret_key_sha"]:
        return [Finding("error", "settings.secret_key", "SECRET_KEY changes on every import: "
                        "sessions and password resets break at each restart",
                        fix("SECRET_KEY", by_hand))]
    if not first["secret_key_from_env"]:
        return [Finding("error", "settings.secret_key", f"SECRET_KEY does not come from the "
                        f"{var} variable (djship generates one per site): the key in the "
                        "source is public", fix("SECRET_KEY", by_hand))]
    return []


def _host_findings(first: dict[str, Any], domains: list[str], var: str | None,
                   fix: Fixer) -> list[Finding]:
    out: list[Finding] = []
    if first["debug"]:
        out.append(Finding("error", "settings.debug", "DEBUG is on in production",
                           fix("DEBUG", "set DEBUG = False in the production settings (or "
                                        "read it from a variable djship does not set)")))
    hosts = first["allowed_hosts"]
    by_hand = (f"the settings read ALLOWED_HOSTS from {var} but change what djship sets "
               "there: keep the site's domains" if var else
               "add the site's domains to ALLOWED_HOSTS in the settings")
    if not hosts:
        return [*out, Finding("error", "settings.allowed_hosts", "ALLOWED_HOSTS is empty: "
                              "every request gets 400 Bad Request", fix("ALLOWED_HOSTS", by_hand))]
    for domain in domains:
        if not host_allowed(domain, hosts):
            out.append(Finding("error", "settings.allowed_hosts", f"{domain} is not in "
                               f"ALLOWED_HOSTS {hosts}", fix("ALLOWED_HOSTS", by_hand)))
    return out


def host_allowed(host: str, patterns: list[str]) -> bool:
    """Django's ALLOWED_HOSTS matching: exact, ``.example.com`` for subdomains, or ``*``."""
    host = host.lower()
    for p in (x.lower() for x in patterns):
        if p == "*" or p == host or (p.startswith(".") and (host.endswith(p) or host == p[1:])):
            return True
    return False


def _mail_findings(first: dict[str, Any], site: str, fix: Fixer) -> list[Finding]:
    out: list[Finding] = []
    if not first["admins"]:
        out.append(Finding("warning", "settings.admins", "ADMINS is empty: nobody is mailed "
                           "when the site fails",
                           f"set ADMINS in [sites.{site}.env] of djship.toml, e.g. "
                           "ADMINS = \"You <you@example.com>\"" if "ADMINS" in (
                               first.get("reads") or {}) else
                           fix("ADMINS", "set ADMINS in the settings")))
    if first["log_mails"] == 0:
        out.append(Finding("warning", "settings.logging", "LOGGING sends django.request errors "
                           "to no AdminEmailHandler: they are not mailed to ADMINS",
                           "add a mail_admins handler to the django logger"))
    elif first["log_mails"] > 1:
        out.append(Finding("warning", "settings.logging", f"each server error is mailed "
                           f"{first['log_mails']} times: django.request propagates to Django's "
                           "default 'django' logger, which mails too",
                           "configure the 'django' logger with your handlers (it replaces "
                           "Django's default) or set propagate False on django.request"))
    if not first["log_console"]:
        out.append(Finding("warning", "settings.logging", "no LOGGING handler writes to stderr: "
                           "with DEBUG off nothing reaches the journal",
                           fix("LOGGING", "add a logging.StreamHandler to LOGGING's handlers")))
    return out
