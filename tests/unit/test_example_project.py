"""The example project runs: checks pass, migrations apply, pages render (subprocesses, sqlite)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "guestbook"

# Runs inside the example's Django: fetch pages with the test client, report as JSON.
CLIENT_SCRIPT = r"""
import json, re
from django.test import Client
c = Client(enforce_csrf_checks=True, raise_request_exception=False)
out = {}
r = c.get("/")
page = r.content.decode()
out["index"] = [r.status_code, page]
out["no_csrf_post"] = c.post("/", {"name": "x", "message": "y"}).status_code
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
r = c.post("/", {"name": "Ada", "message": "Hello there", "csrfmiddlewaretoken": token})
out["post"] = [r.status_code, r.headers.get("Location")]
out["after"] = c.get("/").content.decode()
for path in ["/health/", "/greeting/", "/boom/"]:
    r = c.get(path)
    out[path] = [r.status_code, r.content.decode()]
print(json.dumps(out))
"""


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp / "static"),
        MEDIA_ROOT=str(tmp / "media"),
        ALLOWED_HOSTS="testserver,guestbook.test",
        DJANGO_SECURE_SSL="0",
        GREETING="hello from the test",
        ADMINS="",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the example's manage.py with the test's Python."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated database and collected static files in a temp dir."""
    env = _env(tmp_path_factory.mktemp("guestbook"))
    for args in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        proc = manage(env, *args)
        assert proc.returncode == 0, proc.stderr
    return env


def test_check_passes(tmp_path: Path) -> None:
    proc = manage(_env(tmp_path), "check", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stderr
    assert "no issues" in proc.stdout


def test_check_deploy_passes_with_ssl_on(tmp_path: Path) -> None:
    env = _env(tmp_path, DJANGO_SECURE_SSL="1", ALLOWED_HOSTS="guestbook.test")
    proc = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_secret_key_required_without_debug(tmp_path: Path) -> None:
    env = _env(tmp_path, SECRET_KEY="")
    proc = manage(env, "check")
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stderr


def test_no_missing_migrations(site: dict[str, str]) -> None:
    proc = manage(site, "makemigrations", "--check", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pages(site: dict[str, str]) -> None:
    proc = manage(site, "shell", "-c", CLIENT_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    status, page = out["index"]
    assert status == 200
    assert "VERSION 1" in page
    # ManifestStaticFilesStorage: the stylesheet link carries a content hash.
    assert "/static/entries/site." in page and "site.css" not in page
    assert out["no_csrf_post"] == 403
    assert out["post"] == [302, "/"]
    assert "Ada" in out["after"] and "Hello there" in out["after"]
    assert out["/health/"] == [200, "ok"]
    assert out["/greeting/"] == [200, "hello from the test"]
    assert out["/boom/"][0] == 500
