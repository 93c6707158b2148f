"""The environment variables a project's settings read, and under which names.

Projects name what djship sets in their own way (DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS) and
need variables of their own at import (DJANGO_ADMIN_URL). The settings are imported with a
recording environment (probe.py); this module turns what was read into names and stand-ins.
"""

from __future__ import annotations

import ast
import secrets
from pathlib import Path
from typing import Any

import tomlkit

from djship.config.schema import RENAMEABLE, Site
from djship.settings.source import SettingsSource

# Word in a variable's name -> a stand-in value of the usual shape, for a variable the
# settings need at import and this machine does not have (the servers have the real one).
_SECRET_WORDS = ("SECRET", "KEY", "TOKEN", "PASSWORD", "SALT", "PASS")
_URLS = (("REDIS", "redis://localhost:6379/0"), ("CACHE", "redis://localhost:6379/1"),
         ("BROKER", "redis://localhost:6379/0"), ("CELERY", "redis://localhost:6379/0"),
         ("AMQP", "amqp://guest:guest@localhost:5672//"), ("EMAIL", "smtp://localhost:25"),
         ("DATABASE", "sqlite:///:memory:"), ("SENTRY", "https://key@sentry.invalid/1"),
         ("DSN", "https://key@sentry.invalid/1"))
_NUMBERS = ("PORT", "SECONDS", "TIMEOUT", "AGE", "SIZE", "WORKERS", "COUNT", "MAX", "MIN",
            "LIMIT", "TTL", "NUMBER", "DAYS", "HOURS", "MINUTES")
_FLAGS = ("DEBUG", "ENABLE", "USE_", "_SSL", "SECURE", "ALLOW", "DISABLE")


def standin(name: str, domains: list[str]) -> str:
    """A value shaped like what a variable called ``name`` usually holds."""
    upper = name.upper()
    if upper.endswith("ADMIN_URL"):
        return "admin/"  # a URL path, as in cookiecutter-django's DJANGO_ADMIN_URL
    if upper.endswith(("_URL", "_URI", "_DSN")) or upper == "DSN":
        return next((url for word, url in _URLS if word in upper), "https://standin.invalid/")
    if "HOSTS" in upper or upper.endswith("_DOMAINS"):
        return ",".join(domains) or "localhost"
    if "ORIGINS" in upper:
        return ",".join(f"https://{d}" for d in domains) or "https://localhost"
    if any(w in upper for w in _SECRET_WORDS):
        return secrets.token_urlsafe(40)
    if any(w in upper for w in _NUMBERS):
        return "1"
    if any(w in upper for w in _FLAGS):
        return "0"
    if upper.endswith(("EMAIL", "_FROM")):
        return "webmaster@localhost"
    return "standin"


def _constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def project_names(data: dict[str, Any], source: SettingsSource | None, site: Site
                  ) -> dict[str, str]:
    """The variable each of djship's renameable ones comes from in these settings, where
    that differs from the configured name (``{"SECRET_KEY": "DJANGO_SECRET_KEY"}``).

    ``data``: what the recording import saw (its ``reads`` and ``sources``); ``source``: the
    settings' code, whose assignment names the variable when no value shows it (a variable
    with a default is read but not set)."""
    reads: dict[str, bool] = data.get("reads") or {}
    out: dict[str, str] = {}
    for setting in RENAMEABLE:
        configured = site.env_name(setting)
        found = [v for v in (data.get("sources") or {}).get(setting, []) if v in reads]
        a = source.last(setting) if source is not None else None
        named = sorted(_constants(a.value) & set(reads)) if a and a.value is not None else []
        candidates = list(dict.fromkeys([*found, *named]))
        if configured in candidates:
            continue
        if len(candidates) == 1:
            out[setting] = candidates[0]
    return out


def names_change(config_path: Path, table: tuple[str, ...], site: str,
                 names: dict[str, str]) -> tuple[str, str]:
    """djship.toml's text before and after recording ``names`` in [sites.SITE.env_names]."""
    text = config_path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    root: Any = doc
    for key in table:
        root = root[key]
    site_table = root["sites"][site]
    if "env_names" not in site_table:
        fresh = tomlkit.table()
        fresh.comment("the names this project's settings read for what djship sets")
        site_table["env_names"] = fresh
    for setting, var in names.items():
        site_table["env_names"][setting] = var
    return text, tomlkit.dumps(doc)
