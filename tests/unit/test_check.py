"""`djship check`: Django's deploy checks plus djship's own, on real projects."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_settings_support import EXAMPLE, copy_project, djship, startproject, with_config

from djship.config import load
from djship.errors import DjshipError
from djship.settings import apply_plan, plan_settings, run_check
from djship.settings.check import deploy_findings, host_allowed


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests work on copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


@pytest.fixture
def project(fresh: Path, tmp_path: Path) -> Path:
    """A copy of the fresh project with a djship.toml."""
    root = copy_project(fresh, tmp_path / "site")
    with_config(root)
    return root


def codes(root: Path) -> dict[str, str]:
    """Finding code -> level for the project's only site."""
    config = load(root)[0]
    return {f.code: f.level for f in run_check(root, config, next(iter(config.sites)))}


def test_fresh_startproject_has_errors_with_fixes(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = codes(project)
    for code in ("settings.secret_key", "settings.debug", "settings.proxy_header",
                 "settings.static_root", "settings.media_root", "settings.database",
                 "dependencies.missing", "security.W004"):
        assert code in found, code
    assert found["settings.secret_key"] == "error"
    status, _, err = djship(capsys, project, "check")
    assert status == 1
    assert "fix:" in err and "error(s)" in err


def test_patched_startproject_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load(project)[0]
    apply_plan(project, plan_settings(project, config, "site"))
    assert {level for level in codes(project).values()} <= {"warning"}
    status, _, err = djship(capsys, project, "check")
    assert status == 0, err
    assert "0 error(s)" in err and "ADMINS" in err


def test_example_project_has_no_errors(tmp_path: Path) -> None:
    root = copy_project(EXAMPLE, tmp_path / "guestbook")
    found = codes(root)
    assert "error" not in found.values(), found
    # The example serves plain HTTP on the sandbox: Django's HTTPS warnings are expected.
    config = load(root)[0]
    w008 = next(f for f in run_check(root, config, "guestbook") if f.code == "security.W008")
    assert "DJANGO_SECURE_SSL=0" in w008.fix


def test_key_generated_at_import_is_an_error(project: Path) -> None:
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom django.core.management.utils import "
                        "get_random_secret_key\nSECRET_KEY = get_random_secret_key()\n")
    found = [f for f in run_check(project, load(project)[0], "site")
             if f.code == "settings.secret_key"]
    assert found and "changes on every import" in found[0].message


def test_wrong_proxy_header_and_missing_domain(project: Path) -> None:
    config = load(project)[0]
    apply_plan(project, plan_settings(project, config, "site"))
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nSECURE_PROXY_SSL_HEADER = "
                        "('HTTP_X_FORWARDED_SSL', 'on')\nALLOWED_HOSTS = ['other.example']\n")
    found = {f.code: f for f in run_check(project, config, "site")}
    assert found["settings.proxy_header"].level == "error"
    assert "example.com is not in ALLOWED_HOSTS" in found["settings.allowed_hosts"].message


def test_unimportable_settings_are_one_clear_error(project: Path) -> None:
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n1 / 0\n")
    found = [f for f in run_check(project, load(project)[0], "site")
             if f.code == "settings.import"]
    assert found and "ZeroDivisionError" in found[0].message
    assert "settings.py:" in found[0].message


def test_django_not_importable_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    python = Path("/usr/bin/python3")
    probe = subprocess.run([str(python), "-c", "import django"], capture_output=True) \
        if python.exists() else None
    if probe is None or probe.returncode == 0:
        pytest.skip("needs a system Python without Django")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(python)
    with pytest.raises(DjshipError, match="Django is not importable"):
        run_check(project, load(project)[0], "site")


@pytest.mark.parametrize(("host", "patterns", "ok"), [
    ("example.com", ["example.com"], True),
    ("www.example.com", [".example.com"], True),
    ("example.com", [".example.com"], True),
    ("example.com", ["*"], True),
    ("example.com", ["www.example.com"], False),
    ("badexample.com", [".example.com"], False),
])
def test_host_allowed(host: str, patterns: list[str], ok: bool) -> None:
    assert host_allowed(host, patterns) is ok


def test_deploy_output_is_parsed_into_findings() -> None:
    output = ("System check identified some issues:\n\nERRORS:\n?: (security.E100) bad thing\n"
              "\tHINT: do this\n\nWARNINGS:\n?: (security.W004) no HSTS\n\n"
              "System check identified 2 issues (0 silenced).\n")
    proc = subprocess.CompletedProcess(["x"], 1, stdout="", stderr=output)
    found = deploy_findings(proc)
    assert next((f.level, f.code, f.fix) for f in found) == ("error", "security.E100", "do this")
    assert found[1].level == "warning" and found[1].code == "security.W004"


def test_settings_part_is_skipped_only_when_settings_passed(project: Path) -> None:
    # A fresh startproject's settings have errors (hard-coded SECRET_KEY, DEBUG...): with
    # settings_passed the two settings imports are not run, check --deploy still is.
    config = load(project)[0]
    full = {f.code for f in run_check(project, config, "site")}
    partial = {f.code for f in run_check(project, config, "site", settings_passed=True)}
    assert "settings.secret_key" in full and "settings.secret_key" not in partial
    assert "security.W004" in partial  # from check --deploy, which reads the whole app


def test_settings_key_follows_settings_not_app_code(project: Path) -> None:
    from djship.release.build import build
    from djship.settings import gate

    config = load(project)[0]
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    key = gate.settings_key(build(project, config), config, "site")
    (project / "mysite" / "views.py").write_text("X = 1\n")
    assert gate.settings_key(build(project, config), config, "site") == key
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nEXTRA = 1\n")
    assert gate.settings_key(build(project, config), config, "site") != key
