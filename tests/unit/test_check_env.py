"""The local check environment (settings/localenv.py) and the Python a pinned Django needs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_settings_support import copy_project, djship, startproject, with_config

from djship.config import load
from djship.config.schema import Project
from djship.init import run_init
from djship.settings import djangopy, localenv
from djship.settings.check import deploy_check, run_check

DECOUPLE = "from decouple import config as _config\n"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests work on copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own (check environments land here)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def needs_decouple(fresh: Path, tmp_path: Path, cache: Path) -> Path:
    """A project whose settings import a declared package that this Python lacks."""
    root = copy_project(fresh, tmp_path / "site")
    (root / "requirements.txt").write_text("Django>=5.2,<5.3\npython-decouple==3.8\n")
    settings = root / "mysite" / "settings.py"
    settings.write_text(DECOUPLE + settings.read_text())
    with_config(root)
    return root


def project(**kw: object) -> Project:
    return Project.model_validate({"name": "site", "settings": "mysite.settings",
                                   "wsgi": "mysite.wsgi:application", **kw})


def test_key_follows_dependency_files_groups_and_python(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("Django==5.2\n-r base.txt\n")
    (tmp_path / "base.txt").write_text("whitenoise\n")
    proj = project()
    first = localenv.env_key(tmp_path, proj, "/usr/bin/python3")
    assert localenv.env_key(tmp_path, proj, "/usr/bin/python3") == first  # stable
    assert localenv.env_key(tmp_path, proj, "3.12") != first
    (tmp_path / "base.txt").write_text("whitenoise>=6\n")  # an included file counts
    second = localenv.env_key(tmp_path, proj, "/usr/bin/python3")
    assert second != first
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert localenv.env_key(tmp_path, proj, "/usr/bin/python3") == second  # not read here
    uv = project(dependencies="uv")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    locked = localenv.env_key(tmp_path, uv, "/usr/bin/python3")
    assert localenv.env_key(tmp_path, project(dependencies="uv", groups=["prod"]),
                            "/usr/bin/python3") != locked
    (tmp_path / "uv.lock").write_text("version = 1\n# changed\n")
    assert localenv.env_key(tmp_path, uv, "/usr/bin/python3") != locked


def test_plans_install_what_the_servers_install(needs_decouple: Path, cache: Path) -> None:
    config = load(needs_decouple)[0]
    plan = localenv.plan_env(needs_decouple, config)
    assert plan.folder.parent == cache / "djship" / "envs"
    assert plan.installs == (("pip", "install", "--python", str(plan.interpreter), "-r",
                              "requirements.txt"),)
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert plan.manual == (f"uv venv --python {mine} .venv && uv pip install --python "
                           ".venv/bin/python -r requirements.txt")
    config.project.dependencies = "uv"
    config.project.groups = ["prod"]
    (needs_decouple / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    plan = localenv.plan_env(needs_decouple, config)
    assert plan.installs == (("sync", "--frozen", "--no-dev", "--no-install-project", "--group",
                              "prod", "--python", str(plan.interpreter)),)
    assert plan.manual == (f"uv sync --frozen --no-dev --no-install-project --group prod "
                           f"--python {mine}")


def test_check_python_prefers_own_env_then_a_built_one(needs_decouple: Path) -> None:
    config = load(needs_decouple)[0]
    assert localenv.check_python(needs_decouple, config) == sys.executable
    plan = localenv.plan_env(needs_decouple, config)
    (plan.folder / "bin").mkdir(parents=True)
    (plan.folder / "bin" / "python").symlink_to(sys.executable)
    assert localenv.check_python(needs_decouple, config) == sys.executable  # not complete
    (plan.folder / localenv.DONE).touch()
    assert localenv.check_python(needs_decouple, config) == str(plan.interpreter)
    (needs_decouple / "requirements.txt").write_text("Django>=5.2,<5.3\n")  # changed: not it
    assert localenv.check_python(needs_decouple, config) == sys.executable
    (needs_decouple / ".venv" / "bin").mkdir(parents=True)
    (needs_decouple / ".venv" / "bin" / "python").symlink_to(sys.executable)
    assert localenv.check_python(needs_decouple, config) == str(
        needs_decouple / ".venv" / "bin" / "python")


def test_no_env_prints_the_one_command(needs_decouple: Path, cache: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = djship(capsys, needs_decouple, "check", "--no-env")
    assert code == 1
    assert "cannot import decouple: the project's dependencies are not installed" in err
    assert "uv venv --python" in err and "-r requirements.txt" in err
    assert not (cache / "djship" / "envs").exists()  # nothing was built


def test_deploy_reuses_but_does_not_build(needs_decouple: Path, cache: Path) -> None:
    found = {f.code: f for f in deploy_check(needs_decouple, load(needs_decouple)[0], "site")}
    assert found["check.skipped"].level == "warning"
    assert "cannot import decouple" in found["check.skipped"].message
    assert "`djship check` builds it" in found["check.skipped"].fix
    assert not (cache / "djship" / "envs").exists()


def test_an_undeclared_or_own_module_builds_nothing(needs_decouple: Path, cache: Path) -> None:
    """Only a package the project declares is cured by installing its dependencies; a module
    of the project's own (a gitignored local_settings.py) or an undeclared one is its error."""
    settings = needs_decouple / "mysite" / "settings.py"
    plain = settings.read_text().replace(DECOUPLE, "")
    (needs_decouple / "mysite" / "local_settings").mkdir()
    for module in ("mysite.local_settings.missing", "not_declared_anywhere"):
        settings.write_text(f"import {module}\n" + plain)
        found = {f.code: f for f in run_check(needs_decouple, load(needs_decouple)[0], "site")}
        assert module.split(".")[-1] in found["settings.import"].message
        assert not (cache / "djship" / "envs").exists()


