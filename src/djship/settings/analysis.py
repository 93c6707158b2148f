"""Decide which production settings a settings module lacks, and how to add each one."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from djship.settings import snippets as s
from djship.settings.source import Assignment, SettingsSource

Mode = Literal["replace", "after", "append"]
PROXY_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "0.0.0.0"}  # noqa: S104 - names


@dataclass(frozen=True)
class Edit:
    """One change to the settings: which code, why, and where it goes."""

    snippet: s.Snippet
    reason: str
    mode: Mode = "append"
    anchor: Assignment | None = None


def plan_edits(source: SettingsSource, style: s.Style) -> list[Edit]:
    """The edits that make ``source`` production-ready; empty when it already is."""
    rules: list[Callable[[SettingsSource, s.Style], list[Edit]]] = [
        _secret_key, _debug, _allowed_hosts, _csrf, _databases, _files, _proxy, _https,
        _preload, _admins, _email, _logging]
    edits = [e for rule in rules for e in rule(source, style)]
    return [_placed(source, e) for e in edits]


def _placed(source: SettingsSource, edit: Edit) -> Edit:
    """Edit in place only in the target file; elsewhere (a base module) override at the end."""
    a = edit.anchor
    if edit.mode != "append" and (a is None or a.nested or a.path != source.target.path):
        return dataclasses.replace(edit, mode="append")
    return edit


def _fix(snippet: s.Snippet, reason: str, a: Assignment | None) -> list[Edit]:
    return [Edit(snippet, reason, "replace" if a else "append", a)]


def _constant(a: Assignment | None) -> object:
    """The literal value of an assignment, or ``...`` when it is not a literal."""
    if a is None or a.value is None:
        return ...
    try:
        return ast.literal_eval(a.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ...


def _settled(a: Assignment | None) -> bool:
    """True when nothing should be proposed: read from the environment, or set conditionally."""
    return a is not None and (a.nested or a.env_driven())


def _secret_key(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("SECRET_KEY")
    if _settled(a):
        return []
    value = _constant(a)
    dev_key = None
    if a is not None and a.value is not None and isinstance(value, str) and value.startswith(
            "django-insecure-"):
        dev_key = src.target.segment(a.value) if a.path == src.target.path else None
    reason = ("SECRET_KEY is not set" if a is None else
              "SECRET_KEY is hard-coded in the source" if value is not ... else
              "SECRET_KEY is computed at import time, so it changes on every restart")
    return _fix(s.secret_key(style, dev_key), reason, a)


def _debug(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("DEBUG")
    if a is None or _settled(a) or _constant(a) is False:
        return []
    return _fix(s.debug(style), "DEBUG is on; production must run with it off", a)


def _allowed_hosts(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("ALLOWED_HOSTS")
    if _settled(a):
        return []
    value = _constant(a)
    kept = [h for h in value if isinstance(h, str) and h not in _LOCAL_HOSTS] \
        if isinstance(value, list | tuple) else []
    hosts = tuple(dict.fromkeys([*style.domains, *kept]))
    snippet = s.allowed_hosts(dataclasses.replace(style, domains=hosts))
    return _fix(snippet, "ALLOWED_HOSTS does not come from the environment "
                         "(default: the site's domains)", a)


def _csrf(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("CSRF_TRUSTED_ORIGINS")
    if _settled(a) or (a is not None and _constant(a) not in ([], (), ...)):
        return []  # a written-out list of origins is the owner's choice
    return _fix(s.csrf_trusted_origins(style), "CSRF_TRUSTED_ORIGINS is not set from the "
                                               "environment (needed for HTTPS forms)", a)


def _databases(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("DATABASES")
    if _settled(a) or src.mentions("DATABASE_URL", "dj_database_url", "db_url"):
        return []
    reason = "DATABASES does not read DATABASE_URL"
    if a is None:
        return [Edit(s.database_url(style, after_existing=False), "DATABASES is not set")]
    # Keep the user's database as the local default; DATABASE_URL replaces it when set.
    return [Edit(s.database_url(style, after_existing=True), reason, "after", a)]


def _reads(a: Assignment, variable: str) -> bool:
    return a.value is not None and any(
        isinstance(n, ast.Constant) and n.value == variable for n in ast.walk(a.value))


def _files(src: SettingsSource, style: s.Style) -> list[Edit]:
    edits: list[Edit] = []
    for key in ("STATIC_ROOT", "MEDIA_ROOT"):
        a = src.last(key)
        if a is not None and (a.nested or _reads(a, key)):
            continue
        old = None
        if a is not None and a.value is not None and a.path == src.target.path:
            old = src.target.segment(a.value)
            if not isinstance(a.value, ast.Name | ast.Constant | ast.Call | ast.Attribute
                              | ast.BinOp | ast.Subscript | ast.JoinedStr):
                old = f"({old})"
        elif a is not None:
            old = key  # set in a module the target star-imports: that value stays the default
        reason = f"{key} is not set" if a is None else f"{key} ignores the {key} variable"
        edits += _fix(s.files_root(style, key, old), reason, a)
    if src.last("MEDIA_URL") is None:
        edits.append(Edit(s.media_url(style), "MEDIA_URL is not set (djship serves /media/)"))
    return edits


def _proxy(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("SECURE_PROXY_SSL_HEADER")
    if (a is not None and a.nested) or _constant(a) in (PROXY_HEADER, list(PROXY_HEADER)):
        return []
    return _fix(s.proxy_header(style), "SECURE_PROXY_SSL_HEADER must trust nginx's "
                                        "X-Forwarded-Proto", a)


def _https(src: SettingsSource, style: s.Style) -> list[Edit]:
    # Only what is missing: a value the project wrote (SECURE_HSTS_INCLUDE_SUBDOMAINS = False
    # for a domain with plain-HTTP subdomains) is its choice; check --deploy still warns.
    return [Edit(s.https(style, key), f"{key} is not set (production default: "
                                      f"{_HTTPS_WHY[key]})")
            for key in s.HTTPS_KEYS if src.last(key) is None]


_HTTPS_WHY = {
    "SECURE_SSL_REDIRECT": "redirect plain HTTP to HTTPS",
    "SESSION_COOKIE_SECURE": "session cookies only over HTTPS",
    "CSRF_COOKIE_SECURE": "the CSRF cookie only over HTTPS",
    "SECURE_HSTS_SECONDS": "browsers remember HTTPS for an hour",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "HSTS covers subdomains too",
    "SECURE_HSTS_PRELOAD": "no HSTS preloading unless you opt in",
}


def _preload(src: SettingsSource, style: s.Style) -> list[Edit]:
    if src.mentions("security.W021") or _constant(src.last("SECURE_HSTS_PRELOAD")) is True:
        return []
    existing = src.last("SILENCED_SYSTEM_CHECKS") is not None
    return [Edit(s.silence_preload(style, existing),
                 "HSTS preload is opt-in (check --deploy warns W021 otherwise)")]


def _admins(src: SettingsSource, style: s.Style) -> list[Edit]:
    a = src.last("ADMINS")
    if _settled(a) or (a is not None and _constant(a) not in ([], (), ...)):
        return []
    reason = "ADMINS is not set" if a is None else "ADMINS does not come from the environment"
    return _fix(s.admins(style), reason + ": error mails go nowhere", a)


def _email(src: SettingsSource, style: s.Style) -> list[Edit]:
    # MAILERS (Django 6.1) replaces the EMAIL_* settings, and Django refuses both together.
    if any(src.last(k) for k in ("EMAIL_HOST", "EMAIL_BACKEND", "MAILERS")) or src.mentions(
            "EMAIL_URL", "email_url"):
        return []
    return [Edit(s.email(style), "no SMTP settings (EMAIL_URL or EMAIL_*) for error mails")]


def _logging(src: SettingsSource, style: s.Style) -> list[Edit]:
    if src.last("LOGGING") is not None:
        return []
    return [Edit(s.logging(style), "no LOGGING: Django logs nothing to the journal "
                                   "when DEBUG is off")]
