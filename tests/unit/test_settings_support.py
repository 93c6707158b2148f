"""Shared helpers for the settings tests: real `startproject` projects and the djship CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from djship.cli import main
from djship.config import Config, load
from djship.init import run_init

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "guestbook"
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")


def startproject(dest: Path, name: str = "mysite") -> Path:
    """A fresh `django-admin startproject` in ``dest`` (created)."""
    dest.mkdir(parents=True)
    subprocess.run([str(DJANGO_ADMIN), "startproject", name, str(dest)], check=True,
                   capture_output=True)
    return dest


def copy_project(template: Path, dest: Path) -> Path:
    """A copy of ``template`` that a test may change."""
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return dest


def with_config(root: Path) -> Config:
    """Write djship.toml with `djship init` and return the loaded config."""
    run_init(root, force=True)
    return load(root)[0]


def djship(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    """Run the djship CLI in-process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = 0
    try:
        main(["-C", str(root), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def production_environ(root: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment djship's servers give the app, with throwaway values."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "TMPDIR")}
    env.update(SECRET_KEY="x7!Kq2_vR9#mZp4Lw8@tY3^nB6*cD1(eF5)gH0-jA2=sU7+iO9",
               ALLOWED_HOSTS="example.com", DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
               STATIC_ROOT=str(tmp / "static"), MEDIA_ROOT=str(tmp / "media"),
               PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def manage(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the project's manage.py with ``env``."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
