"""Dependency groups and extras (issue 16 item 5): installed when configured, proposed by
init and named by check when a package the site imports at start is only in one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from test_release_poetry import LOCK_20, PYPROJECT_1X, lines, write

from djship.config import Config, validate
from djship.errors import UsageError
from djship.init import render_config
from djship.paths import SitePaths
from djship.project import detect
from djship.release import poetry, scripts
from djship.release.build import build
from djship.settings import groups
from djship.settings.check import dependency_findings

RID = "20261122T010203-abcdef12"
VENV = "/srv/shop/venvs/0123456789abcdef"


def config(dependencies: str, **project: Any) -> Config:
    return validate({
        "project": {"name": "shop", "settings": "shop.settings", "wsgi": "shop.wsgi:application",
                    "dependencies": dependencies, **project},
        "sites": {"shop": {"database": "sqlite"}},
        "hosts": [{"name": "web1", "address": "192.0.2.1"}]})


def venv_script(cfg: Config) -> str:
    return scripts.build_venv(cfg, SitePaths("shop"), RID, VENV).render()


def test_uv_sync_installs_the_configured_groups_and_extras() -> None:
    assert "sync --frozen --no-dev --no-install-project --python" in venv_script(config("uv"))
    text = venv_script(config("uv", groups=["api"], extras=["s3"]))
    assert "sync --frozen --no-dev --no-install-project --group api --extra s3 --python" in text
    # Naming uv's default group "dev" keeps it (--no-dev would drop it again).
    text = venv_script(config("uv", groups=["dev"]))
    assert "--no-dev" not in text and "--no-install-project --group dev --python" in text


def test_pyproject_install_gets_groups_and_extras() -> None:
    text = venv_script(config("pyproject", groups=["api"], extras=["s3"]))
    assert "-r pyproject.toml --group api --extra s3 gunicorn" in text


def test_poetry_export_includes_named_groups_and_extras(tmp_path: Path) -> None:
    root = write(tmp_path, PYPROJECT_1X + '\n[tool.poetry.extras]\nqueue = ["celery"]\n', LOCK_20)
    plain = lines(poetry.export(root))
    assert "pytest" not in plain and "celery" not in plain
    got = lines(poetry.export(root, ["dev"], ["queue"]))
    assert got["pytest"].startswith("pytest==8.2.0") and "iniconfig" in got
    assert got["celery"].startswith("celery==5.4.0")
    assert set(plain) < set(got)
    with pytest.raises(UsageError, match=re.escape("has no group 'api' (its groups: dev)")):
        poetry.export(root, ["api"])
    with pytest.raises(UsageError, match=re.escape("no extra 'pdf' (its extras: queue)")):
        poetry.export(root, [], ["pdf"])


def test_groups_need_a_pyproject_kind(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("")
    (tmp_path / "requirements.txt").write_text("django\n")
    cfg = config("requirements", groups=["api"])
    with pytest.raises(UsageError, match=re.escape('dependencies is "requirements"')):
        build(tmp_path, cfg)


# --- a uv project whose API packages are in a dependency group ---------------------------

PYPROJECT = '''[project]
name = "shop"
version = "1"
dependencies = ["django>=5.2"]

[project.optional-dependencies]
s3 = ["django-storages>=1.14"]

[dependency-groups]
dev = ["pytest>=8", {include-group = "api"}]
api = ["djangorestframework>=3.15", "django-cors-headers>=4"]
'''
SETTINGS = '''import os
from storages.backends.s3 import S3Storage

SECRET_KEY = os.environ.get("SECRET_KEY", "")
INSTALLED_APPS = ["django.contrib.staticfiles", "rest_framework"]
INSTALLED_APPS += ["corsheaders", "shop"]
STATIC_ROOT = os.environ.get("STATIC_ROOT")
MEDIA_ROOT = os.environ.get("MEDIA_ROOT")
'''


def shop(root: Path) -> Path:
    files = {"manage.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", '
                          '"shop.settings")\n',
             "shop/__init__.py": "", "shop/settings.py": SETTINGS,
             "shop/wsgi.py": "import os\nimport pytest\napplication = None\n",
             "pyproject.toml": PYPROJECT, "uv.lock": "version = 1\n"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_pyproject_layout_is_read() -> None:
    layout = groups.read_layout(tomllib.loads(PYPROJECT))
    assert layout.main == {"django"}
    assert layout.groups == {"dev": {"pytest"},
                             "api": {"djangorestframework", "django-cors-headers"}}
    assert layout.extras == {"s3": {"django-storages"}}


def test_runtime_packages_only_in_a_group_are_found(tmp_path: Path) -> None:
    found = groups.misplaced(shop(tmp_path), config("uv"), "shop")
    assert [(m.module, m.where, m.dist, m.groups, m.extras) for m in found] == [
        ("rest_framework", "INSTALLED_APPS in shop.settings", "djangorestframework",
         ("api",), ()),
        ("corsheaders", "INSTALLED_APPS in shop.settings", "django-cors-headers", ("api",), ()),
        ("storages", "an import in shop/settings.py", "django-storages", (), ("s3",)),
        ("pytest", "an import in shop/wsgi.py", "pytest", ("dev",), ()),
    ]
    assert groups.misplaced(tmp_path, config("uv", groups=["api", "dev"], extras=["s3"]),
                            "shop") == []


def test_check_names_the_group_and_the_setting(tmp_path: Path) -> None:
    findings = [f for f in dependency_findings(shop(tmp_path), config("uv", extras=["s3"]),
                                               "shop") if f.code == "dependencies.group"]
    assert [f.message for f in findings] == [
        "rest_framework (INSTALLED_APPS in shop.settings) comes from djangorestframework, which "
        'pyproject.toml lists only in dependency group "api": djship installs the main '
        "dependencies, so the import fails on the servers",
        "corsheaders (INSTALLED_APPS in shop.settings) comes from django-cors-headers, which "
        'pyproject.toml lists only in dependency group "api": djship installs the main '
        "dependencies, so the import fails on the servers",
        "pytest (an import in shop/wsgi.py) comes from pytest, which pyproject.toml lists only "
        'in dependency group "dev": djship installs the main dependencies, so the import '
        "fails on the servers"]
    assert findings[0].fix == ('add "api" to project.groups in djship.toml (or move '
                               "djangorestframework to the main dependencies)")
    assert all(f.level == "error" for f in findings)


def test_init_proposes_the_groups_and_says_why(tmp_path: Path) -> None:
    text = render_config(detect(shop(tmp_path)))
    project = tomllib.loads(text)["project"]
    assert (project["groups"], project["extras"]) == (["api", "dev"], ["s3"])
    assert ("# proposed by djship init: rest_framework (INSTALLED_APPS in shop.settings) is "
            'only in dependency group "api"') in text
    # With what init wrote, check has nothing left to say about groups.
    cfg = validate(tomllib.loads(text))
    assert groups.misplaced(tmp_path, cfg, cfg.project.name) == []


def test_packages_named_only_by_dotted_paths_in_settings_count(tmp_path: Path) -> None:
    # whitenoise in a "prod" group, named only as a middleware and a storage backend (as
    # real projects do): Django imports it at start, so init proposes the group and check
    # names it, before the server's own check fails on it.
    root = shop(tmp_path)
    (root / "pyproject.toml").write_text(PYPROJECT.replace(
        'api = ["djangorestframework', 'prod = ["whitenoise>=6"]\napi = ["djangorestframework'))
    (root / "shop/settings.py").write_text(SETTINGS + (
        'MIDDLEWARE = ["django.middleware.security.SecurityMiddleware",\n'
        '              "whitenoise.middleware.WhiteNoiseMiddleware"]\n'
        'STORAGES = {"staticfiles": {"BACKEND": '
        '"whitenoise.storage.CompressedManifestStaticFilesStorage"}}\n'))
    found = groups.misplaced(root, config("uv", groups=["api", "dev"], extras=["s3"]), "shop")
    assert [(m.module, m.where, m.dist, m.groups) for m in found] == [
        ("whitenoise", "MIDDLEWARE in shop.settings", "whitenoise", ("prod",))]
    project = tomllib.loads(render_config(detect(root)))["project"]
    assert "prod" in project["groups"]
