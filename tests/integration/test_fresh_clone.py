"""`djship check` on a fresh clone, with none of the project's dependencies installed locally.

No sandbox: the project is cloned from git into a new folder (no .venv, nothing installed),
and `djship check` builds its check environment with uv from requirements.txt (the package
index is reached as uv reaches it), then gives the real check result. A second run reuses
the environment. Marked integration (this folder's conftest): it installs packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest

DJSHIP = Path(sys.executable).with_name("djship")
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")
# A small pure-Python package this test's Python does not have.
EXTRA = "python-decouple==3.8"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=test@example.com", "-c", "user.name=test", *args],
                   cwd=cwd, check=True, capture_output=True)


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DJSHIP), "-C", str(root), *args], env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clean checkout of a project that pins Django and imports decouple in its settings."""
    origin = tmp_path / "origin"
    origin.mkdir()
    subprocess.run([str(DJANGO_ADMIN), "startproject", "mysite", str(origin)], check=True)
    (origin / "requirements.txt").write_text(f"Django=={django.get_version()}\n{EXTRA}\n")
    settings = origin / "mysite" / "settings.py"
    settings.write_text("from decouple import config as _config\n" + settings.read_text())
    git(origin, "init", "-q")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "project")
    git(tmp_path, "clone", "-q", str(origin), "clone")
    return tmp_path / "clone"


def test_check_on_a_fresh_clone_builds_and_reuses_its_environment(
        clone: Path, tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", "import decouple"], capture_output=True)
    assert probe.returncode != 0, "the test's Python must lack python-decouple"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    init = run(clone, env, "init")
    assert init.returncode == 0, init.stderr

    began = time.monotonic()
    first = run(clone, env, "check")
    first_took = time.monotonic() - began
    # A real check result: the startproject settings' production errors, not an import error.
    assert first.returncode == 1, first.stderr
    assert "(settings.import)" not in first.stderr, first.stderr
    assert "No module named" not in first.stderr, first.stderr
    assert "(settings.secret_key)" in first.stderr and "(settings.debug)" in first.stderr
    assert "check environment: installing the project's dependencies (requirements.txt" \
        in first.stderr
    envs = list((tmp_path / "cache" / "djship" / "envs").iterdir())
    assert len(envs) == 1
    found = subprocess.run([str(envs[0] / "bin" / "python"), "-c", "import decouple, django; "
                            "print(django.get_version())"], capture_output=True, text=True)
    assert found.stdout.strip() == django.get_version(), found.stderr

    began = time.monotonic()
    second = run(clone, env, "check")
    second_took = time.monotonic() - began
    assert second.returncode == 1 and "(settings.secret_key)" in second.stderr
    assert "check environment" not in second.stderr  # reused, not rebuilt
    assert list((tmp_path / "cache" / "djship" / "envs").iterdir()) == envs
    print(f"first check {first_took:.1f}s (with the build), second {second_took:.1f}s")

    # init --settings on the same clone imports the settings with that environment too.
    fix = run(clone, env, "init", "--settings", "--yes")
    assert fix.returncode == 0, fix.stderr
    assert "No module named" not in fix.stderr
    # Nothing but djship's own files was written into the project.
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=clone,
                            capture_output=True, text=True).stdout
    assert ".venv" not in status, status
