"""Quoting in one place, and secrets that never render."""

from __future__ import annotations

import subprocess

import pytest

from djship.shell import MASK, Command, Script, Secret, cmd, mask, raw


@pytest.mark.parametrize("token", ["plain", "with space", "it's", '"dq"', "$HOME", "`id`",
                                   "a;b", "a\nb", "*", ""])
def test_tokens_reach_the_shell_unchanged(token: str) -> None:
    line = cmd("printf", "%s", token).render()
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True)
    assert out.stdout == token


def test_raw_is_not_quoted() -> None:
    assert cmd("echo", "a b", raw(">"), "/tmp/x").render() == "echo 'a b' > /tmp/x"


def test_script_is_strict_and_names_the_failing_command() -> None:
    script = Script.of([cmd("true"), cmd("false"), cmd("echo", "never")])
    proc = subprocess.run(["bash", "-c", script.render()], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "never" not in proc.stdout
    assert "djship-failed-command: false" in proc.stderr
    assert script.render().startswith("set -eu -o pipefail\n")


def test_secret_never_renders() -> None:
    s = Secret("hunter2")
    assert str(s) == MASK and "hunter2" not in repr(s) and f"{s}" == MASK
    assert s.reveal() == "hunter2"


def test_secret_refused_as_token() -> None:
    with pytest.raises(TypeError):
        Command("echo", Secret("x"))  # type: ignore[arg-type]


def test_mask_replaces_every_occurrence() -> None:
    assert mask("a hunter2 b hunter2", [Secret("hunter2")]) == f"a {MASK} b {MASK}"
    assert mask("nothing", [""]) == "nothing"


def test_a_multi_line_failing_command_is_named_on_one_marked_line() -> None:
    # A program given to `python -c` spans lines: named on one line, its text cannot pass
    # for the command's own output (the error a user must see, e.g. a failing check).
    script = Script.of([cmd("python3", "-c", "import sys\nprint('real error', file=sys.stderr)"
                            "\nsys.exit(3)")])
    proc = subprocess.run(["bash", "-c", script.render()], capture_output=True, text=True)
    assert proc.returncode == 3
    lines = proc.stderr.splitlines()
    assert lines[0] == "real error"
    assert len(lines) == 2 and lines[1].startswith("djship-failed-command: python3 -c")
    assert "sys.exit(3)" in lines[1]
