"""The Python a release runs on: reading the project's requirement, and the plan for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from djship.config import validate
from djship.config.loader import Source
from djship.context import Context
from djship.errors import ConfigError, RemoteFailure, UsageError
from djship.paths import SitePaths
from djship.release import python as pyreq
from djship.release import scripts, state
from djship.release.build import build
from djship.release.deploy import Deploy
from djship.release.diagnose import explain
from djship.steps.python import python_step
from djship.transport.base import Result
from djship.transport.recording import RecordingTransport
from djship.ui import UI

MINORS = range(8, 15)
RAW: dict[str, Any] = {
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application",
                "python": "3.11"},
    "sites": {"blog": {"domains": ["example.com"]}},
    "hosts": [{"name": "web1", "address": "192.0.2.10"}],
}
CONFIG = validate(RAW)
P = SitePaths("blog")
RID = "20261122T010203-abcdef12"


def allowed(spec: str) -> list[int]:
    req = pyreq.parse(spec, "test")
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


def test_bare_version_in_djship_toml_and_python_version_means_that_minor(tmp_path: Path
                                                                        ) -> None:
    # "3.12" is 3.12.x, as .python-version means to uv and pyenv: not "3.12 or newer".
    (tmp_path / ".python-version").write_text("3.12.4\n")
    config, dot = pyreq.read_requirements(tmp_path, tmp_path, "3.12")
    assert [m for m in MINORS if config.allows((3, m))] == [12]
    assert [m for m in MINORS if dot.allows((3, m))] == [12]


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
    assert not any(pyreq.allows(reqs, (3, m)) for m in MINORS)  # 3.11 and 3.12: none
    assert pyreq.allows(reqs[1:], (3, 12)) and not pyreq.allows(reqs[1:], (3, 13))


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


def test_plan_uses_another_interpreter_already_on_the_server() -> None:
    found = ("/usr/bin/python3.9", "/usr/local/bin/python3.10",
             "/opt/djship/python/cpython-3.10.16-linux-x86_64-gnu/bin/python3.10")
    plan = scripts.plan_python(NEEDS_310, (3, 11), found)
    assert plan.interpreter == "/usr/local/bin/python3.10" and plan.setup == ()
    wide = [pyreq.parse(">=3.9,<3.11", "x")]  # the newest allowed minor wins
    assert scripts.plan_python(wide, (3, 11), found).interpreter.endswith("python3.10")


def test_no_interpreter_and_no_source_is_refused_with_the_ways_out() -> None:
    # The issue: "3.12" on a 3.11 server asked for 3.14 and tried to download it.
    reqs = [pyreq.parse("3.12", "project.python in djship.toml")]
    with pytest.raises(pyreq.PythonUnavailable) as caught:
        scripts.plan_python(reqs, (3, 11), ("/usr/bin/python3.11",),
                            os_name="Debian GNU/Linux 12 (bookworm)", site="blog")
    exc = caught.value
    assert exc.message == (
        "the project needs Python 3.12 (project.python in djship.toml); the server has Python "
        "3.11 (/usr/bin/python3, Debian GNU/Linux 12 (bookworm)) and no other interpreter "
        "that satisfies it; nothing was installed")
    assert "3.14" not in exc.message + "".join(exc.details())
    assert exc.where() == {"site": "blog", "step": "python"}
    ways = exc.ways
    assert len(ways) == 3  # no Debian release ships 3.12 as python3
    assert ways[0].startswith("install Python 3.12 on the server yourself")
    assert 'project.python_source = "uv"' in ways[1]
    assert ways[2] == ("relax the requirement so that Python 3.11 satisfies it: "
                       "project.python in djship.toml")
    newer = scripts_error([pyreq.parse(">=3.12", "requires-python in pyproject.toml")])
    assert newer.ways[0] == "a server on a newer OS release: Debian 13 (trixie) ships Python 3.13"
    assert "Python 3.12, 3.13 or 3.14" in newer.ways[1]


def scripts_error(reqs: list[pyreq.Requirement]) -> pyreq.PythonUnavailable:
    try:
        scripts.plan_python(reqs, (3, 11))
    except pyreq.PythonUnavailable as exc:
        return exc
    raise AssertionError("not refused")


@pytest.mark.parametrize(("source", "mirror"), [
    ("uv", None), ("https://mirror.internal/pbs", "UV_PYTHON_INSTALL_MIRROR=https://mirror.internal/pbs"),
])
def test_a_configured_source_installs_with_uv(source: str, mirror: str | None) -> None:
    plan = scripts.plan_python(NEEDS_310, (3, 11), ("/usr/bin/python3.11",), source)
    assert plan.interpreter == "3.10"
    (setup,) = plan.setup
    text = setup.render()
    assert "/opt/djship/venv/bin/uv python install 3.10" in text
    assert f"timeout {scripts.PYTHON_INSTALL_TIMEOUT} env UV_HTTP_TIMEOUT=30" in text
    assert "UV_PYTHON_INSTALL_DIR=/opt/djship/python" in text
    assert "UV_PYTHON_DOWNLOADS=manual" in text  # only the explicit install downloads
    assert (mirror in text) if mirror else "MIRROR" not in text
    assert "needs Python ==3.10.* (requires-python in pyproject.toml)" in text
    assert "the server has Python 3.11 (/usr/bin/python3)" in text
    assert text.startswith("if !") and text.rstrip().endswith("exit 1; fi")


@pytest.mark.parametrize("value", ["download", "mirror.internal/pbs", "ftp://x/y"])
def test_python_source_must_be_uv_or_a_url(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate({**RAW, "project": {**RAW["project"], "python_source": value}})
    (issue,) = caught.value.issues
    assert issue.path == "project.python_source" and "mirror" in issue.message


def test_venv_is_created_with_the_planned_interpreter() -> None:
    venv = "/srv/blog/venvs/0123456789abcdef"
    plan = scripts.plan_python(NEEDS_310, (3, 11), source="uv")
    text = scripts.build_venv(CONFIG, P, RID, venv, plan).render()
    assert "uv python install 3.10" in text
    assert f"venv --quiet --relocatable --python 3.10 {venv}" in text
    found = scripts.plan_python(NEEDS_310, (3, 11), ("/usr/bin/python3.10",))
    text = scripts.build_venv(CONFIG, P, RID, venv, found).render()
    assert "python install" not in text and f"--python /usr/bin/python3.10 {venv}" in text
    system = scripts.build_venv(CONFIG, P, RID, venv).render()
    assert "python install" not in system and f"--python /usr/bin/python3 {venv}" in system


def test_state_lists_the_servers_interpreters_and_os() -> None:
    probe = state.probe(P).render()
    assert "/usr/bin/python3.* /usr/local/bin/python3.* /opt/djship/python/*/bin/python3.*" \
        in probe and "/etc/os-release" in probe
    facts = state.parse(Result(0, "python:3 11\ninterpreter:/usr/bin/python3.11\n"
                                  "interpreter:/usr/local/bin/python3.12\n"
                                  "os:Debian GNU/Linux 12 (bookworm)\n", ""))
    assert facts.interpreters == ("/usr/bin/python3.11", "/usr/local/bin/python3.12")
    assert facts.os == "Debian GNU/Linux 12 (bookworm)"


def test_missing_python_becomes_the_headline() -> None:
    line = scripts.plan_python(NEEDS_310, (3, 11), source="uv").setup[0].render()
    message = line.split("echo ", 1)[1].split(" >&2", 1)[0].strip("'")
    failure = RemoteFailure("web1", "venv", "uv python install 3.10", 1,
                            "error: Failed to install cpython-3.10\n" + message, site="blog")
    better = explain(failure)
    assert better.message.startswith("the project needs Python ==3.10.*")
    assert "the server has Python 3.11" in better.message
    assert better.where() == {"host": "web1", "site": "blog", "step": "venv"}
    assert better.hint and "requires-python" in better.hint


def test_deploy_is_refused_before_anything_is_uploaded(tmp_path: Path) -> None:
    """Through recording transports: the deploy stops at the upload phase, having sent
    nothing but the lock, the facts and the unlock."""
    for name, text in {"manage.py": "", "requirements.txt": "django\n",
                       ".python-version": "3.12\n"}.items():
        (tmp_path / name).write_text(text)
    config = CONFIG.model_copy(update={"project": CONFIG.project.model_copy(
        update={"python": None})})
    facts = Result(0, "python:3 11\ninterpreter:/usr/bin/python3.11\nfree:99999999999\n"
                      "os:Debian GNU/Linux 12 (bookworm)\n", "")
    host = RecordingTransport("web1", {"current:$(basename": facts})
    ctx = Context(config, Source(tmp_path / "djship.toml"), UI())
    ctx._transports["web1"] = host
    with pytest.raises(pyreq.PythonUnavailable, match=r"needs Python 3\.12 \(\.python-version\)"):
        Deploy(ctx, "blog", build(tmp_path, config, now=1764900000)).execute()
    assert not any(s.kind == "sync" for s in host.sent)
    sent = host.scripts()
    assert not any("python install" in s or "venv --quiet" in s for s in sent)
    assert "rm -rf -- /srv/blog/.lock" in sent[-1]


def test_provision_checks_the_python_before_installing_anything(tmp_path: Path) -> None:
    (tmp_path / ".python-version").write_text("3.12\n")
    step = python_step(CONFIG.model_copy(update={"project": CONFIG.project.model_copy(
        update={"python": None})}), "blog", tmp_path)
    bookworm = state.parse(Result(0, "python:3 11\ninterpreter:/usr/bin/python3.11\n"
                                     "os:Debian GNU/Linux 12 (bookworm)\n", ""))
    with pytest.raises(pyreq.PythonUnavailable, match=r"needs Python 3\.12 \(\.python-version\)"):
        step.plan(bookworm)
    found = state.parse(Result(0, "python:3 11\ninterpreter:/usr/local/bin/python3.12\n", ""))
    plan = step.plan(found)
    assert not plan.changes and "/usr/local/bin/python3.12" in plan.reason
    assert not step.plan(state.parse(Result(0, "python:\n", ""))).changes  # no python3 yet
    assert step.fact.probe is not None and "python3 -c" in step.fact.probe.render()
