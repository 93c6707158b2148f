"""poetry.lock read into exact pins (main group, markers, extras, hashes, sources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from djship.config import validate
from djship.errors import UsageError
from djship.paths import SitePaths
from djship.release import poetry
from djship.release.build import build
from djship.release.scripts import build_venv, plan_python

PYPROJECT_1X = '''[tool.poetry]
name = "shop"
version = "0.1.0"
description = ""
authors = ["a <a@example.com>"]

[tool.poetry.dependencies]
python = "^3.11"
Django = ">=5.2,<5.3"
six = "^1.15"
psycopg = {version = "^3.2", extras = ["binary"]}
colorama = {version = "*", markers = "sys_platform == 'win32'"}
backport = {version = "^1.0", python = "<3.12"}
mylib = {path = "libs/mylib", develop = true}
tool = {git = "https://git.example.com/tool.git", rev = "main"}
celery = {version = "^5", optional = true}

[tool.poetry.group.dev.dependencies]
pytest = "^8"
'''


def pkg(name: str, version: str, body: str = "", files: bool = True) -> str:
    listed = (f'files = [\n    {{file = "{name}-{version}-py3-none-any.whl", '
              f'hash = "sha256:{name[:2]}11"}},\n    {{file = "{name}-{version}.tar.gz", '
              f'hash = "sha256:{name[:2]}22"}},\n]\n') if files else "files = []\n"
    return (f'[[package]]\nname = "{name}"\nversion = "{version}"\ndescription = ""\n'
            f'optional = false\npython-versions = ">=3.8"\n{listed}{body}\n')


LOCK_20 = "".join([
    pkg("asgiref", "3.8.1"),
    pkg("django", "5.2.1", '\n[package.dependencies]\nasgiref = ">=3.8.1"\nsqlparse = ">=0.3.1"\n'
        'tzdata = {version = "*", markers = "sys_platform == \\"win32\\""}\n'),
    pkg("sqlparse", "0.5.0"),
    pkg("tzdata", "2024.1"),
    pkg("six", "1.15.0"),
    pkg("psycopg", "3.2.1", '\n[package.dependencies]\npsycopg-binary = {version = "3.2.1", '
        'optional = true, markers = "implementation_name != \\"pypy\\""}\n'
        'typing-extensions = ">=4.4"\n\n[package.extras]\n'
        'binary = ["psycopg-binary (==3.2.1) ; implementation_name != \\"pypy\\""]\n'
        'c = ["psycopg-c (==3.2.1)"]\n'),
    pkg("psycopg-binary", "3.2.1"),
    pkg("typing-extensions", "4.12.2"),
    pkg("colorama", "0.4.6"),
    pkg("backport", "1.2.0"),
    pkg("pytest", "8.2.0", '\n[package.dependencies]\niniconfig = "*"\n'),
    pkg("iniconfig", "2.0.0"),
    pkg("celery", "5.4.0"),
    pkg("mylib", "0.1.0", '\n[package.source]\ntype = "directory"\nurl = "libs/mylib"\n',
        files=False).replace('optional = false\n', 'optional = false\ndevelop = true\n'),
    pkg("tool", "1.0.0", '\n[package.source]\ntype = "git"\n'
        'url = "https://git.example.com/tool.git"\nreference = "main"\n'
        'resolved_reference = "0123abcd"\n', files=False),
    '[metadata]\nlock-version = "2.0"\npython-versions = "^3.11"\ncontent-hash = "x"\n',
])


def write(root: Path, pyproject: str, lock: str | None) -> Path:
    (root / "pyproject.toml").write_text(pyproject)
    if lock is not None:
        (root / "poetry.lock").write_text(lock)
    (root / "libs/mylib").mkdir(parents=True, exist_ok=True)
    return root


def lines(text: str) -> dict[str, str]:
    """Requirement lines by name, continuation lines joined."""
    joined = text.replace(" \\\n    ", " ")
    out = {}
    for line in joined.splitlines():
        if line and not line.startswith("#"):
            key = line.split("==")[0].split(" @ ")[0].split(" ;")[0]
            out[key] = line
    return out


def test_poetry_1x_lock_walks_the_main_dependencies(tmp_path: Path) -> None:
    text = poetry.export(write(tmp_path, PYPROJECT_1X, LOCK_20))
    got = lines(text)
    assert got["six"] == "six==1.15.0 --hash=sha256:si11 --hash=sha256:si22"
    assert got["django"].startswith("django==5.2.1 --hash=")
    assert "sqlparse" in got and "asgiref" in got
    assert got["tzdata"].startswith('tzdata==2024.1 ; sys_platform == "win32" --hash')
    assert got["colorama"].startswith("colorama==0.4.6 ; sys_platform == 'win32'")
    assert got["backport"].startswith('backport==1.2.0 ; python_version < "3.12"')
    assert got["psycopg-binary"].startswith(
        'psycopg-binary==3.2.1 ; implementation_name != "pypy" --hash')
    assert "typing-extensions" in got
    assert got["-e ./libs/mylib"] == "-e ./libs/mylib"
    assert got["tool"] == "tool @ git+https://git.example.com/tool.git@0123abcd"
    for left_out in ("pytest", "iniconfig", "celery", "psycopg-c"):
        assert left_out not in got, left_out


def test_poetry_2_lock_uses_its_groups_and_markers(tmp_path: Path) -> None:
    lock = (pkg("django", "5.2.1").replace('description', 'groups = ["main"]\ndescription')
            + pkg("tzdata", "2024.1").replace(
                'description', 'groups = ["main"]\nmarkers = "sys_platform == \\"win32\\""\n'
                               'description')
            + pkg("pytest", "8.2.0").replace('description', 'groups = ["dev"]\ndescription')
            + pkg("idna", "3.7").replace(
                'description', 'groups = ["main", "dev"]\nmarkers = {main = "python_version '
                               '>= \\"3.9\\"", dev = ""}\ndescription')
            + '[metadata]\nlock-version = "2.1"\npython-versions = ">=3.11"\n')
    pyproject = ('[project]\nname = "shop"\nrequires-python = ">=3.11"\n'
                 'dependencies = ["django>=5.2,<5.3", "idna>=3"]\n')
    got = lines(poetry.export(write(tmp_path, pyproject, lock)))
    assert set(got) == {"django", "tzdata", "idna"}
    assert got["idna"].startswith('idna==3.7 ; python_version >= "3.9" --hash')
    assert got["tzdata"].startswith('tzdata==2024.1 ; sys_platform == "win32"')


def test_lock_version_1_files_table(tmp_path: Path) -> None:
    lock = ('[[package]]\nname = "six"\nversion = "1.15.0"\ncategory = "main"\n'
            'optional = false\npython-versions = "*"\n\n[metadata]\nlock-version = "1.1"\n'
            'python-versions = "^3.8"\ncontent-hash = "x"\n\n[metadata.files]\n'
            'six = [\n    {file = "six-1.15.0-py2.py3-none-any.whl", hash = "sha256:abc"},\n]\n')
    pyproject = '[tool.poetry.dependencies]\npython = "^3.8"\nsix = "1.15.0"\n'
    assert lines(poetry.export(write(tmp_path, pyproject, lock)))["six"] == \
        "six==1.15.0 --hash=sha256:abc"


def test_missing_or_stale_lock_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no .*poetry\.lock") as missing:
        poetry.export(write(tmp_path, PYPROJECT_1X, None))
    assert missing.value.hint and "poetry lock" in missing.value.hint
    stale = PYPROJECT_1X.replace('six = "^1.15"', 'six = "^1.15"\nrequests = "^2"')
    with pytest.raises(UsageError, match="no entry for requests") as err:
        poetry.export(write(tmp_path, stale, LOCK_20))
    assert err.value.hint and "out of date" in err.value.hint


def test_private_source_becomes_an_extra_index(tmp_path: Path) -> None:
    lock = (pkg("six", "1.15.0", '\n[package.source]\ntype = "legacy"\n'
                'url = "https://pypi.example.com/simple"\nreference = "private"\n')
            + '[metadata]\nlock-version = "2.0"\npython-versions = "*"\ncontent-hash = "x"\n')
    text = poetry.export(write(tmp_path, '[tool.poetry.dependencies]\nsix = "*"\n', lock))
    assert "--extra-index-url https://pypi.example.com/simple\n" in text
    assert "six==1.15.0 \\\n    --hash=sha256:si11" in text


@pytest.mark.parametrize(("constraint", "marker"), [
    ("<3.12", 'python_version < "3.12"'),
    (">=3.8,<3.11", 'python_version >= "3.8" and python_version < "3.11"'),
    ("^3.10", 'python_version >= "3.10" and python_version < "4"'),
    ("~3.11.2", 'python_full_version >= "3.11.2" and python_version < "3.12"'),
    ("*", ""),
])
def test_python_constraints_become_markers(constraint: str, marker: str) -> None:
    assert poetry.python_marker(constraint) == marker


def test_build_ships_the_pins_and_the_venv_installs_them(tmp_path: Path) -> None:
    root = write(tmp_path, PYPROJECT_1X, LOCK_20)
    (root / "manage.py").write_text("")
    config = validate({
        "project": {"name": "shop", "settings": "shop.settings", "wsgi": "shop.wsgi:app",
                    "dependencies": "poetry"},
        "sites": {"shop": {}}, "hosts": [{"name": "web1", "address": "192.0.2.1"}]})
    b = build(root, config)
    (name, data), = b.generated
    assert name == poetry.REQUIREMENTS_FILE and b"six==1.15.0" in data
    assert [r.spec for r in b.python] == ["^3.11"]
    text = build_venv(config, SitePaths("shop"), "20261122T010203-abcdef12", None,
                      plan_python(b.python, (3, 11))).render()
    assert f"-r {poetry.REQUIREMENTS_FILE} gunicorn" in text
