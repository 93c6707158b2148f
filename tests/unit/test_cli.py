"""The CLI through its entry point: help, version, config errors, dry runs that connect nowhere."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from djship.cli import COMMANDS, cli, main

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


def test_every_command_is_in_the_lazy_table_with_its_own_help() -> None:
    # The table in djship.cli gives --help without importing the commands: it must name
    # each command module's command, under its name, with the first paragraph of its help.
    for name, (target, short) in COMMANDS.items():
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(f"djship.commands.{module}"), attr)
        assert isinstance(command, click.Command) and command.name == name
        assert " ".join((command.help or "").split("\n\n")[0].split()) == short, name
    ctx = click.Context(cli)
    listed = set(cli.list_commands(ctx))
    assert listed == set(COMMANDS)
    for name in listed:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_version_and_help_import_no_command_module() -> None:
    # What `djship --version` and `djship --help` load: no command module, none of the heavy
    # libraries the commands use (a structural check; the timing lives in bench/).
    probe = ("import sys\nfrom djship.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "heavy = ('djship.commands.', 'djship.config', 'rich', 'pydantic', 'jinja2', 'dns')\n"
             "print(sorted(m for m in sys.modules if m.startswith(heavy)))")
    for args in (["--version"], ["--help"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                             text=True, check=True).stdout
        assert out.splitlines()[-1] == "[]", (args, out)


def test_subcommand_help_loads_its_module(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["env", "--help"], capsys)
    assert code == 0 and "set" in out and "unset" in out
    code, out, _ = run(["sandbox", "--help"], capsys)
    assert code == 0 and "host-entry" in out


def test_a_deploy_imports_no_dns_library() -> None:
    # A deploy never looks a name up: dnspython (0.04 s to import) stays out of it.
    import subprocess
    import sys

    code = ("import sys, djship.commands.deploy_cmd, djship.release.deploy; "
            "print(sorted(m for m in sys.modules if m == 'dns' or m.startswith('dns.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def _with_hooks(tmp_path: Path, hooks: str, site_extra: str = "") -> Path:
    project = tmp_path / "p"
    shutil.copytree(EXAMPLE, project)
    text = (project / "djship.toml").read_text()
    text = text.replace('database = "postgres"\n', f'database = "postgres"\n{site_extra}', 1)
    # 127.0.0.1 port 1 is closed: any connection fails locally and at once.
    text = text.replace('address = "10.213.77.2"', 'address = "127.0.0.1"\nport = 1')
    (project / "djship.toml").write_text(hooks + "\n" + text)
    return project


def test_a_failing_pre_deploy_hook_stops_before_any_connection(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    told = tmp_path / "told"
    project = _with_hooks(tmp_path, f'[hooks]\npre_deploy = ["env > {told}", "exit 3"]\n'
                                    f'post_deploy = ["echo post >> {told}"]\n')
    code, _, err = run(["-C", str(project), "deploy", "--skip-checks"], capsys)
    assert code == 1
    assert "pre_deploy hook `exit 3` failed (exit 3)" in err
    assert "cannot connect" not in err  # stopped before the servers were asked anything
    lines = told.read_text().splitlines()
    assert "DJSHIP_SITE=guestbook" in lines and "DJSHIP_HOSTS=sandbox" in lines
    assert any(ln.startswith("DJSHIP_RELEASE=") and len(ln) > 20 for ln in lines)
    assert "post" not in lines  # nothing was deployed: there is no outcome to report


def test_post_deploy_hooks_hear_a_failed_outcome(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    told = tmp_path / "told"
    project = _with_hooks(tmp_path, '[hooks]\npost_deploy = '
                                    f'["echo $DJSHIP_OUTCOME $DJSHIP_RELEASE > {told}"]\n')
    code, _, err = run(["-C", str(project), "deploy", "--skip-checks"], capsys)
    assert code == 1 and "cannot connect to root@127.0.0.1:1" in err  # the deploy's own error
    outcome, release = told.read_text().split()
    assert outcome == "failed" and release.startswith("20")


def test_dry_run_lists_hooks_and_release_commands(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    project = _with_hooks(tmp_path, '[hooks]\npre_deploy = ["./notify start"]\n',
                          'build = ["npm run build"]\n'
                          'release = ["manage.py compress --force", "manage.py createcachetable"]\n')
    code, out, err = run(["-C", str(project), "deploy", "--dry-run", "--skip-checks"], capsys)
    assert code == 0, err
    assert "# [local] pre_deploy: ./notify start" in out
    build_at, compress_at = out.index(" npm run build"), out.index("manage.py compress --force")
    assert out.index("] venv:") < out.index("] build: npm run build") < build_at
    assert build_at < out.index("migrate --noinput") < out.index("] release: manage.py compress")
    assert compress_at < out.index("createcachetable") < out.index("] complete:")
