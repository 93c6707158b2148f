"""Split settings whose production module reads nothing from the environment but imports an
override file when present: djship writes that file and leaves the user's modules alone."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from test_settings_support import (
    copy_project,
    djship,
    manage,
    production_environ,
    startproject,
    with_config,
)

from djship.settings import apply_plan, plan_settings

PRODUCTION = '''"""Production settings: written by hand, no environment variables."""

from .base import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["www.example.com"]
STATIC_ROOT = "/var/www/mysite/static"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                      "LOCATION": "production"}}

try:
    from .local import *  # noqa: F403
except ImportError:
    pass
'''
DEV = '''"""Development settings."""

from .base import *  # noqa: F403

DEBUG = True
'''


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `startproject` whose settings were split by hand: base, dev, production + hook."""
    root = startproject(tmp_path_factory.mktemp("template") / "site")
    package = root / "mysite" / "settings"
    package.mkdir()
    base = (root / "mysite" / "settings.py").read_text()
    (package / "base.py").write_text(base.replace(".parent.parent", ".parent.parent.parent"))
    (root / "mysite" / "settings.py").unlink()
    (package / "__init__.py").write_text("")
    (package / "dev.py").write_text(DEV)
    (package / "production.py").write_text(PRODUCTION)
    for rel in ("manage.py", "mysite/wsgi.py", "mysite/asgi.py"):
        path = root / rel
        path.write_text(path.read_text().replace("'mysite.settings'", "'mysite.settings.dev'"))
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A copy of the split project, in its own git repository, with a djship.toml."""
    root = copy_project(template, tmp_path / "site")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    with_config(root)
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every settings module's text."""
    return {p.name: p.read_text() for p in (root / "mysite" / "settings").glob("*.py")}


def test_override_file_is_written_and_user_modules_are_kept(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tomllib.loads((project / "djship.toml").read_text())
    assert config["project"]["settings"] == "mysite.settings.production"
    before = snapshot(project)
    code, out, err = djship(capsys, project, "init", "--settings", "--yes")
    assert code == 0, err
    assert out.startswith("--- /dev/null\n+++ b/mysite/settings/local.py")
    assert "left as it is" in err and "mysite/settings/local.py" in err
    after = snapshot(project)
    assert {k: after[k] for k in before} == before  # base, dev, production untouched
    local = after["local.py"]
    assert "from mysite.settings.production import *" in local
    assert "SECRET_KEY = os.environ.get('SECRET_KEY', '')" in local
    # Production's own values stay the defaults when the variables are not set.
    assert 'STATIC_ROOT = os.environ.get("STATIC_ROOT") or STATIC_ROOT' in local.replace(
        "'", '"')
    assert "DEBUG" not in local.split("import *")[1].split("def ")[0]  # production has it off

    env = production_environ(project, tmp_path,
                             DJANGO_SETTINGS_MODULE="mysite.settings.production")
    deploy = manage(project, env, "check", "--deploy")
    assert deploy.returncode == 0 and "WARNINGS" not in deploy.stderr, deploy.stderr
    shown = manage(project, env, "shell", "-c", "from django.conf import settings as s; "
                   "print(s.STATIC_ROOT, s.CACHES['default']['LOCATION'], s.ALLOWED_HOSTS)")
    assert shown.stdout.splitlines()[-1].split() == [env["STATIC_ROOT"], "production", "['example.com']"], \
        shown.stderr
    # Development is untouched: the dev module does not import the override file.
    dev = manage(project, {"PATH": "/usr/bin:/bin"}, "shell", "-c",
                 "from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT)")
    assert dev.stdout.splitlines()[-1].split() == ["True", "False"], dev.stderr
    code, _, err = djship(capsys, project, "check")
    assert code == 0, err

    code, out, err = djship(capsys, project, "init", "--settings", "--yes")
    assert code == 0 and out == "" and "no change needed" in err


def test_existing_override_file_is_completed(project: Path) -> None:
    local = project / "mysite" / "settings" / "local.py"
    local.write_text('"""Mine."""\nADMINS = [("Me", "me@example.com")]\nDEBUG = True\n')
    config = with_config(project)
    plan = plan_settings(project, config, "site")
    assert [c.path for c in plan.changes if c.path.suffix == ".py"] == [local]
    apply_plan(project, plan)
    text = local.read_text()
    assert text.startswith('"""Mine."""\nfrom mysite.settings.production import *')
    assert 'ADMINS = [("Me", "me@example.com")]' in text  # a literal list is the owner's
    assert "\nDEBUG = True" not in text  # but DEBUG may not stay on
    assert plan_settings(project, config, "site").changes == []


@pytest.mark.parametrize("case", ["ignored", "dev-imports-it", "reads-env", "assigns-after"])
def test_production_module_is_patched_when_the_hook_does_not_fit(project: Path,
                                                                 case: str) -> None:
    production = project / "mysite" / "settings" / "production.py"
    if case == "ignored":
        (project / ".gitignore").write_text("local.py\n")
    elif case == "dev-imports-it":
        dev = project / "mysite" / "settings" / "dev.py"
        dev.write_text(dev.read_text() + "from .local import *  # noqa: F403\n")
    elif case == "reads-env":
        production.write_text(production.read_text().replace(
            "DEBUG = False\n", "import os\nDEBUG = False\nSECRET_KEY = os.environ['SECRET_KEY']\n"))
    else:
        production.write_text(production.read_text() + "SESSION_COOKIE_AGE = 3600\n")
    plan = plan_settings(project, with_config(project), "site")
    assert [c.path for c in plan.changes if c.path.suffix == ".py"] == [production]
    if case == "ignored":
        assert any("git ignores mysite/settings/local.py" in n for n in plan.notes), plan.notes
