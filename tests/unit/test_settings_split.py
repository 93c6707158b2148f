"""`djship init --settings --split`: base, dev and production modules; djship uses production."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_settings_support import djship, manage, production_environ, startproject


def test_split_startproject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = startproject(tmp_path / "site")
    code, out, err = djship(capsys, root, "init", "--settings", "--split", "--yes")
    assert code == 0, err
    package = root / "mysite" / "settings"
    assert sorted(p.name for p in package.glob("*.py")) == [
        "__init__.py", "base.py", "dev.py", "production.py"]
    assert not (root / "mysite" / "settings.py").exists()
    assert "'mysite.settings.dev'" in (root / "manage.py").read_text()
    assert "'mysite.settings.dev'" in (root / "mysite" / "wsgi.py").read_text()
    config = tomllib.loads((root / "djship.toml").read_text())
    assert config["project"]["settings"] == "mysite.settings.production"
    assert ".parent.parent.parent" in (package / "base.py").read_text()
    production = (package / "production.py").read_text()
    assert "SECRET_KEY = os.environ.get('SECRET_KEY', '')" in production

    # Development keeps working as before; production passes the deploy checks.
    dev = manage(root, {"PATH": "/usr/bin:/bin"}, "check")
    assert dev.returncode == 0, dev.stderr
    env = production_environ(root, tmp_path, DJANGO_SETTINGS_MODULE="mysite.settings.production")
    deploy = manage(root, env, "check", "--deploy")
    assert deploy.returncode == 0 and "WARNINGS" not in deploy.stderr, deploy.stderr
    code, _, err = djship(capsys, root, "check")
    assert code == 0, err

    code, out, err = djship(capsys, root, "init", "--settings", "--split", "--yes")
    assert code == 0 and out == "" and "no change needed" in err
