"""Project detection on layouts built in tmp_path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from djship.errors import UsageError
from djship.project import SettingValue, detect, minimum_python

MANAGE = """\
import os, sys

def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""
WSGI = """\
import os
from django.core.wsgi import get_wsgi_application
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
application = get_wsgi_application()
"""


def build(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path to text) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def simple(settings: str = "mysite.settings", **extra: str) -> dict[str, str]:
    """A minimal single-settings project, plus ``extra`` files."""
    pkg = settings.split(".")[0]
    return {"manage.py": MANAGE.format(settings=settings), f"{pkg}/__init__.py": "",
            f"{pkg}/settings.py": 'STATIC_URL = "static/"\n',
            f"{pkg}/wsgi.py": WSGI.format(settings=settings), **extra}


@pytest.fixture(scope="module")
def startproject(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by the real `django-admin startproject`, made once per module."""
    base = tmp_path_factory.mktemp("startproject")
    (base / "mysite").mkdir()
    # `python -m django` is django-admin, run with the interpreter running the tests.
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(base / "mysite")],
                   check=True)
    return base / "mysite"


def test_startproject(startproject: Path, tmp_path: Path) -> None:
    root = shutil.copytree(startproject, tmp_path / "mysite")
    info = detect(root)
    assert (info.name, info.manage, info.settings) == ("mysite", "manage.py", "mysite.settings")
    assert info.wsgi == "mysite.wsgi:application"
    assert info.asgi == "mysite.asgi:application"
    assert info.settings_values["STATIC_URL"] == SettingValue("literal", "static/")
    assert info.dependencies is None and info.python is None
    missing = "\n".join(info.missing)
    assert "STATIC_ROOT" in missing and "MEDIA_ROOT" in missing
    assert "dependencies" in missing and "Python version" in missing


def test_example_project() -> None:
    info = detect(Path(__file__).parents[2] / "examples" / "guestbook")
    assert info.settings == "guestbook.settings" and info.python == "3.11"
    assert (info.dependencies, info.requirements) == ("requirements", "requirements.txt")
    assert info.settings_values["STATIC_ROOT"].describe() == "from environment"
    assert info.missing == []


def test_split_settings_prefers_production(tmp_path: Path) -> None:
    build(tmp_path, {
        "manage.py": MANAGE.format(settings="mysite.settings.dev"),
        "mysite/__init__.py": "",
        "mysite/wsgi.py": WSGI.format(settings="mysite.settings.dev"),
        "mysite/settings/__init__.py": "",
        "mysite/settings/base.py": 'STATIC_URL = "/static/"\nMEDIA_ROOT = BASE_DIR / "media"\n'
                                   'WSGI_APPLICATION = "mysite.wsgi.application"\n',
        "mysite/settings/dev.py": "from .base import *\nDEBUG = True\n",
        "mysite/settings/production.py": 'from .base import *\nSTATIC_ROOT = env("STATIC_ROOT")\n'
                                         'STATIC_URL: str = "https://cdn.example.com/"\n',
    })
    info = detect(tmp_path)
    assert info.settings == "mysite.settings.production"
    assert "mysite.settings.dev" in info.settings_candidates
    assert any("mysite.settings.dev" in n for n in info.notes)
    values = info.settings_values
    assert values["STATIC_ROOT"] == SettingValue("environment", "env('STATIC_ROOT')")
    assert values["STATIC_URL"].text == "https://cdn.example.com/"  # production overrides base
    assert values["MEDIA_ROOT"] == SettingValue("expression", "BASE_DIR / 'media'")
    assert info.wsgi == "mysite.wsgi:application"
    assert info.missing == ["dependencies: no requirements.txt, uv.lock, poetry.lock or "
                            "[project].dependencies in pyproject.toml",
                            "Python version: no .python-version, runtime.txt or requires-python"]


def test_cookiecutter_layout_uses_wsgi_settings(tmp_path: Path) -> None:
    build(tmp_path, {
        "manage.py": MANAGE.format(settings="config.settings.local"),
        "config/__init__.py": "", "config/settings/__init__.py": "",
        "config/wsgi.py": WSGI.format(settings="config.settings.live_eu"),
        "config/settings/base.py": "", "config/settings/local.py": "",
        "config/settings/live_eu.py": "from config.settings.base import *\n",
    })
    info = detect(tmp_path)
    assert info.settings == "config.settings.live_eu"
    assert info.wsgi == "config.wsgi:application"


def test_uv_project(tmp_path: Path) -> None:
    build(tmp_path, simple(**{
        "pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.12,<4"\n'
                          'dependencies = ["django"]\n',
        "uv.lock": "version = 1\n", "requirements-dev.txt": "pytest\n"}))
    info = detect(tmp_path)
    assert (info.dependencies, info.python) == ("uv", "3.12")


def test_poetry_project(tmp_path: Path) -> None:
    build(tmp_path, simple(**{
        "pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\ndjango = "^5.2"\n',
        "poetry.lock": "# lock\n"}))
    info = detect(tmp_path)
    assert (info.dependencies, info.python) == ("poetry", "3.11")


def test_pyproject_without_lock(tmp_path: Path) -> None:
    build(tmp_path, simple(**{
        "pyproject.toml": '[project]\nname = "x"\ndependencies = ["django"]\n',
        ".python-version": "3.13.1\n"}))
    info = detect(tmp_path)
    assert (info.dependencies, info.python) == ("pyproject", "3.13")
    assert any("lock" in n for n in info.notes)


def test_requirements_in_subfolder_prefers_production(tmp_path: Path) -> None:
    build(tmp_path, simple(**{
        "requirements/base.txt": "django\n", "requirements/local.txt": "-r base.txt\n",
        "requirements/production.txt": "-r base.txt\ngunicorn\n"}))
    info = detect(tmp_path)
    assert (info.dependencies, info.requirements) == ("requirements", "requirements/production.txt")


@pytest.mark.parametrize(("files", "expected"), [
    (["requirements.txt", "requirements/production.txt"], "requirements.txt"),
    (["requirements-dev.txt", "requirements-prod.txt"], "requirements-prod.txt"),
    (["requirements/local.txt", "requirements/base.txt"], "requirements/base.txt"),
    (["requirements-test.txt", "requirements_docs.txt"], None),
])
def test_requirements_choice(tmp_path: Path, files: list[str], expected: str | None) -> None:
    build(tmp_path, simple(**dict.fromkeys(files, "django\n")))
    assert detect(tmp_path).requirements == expected


def test_manage_one_level_down(tmp_path: Path) -> None:
    build(tmp_path, {"requirements.txt": "django\n", "runtime.txt": "python-3.11.9\n",
                     **{f"src/{k}": v for k, v in simple().items()}})
    (tmp_path / "node_modules").mkdir()
    info = detect(tmp_path)
    assert (info.manage, info.settings, info.app_dir) == ("src/manage.py", "mysite.settings",
                                                          tmp_path.resolve() / "src")
    assert (info.requirements, info.python) == ("requirements.txt", "3.11")


def test_asgi_only(tmp_path: Path) -> None:
    files = simple(**{"mysite/asgi.py": "from django.core.asgi import get_asgi_application\n"
                                        "application = get_asgi_application()\n"})
    del files["mysite/wsgi.py"]
    info = detect(build(tmp_path, files))
    assert (info.wsgi, info.asgi) == (None, "mysite.asgi:application")
    assert any("ASGI only" in n for n in info.notes)


def test_no_application(tmp_path: Path) -> None:
    files = simple()
    del files["mysite/wsgi.py"]
    info = detect(build(tmp_path, files))
    assert any("WSGI/ASGI" in m for m in info.missing)


def test_manage_without_settings(tmp_path: Path) -> None:
    info = detect(build(tmp_path, {**simple(), "manage.py": "this is not python (\n"}))
    assert info.settings == "mysite.settings"  # found by looking for settings.py
    assert any("DJANGO_SETTINGS_MODULE" in m for m in info.missing)


def test_no_manage_py(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        detect(tmp_path)
    assert "no manage.py" in exc.value.message
    assert exc.value.hint and "startproject" in exc.value.hint


def test_several_manage_py(tmp_path: Path) -> None:
    build(tmp_path, {"a/manage.py": "", "b/manage.py": ""})
    with pytest.raises(UsageError, match="several Django projects"):
        detect(tmp_path)


@pytest.mark.parametrize(("spec", "expected"), [
    (">=3.10", "3.10"), (">=3.11,<3.14", "3.11"), ("<4,>=3.12", "3.12"), ("~=3.11.2", "3.11"),
    ("^3.11", "3.11"), ("==3.12.*", "3.12"), ("3.11", "3.11"), ("<3.13", None), ("", None),
])
def test_minimum_python(spec: str, expected: str | None) -> None:
    assert minimum_python(spec) == expected
