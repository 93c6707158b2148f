"""Step: djship's own tools on the server (uv in a venv, the env-file helper)."""

from __future__ import annotations

from importlib import resources

from djship import paths
from djship.plan import Fact, Plan, Run, Step
from djship.shell import Script, cmd, raw
from djship.steps.files import File, files_step
from djship.transport.base import Result

UV_REQUIREMENT = "uv>=0.4,<1"
ENVTOOL = f"{paths.TOOLS}/lib/envtool.py"
GUNICORN_CONF = f"{paths.TOOLS}/lib/gunicorn_conf.py"


def envtool_file() -> File:
    """The env-file helper, as a file to keep on the server."""
    text = resources.files("djship.remote").joinpath("envtool.py").read_bytes()
    return File(ENVTOOL, text, 0o755)


def gunicorn_conf_file() -> File:
    """The gunicorn configuration every app server starts with (its workers warm up)."""
    text = resources.files("djship.remote").joinpath("gunicorn_conf.py").read_bytes()
    return File(GUNICORN_CONF, text, 0o644)


def parse_uv(result: Result) -> bool:
    """True when uv answers in the tools venv."""
    return result.stdout.strip().startswith("uv ")


def plan_uv(present: bool) -> Plan:
    """Create the tools venv with uv if it is not there."""
    if present:
        return Plan.nothing("uv installed")
    venv = f"{paths.TOOLS}/venv"
    return Plan.of(Run(Script.of([
        cmd("install", "-d", "-m", "755", paths.TOOLS),
        cmd("python3", "-m", "venv", "--clear", venv),
        cmd(f"{venv}/bin/pip", "install", "--quiet", UV_REQUIREMENT),
    ]), "installed uv"))


def uv_step() -> Step[bool]:
    """Ensure uv is installed for dependency installs."""
    probe = Script.of([cmd(paths.UV, "--version", raw("2>/dev/null || true"))])
    return Step("uv", Fact(probe, parse_uv, False), plan_uv)


def envtool_step() -> Step[object]:
    """Keep the env-file helper current."""
    return files_step("helpers", [envtool_file()])  # type: ignore[return-value]