def test_a_failed_build_says_what_failed_and_the_command(needs_decouple: Path) -> None:
    # A line uv cannot read fails the install without reaching any package index.
    (needs_decouple / "requirements.txt").write_text("Django>=5.2,<5.3\n@@ not a requirement\n")
    config = load(needs_decouple)[0]
    plan = localenv.plan_env(needs_decouple, config)
    heard: list[str] = []
    with pytest.raises(localenv.EnvBuildFailed) as caught:
        localenv.build_env(plan, needs_decouple, heard.append)
    assert "`uv pip install --python" in caught.value.message and "exited" in caught.value.message
    assert caught.value.hint and plan.manual in caught.value.hint
    assert heard and "installing the project's dependencies (requirements.txt" in heard[0]
    assert not plan.ready()  # no completion mark: the next run builds it again


@pytest.mark.parametrize(("text", "kind", "file", "version"), [
    ("Django==6.0.1\n", "requirements", "requirements.txt", (6, 0)),
    ("django[argon2]>=5.2,<6\n", "requirements", "requirements.txt", (5, 2)),
    ("Django~=4.2.0\n", "requirements", "requirements.txt", (4, 2)),
    ("Django\n", "requirements", "requirements.txt", None),
    ('[[package]]\nname = "django"\nversion = "6.0"\n', "uv", "uv.lock", (6, 0)),
    ('[[package]]\nname = "Django"\nversion = "5.1.4"\n', "poetry", "poetry.lock", (5, 1)),
    ('[project]\ndependencies = ["django>=6.0"]\n', "pyproject", "pyproject.toml", (6, 0)),
])
def test_pinned_django(tmp_path: Path, text: str, kind: str, file: str,
                       version: tuple[int, int] | None) -> None:
    (tmp_path / file).write_text(text)
    pin = djangopy.pinned_django(tmp_path, project(dependencies=kind))
    assert (pin.version if pin else None) == version
    if pin:
        assert pin.where == file


@pytest.mark.parametrize(("django", "python"), [
    ((6, 0), (3, 12)), ((6, 1), (3, 12)), ((7, 0), (3, 12)), ((5, 2), (3, 10)),
    ((5, 0), (3, 10)), ((4, 2), (3, 8)), ((3, 2), (3, 6)), ((2, 2), None)])
def test_python_for_django(django: tuple[int, int], python: tuple[int, int] | None) -> None:
    assert djangopy.python_for(django) == python


def test_a_django_that_needs_a_newer_python_is_named(tmp_path: Path) -> None:
    root = startproject(tmp_path / "site")
    (root / "requirements.txt").write_text("Django==6.0.1\n")
    notes = run_init(root, force=True).notes
    note = next(n for n in notes if n.startswith("Django 6.0"))
    assert note.startswith("Django 6.0 (requirements.txt) needs Python >= 3.12: "
                           "Debian 13 (trixie) ships 3.13")
    assert "Debian 12 (bookworm) (3.11)" in note and 'python_source = "uv"' in note
    choice = localenv.choose_python(root, load(root)[0])
    if sys.version_info < (3, 12):
        assert "needs Python >=3.12 (Django 6.0 in requirements.txt)" in choice.needs
        major, minor = map(int, choice.version.split("."))
        assert (major, minor) >= (3, 12)
    (root / "requirements.txt").write_text("Django==5.2.1\n")  # every current Debian has it
    assert not any(n.startswith("Django") for n in run_init(root, force=True).notes)


def test_an_environment_built_meanwhile_is_not_built_again(needs_decouple: Path) -> None:
    """The second of two checks that waited on the build lock finds the environment ready."""
    plan = localenv.plan_env(needs_decouple, load(needs_decouple)[0])
    (plan.folder / "bin").mkdir(parents=True)
    (plan.folder / "bin" / "python").symlink_to(sys.executable)
    (plan.folder / localenv.DONE).touch()
    heard: list[str] = []
    assert localenv.build_env(plan, needs_decouple, heard.append) == str(plan.interpreter)
    assert heard == [] and (plan.folder / "bin" / "python").is_symlink()


def test_poetry_installs_the_locked_pins(tmp_path: Path, cache: Path) -> None:
    root = startproject(tmp_path / "site")
    (root / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "site"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\n'
        'python = ">=3.10"\ndjango = "^5.2"\n')
    (root / "poetry.lock").write_text(
        '[[package]]\nname = "django"\nversion = "5.2.1"\noptional = false\n'
        'python-versions = ">=3.10"\nfiles = []\n\n[metadata]\nlock-version = "2.0"\n'
        'python-versions = ">=3.10"\ncontent-hash = "x"\n')
    config = with_config(root)
    assert config.project.dependencies == "poetry"
    plan = localenv.plan_env(root, config)
    assert "django==5.2.1" in plan.files[localenv.EXPORTED].lower()
    assert plan.installs[0][-2:] == ("-r", str(plan.folder / localenv.EXPORTED))
    assert plan.manual == ("POETRY_VIRTUALENVS_IN_PROJECT=true poetry install --no-root "
                           "--only main")
