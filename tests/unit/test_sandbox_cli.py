"""The sandbox CLI: argument checks, listing, ssh exit status, and clear preflight errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from djship.errors import DjshipError
from djship.sandbox import cli, machine, preflight
from djship.sandbox.records import SandboxInfo


def test_ls_without_sandboxes(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.sandbox, ["ls", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == "no sandboxes\n"


def test_down_needs_a_name_or_all() -> None:
    runner = CliRunner()
    assert runner.invoke(cli.sandbox, ["down"]).exit_code == 2
    assert runner.invoke(cli.sandbox, ["down", "s1", "--all"]).exit_code == 2


def test_ls_and_ssh_status(monkeypatch: pytest.MonkeyPatch) -> None:
    info = SandboxInfo("s1", "10.213.77.2", "bookworm", Path("/k"), Path("/kh"))
    monkeypatch.setattr(machine, "list_machines", lambda **_: [info])
    ran: list[list[str]] = []

    class Done:
        returncode = 3

    def fake_run(argv: list[str], check: bool) -> Done:
        ran.append(argv)
        return Done()

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    runner = CliRunner()
    listing = runner.invoke(cli.sandbox, ["ls"])
    assert listing.output.splitlines() == [
        "NAME  ADDRESS      STATE    RELEASE", "s1    10.213.77.2  running  bookworm"]
    result = runner.invoke(cli.sandbox, ["ssh", "s1", "exit", "3"])
    assert result.exit_code == 3
    assert ran[0][-2:] == ["--", "exit 3"]
    assert runner.invoke(cli.sandbox, ["ssh", "nope"]).exit_code == 2


def test_preflight_names_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.shutil, "which", lambda tool, path=None: None
                        if tool in ("systemd-nspawn", "debootstrap") else "/bin/" + tool)
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    with pytest.raises(DjshipError) as err:
        preflight.require()
    assert "root" in err.value.message
    assert "systemd-nspawn is missing: apt-get install systemd-container" in err.value.message
    assert err.value.hint is not None
    assert "apt-get install debootstrap systemd-container" in err.value.hint


def test_up_refuses_bad_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "require", lambda: None)
    with pytest.raises(DjshipError, match="unknown release"):
        machine.ensure_base_image("sid")


def test_failed_image_build_shows_log_tail_and_cleans_up(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import subprocess

    from djship.sandbox import image
    from djship.sandbox.host import HostSources
    from djship.sandbox.sources import PipSettings
    from djship.sandbox.state import Layout

    def failing_step(out, argv):  # type: ignore[no-untyped-def]
        out.write("E: Couldn't download packages: systemd\n")
        raise subprocess.CalledProcessError(1, argv)

    monkeypatch.setattr(image, "_step", failing_step)
    layout = Layout(tmp_path)
    with pytest.raises(image.ImageBuildError) as err:
        image.ensure_image(layout, "bookworm", HostSources((), PipSettings()))
    assert "E: Couldn't download packages: systemd" in "\n".join(err.value.details())
    assert not image.image_ready(layout, "bookworm")
    assert [p.name for p in layout.images.iterdir() if p.name.startswith(".build")] == []
