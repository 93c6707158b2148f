"""A project that reads its own variable names and needs a secret at import (issue 16 items 1
and 2): DJANGO_SECRET_KEY through django-environ (ImproperlyConfigured when unset),
DJANGO_ALLOWED_HOSTS from os.environ, and DJANGO_ADMIN_URL, which only the server has.

The user's path, following djship's messages: init, check (names the project's variables),
init --settings (records them), env set before the first deploy (refused clearly before
provisioning, accepted after), check counts the server's variable, deploy serves.
One warm sandbox for the module.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import DJSHIP, TRACEBACK, Project, Run, djship_env, request, run_djship

from djship.paths import SitePaths
from djship.remote.envtool import parse_env
from djship.sandbox.records import SandboxInfo

NAME = "envnames"
DOMAIN = "envnames.test"
ADMIN_URL = "control-room-7q/"  # the server-only value; it must never show in check's output
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")

SETTINGS_HEAD = '''import os
from pathlib import Path

import environ

env = environ.Env()
'''
SETTINGS_TAIL = '''
SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")
ADMIN_URL = env("DJANGO_ADMIN_URL")
'''
URLS = '''from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse(f"envnames works; admin at /{settings.ADMIN_URL}", content_type="text/plain")


urlpatterns = [path(settings.ADMIN_URL, admin.site.urls), path("", index)]
'''


@pytest.fixture(scope="module")
def sandbox(warm_sandbox: SandboxInfo) -> SandboxInfo:
    return warm_sandbox


def djship(project: Project, *args: str, stdin: str | None = None) -> Run:
    """``djship -C ROOT -e test ARGS``, with ``stdin`` when given."""
    argv = [DJSHIP, "-C", str(project.root), "-e", "test", *args]
    began = time.monotonic()
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=900,
                          env=djship_env())
    return Run(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - began)


def make(base: Path) -> Project:
    root = base / NAME
    root.mkdir()
    subprocess.run([str(DJANGO_ADMIN), "startproject", "mysite", str(root)], check=True,
                   capture_output=True)
    p = Project(root)
    lines = [ln for ln in p.read("mysite/settings.py").splitlines(keepends=True)
             if not ln.startswith(("SECRET_KEY = ", "DEBUG = ", "ALLOWED_HOSTS = ",
                                   "from pathlib import Path"))]
    p.write("mysite/settings.py", SETTINGS_HEAD + "".join(lines) + SETTINGS_TAIL)
    p.write("mysite/urls.py", URLS)
    p.write("requirements.txt", "django>=5.2,<5.3\ndjango-environ>=0.11,<1\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    p.git("config", "user.email", "tests@djship.invalid")
    p.git("config", "user.name", "djship tests")
    p.commit("a project with its own variable names")
    return p


@dataclass
class Story:
    project: Project
    first_check: Run
    init_settings: Run
    early_env: Run
    env: Run
    check: Run
    deploy: Run


@pytest.fixture(scope="module")
def story(sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Story:
    p = make(tmp_path_factory.mktemp("envnames"))
    init = run_djship([DJSHIP, "-C", str(p.root), "init"])
    assert init.returncode == 0, str(init)
    p.write("djship.toml", p.read("djship.toml").replace('"example.com"', f'"{DOMAIN}"'))
    p.write("djship.test.toml", sandbox.host_entry(["web", "worker", "db"]) + f"""
[sites.{NAME}.env]
DJANGO_SECURE_SSL = "0"
""")
    first_check = djship(p, "check")
    init_settings = djship(p, "init", "--settings", "--yes")
    assert init_settings.returncode == 0, str(init_settings)
    p.commit("djship init --settings")
    early_env = djship(p, "env", "set", "DJANGO_ADMIN_URL=-", stdin=ADMIN_URL + "\n")
    provision = p.provision()
    assert provision.returncode == 0, str(provision)
    env = djship(p, "env", "set", "DJANGO_ADMIN_URL=-", stdin=ADMIN_URL + "\n")
    check = djship(p, "check")
    deploy = djship(p, "deploy")
    return Story(p, first_check, init_settings, early_env, env, check, deploy)


def test_check_names_the_variables_the_project_reads(story: Story) -> None:
    out = story.first_check.stderr
    assert story.first_check.returncode == 1, str(story.first_check)
    assert "SECRET_KEY from DJANGO_SECRET_KEY" in out and "DJANGO_ALLOWED_HOSTS" in out
    assert "`djship env set DJANGO_ADMIN_URL=...`" in out
    assert f"site {NAME} is not provisioned" in out  # it asked the server, which has none yet
    assert TRACEBACK not in story.first_check.output


def test_init_settings_records_the_names_without_crashing(story: Story) -> None:
    run = story.init_settings
    assert "djship bug" not in run.output and TRACEBACK not in run.output
    text = story.project.read("djship.toml")
    assert f"[sites.{NAME}.env_names]" in text
    assert 'SECRET_KEY = "DJANGO_SECRET_KEY"' in text
    assert 'ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"' in text


def test_env_set_before_provision_says_what_to_do(story: Story) -> None:
    run = story.early_env
    assert run.returncode != 0
    assert "not provisioned" in run.stderr and "djship provision" in run.stderr, str(run)
    assert TRACEBACK not in run.output


def test_env_set_before_the_first_deploy_and_check_counts_it(
        story: Story, sandbox: SandboxInfo) -> None:
    assert story.env.returncode == 0, str(story.env)
    assert "no release yet" in story.env.stderr, str(story.env)
    values = parse_env(sandbox.run(["cat", SitePaths(NAME).env_file]).stdout)
    assert values["DJANGO_ADMIN_URL"] == ADMIN_URL.rstrip("\n")
    assert values.get("DJANGO_SECRET_KEY")  # generated under the project's name
    assert story.check.returncode == 0, str(story.check)
    assert "DJANGO_ADMIN_URL" not in story.check.stderr
    assert ADMIN_URL not in story.check.output  # the value stayed on the server


def test_deploy_serves_with_the_servers_values(story: Story, sandbox: SandboxInfo) -> None:
    assert story.deploy.returncode == 0, str(story.deploy)
    page = request(sandbox.address, "/", host=DOMAIN)
    assert page.status == 200, page
    assert page.body == f"envnames works; admin at /{ADMIN_URL}"
    admin = request(sandbox.address, f"/{ADMIN_URL}login/", host=DOMAIN)
    assert admin.status == 200, admin.status
