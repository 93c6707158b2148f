"""The CLI through its entry point: help, version, config errors, dry runs that connect nowhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from djship.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "guestbook"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for name in ["provision", "deploy", "rollback", "releases", "config", "sandbox"]:
        assert name in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and "0.1.0" in out


def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "djship.toml").write_text('[project]\nname = "x"\nsettngs = "a"\n')
    code, _, err = run(["-C", str(tmp_path), "config"], capsys)
    assert code == 2
    assert "project.settngs: unknown key; did you mean 'settings'?" in err
    assert "sites: required key is missing" in err


def test_config_prints_effective(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["-C", str(EXAMPLE), "config"], capsys)
    assert code == 0 and 'name = "guestbook"' in out


@pytest.mark.parametrize("command", ["deploy", "provision"])
def test_dry_run_connects_to_nothing(command: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "p"
    shutil.copytree(EXAMPLE, project)
    real_run = subprocess.run

    def guarded(argv: list[str], *a: object, **k: object) -> object:
        assert argv[0] not in ("ssh", "rsync"), f"dry run opened a connection: {argv}"
        return real_run(argv, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", guarded)
    monkeypatch.setattr(subprocess, "call", guarded)
    code, out, err = run(["-C", str(project), command, "--dry-run"], capsys)
    assert code == 0, err
    assert "set -eu -o pipefail" in out
    if command == "deploy":
        assert "manage.py migrate --noinput" in out and "systemctl reload nginx" in out
    else:
        assert "apt-get install" in out and "/etc/nginx/sites-available/djship-guestbook.conf" in out
    assert "SECRET_KEY=" not in out


def test_unreachable_host_is_one_clear_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p"
    shutil.copytree(EXAMPLE, project)
    # 127.0.0.1 port 1 is closed: ssh fails locally and at once.
    text = (project / "djship.toml").read_text().replace('address = "10.213.77.2"',
                                                         'address = "127.0.0.1"\nport = 1')
    (project / "djship.toml").write_text(text)
    code, _, err = run(["-C", str(project), "provision"], capsys)
    assert code == 1
    assert "cannot connect to root@127.0.0.1:1" in err and "hint:" in err
    assert "Traceback" not in err
