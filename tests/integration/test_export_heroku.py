"""`djship export heroku` for real: the Procfile's commands serve pages against PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from export_helpers import (
    EXAMPLE,
    Postgres,
    createdb,
    fetch,
    free_port,
    postgres_cluster,
    tree_state,
    wait_http,
)

DJSHIP = str(Path(sys.executable).parent / "djship")


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    """One throwaway PostgreSQL cluster for the module."""
    with postgres_cluster() as cluster:
        yield cluster


def export(project: Path) -> subprocess.CompletedProcess[str]:
    """Run `djship export heroku` in the project."""
    proc = subprocess.run([DJSHIP, "-C", str(project), "export", "heroku"], capture_output=True,
                          text=True, check=False, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    return proc


def procfile(project: Path) -> dict[str, str]:
    """Process type -> command, as Heroku reads the Procfile."""
    out = {}
    for line in (project / "Procfile").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def build_env(project: Path, tmp: Path) -> dict[str, str]:
    """A fresh venv with requirements.txt installed, as the buildpack would build it."""
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    subprocess.run([str(env_dir / "bin/pip"), "install", "-q", "-r", "requirements.txt"],
                   cwd=project, check=True, capture_output=True)
    return {"PATH": f"{env_dir}/bin:{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir)}


def run_app(project: Path, tmp: Path, database_url: str, page: str) -> tuple[bytes, str]:
    """Build like a buildpack, run release then web from the Procfile; fetch page and a CSS."""
    procs = procfile(project)
    assert set(procs) == {"web", "release"}
    assert "--bind 0.0.0.0:$PORT" in procs["web"] and procs["web"].startswith("gunicorn ")
    port = free_port()
    env = {**os.environ, **build_env(project, tmp), "DATABASE_URL": database_url,
           "SECRET_KEY": "test-" + "x" * 50, "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "DJANGO_SECURE_SSL": "0", "PORT": str(port), "WEB_CONCURRENCY": "2"}
    env.pop("DEBUG", None)
    subprocess.run(["python", "manage.py", "collectstatic", "--noinput"], cwd=project, env=env,
                   check=True, capture_output=True)
    subprocess.run(["bash", "-c", procs["release"]], cwd=project, env=env, check=True,
                   capture_output=True)
    # Procfile commands run under bash, with $PORT expanded there (never on 0.0.0.0 here: the
    # test binds what the Procfile says, but only the loopback address is fetched).
    web = subprocess.Popen(["bash", "-c", f"exec {procs['web']}"], cwd=project, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        status, body = wait_http(f"http://127.0.0.1:{port}{page}", 30)
        assert status == 200, body[-2000:]
        css = re.search(rb'href="(/static/[^"]+\.css)"', body)
        assert css, body[:2000]
        css_url = css.group(1).decode()
        assert re.search(r"\.[0-9a-f]{12}\.css$", css_url), css_url  # manifest storage
        status, data = fetch(f"http://127.0.0.1:{port}{css_url}")
        assert status == 200 and data, css_url
        return body, css_url
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()


def test_example_project(pg: Postgres, tmp_path: Path) -> None:
    """The guestbook: its index lists entries from PostgreSQL; whitenoise serves its CSS."""
    project = tmp_path / "guestbook"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".djship"))
    export(project)
    createdb(pg, "guestbook")
    url = pg.url("guestbook")
    _body, css = run_app(project, tmp_path, url, "/")
    assert "entries/site." in css
    check = subprocess.run(
        ["psql", url, "-tAc", "select count(*) from django_migrations"], capture_output=True,
        text=True, check=True)
    assert int(check.stdout) > 0  # migrated by the release command, in PostgreSQL


def test_startproject(pg: Postgres, tmp_path: Path) -> None:
    """A fresh `django-admin startproject`: admin login page and its hashed CSS."""
    subprocess.run([str(Path(sys.executable).parent / "django-admin"), "startproject", "mysite"],
                   cwd=tmp_path, check=True)
    project = tmp_path / "mysite"
    export(project)
    createdb(pg, "mysite")
    _body, css = run_app(project, tmp_path, pg.url("mysite"), "/admin/login/")
    assert css.startswith("/static/admin/css/")


def test_rerun_writes_nothing(tmp_path: Path) -> None:
    """A second export on an unchanged project changes no file (nor its mtime)."""
    project = tmp_path / "guestbook"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".djship"))
    export(project)
    before = tree_state(project)
    out = export(project)
    assert tree_state(project) == before
    assert "nothing to change" in out.stderr

