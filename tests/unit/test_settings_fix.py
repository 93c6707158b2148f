"""`djship init --settings`: real projects become production-ready, idempotently, in their style."""

from __future__ import annotations

import ast
import subprocess
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

from djship.settings import SettingsImportError, apply_plan, plan_settings
from djship.settings.source import SettingsSourceError

# A project that already reads most settings from the environment, in its own style.
ENV_SETTINGS = '''"""Settings read from the environment."""
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = os.environ.get("DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "").split(",")
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "django.contrib.staticfiles"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware",
              "django.middleware.csrf.CsrfViewMiddleware"]
ROOT_URLCONF = "shop.urls"
DATABASES = {"default": dj_database_url.config(default="sqlite:///db.sqlite3")}
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", BASE_DIR / "static")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = True
'''
ENV_FILES = {
    "manage.py": 'import os, sys\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", '
                 '"shop.settings")\nfrom django.core.management import execute_from_command_line'
                 '\nexecute_from_command_line(sys.argv)\n',
    "shop/__init__.py": "",
    "shop/settings.py": ENV_SETTINGS,
    "shop/urls.py": "urlpatterns = []\n",
    "shop/wsgi.py": "from django.core.wsgi import get_wsgi_application\n"
                    "application = get_wsgi_application()\n",
    "requirements.txt": "Django>=5.2,<5.3\ndj-database-url>=2.1\npsycopg[binary]>=3.2\n",
}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests work on copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


@pytest.fixture
def project(fresh: Path, tmp_path: Path) -> Path:
    """A copy of the fresh project."""
    return copy_project(fresh, tmp_path / "site")


def env_project(root: Path) -> Path:
    """Write the environment-driven project under ``root``."""
    for rel, text in ENV_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_startproject_becomes_deploy_ready_and_second_run_changes_nothing(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = djship(capsys, project, "init", "--settings", "--yes")
    assert code == 0, err
    assert "+SECRET_KEY = os.environ.get('SECRET_KEY', '')" in out
    assert "SECRET_KEY is hard-coded" in err
    text = (project / "mysite" / "settings.py").read_text()
    ast.parse(text)
    assert "DEBUG = True" not in text
    # No database library in the project: plain os.environ, no new dependency.
    assert "_database_from_url(os.environ['DATABASE_URL'])" in text
    assert "dj_database_url" not in text
    assert "dj-database-url" not in (project / "requirements.txt").read_text()

    proc = manage(project, production_environ(project, tmp_path), "check", "--deploy")
    assert proc.returncode == 0, proc.stderr
    assert "System check identified no issues" in proc.stdout + proc.stderr
    assert "WARNINGS" not in proc.stdout + proc.stderr

    code, out, err = djship(capsys, project, "init", "--settings", "--yes")
    assert code == 0 and out == ""
    assert "no change needed" in err
    assert (project / "mysite" / "settings.py").read_text() == text


def test_user_code_is_kept_and_backed_up(project: Path) -> None:
    before = (project / "mysite" / "settings.py").read_text()
    config = with_config(project)
    plan = plan_settings(project, config, "site")
    backup = apply_plan(project, plan)
    after = (project / "mysite" / "settings.py").read_text()
    assert (backup / "mysite" / "settings.py").read_text() == before
    assert (backup / "changes.diff").read_text() == plan.diff(project)
    # The local database and the old development key survive.
    assert "'NAME': BASE_DIR / 'db.sqlite3'," in after
    old_key = next(line for line in before.splitlines() if line.startswith("SECRET_KEY"))
    assert old_key.split(" = ")[1] in after
    assert plan_settings(project, config, "site").changes == []


def test_backups_stay_out_of_git(project: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    apply_plan(project, plan_settings(project, with_config(project), "site"))
    assert list((project / ".djship" / "backups").glob("*/mysite/settings.py"))
    status = subprocess.run(["git", "-C", str(project), "status", "--porcelain",
                             "--untracked-files=all"], capture_output=True, text=True).stdout
    assert "mysite/settings.py" in status and ".djship" not in status, status


def test_local_development_still_works_with_debug(project: Path, tmp_path: Path) -> None:
    config = with_config(project)
    apply_plan(project, plan_settings(project, config, "site"))
    env = {k: v for k, v in production_environ(project, tmp_path).items()
           if k in ("PATH", "HOME", "PYTHONDONTWRITEBYTECODE")}
    proc = manage(project, {**env, "DEBUG": "1"}, "shell", "-c",
                  "from django.conf import settings as s; print(s.DEBUG, s.ALLOWED_HOSTS, "
                  "bool(s.SECRET_KEY), s.DATABASES['default']['ENGINE'])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("True ")
    assert "'localhost'" in proc.stdout and "sqlite3" in proc.stdout


def test_environment_driven_project_gets_only_what_is_missing(tmp_path: Path) -> None:
    root = env_project(tmp_path / "shop")
    config = with_config(root)
    plan = plan_settings(root, config, "shop")
    assert [c.path.name for c in plan.changes] == ["settings.py"]
    diff = plan.diff(root)
    removed = [line for line in diff.splitlines()
               if line.startswith("-") and not line.startswith("---")]
    assert removed == ['-STATIC_ROOT = os.environ.get("STATIC_ROOT", BASE_DIR / "static")'] \
        or removed == []
    for kept in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASES", "SESSION_COOKIE_SECURE"):
        assert not any(line.startswith(f"+{kept} ") for line in diff.splitlines()), kept
    for added in ("SECURE_PROXY_SSL_HEADER", "LOGGING", "ADMINS", "EMAIL_HOST",
                  "SECURE_HSTS_SECONDS", "MEDIA_ROOT"):
        assert f"+{added} = " in diff, added
    assert "'" not in "".join(line for line in diff.splitlines() if line.startswith("+ADMINS"))
    apply_plan(root, plan)
    assert plan_settings(root, config, "shop").changes == []


def test_settings_that_cannot_be_imported_change_nothing(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = project / "mysite" / "settings.py"
    broken = settings.read_text() + "\nimport not_a_module_anywhere\n"
    settings.write_text(broken)
    with_config(project)
    code, _out, err = djship(capsys, project, "init", "--settings", "--yes")
    assert code == 1
    assert "ModuleNotFoundError" in err and "not_a_module_anywhere" in err
    assert "settings.py" in err
    assert settings.read_text() == broken
    assert not (project / ".djship").exists() and not (project / "requirements.txt").exists()


def test_import_error_names_file_and_line(project: Path) -> None:
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nraise RuntimeError('no luck')\n")
    config = with_config(project)
    with pytest.raises(SettingsImportError) as info:
        plan_settings(project, config, "site")
    assert "RuntimeError: no luck" in info.value.message
    assert f"{settings}:" in info.value.message or "settings.py:" in info.value.message


def test_syntax_error_is_reported_with_its_line(project: Path) -> None:
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nDEBUG = = True\n")
    config = with_config(project)
    with pytest.raises(SettingsSourceError, match=r"settings\.py:\d+: SyntaxError"):
        plan_settings(project, config, "site")


def test_declining_the_prompt_changes_nothing(
        project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_config(project)
    before = (project / "mysite" / "settings.py").read_text()
    monkeypatch.setattr("click.confirm", lambda *a, **k: False)
    code, out, err = djship(capsys, project, "settings", "fix")
    assert code == 1 and "left unchanged" in err
    assert out.startswith("--- a/mysite/settings.py")
    assert (project / "mysite" / "settings.py").read_text() == before
