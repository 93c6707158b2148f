"""The server-side env-file helper (run here on temp files): quoting, atomic edits, stdin."""

from __future__ import annotations

import io
import json
import random
import stat
from pathlib import Path

import pytest

from djship.remote import envtool

PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7+/=\n"
       "-----END PRIVATE KEY-----\n")
TRICKY = ['plain', 'with space', 'quote " inside', 'back\\slash', 'ends with \\',
          '\\"', 'dollar $HOME and `tick`', "single ' quote", '  padded  ', '', 'ünïcode=x#y',
          PEM, PEM.rstrip("\n"), PEM.replace("\n", "\r\n"), '{\n  "k": "v\\n"\n}\n',
          'line\\\nbreak after a backslash', '\n', '\n\nA=injected\n', '# not a comment\n#',
          '"\nB="', "trailing spaces \n  "]
# What systemd's own parser makes of hand-written files (its src/test/test-env-file.c cases
# that every systemd version agrees on, and the quoting rules of systemd.exec(5)).
SYSTEMD_READS = [
    ("a=a\nb=b\\\nc\nd=d\\\ne\\\nf\ng=g\\ \nh=h\ni=i\\",
     {"a": "a", "b": "bc", "d": "def", "g": "g ", "h": "h", "i": "i"}),
    ("a=a\\\n", {"a": "a"}),
    ("# Generated\n\nHW=\"coretemp f71882fg\"\n\n# again\nM0=coretemp\nM1=f71882fg",
     {"HW": "coretemp f71882fg", "M0": "coretemp", "M1": "f71882fg"}),
    ("a=\nb=", {"a": "", "b": ""}),
    ('  K  =  spaced value  \n; semicolon comment\nno equals sign\n', {"K": "spaced value"}),
    ('Q="two\nlines" \nS=\'single "as is" \\n\'\n', {"Q": "two\nlines", "S": 'single "as is" \\n'}),
    ('E="\\a\\n\\"\\\\\\$\\`"\n', {"E": '\\a\\n"\\$`'}),
    ('J="joined \\\nline"\n', {"J": "joined line"}),
    ('U="unterminated\nat the end', {"U": "unterminated\nat the end"}),
]
ALPHABET = ['a', 'Z', '0', ' ', '\t', '\n', '\r', '"', "'", '\\', '$', '`', '#', ';', '=', '{',
            'ü', '\u2028', '\x0b', '-']


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


@pytest.mark.parametrize(("text", "expected"), SYSTEMD_READS)
def test_files_parse_as_systemd_parses_them(tmp_path: Path, text: str,
                                            expected: dict[str, str]) -> None:
    path = tmp_path / "site.env"
    path.write_bytes(text.encode())
    assert envtool.read_env(path) == expected


def test_random_values_round_trip_beside_other_keys(tmp_path: Path) -> None:
    """Many generated values (a seeded random walk over the characters the quoting and the
    parser treat specially), each between two plain entries, so none can leak into another."""
    rng = random.Random(16)
    path = tmp_path / "site.env"
    for _ in range(300):
        value = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))
        env = {"A_FIRST": "1", "KEY": value, "Z_LAST": "2"}
        envtool.write_env(path, env)
        assert envtool.read_env(path) == env, repr(value)


def test_old_files_of_one_line_per_value_still_read() -> None:
    old = '# Managed by djship\nA="x \\"y\\" \\\\z"\nB="$HOME `t`"\n'
    assert envtool.parse_env(old) == {"A": 'x "y" \\z', "B": "$HOME `t`"}


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


def test_multi_line_values_are_stored_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"A": "1"})
    code, out, err = run({"file": str(path), "set": {"B": "s3cret\nINJECTED=1", "PEM": PEM}},
                         monkeypatch, capsys)
    assert code == 0 and json.loads(out)["changed"] == ["B", "PEM"]
    assert "s3cret" not in out + err
    assert envtool.read_env(path) == {"A": "1", "B": "s3cret\nINJECTED=1", "PEM": PEM}
    _, out, _ = run({"op": "get", "file": str(path), "keys": ["PEM"]}, monkeypatch, capsys)
    assert json.loads(out) == {"PEM": PEM}


@pytest.mark.parametrize("value", ["s3cret\0tail", "x" * envtool.MAX_ENTRY, "\udc80s3cret"])
def test_values_no_environment_can_carry_are_refused_without_echoing_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], value: str) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"A": "1"})
    code, out, err = run({"file": str(path), "set": {"B": value}}, monkeypatch, capsys)
    assert code == 2 and "B" in err and "s3cret" not in out + err
    assert envtool.read_env(path) == {"A": "1"}
    assert envtool.unfit({"B": "x" * (envtool.MAX_ENTRY - 2)}) == []


def test_get_prints_requested_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.env"
    envtool.write_env(path, {"A": "1", "B": "2"})
    _, out, _ = run({"op": "get", "file": str(path), "keys": ["B", "Z"]}, monkeypatch, capsys)
    assert json.loads(out) == {"B": "2"}
