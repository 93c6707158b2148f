"""`init --settings` proposes only edits that, tried on a copy, break nothing (issue 23 item 4),
with reasons from the settings' values rather than their text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_settings_support import (
    copy_project,
    manage,
    production_environ,
    startproject,
    with_config,
)

from djship.settings import apply_plan, plan_settings, run_check
from djship.settings.analysis import plan_edits
from djship.settings.finding import FIX_SETTINGS
from djship.settings.fix import style_for
from djship.settings.source import load_source

# What Django 6.1 does at start: MAILERS replaces the EMAIL_* settings, and a project that
# defines both is refused. Django 6.1 is not installable here, so an app plays its part.
REFUSAL_APP = {
    "mailcompat/__init__.py": "",
    "mailcompat/apps.py": '''from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class MailcompatConfig(AppConfig):
    name = "mailcompat"

    def ready(self):
        if hasattr(settings, "MAILERS") and settings.is_overridden("EMAIL_HOST"):
            raise ImproperlyConfigured("EMAIL_HOST cannot be used with MAILERS")
''',
}
MAILERS = 'MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}'


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests work on copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


@pytest.fixture
def project(fresh: Path, tmp_path: Path) -> Path:
    """A copy of the fresh project."""
    return copy_project(fresh, tmp_path / "site")


def settings_of(project: Path) -> Path:
    return project / "mysite" / "settings.py"


def add_app(project: Path, files: dict[str, str], app: str) -> None:
    for rel, text in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    path = settings_of(project)
    path.write_text(path.read_text().replace("INSTALLED_APPS = [",
                                             f"INSTALLED_APPS = [\n    '{app}',", 1))


def check_deploy(project: Path, tmp_path: Path) -> str:
    """`manage.py check --deploy` with the servers' environment: its output; fails the test
    when Django refuses the settings."""
    proc = manage(project, production_environ(project, tmp_path), "check", "--deploy")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout + proc.stderr


def own_env_list(project: Path) -> Path:
    """Give the project a helper of its own under the name djship's snippets call with two
    arguments: those snippets would raise TypeError at import."""
    path = settings_of(project)
    path.write_text(path.read_text().replace(
        "from pathlib import Path\n", "import os\nfrom pathlib import Path\n\n\n"
        "def _env_list(name):\n    return os.environ.get(name, '').split(',')\n", 1))
    return path


def test_an_edit_that_breaks_the_import_is_not_proposed(project: Path, tmp_path: Path) -> None:
    path = own_env_list(project)
    config = with_config(project)
    plan = plan_settings(project, config, "site")
    apply_plan(project, plan)
    check_deploy(project, tmp_path)
    text = path.read_text()
    assert "_env_list(\"ALLOWED_HOSTS\"" not in text and "_env_list('ALLOWED_HOSTS'" not in text
    dropped = " ".join(n for n in plan.notes if n.startswith("djship does not propose"))
    for key in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "ADMINS"):
        assert f"propose {key} (" in dropped, plan.notes
    assert "TypeError" in dropped
    # The edits that work are still proposed.
    assert "SECRET_KEY = os.environ.get('SECRET_KEY', '')" in text
    assert "SECURE_PROXY_SSL_HEADER" in text


def test_an_edit_that_adds_a_check_error_is_not_proposed(project: Path, tmp_path: Path) -> None:
    # MAILERS set where reading the source cannot see it: only trying the edit shows that
    # Django (6.1, played by mailcompat) would refuse the EMAIL_* block.
    add_app(project, REFUSAL_APP, "mailcompat")
    path = settings_of(project)
    path.write_text(path.read_text() + f"\nglobals().update({MAILERS.replace(' = ', '=')})\n")
    plan = plan_settings(project, with_config(project), "site")
    assert not any("SMTP" in r for r in plan.reasons)
    assert any(n.startswith("djship does not propose EMAIL (")
               and "EMAIL_HOST cannot be used with MAILERS" in n for n in plan.notes), plan.notes
    apply_plan(project, plan)
    check_deploy(project, tmp_path)
    assert "EMAIL_HOST" not in path.read_text()
    assert "SECURE_PROXY_SSL_HEADER" in path.read_text()


def test_settings_with_mailers_get_no_email_settings(project: Path, tmp_path: Path) -> None:
    add_app(project, REFUSAL_APP, "mailcompat")
    path = settings_of(project)
    path.write_text(path.read_text() + "\n" + MAILERS + "\n")
    source = load_source(project, "mysite.settings")
    assert "EMAIL" not in {e.snippet.key for e in plan_edits(source, style_for(source, []))}
    plan = plan_settings(project, with_config(project), "site")
    assert not any("does not propose EMAIL" in n for n in plan.notes)  # the rule, not a trial
    apply_plan(project, plan)
    check_deploy(project, tmp_path)
    assert "EMAIL_HOST" not in path.read_text()


CONF = '''"""The project's own configuration module."""
import os

