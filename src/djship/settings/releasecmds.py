"""The project's own release commands `djship init` proposes, and what `check` asks for.

Three sources: django-compressor with offline compression (``manage.py compress``: without
it every page with a ``{% compress %}`` block answers 500), a database cache
(``manage.py createcachetable``: without the table every cache read fails), and a Procfile
``release:`` line (its commands, less what djship's deploy runs itself). The settings are
read as imported with the production environment (the probe's answer); when they do not
import, from their source.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djship.settings.source import SettingsSource, SettingsSourceError, load_source

COMPRESS = "manage.py compress"
CREATECACHETABLE = "manage.py createcachetable"
DB_CACHE = "django.core.cache.backends.db.DatabaseCache"
# What djship's deploy runs in every release anyway: never proposed again.
DJSHIP_RUNS = {"migrate": "djship's deploy runs migrate itself (backed up first)",
               "collectstatic": "djship's deploy collects static files itself"}
_PYTHON = re.compile(r"^(python[0-9.]*|\S*/python[0-9.]*)$")
_SHELL = set("|<>$`*?(){}")


@dataclass(frozen=True)
class Proposal:
    """One release command and why it is proposed (or why a Procfile command is not)."""

    command: str
    why: str
    proposed: bool = True
    kept: bool = False  # the user's own, from the djship.toml init replaced

    def comment(self) -> str:
        """The djship.toml comment saying where the command comes from."""
        if self.kept:
            return f"yours, kept by djship init: {self.command}"
        if not self.proposed:
            return f"not proposed: {self.command}: {self.why}"
        return f"proposed by djship init: {self.command}: {self.why}"

    def note(self, site: str) -> str:
        """What init prints about it."""
        if not self.proposed:
            return f"not proposed for sites.{site}.release: {self.command} ({self.why})"
        return f"proposed sites.{site}.release: {self.command} ({self.why})"


def compress_offline(data: Mapping[str, Any]) -> bool:
    """The imported settings compress offline: django-compressor installed, enabled, offline."""
    apps = [str(a) for a in data.get("installed_apps") or []]
    return (any(a == "compressor" or a.startswith("compressor.") for a in apps)
            and bool(data.get("compress_enabled")) and bool(data.get("compress_offline")))


def database_cache(data: Mapping[str, Any]) -> bool:
    """A cache of the imported settings keeps its entries in a database table."""
    return DB_CACHE in [str(b) for b in data.get("cache_backends") or []]


def from_settings(data: Mapping[str, Any]) -> list[Proposal]:
    """The commands the imported settings need (see the module docstring)."""
    out = []
    if database_cache(data):
        out.append(Proposal(CREATECACHETABLE, f"CACHES uses {DB_CACHE}, whose table "
                            "must exist before the release serves"))
    if compress_offline(data):
        out.append(Proposal(COMPRESS, "django-compressor with COMPRESS_OFFLINE: without "
                            "offline compression every page with a {% compress %} block "
                            "answers 500"))
    return out


def _literal(src: SettingsSource, name: str) -> object:
    found = src.last(name)
    try:
        return ast.literal_eval(found.value) if found and found.value else None
    except ValueError:
        return None


def from_source(app_dir: Path, module: str) -> list[Proposal]:
    """The same, read from the settings' source (for settings that do not import here)."""
    try:
        src = load_source(app_dir, module)
    except SettingsSourceError:
        return []
    apps = _literal(src, "INSTALLED_APPS")
    enabled = _literal(src, "COMPRESS_ENABLED")
    data = {
        "installed_apps": apps if isinstance(apps, list | tuple) else
        (["compressor"] if src.mentions("compressor") else []),
        # Unset, or read from the environment, counts as on: production runs with DEBUG off.
        "compress_enabled": enabled is not False,
        "compress_offline": src.last("COMPRESS_OFFLINE") is not None
        and _literal(src, "COMPRESS_OFFLINE") is not False,
        "cache_backends": [DB_CACHE] if src.mentions(DB_CACHE) else [],
    }
    return from_settings(data)


def _manage_words(words: list[str]) -> list[str]:
    """``python manage.py X`` and ``./manage.py X`` as djship writes them: ``manage.py X``."""
    if len(words) > 1 and _PYTHON.match(words[0]) and words[1].endswith("manage.py"):
        words = words[1:]
    if words[:1] == ["django-admin"] or (words and words[0].endswith("manage.py")):
        return ["manage.py", *words[1:]]
    return words


def procfile_commands(line: str) -> list[Proposal]:
    """The commands of a Procfile ``release:`` line, each proposed or said why not."""
    out = []
    for part in (p.strip() for p in re.split(r"&&|;", line)):
        if not part:
            continue
        try:
            words = _manage_words(shlex.split(part))
        except ValueError:
            words = []
        if not words or _SHELL & set(part):
            # Shell syntax: djship runs commands without a shell, so hand it to one.
            out.append(Proposal(shlex.join(["sh", "-c", part]),
                                f"from the Procfile's release line ({part})"))
            continue
        if words[0] == "manage.py" and len(words) > 1 and words[1] in DJSHIP_RUNS:
            out.append(Proposal(shlex.join(words), DJSHIP_RUNS[words[1]], proposed=False))
            continue
        out.append(Proposal(shlex.join(words), "from the Procfile's release line"))
    return out


def from_procfile(root: Path) -> list[Proposal]:
    """The Procfile's ``release:`` commands (none without a Procfile or that line)."""
    try:
        text = (root / "Procfile").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    for raw in text.splitlines():
        kind, sep, command = raw.partition(":")
        if sep and kind.strip() == "release":
            return procfile_commands(command)
    return []


def propose(procfile: Sequence[Proposal], settings: Sequence[Proposal]) -> list[Proposal]:
    """Procfile commands first (the project's own order), then what the settings need, each
    command once."""
    seen: set[str] = set()
    out = []
    for p in [*procfile, *settings]:
        if p.proposed and _key(p.command) in seen:
            continue
        seen.add(_key(p.command))
        out.append(p)
    return out


def _key(command: str) -> str:
    # "manage.py compress --force" does what "manage.py compress" does.
    words = command.split()
    return " ".join(words[:2]) if words[:1] == ["manage.py"] else command


def has_command(commands: Sequence[str], wanted: str) -> bool:
    """``commands`` run ``wanted`` (a "manage.py X" command, with any options)."""
    return any(_key(" ".join(_manage_words(shlex.split(c)))) == wanted for c in commands)
