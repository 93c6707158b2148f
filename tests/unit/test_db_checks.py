"""A system check that queries the database (issue 23 item 2): the local check's stand-in
database has no tables, so such a check is handed to the server, which runs it after
migrate on a first deploy; any other failure stays the project's error."""

from __future__ import annotations

import subprocess
import sys
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

from djship.config import load
from djship.release import check as server_check
from djship.settings.check import run_check
from djship.settings.finding import NEEDS_DATABASE, Finding

# An app whose check reads content types, as an API-schema check of a third-party package
# does: raising on the missing table, or catching it and returning its own Error.
CHECKS = '''from django.core import checks


@checks.register("api_schema", deploy=True)
def schema_reads_content_types(app_configs, **kwargs):
    from django.contrib.contenttypes.models import ContentType
    ContentType.objects.exists()
    return []


@checks.register("api_schema", deploy=True)
def schema_catches_its_error(app_configs, **kwargs):
    from django.contrib.contenttypes.models import ContentType
    try:
        list(ContentType.objects.all()[:1])
    except Exception as exc:
        return [checks.Error(f"Schema generation threw exception {exc}", id="api.E001")]
    return []
'''
BROKEN = '''

@checks.register("api_schema", deploy=True)
def schema_has_a_bug(app_configs, **kwargs):
    raise RuntimeError("a real bug in a check")
'''
APPS = '''from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self):
        from . import checks  # noqa: F401
'''


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = startproject(tmp_path_factory.mktemp("dbchecks") / "site")
    (root / "api").mkdir()
    (root / "api" / "__init__.py").write_text("")
    (root / "api" / "apps.py").write_text(APPS)
    (root / "api" / "checks.py").write_text(CHECKS)
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    settings.write_text(text.replace("'django.contrib.staticfiles',\n",
                                     "'django.contrib.staticfiles',\n    'api',\n", 1))
    (root / "requirements.txt").write_text("django>=5.2\n")
    with_config(root)
    return root


def check(root: Path) -> list[Finding]:
    config, _ = load(root)
    return run_check(root, config, next(iter(config.sites)))


def test_a_check_that_needs_the_real_database_is_a_warning_naming_it(
        template: Path, tmp_path: Path) -> None:
    found = check(copy_project(template, tmp_path / "site"))
    assert not [f for f in found if f.code == "django.check" or f.code.startswith("api.")], found
    handed = [f for f in found if f.code == NEEDS_DATABASE]
    assert {f.level for f in handed} == {"warning"}
    said = " | ".join(f.message for f in handed)
    assert len(handed) == 2, said
    assert "api.checks.schema_reads_content_types needs the real database: checked on the " \
           "server after migrate" in said
    assert "no such table: django_content_type" in said  # what the stand-in answered
    assert "api.E001 needs the real database" in said  # the check's own id, when it has one
    assert all("djship deploy" in f.fix for f in handed)


def test_any_other_failure_of_a_check_stays_the_projects_error(
        template: Path, tmp_path: Path) -> None:
    root = copy_project(template, tmp_path / "site")
    with (root / "api" / "checks.py").open("a") as f:
        f.write(BROKEN)
    found = check(root)
    errors = [f for f in found if f.level == "error" and f.code == "django.check"]
    assert errors and "a real bug in a check" in errors[0].message, found


def test_djship_check_shows_it_as_a_warning_not_an_error(
        template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_project(template, tmp_path / "site")
    _status, _out, err = djship(capsys, root, "check")
    assert ("warning: api.checks.schema_reads_content_types needs the real database: "
            "checked on the server after migrate") in err
    assert not [ln for ln in err.splitlines()
                if ln.startswith("error:") and "content_type" in ln], err


def program(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The server's check process (release/check.py), run here on a real project."""
    return subprocess.run([sys.executable, "-c", server_check.PROGRAM, *args], cwd=root,
                          env={**env, "DJANGO_SETTINGS_MODULE": "mysite.settings"},
                          capture_output=True, text=True, timeout=60)


def test_the_server_sequence_on_an_unmigrated_database(template: Path, tmp_path: Path) -> None:
    root = copy_project(template, tmp_path / "site")
    env = production_environ(root, tmp_path)
    # Nothing live and no migration applied: the check waits for the migration.
    first = program(root, env, server_check.FIRST)
    assert first.returncode == 0, first.stderr
    report = server_check.parse(first.stdout, first.stderr)
    assert report.deferred and report.pending
    # As it runs there: migrate skips Django's own run of the checks, then the check passes
    # on the real tables (before it, the same check fails: the defect this fixes).
    assert manage(root, env, "check", "--deploy").returncode != 0
    migrated = manage(root, env, "migrate", "--noinput", "--skip-checks")
    assert migrated.returncode == 0, migrated.stderr
    late = manage(root, env, "check", "--deploy")
    assert late.returncode == 0, late.stderr
    # A database with migrations applied is checked first, even with nothing live.
    again = program(root, env, server_check.FIRST)
    assert again.returncode == 0, again.stderr
    assert not server_check.parse(again.stdout, again.stderr).deferred
    assert "System check identified" in again.stderr + again.stdout


def test_a_live_site_is_always_checked_before_it_migrates(template: Path,
                                                          tmp_path: Path) -> None:
    root = copy_project(template, tmp_path / "site")
    env = production_environ(root, tmp_path)
    later = program(root, env)  # no FIRST: something is live
    assert later.returncode != 0  # the check ran (and failed on the empty database)
    assert server_check.DEFERRED not in later.stdout
