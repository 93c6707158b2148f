"""The Python a release runs on: reading the project's requirement, and the plan for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from djship.config import validate
from djship.errors import RemoteFailure, UsageError
from djship.paths import SitePaths
from djship.release import python as pyreq
from djship.release import scripts
from djship.release.diagnose import explain

MINORS = range(8, 15)
CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application",
                "python": "3.11"},
    "sites": {"blog": {"domains": ["example.com"]}},
    "hosts": [{"name": "web1", "address": "192.0.2.10"}],
})
P = SitePaths("blog")
RID = "20261122T010203-abcdef12"


def allowed(spec: str, *, bare_is_minimum: bool = False) -> list[int]:
    req = pyreq.parse(spec, "test", bare_is_minimum=bare_is_minimum)
    return [m for m in MINORS if req.allows((3, m))]


@pytest.mark.parametrize(("spec", "minors"), [
    (">=3.12", [12, 13, 14]),
    ("==3.10.*", [10]),
    ("==3.10", [10]),
    ("3.11", [11]),  # a bare version in a specifier means exactly that version
    (">= 3.8, <4.0", [8, 9, 10, 11, 12, 13, 14]),
    (">=3.8 <3.11", [8, 9, 10]),
    ("~=3.11", [11, 12, 13, 14]),
    ("~=3.11.2", [11]),
    (">3.11", [11, 12, 13, 14]),  # 3.11.1 is > 3.11
    ("<3.11", [8, 9, 10]),
    ("<=3.11", [8, 9, 10, 11]),
    (">=3.11.4", [11, 12, 13, 14]),  # optimistic at minor granularity
    (">=3.9,!=3.10.*", [9, 11, 12, 13, 14]),
    ("!=3.10.2", [8, 9, 10, 11, 12, 13, 14]),
    ("^3.10", [10, 11, 12, 13, 14]),  # poetry: >=3.10,<4
    ("~3.11", [11]),  # poetry: >=3.11,<3.12
    ("^3.9 || ~3.14", [9, 10, 11, 12, 13, 14]),
    ("*", [8, 9, 10, 11, 12, 13, 14]),
])
def test_specifiers(spec: str, minors: list[int]) -> None:
    assert allowed(spec) == minors


def test_bare_version_is_a_minimum_in_djship_toml_and_python_version() -> None:
    assert allowed("3.11", bare_is_minimum=True) == [11, 12, 13, 14]
    assert allowed("==3.11.*", bare_is_minimum=True) == [11]


@pytest.mark.parametrize("spec", [">=three", "3.x", ">=3.12; python"])
def test_unreadable_specifier_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError, match="cannot read the Python requirement"):
        pyreq.parse(spec, "requires-python in pyproject.toml")


def test_requirements_from_config_pyproject_and_python_version(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.12"\n')
    (tmp_path / ".python-version").write_text("3.12.4\n")
    reqs = pyreq.read_requirements(tmp_path, tmp_path, "3.11")
    assert [r.describe() for r in reqs] == [
        "3.11 (project.python in djship.toml)",
        ">=3.12 (requires-python in pyproject.toml)",
        "3.12 (.python-version)"]
    assert not pyreq.allows(reqs, (3, 11)) and pyreq.allows(reqs, (3, 13))


def test_poetry_python_dependency_and_app_folder(tmp_path: Path) -> None:
    app = tmp_path / "src"
    app.mkdir()
    (app / "pyproject.toml").write_text('[tool.poetry.dependencies]\npython = "~3.10"\n')
    reqs = pyreq.read_requirements(tmp_path, app, None)
    assert [r.describe() for r in reqs] == ["~3.10 (requires-python in src/pyproject.toml)"]
    assert pyreq.read_requirements(tmp_path / "none", tmp_path / "none", None) == []


def test_uv_request_is_the_newest_allowed_minor() -> None:
    assert pyreq.uv_request([pyreq.parse("==3.10.*", "x")]) == "3.10"
    assert pyreq.uv_request([pyreq.parse(">=3.12", "x"),
                             pyreq.parse("<3.14", "y")]) == "3.13"
    assert pyreq.uv_request([pyreq.parse(">=3.99", "x")]) == ">=3.99"


# --- the plan --------------------------------------------------------------------------

NEEDS_310 = [pyreq.parse("==3.10.*", "requires-python in pyproject.toml")]


def test_plan_uses_the_system_python_when_it_satisfies() -> None:
    plan = scripts.plan_python([pyreq.parse(">=3.12", "x")], (3, 13))
    assert plan.interpreter == "/usr/bin/python3" and plan.setup == ()
    assert scripts.plan_python([], (3, 11)).interpreter == "/usr/bin/python3"


def test_plan_finds_or_installs_with_uv_when_the_system_python_does_not() -> None:
    plan = scripts.plan_python(NEEDS_310, (3, 11))
    assert plan.interpreter == "3.10"
    (setup,) = plan.setup
    text = setup.render()
    find = text.index("/opt/djship/venv/bin/uv python find 3.10")
    install = text.index("/opt/djship/venv/bin/uv python install 3.10")
    assert text.startswith("if !") and find < install
    assert f"timeout {scripts.PYTHON_INSTALL_TIMEOUT} env UV_HTTP_TIMEOUT=30" in text
    assert "UV_PYTHON_INSTALL_DIR=/opt/djship/python" in text
    assert "UV_PYTHON_DOWNLOADS=manual" in text  # only the explicit install downloads
    assert "needs Python ==3.10.* (requires-python in pyproject.toml)" in text
    assert "the server has Python 3.11 (/usr/bin/python3)" in text
    assert text.rstrip().endswith("exit 1; fi; fi")


def test_venv_is_created_with_the_planned_interpreter() -> None:
    venv = "/srv/blog/venvs/0123456789abcdef"
    text = scripts.build_venv(CONFIG, P, RID, venv, (3, 11), NEEDS_310).render()
    assert "uv python install 3.10" in text
    assert f"venv --quiet --relocatable --python 3.10 {venv}" in text
    system = scripts.build_venv(CONFIG, P, RID, venv, (3, 11), []).render()
    assert "python install" not in system and f"--python /usr/bin/python3 {venv}" in system
    # Without the build's requirements, project.python (a minimum) alone decides.
    assert "python install" not in scripts.build_venv(CONFIG, P, RID, venv, (3, 13)).render()
    assert "python install 3.14" in scripts.build_venv(CONFIG, P, RID, venv, (3, 9)).render()


def test_missing_python_becomes_the_headline() -> None:
    line = scripts.plan_python(NEEDS_310, (3, 11)).setup[0].render()
    message = line.split("echo ", 1)[1].split(" >&2", 1)[0].strip("'")
    failure = RemoteFailure("web1", "venv", "uv python install 3.10", 1,
                            "error: Failed to install cpython-3.10\n" + message, site="blog")
    better = explain(failure)
    assert better.message.startswith("the project needs Python ==3.10.*")
    assert "the server has Python 3.11" in better.message
    assert better.where() == {"host": "web1", "site": "blog", "step": "venv"}
    assert better.hint and "requires-python" in better.hint
