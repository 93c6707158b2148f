"""Issue 23, done-when 3: for `startproject` and the test projects of the real-projects issue,
every edit `init --settings` proposes, once applied, keeps the settings importable and adds
no error to `djship check`."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from test_settings_support import startproject, with_config

from djship.settings import apply_plan, plan_settings, run_check
from djship.settings.finding import Finding

# Needed on the servers, not to import the settings or check them against SQLite.
_SERVER_ONLY = {"psycopg", "psycopg2", "gunicorn"}


def _real_projects() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "integration" / "real_projects.py"
    spec = importlib.util.spec_from_file_location("real_projects", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_projects"] = module
    spec.loader.exec_module(module)
    return module


REAL = _real_projects()


def _lacking(packages: list[str]) -> list[str]:
    """The distributions among ``packages`` this Python does not have."""
    names = [re.split(r"[<>=!~\[; ]", p, maxsplit=1)[0] for p in packages]
    out = []
    for name in names:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name.lower() not in _SERVER_ONLY:
                out.append(name)
    return out


def _materialize(name: str, root: Path) -> Path:
    if name == "startproject":
        return startproject(root)
    spec = REAL.PROJECTS[name]()
    lacking = _lacking(spec.dev_packages)
    if lacking:
        # Without them the settings do not import here, and djship would build a check
        # environment from the registry: test_real_projects covers these on sandboxes.
        pytest.skip(f"{name} needs {', '.join(lacking)}, not installed in this Python")
    REAL.write_files(root, spec.files)
    if spec.in_git:
        REAL.git_init(root, "the project as its developer committed it")
    return root


def _errors(findings: list[Finding]) -> dict[str, str]:
    return {f.code: f.message for f in findings if f.level == "error"}


@pytest.mark.parametrize("name", ["startproject", *REAL.PROJECTS])
def test_every_proposal_keeps_the_settings_importable_and_adds_no_check_error(
        name: str, tmp_path: Path) -> None:
    root = _materialize(name, tmp_path / name)
    config = with_config(root)
    site = next(iter(config.sites))
    before = _errors(run_check(root, config, site, env_use="off"))
    assert "settings.import" not in before, before
    plan = plan_settings(root, config, site)
    apply_plan(root, plan)
    after = _errors(run_check(root, config, site, env_use="off"))
    assert "settings.import" not in after, after["settings.import"]
    added = {code: msg for code, msg in after.items() if code not in before}
    assert not added, added
