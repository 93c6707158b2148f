"""DATABASES from DATABASE_URL in the project's own way: its library, or plain os.environ."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url
import pytest
from test_settings_support import copy_project, startproject, with_config

from djship.settings import plan_settings
from djship.settings.analysis import plan_edits
from djship.settings.fix import db_library, style_for
from djship.settings.patch import patched_text
from djship.settings.snippets import HELPERS
from djship.settings.source import load_source


def database_from_url() -> Any:
    """The helper djship writes into settings, compiled as the settings module would."""
    namespace: dict[str, Any] = {"urlsplit": urlsplit, "unquote": unquote}
    exec(HELPERS["_database_from_url"], namespace)  # our own snippet
    return namespace["_database_from_url"]


@pytest.mark.parametrize("url", [
    "postgres://djship_blog:s3cr%40t%2Fpw@127.0.0.1:5432/djship_blog",
    "postgresql://u:p@db.example.net/shop?sslmode=require&connect_timeout=5",
    "postgres://u@%2Fvar%2Frun%2Fpostgresql/name",
    "mysql://user:pw@mysql.example:3307/app",
    "sqlite:////srv/notes/shared/data/db.sqlite3",
    "sqlite:///db.sqlite3",
])
def test_plain_helper_agrees_with_dj_database_url(url: str) -> None:
    ours = database_from_url()(url)
    theirs = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
    for key, value in ours.items():
        expected = theirs.get(key, "" if key != "OPTIONS" else {})
        if key == "PORT":
            value, expected = str(value), str(expected or "")
        assert value == expected, (key, value, expected)
    assert ours["ENGINE"] == theirs["ENGINE"]


def test_plain_helper_refuses_an_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported scheme 'redis'"):
        database_from_url()("redis://localhost/0")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests work on copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


def test_project_listing_dj_database_url_gets_it(fresh: Path, tmp_path: Path) -> None:
    root = copy_project(fresh, tmp_path / "site")
    (root / "requirements.txt").write_text("Django>=5.2\ndj-database-url>=2.1\n")
    plan = plan_settings(root, with_config(root), "site")
    settings = next(c for c in plan.changes if c.path.name == "settings.py")
    assert settings.new is not None and "import dj_database_url\n" in settings.new
    assert "dj_database_url.parse(\n        os.environ['DATABASE_URL']" in settings.new
    assert "_database_from_url" not in settings.new
    reqs = [c for c in plan.changes if c.path.name == "requirements.txt"]
    assert all(c.new is not None and c.new.count("dj-database-url") == 1 for c in reqs)


SETTINGS = '''import os
{imports}
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}}}
'''


def source_with(tmp_path: Path, imports: str) -> Any:
    """The parsed settings of a one-file project whose settings import ``imports``."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "settings.py").write_text(SETTINGS.format(imports=imports))
    return load_source(tmp_path, "app.settings")


@pytest.mark.parametrize(("imports", "declared", "library"), [
    ("", set(), "plain"),
    ("import environ", set(), "django-environ"),
    ("", {"django-environ"}, "django-environ"),
    # os.environ imported by name: `environ.Env` would be wrong, whatever is declared.
    ("from os import environ", {"django-environ"}, "plain"),
    ("import dj_database_url", set(), "dj-database-url"),
    ("import environ", {"dj-database-url"}, "dj-database-url"),
])
def test_library_choice(tmp_path: Path, imports: str, declared: set[str], library: str) -> None:
    assert db_library(source_with(tmp_path, imports), declared) == library


def test_django_environ_project_keeps_its_library(tmp_path: Path) -> None:
    source = source_with(tmp_path, "import environ")
    style = style_for(source, ["shop.example"], {"django", "django-environ"})
    edits = plan_edits(source, style)
    db = next(e for e in edits if e.snippet.key == "DATABASES")
    assert db.mode == "after" and db.snippet.package == "django-environ"
    text = patched_text(source.target, edits)
    assert 'DATABASES["default"] = environ.Env.db_url_config(os.environ["DATABASE_URL"])' in text
    assert text.count("import environ\n") == 1 and "dj_database_url" not in text


def test_export_keeps_dj_database_url(tmp_path: Path) -> None:
    """Without the project's dependencies (exports to a platform): dj-database-url."""
    assert style_for(source_with(tmp_path, ""), []).db_library == "dj-database-url"
