"""`djship init`: the rendered djship.toml validates and records what detection found."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from djship.config import validate
from djship.config.schema import Backups, Host, Job, Process, Project, Redis, Site, Tls
from djship.errors import UsageError
from djship.init import InitResult, render_config, run_init, write_config
from djship.project import detect

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "guestbook"
MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")\n'


def build(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path to text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def shop(**extra: str) -> dict[str, str]:
    """A small project named shop, plus ``extra`` files."""
    return {"manage.py": MANAGE, "shop/__init__.py": "", "shop/settings.py": "DEBUG = False\n",
            "shop/wsgi.py": "application = object()\n", **extra}


def rendered(root: Path, **kwargs: Any) -> dict[str, Any]:
    """Render the config for ``root``, check it validates, and return the parsed TOML."""
    data = tomllib.loads(render_config(detect(root), **kwargs))
    validate(data)
    return data


def uncommented_variants(text: str) -> Iterator[str]:
    """``text`` with each commented-out key (or commented-out table block) uncommented."""
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        end = n + 1
        if re.match(r"^# \[", lines[n]):
            while end < len(lines) and re.match(r"^# [a-z_]+ = ", lines[end]):
                end += 1
        elif not re.match(r"^# [a-z_]+ = ", lines[n]):
            n += 1
            continue
        yield "\n".join([*lines[:n], *(line[2:] for line in lines[n:end]), *lines[end:]])
        n = end


def test_startproject(tmp_path: Path) -> None:
    (tmp_path / "mysite").mkdir()
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite",
                    str(tmp_path / "mysite")], check=True)
    text = render_config(detect(tmp_path / "mysite"))
    data = tomllib.loads(text)
    config = validate(data)
    assert config.project.settings == "mysite.settings"
    assert config.project.wsgi == "mysite.wsgi:application" and config.project.asgi is None
    assert list(config.sites) == ["mysite"]
    # What detection could not find is listed at the top of the file.
    assert re.search(r"^#   - STATIC_ROOT is not set", text, re.M)
    assert "python" not in data["project"]


def test_example_project() -> None:
    config = validate(rendered(EXAMPLE))
    project = config.project
    assert (project.name, project.python, project.settings) == ("guestbook", "3.11",
                                                                "guestbook.settings")
    assert (project.dependencies, project.requirements) == ("requirements", "requirements.txt")


def test_uv_project(tmp_path: Path) -> None:
    build(tmp_path, shop(**{"pyproject.toml": '[project]\nname = "shop"\n'
                                              'requires-python = ">=3.12"\n',
                            "uv.lock": "version = 1\n"}))
    project = rendered(tmp_path)["project"]
    # As written: a bare "3.12" would mean 3.12.x only, which requires-python does not say.
    assert (project["dependencies"], project["python"]) == ("uv", ">=3.12")
    assert "requirements" not in project


def test_requirements_project(tmp_path: Path) -> None:
    build(tmp_path, shop(**{"requirements/production.txt": "django\n",
                            "requirements/local.txt": "django\n"}))
    project = rendered(tmp_path)["project"]
    assert (project["dependencies"], project["requirements"]) == (
        "requirements", "requirements/production.txt")


def test_asgi_only_project(tmp_path: Path) -> None:
    files = shop(**{"shop/asgi.py": "application = object()\n"})
    del files["shop/wsgi.py"]
    project = rendered(build(tmp_path, files))["project"]
    assert project["asgi"] == "shop.asgi:application" and "wsgi" not in project


def test_guesses_keep_config_valid(tmp_path: Path) -> None:
    build(tmp_path / "My Shop!", {"manage.py": "", "README": ""})
    data = rendered(tmp_path / "My Shop!")
    assert data["project"]["name"] == "my-shop"
    assert data["project"]["wsgi"] == "my_shop.wsgi:application"


def test_domains_and_host(tmp_path: Path) -> None:
    build(tmp_path, shop())
    data = rendered(tmp_path, site="prod", domains=["shop.example.org"], host="192.0.2.7")
    assert data["sites"]["prod"]["domains"] == ["shop.example.org"]
    assert data["hosts"][0]["address"] == "192.0.2.7"


def test_detected_text_cannot_break_comments(tmp_path: Path) -> None:
    build(tmp_path, shop(**{"shop/settings.py": 'STATIC_URL = "a\\nb = 1\\n[x]"\n'}))
    assert rendered(tmp_path)["project"]["settings"] == "shop.settings"


def test_every_schema_key_is_explained(tmp_path: Path) -> None:
    text = render_config(detect(build(tmp_path, shop())))
    for model in (Project, Site, Process, Job, Backups, Tls, Redis, Host):
        for key in model.model_fields:
            if key not in {"processes", "jobs", "backups", "tls", "env", "env_names", "redis"}:
                assert re.search(rf"^(# )?{key} = ", text, re.M), f"{model.__name__}.{key}"
    for table in ("processes", "jobs", "backups", "tls", "env", "env_names", "redis"):
        assert re.search(rf"^(# )?\[sites\.[^.\]]+\.{table}[.\]]", text, re.M), table


def test_write_config_refuses_to_overwrite(tmp_path: Path) -> None:
    build(tmp_path, shop())
    assert write_config(tmp_path, force=False) == detect(tmp_path).missing
    (tmp_path / "djship.toml").write_text("# mine\n")
    with pytest.raises(UsageError) as exc:
        write_config(tmp_path, force=False)
    assert exc.value.hint and "--force" in exc.value.hint
    assert (tmp_path / "djship.toml").read_text() == "# mine\n"
    write_config(tmp_path, force=True)
    validate(tomllib.loads((tmp_path / "djship.toml").read_text()))


def test_refuses_when_pyproject_has_tool_djship(tmp_path: Path) -> None:
    build(tmp_path, shop(**{"pyproject.toml": "[tool.djship.project]\nname = 'x'\n"}))
    with pytest.raises(UsageError, match=r"\[tool.djship\]"):
        run_init(tmp_path, force=False)
    assert run_init(tmp_path, force=True).path.is_file()


def test_run_init(tmp_path: Path) -> None:
    build(tmp_path, shop(**{"requirements.txt": "django\n"}))
    result = run_init(tmp_path, force=False)
    assert isinstance(result, InitResult)
    assert result.path == tmp_path.resolve() / "djship.toml"
    assert any("Python version" in m for m in result.missing)
    assert any("example.com" in n for n in result.notes)
    assert any("203.0.113.10" in n for n in result.notes)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".djship")] == []


def test_no_manage_py(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        run_init(tmp_path, force=False)
    assert not (tmp_path / "djship.toml").exists()



def test_commented_keys_validate_when_uncommented(tmp_path: Path) -> None:
    variants = list(uncommented_variants(render_config(detect(build(tmp_path, shop())))))
    assert len(variants) > 10
    for text in variants:
        validate(tomllib.loads(text))


SQLITE_ONLY = '''from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
'''


@pytest.mark.parametrize(("settings", "database"), [
    (SQLITE_ONLY, "sqlite"),
    (SQLITE_ONLY + 'import dj_database_url\nDATABASES["default"] = dj_database_url.config()\n',
     "postgres"),
    ('import environ\nenv = environ.Env()\nDATABASES = {"default": env.db()}\n', "postgres"),
    ('import os\nDATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", '
     '"NAME": os.environ.get("DATABASE_URL", "x")}}\n', "postgres"),
    ('DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"}}\n',
     "postgres"),
    ("DEBUG = False\n", "postgres"),  # no DATABASES at all: `init --settings` proposes one
])
def test_init_writes_sqlite_for_settings_that_know_only_sqlite(
        tmp_path: Path, settings: str, database: str) -> None:
    root = build(tmp_path / "shop", shop(**{"shop/settings.py": settings}))
    result = run_init(root, force=False)
    data = tomllib.loads(result.path.read_text())
    assert data["sites"]["shop"]["database"] == database
    said = [n for n in result.notes if n.startswith('database = "sqlite"')]
    if database == "sqlite":  # and it says which, and what to run for DATABASE_URL
        assert len(said) == 1 and "`djship init --settings`" in said[0], result.notes
        assert 'sites.shop.database = "postgres"' in said[0]
    else:
        assert not said, result.notes


def test_split_settings_that_know_only_sqlite_choose_sqlite(tmp_path: Path) -> None:
    root = build(tmp_path / "shop", shop(**{
        "manage.py": MANAGE.replace("shop.settings", "shop.settings.local"),
        "shop/settings.py": "", "shop/settings/__init__.py": "",
        "shop/settings/base.py": SQLITE_ONLY, "shop/settings/local.py": "from .base import *\n",
        "shop/settings/production.py": "from .base import *\nDEBUG = False\n"}))
    (root / "shop/settings.py").unlink()
    result = run_init(root, force=False)
    assert tomllib.loads(result.path.read_text())["sites"]["shop"]["database"] == "sqlite"
