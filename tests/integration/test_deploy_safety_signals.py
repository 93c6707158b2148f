"""Interrupted deploys leave no traps (issue 15, 2), the handled signals: SIGINT (Ctrl-C:
to the process group) and SIGTERM (to djship's pid), each at upload, migrate and start,
under load. SIGKILL and a cut connection are in test_deploy_safety.py (the two modules
take about the same time).

Each case deploys the guestbook with a change that holds one phase open, interrupts it
when a deterministic trigger shows that phase running (see safety.py), then deploys again.
Expected throughout: 0 failed requests and the old release serving; a handled signal ends
djship within 5 s with a non-zero status, and djship leaves no idle slot running, no lock
and no process of the interrupted release on the server; after the next deploy every
release folder is a listed release; a release interrupted before its checks and
migrations completed is never listed and `djship rollback` refuses it.

One provisioned sandbox for the module; every case starts from the release the previous one
left live. Each case collects all its problems and reports them together.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SITE, Project, make_project
from safety import PHASES, big_file, interrupted_deploy

from djship.sandbox.records import SandboxInfo

HEALTH_TIMEOUT = 30  # > safety.IMPORT_SLEEP: the slow-importing release would start


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The upload phase's large file, made once."""
    return big_file(tmp_path_factory.mktemp("blob"))


@pytest.fixture(scope="module")
def project(warm_sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example aimed at the sandbox, provisioned and deployed once."""
    proj = make_project(tmp_path_factory.mktemp("signals"), [warm_sandbox])
    proj.write("djship.test.toml", proj.read("djship.test.toml")
               + f"\n[sites.{SITE}]\nhealth_timeout = {HEALTH_TIMEOUT}\n")
    proj.commit("test overlay")
    run = proj.provision()
    assert run.returncode == 0, str(run)
    run = proj.djship("deploy")
    assert run.returncode == 0, str(run)
    return proj


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_interrupted_deploy_leaves_no_trap(how: str, phase: str, project: Project,
                                           warm_sandbox: SandboxInfo, blob: Path) -> None:
    outcome = interrupted_deploy(project, warm_sandbox, phase, how, blob)
    assert not outcome.problems, outcome.report()
