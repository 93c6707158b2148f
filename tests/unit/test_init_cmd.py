"""`djship init` on the command line: writes the config, refuses to overwrite, --settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_settings_support import djship, startproject


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests use copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


def test_init_writes_config_and_refuses_to_overwrite(
        fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(shutil.copytree(fresh, tmp_path / "site"))
    code, _, err = djship(capsys, root, "init")
    assert code == 0, err
    assert (root / "djship.toml").is_file()
    assert "wrote" in err and "placeholder domain example.com" in err
    code, _, err = djship(capsys, root, "init")
    assert code == 2 and "already exists" in err and "--force" in err
    code, _, err = djship(capsys, root, "init", "--force")
    assert code == 0, err


def test_split_needs_settings(fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = djship(capsys, fresh, "init", "--split")
    assert code == 2 and "--settings" in err
    assert not (fresh / "djship.toml").exists()


def test_no_project_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = djship(capsys, tmp_path, "init", "--settings")
    assert code == 2 and "no manage.py" in err
