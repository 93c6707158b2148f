"""Issue 17, the server side measured on a provisioned sandbox: the units that run the app's
code are sandboxed (`systemd-analyze security` at most 3.0, the issue's target) and still
serve; nginx tells no version, in its Server header or its error pages.

One provisioned sandbox (warm image) for the module, the guestbook example with one worker
process that writes where a worker may write (the data folder) and nowhere else.
"""

from __future__ import annotations

import re

import pytest
from helpers import SITE, Project, make_project, request

from djship.sandbox.records import SandboxInfo

TARGET = 3.0  # issue 17: "every djship unit <= 3.0" (the app and its workers here)
WORKER = '''"""A worker: proves it runs, and where it may not write."""
import os, pathlib, time
data = pathlib.Path(os.environ["DJSHIP_DATA_DIR"])
for where in (data, pathlib.Path("/srv"), pathlib.Path(os.getcwd())):
    try:
        (where / "worker-was-here").write_text("x")
        print("wrote", where, flush=True)
    except OSError as exc:
        print("refused", where, type(exc).__name__, flush=True)
time.sleep(86400)
'''


@pytest.fixture(scope="module")
def project(warm_sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    proj = make_project(tmp_path_factory.mktemp("hardening"), [warm_sandbox])
    proj.write("tools/worker.py", WORKER)
    proj.write("djship.toml", proj.read("djship.toml") + (
        f"\n[sites.{SITE}.processes.scribe]\ncommand = \"python tools/worker.py\"\n"))
    proj.commit("a worker process")
    run = proj.provision()
    assert run.returncode == 0, str(run)
    run = proj.djship("deploy")
    assert run.returncode == 0, str(run)
    return proj


def exposure(sandbox: SandboxInfo, unit: str) -> float:
    """`systemd-analyze security`'s overall exposure of a unit (0 best, 10 worst)."""
    out = sandbox.run(f"systemd-analyze security --no-pager {unit}").stdout
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert found, out[-800:]
    return float(found.group(1))


def test_app_and_worker_units_are_sandboxed_to_the_target_and_serve(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    sandbox = warm_sandbox
    slot = sandbox.run(f"cat /srv/{SITE}/live-slot").stdout.strip()
    units = [f"djship-{SITE}@{slot}.service", f"djship-{SITE}-scribe@1.service"]
    scores = {u: exposure(sandbox, u) for u in units}
    assert all(score <= TARGET for score in scores.values()), scores
    page = request(sandbox.address, "/")
    assert page.status == 200, (page.status, page.body[:300])
    worker = units[1]
    assert sandbox.run(f"systemctl is-active {worker}", check=False).stdout.strip() == "active"
    log = sandbox.run(f"journalctl -u {worker} --no-pager -o cat").stdout
    assert f"wrote /srv/{SITE}/shared/data" in log, log[-800:]
    assert "refused /srv " in log and "refused /srv/" in log, log[-800:]


def test_nginx_tells_no_version(project: Project, warm_sandbox: SandboxInfo) -> None:
    """Server header and error pages: "nginx", never "nginx/1.22.1"."""
    for path, status in (("/", 200), ("/static/no-such-file.css", 404)):
        resp = request(warm_sandbox.address, path)
        assert resp.status == status, (path, resp.status)
        server = resp.headers.get("server", "")
        assert server == "nginx", (path, server)
        assert not re.search(r"nginx/\d", resp.body), (path, resp.body[:300])
