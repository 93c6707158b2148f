"""What `djship init` reads from the source about Redis and Celery (nothing is imported).

Celery: a ``celery.py`` in one of the project's packages that makes a ``Celery(`` app gives
a worker process; a beat schedule (``beat_schedule``, ``CELERY_BEAT_SCHEDULE``) or
django-celery-beat gives a beat process too. Redis: Celery, or settings that name Redis
(``redis://``, django-redis, Django's RedisCache, channels_redis), turn on the site's Redis;
the variables it is read from are the settings' ``*_URL`` names about Redis, a broker or a
cache (``REDIS_URL``, ``CELERY_BROKER_URL``, ``CACHE_URL``...).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from djship.settings.source import SettingsSourceError, load_source

_URL_NAME = re.compile(r"^[A-Z][A-Z0-9_]*(REDIS|BROKER|CACHE|CHANNEL)[A-Z0-9_]*_URL$|^REDIS_URL$")
_REDIS_WORDS = ("redis://", "rediss://", "django_redis", "RedisCache", "channels_redis")
_BEAT_WORDS = ("beat_schedule", "CELERY_BEAT_SCHEDULE", "django_celery_beat")
_SKIP = {"node_modules", "venv", "env", "site-packages", "__pycache__", "build", "dist"}


@dataclass
class Services:
    """The processes and Redis settings init proposes, and notes saying why."""

    processes: dict[str, str] = field(default_factory=dict)
    redis: bool = False
    redis_env: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _celery_app(app_dir: Path) -> tuple[str, str] | None:
    """(package, source) of the package whose celery.py makes a Celery app."""
    for path in sorted(app_dir.glob("*/celery.py")):
        if path.parent.name.startswith(".") or path.parent.name in _SKIP:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "Celery(" in text:
            return path.parent.name, text
    return None


def _strings(app_dir: Path, module: str | None) -> tuple[set[str], str]:
    """The string constants and the whole text of the settings (with star imports)."""
    if module is None:
        return set(), ""
    try:
        src = load_source(app_dir, module)
    except SettingsSourceError:
        return set(), ""
    consts = {n.value for f in src.files for n in ast.walk(f.tree)
              if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return consts, "\n".join(f.text for f in src.files)


def detect_services(app_dir: Path, settings: str | None) -> Services:
    """Celery processes and Redis for the project at ``app_dir``."""
    out = Services()
    consts, text = _strings(app_dir, settings)
    celery = _celery_app(app_dir)
    if celery is not None:
        package, source = celery
        out.processes["celery"] = f"celery -A {package} worker --loglevel info"
        both = source + text
        if any(w in both for w in _BEAT_WORDS):
            scheduler = (" --scheduler django_celery_beat.schedulers:DatabaseScheduler"
                         if "django_celery_beat" in both else "")
            # The release folder is read-only to the app: plain beat keeps its state in the
            # unit's private /tmp (PrivateTmp); django-celery-beat keeps it in the database.
            state = scheduler or " --schedule /tmp/celerybeat-schedule"
            out.processes["beat"] = f"celery -A {package} beat --loglevel info{state}"
        out.notes.append(f"Celery app in {package}/celery.py: processes "
                         f"{' and '.join(out.processes)} run on the worker hosts")
    names = sorted(c for c in consts if _URL_NAME.match(c))
    named = any("REDIS" in n or "BROKER" in n for n in names)
    out.redis = celery is not None or named or any(w in text for w in _REDIS_WORDS)
    if out.redis:
        # Celery itself reads CELERY_BROKER_URL from the environment.
        out.redis_env = names or ["REDIS_URL", *(["CELERY_BROKER_URL"] if celery else [])]
        why = "Celery" if celery else "the settings name Redis"
        out.notes.append(f"redis on ({why}): provision puts Redis on the db host and sets "
                         f"its URL in {', '.join(out.redis_env)}")
        if not names:
            out.notes.append("Redis: the settings read no REDIS_URL-like variable; djship "
                             "sets REDIS_URL: read the broker or cache URL from it")
    return out
