"""Which database `djship init` writes: PostgreSQL, unless the settings only know SQLite."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from djship.settings.source import SettingsSourceError, load_source

# Names that mean "DATABASES comes from DATABASE_URL": dj-database-url, django-environ's
# env.db()/env.db_url(), or the variable itself.
URL_WORDS = ("DATABASE_URL", "dj_database_url", "db_url")
_ENVIRON_DB = ("db", "db_url")


@dataclass(frozen=True)
class DatabaseChoice:
    """The database for djship.toml, and the sentence telling the user why."""

    database: Literal["postgres", "sqlite"]
    note: str | None = None


def _reads_url(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr in _ENVIRON_DB for n in ast.walk(tree))


def _engines(value: ast.expr) -> list[str]:
    return [n.value for n in ast.walk(value) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and ".backends." in n.value]


def sqlite_only(app_dir: Path, module: str) -> bool:
    """True when the settings configure SQLite alone and never read DATABASE_URL."""
    try:
        src = load_source(app_dir, module)
    except SettingsSourceError:
        return False
    if src.mentions(*URL_WORDS) or any(_reads_url(f.tree) for f in src.files):
        return False
    last = src.last("DATABASES")
    engines = _engines(last.value) if last is not None and last.value is not None else []
    return bool(engines) and all(e.endswith(".sqlite3") for e in engines)


def choose_database(app_dir: Path, module: str | None, site: str) -> DatabaseChoice:
    """PostgreSQL by default; SQLite for settings that know nothing else (said in a note)."""
    if module is None or not sqlite_only(app_dir, module):
        return DatabaseChoice("postgres")
    return DatabaseChoice("sqlite", (
        f'database = "sqlite": {module} uses SQLite only and does not read DATABASE_URL. '
        "Run `djship init --settings`: it proposes reading DATABASE_URL, which djship points "
        "at a SQLite file kept across releases (the file next to the code would be lost at "
        f'each deploy). For PostgreSQL instead, then set sites.{site}.database = "postgres" '
        "in djship.toml"))
