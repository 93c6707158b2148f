"""The server-side env-file helper (run here on temp files): quoting, atomic edits, stdin."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from djship.remote import envtool

TRICKY = ['plain', 'with space', 'quote " inside', 'back\\slash', 'ends with \\',
          '\\"', 'dollar $HOME and `tick`', "single ' quote", '  padded  ', '', 'ünïcode=x#y']


def run(request: dict[str, object], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """envtool's main with a JSON request on stdin."""
    monkeypatch.setattr("sys.argv", ["envtool.py"])
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))
    code = envtool.main()
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("value", TRICKY)
def test_values_round_trip_through_the_file(tmp_path: Path, value: str) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"KEY": value, "OTHER": "x"})
    assert envtool.read_env(path) == {"KEY": value, "OTHER": "x"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unquote_follows_systemd() -> None:
    assert envtool.unquote(r'a\"b\\c\$d\`e\nf') == 'a"b\\c$d`e\\nf'


def test_set_and_unset_report_changed_keys_never_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"A": "1", "GONE": "2"})
    code, out, err = run({"file": str(path), "set": {"A": "1", "NEW": "s3cret"},
                          "unset": ["GONE"]}, monkeypatch, capsys)
    assert code == 0 and json.loads(out) == {"changed": ["GONE", "NEW"], "database": False}
    assert "s3cret" not in out + err
    assert envtool.read_env(path) == {"A": "1", "NEW": "s3cret"}
    before = path.stat().st_mtime_ns
    code, out, _ = run({"file": str(path), "set": {"A": "1"}}, monkeypatch, capsys)
    assert json.loads(out)["changed"] == [] and path.stat().st_mtime_ns == before
    assert [p.name for p in tmp_path.iterdir()] == ["site.env"]  # no temp file left


def test_line_breaks_are_refused_without_echoing_the_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"A": "1"})
    code, out, err = run({"file": str(path), "set": {"B": "s3cret\nINJECTED=1"}},
                         monkeypatch, capsys)
    assert code == 2 and "B" in err and "s3cret" not in out + err
    assert envtool.read_env(path) == {"A": "1"}


def test_get_prints_requested_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"A": "1", "B": "2"})
    _, out, _ = run({"op": "get", "file": str(path), "keys": ["B", "Z"]}, monkeypatch, capsys)
    assert json.loads(out) == {"B": "2"}
