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