DEBUG = {debug}
SECRET_KEY = os.environ["SECRET_KEY"]
'''


def with_conf(project: Path, debug: str) -> Path:
    (project / "mysite" / "conf.py").write_text(CONF.format(debug=debug))
    path = settings_of(project)
    text = re.sub(r"^SECRET_KEY = .*$", "SECRET_KEY = conf.SECRET_KEY", path.read_text(),
                  flags=re.M)
    text = text.replace("DEBUG = True", "DEBUG = conf.DEBUG").replace(
        "from pathlib import Path\n", "from pathlib import Path\n\nfrom mysite import conf\n", 1)
    path.write_text(text)
    return path


def test_values_read_through_a_config_module_are_left_alone(project: Path) -> None:
    with_conf(project, "False")
    plan = plan_settings(project, with_config(project), "site")
    # Off, and from the environment, once imported: nothing to change, and no false reason.
    assert not any(r.startswith(("DEBUG", "SECRET_KEY")) for r in plan.reasons), plan.reasons
    new = plan.changes[0].new or ""
    assert "SECRET_KEY = conf.SECRET_KEY\n" in new and "DEBUG = conf.DEBUG\n" in new
    assert "SECRET_KEY = os.environ" not in new and "DEBUG = _env_bool" not in new


def test_debug_on_is_said_only_when_it_is_on(project: Path) -> None:
    with_conf(project, "True")
    plan = plan_settings(project, with_config(project), "site")
    assert ("DEBUG is on with the environment djship sets on the servers; production must run "
            "with it off") in plan.reasons


@pytest.mark.parametrize(("line", "reason"), [
    ("SECRET_KEY = get_random_secret_key()",
     "SECRET_KEY is computed at import time, so it changes on every restart"),
    ("SECRET_KEY = 'a-fixed-key-of-fifty-characters-written-in-the-file'",
     "SECRET_KEY is hard-coded in the source"),
    ("SECRET_KEY = ''.join(['a-fixed', '-key-built-from-parts-of-fifty-characters-long'])",
     "SECRET_KEY does not come from the SECRET_KEY variable djship generates per site: every "
     "import gives the same key, from the code or a file that ships"),
])
def test_secret_key_reason_comes_from_two_imports(project: Path, line: str, reason: str) -> None:
    path = settings_of(project)
    path.write_text("from django.core.management.utils import get_random_secret_key\n"
                    + re.sub(r"^SECRET_KEY = .*$", line, path.read_text(), flags=re.M))
    plan = plan_settings(project, with_config(project), "site")
    assert plan.reasons[0] == reason, plan.reasons


def test_check_sends_to_init_only_for_edits_init_proposes(project: Path) -> None:
    own_env_list(project)
    config = with_config(project)
    findings = run_check(project, config, "site", env_use="off")
    hosts = [f for f in findings if f.code == "settings.allowed_hosts"]
    assert hosts and all(f.fix != FIX_SETTINGS for f in hosts), hosts
    assert "add the site's domains to ALLOWED_HOSTS" in hosts[0].fix
    # What init does propose still points there.
    assert [f.fix for f in findings if f.code == "settings.secret_key"] == [FIX_SETTINGS]
