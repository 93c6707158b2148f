"""`djship deploy` runs `djship check` first and refuses on errors (--skip-checks to override)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_settings_support import EXAMPLE, copy_project, djship, startproject, with_config

from djship.config import load
from djship.settings.check import deploy_check, run_check


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Record passed checks in a folder of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def no_ssh(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every ssh/rsync command djship tries to run (and refuse it)."""
    tried: list[list[str]] = []
    real_run = subprocess.run

    def guarded(argv: list[str], *a: object, **k: object) -> object:
        if argv[0] in ("ssh", "rsync"):
            tried.append(list(argv))
            raise AssertionError(f"deploy connected: {argv}")
        return real_run(argv, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", guarded)
    return tried


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A `startproject` with a djship.toml whose host is a closed local port."""
    root = startproject(tmp_path / "site")
    with_config(root)
    config = root / "djship.toml"
    # A closed local port: ssh fails locally and at once.
    config.write_text(config.read_text().replace('address = "203.0.113.10"', 'address = '
                                                 '"127.0.0.1"').replace("port = 22", "port = 1"))
    return root


def test_deploy_refuses_a_project_that_fails_the_checks(
        fresh: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checks run beside the first phases; their errors are what the user is told, even
    # when the server could not be reached meanwhile (this one is not reachable at all).
    code, _out, err = djship(capsys, fresh, "deploy")
    assert code == 1, err
    assert "the production checks found" in err and "nothing was deployed" in err
    assert "SECRET_KEY" in err and "fix:" in err  # each error in full, with its fix
    # The way forward says what it skips: the server's check of the release still runs.
    assert "--skip-checks (it skips this local check only: the server's `check --deploy` " \
           "still runs" in " ".join(err.split())


def test_skip_checks_goes_on_to_connect(
        fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = djship(capsys, fresh, "deploy", "--skip-checks")
    assert code == 1
    # It says exactly what it skips (the engine test proves the server's check still runs).
    said = " ".join(err.split())
    assert "--skip-checks: the local check (`djship check`) is skipped; the server still " \
           "runs `manage.py check --deploy` in the new release" in said
    assert "the production checks found" not in err
    assert "cannot connect to root@127.0.0.1:1" in err


def test_dry_run_shows_the_errors_and_the_plan(
        fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = djship(capsys, fresh, "deploy", "--dry-run")
    assert code == 0, err
    assert "a real deploy would stop here" in err
    assert "manage.py migrate --noinput" in out


def test_example_project_passes_with_warnings_summarised(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_project(EXAMPLE, tmp_path / "guestbook")
    code, _out, err = djship(capsys, root, "deploy", "--dry-run")
    assert code == 0, err
    line = next(ln for ln in err.splitlines() if " check " in ln)
    assert "ok" in line and "0 error(s)" in line, line
    assert "security.W008" in line  # plain HTTP on the sandbox: named, not spelled out
    assert "warning:" not in err


def test_unchanged_project_skips_the_checks_it_passed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], own_cache: Path) -> None:
    root = copy_project(EXAMPLE, tmp_path / "guestbook")
    assert djship(capsys, root, "deploy", "--dry-run")[0] == 0
    assert (own_cache / "djship" / "checks-passed.json").is_file()
    assert not (root / ".djship").exists()  # nothing written into the project
    code, _out, err = djship(capsys, root, "deploy", "--dry-run")
    assert code == 0 and "passed before for these files" in err, err
    # Any change to the shipped files (or the config) runs the checks again.
    settings = root / "guestbook" / "settings.py"
    settings.write_text(settings.read_text() + "\nDEBUG = True\n")
    code, _out, err = djship(capsys, root, "deploy", "--dry-run")
    assert "passed before" not in err and "DEBUG is on in production" in err, err
    assert "a real deploy would stop here" in err
    settings.write_text(settings.read_text().removesuffix("\nDEBUG = True\n"))
    code, _out, err = djship(capsys, root, "deploy", "--dry-run")
    assert "passed before" in err  # the same files as the pass before


def test_failed_checks_are_not_remembered(
        fresh: Path, capsys: pytest.CaptureFixture[str], own_cache: Path) -> None:
    for _ in range(2):
        code, _out, err = djship(capsys, fresh, "deploy", "--dry-run")
        assert code == 0 and "a real deploy would stop here" in err
        assert "passed before" not in err
    assert not (own_cache / "djship" / "checks-passed.json").exists()


def test_without_django_locally_only_the_settings_checks_are_skipped(fresh: Path) -> None:
    python = Path("/usr/bin/python3")
    probe = subprocess.run([str(python), "-c", "import django"], capture_output=True) \
        if python.exists() else None
    if probe is None or probe.returncode == 0:
        pytest.skip("needs a system Python without Django")
    (fresh / ".venv" / "bin").mkdir(parents=True)
    (fresh / ".venv" / "bin" / "python").symlink_to(python)
    found = {f.code: f for f in deploy_check(fresh, load(fresh)[0], "site")}
    assert found["check.skipped"].level == "warning"
    assert "Django is not importable" in found["check.skipped"].message
    assert found["dependencies.missing"].level == "error"  # the file checks still run


def test_a_variable_set_only_on_the_servers_warns_but_does_not_block(fresh: Path) -> None:
    """os.environ["X"] for a value set with `djship env set`: `djship check` reports an error,
    the deploy's check only warns (the server-side check --deploy sees the real value)."""
    settings = next(fresh.glob("*/settings.py"))
    settings.write_text(settings.read_text() + "\nimport os\nSTRIPE_KEY = os.environ['STRIPE_KEY']\n")
    config = load(fresh)[0]
    site = next(iter(config.sites))
    found = [f for f in deploy_check(fresh, config, site) if "STRIPE_KEY" in f.message]
    assert found and found[0].level == "warning", found
    assert found[0].message.startswith("settings not checked locally")
    strict = [f for f in run_check(fresh, config, site) if "STRIPE_KEY" in f.message]
    assert strict and strict[0].level == "error"
