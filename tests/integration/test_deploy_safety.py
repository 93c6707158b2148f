"""Deploy correctness on a provisioned sandbox (issue 15): what is served is what was
committed, even when a file keeps its size and mtime; an environment edit in djship.toml is
live after `deploy` alone and a rollback brings the old value back; a redirect to https on a
site without TLS fails the health gate; a deploy killed (SIGKILL) or whose connection is cut
at upload, migrate or start leaves no trap, and after SIGKILL the next deploy takes over the
dead run's lock and says so (the handled signals are in test_deploy_safety_signals.py; see
safety.py for the deterministic triggers and what is checked).

One provisioned sandbox for the module; the tests run in file order on the guestbook example,
which gets one extra view (/env/<NAME>/ answers os.environ[NAME]).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from helpers import (
    DOMAIN,
    SITE,
    Project,
    current_release,
    finish,
    loaded_around,
    make_project,
    releases_listing,
    request,
    sha256s,
    version_served,
)
from safety import PHASES, big_file, interrupted_deploy

from djship.sandbox.records import SandboxInfo

HEALTH_TIMEOUT = 30  # > safety.IMPORT_SLEEP: the slow-importing release would start
STAMP = "2026-12-03 10:00:00"

ENV_VIEW = '''

@require_GET
def env_value(request: HttpRequest, name: str) -> HttpResponse:
    """One variable of the app's environment (a deploy-safety test reads it)."""
    return HttpResponse(os.environ.get(name, "<unset>"), content_type="text/plain")
'''


@pytest.fixture(scope="module")
def project(warm_sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example with the env view, aimed at the sandbox, provisioned and deployed."""
    proj = make_project(tmp_path_factory.mktemp("safety"), [warm_sandbox])
    proj.write("entries/views.py", proj.read("entries/views.py") + ENV_VIEW)
    proj.write("guestbook/urls.py", proj.read("guestbook/urls.py").replace(
        '    path("boom/"', '    path("env/<str:name>/", views.env_value),\n    path("boom/"'))
    proj.write("djship.test.toml", proj.read("djship.test.toml")
               + f"\n[sites.{SITE}]\nhealth_timeout = {HEALTH_TIMEOUT}\n")
    proj.commit("an env view; test overlay")
    run = proj.provision()
    assert run.returncode == 0, str(run)
    run = proj.djship("deploy")
    assert run.returncode == 0, str(run)
    return proj


def env_served(sandbox: SandboxInfo, name: str) -> str:
    """The value of one variable in the live app's environment."""
    resp = request(sandbox.address, f"/env/{name}/")
    assert resp.status == 200, (resp.status, resp.body[:300])
    return resp.body


def stamped_version(project: Project, version: str) -> str:
    """Write entries/version.py with ``version``, give it the fixed mtime, commit."""
    path = project.write("entries/version.py", f'"""Release marker."""\n\nVERSION = "{version}"\n')
    subprocess.run(["touch", "-d", STAMP, str(path)], check=True)
    return project.commit(f"version {version} (mtime {STAMP})")


def test_a_change_of_one_character_same_size_same_mtime_is_served(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    """Issue 15, 1: content decides what is uploaded, never size + mtime."""
    sandbox = warm_sandbox
    rel = "entries/version.py"
    stamped_version(project, "sA")
    first = project.djship("deploy")
    assert first.returncode == 0, str(first)
    assert version_served(sandbox.address) == "sA"
    size_a = (project.root / rel).stat().st_size
    commit = stamped_version(project, "sB")
    assert (project.root / rel).stat().st_size == size_a  # the premise: same size, same mtime
    second = project.djship("deploy")
    assert second.returncode == 0, str(second)
    local = hashlib.sha256((project.root / rel).read_bytes()).hexdigest()
    on_server = sha256s(sandbox, [f"/srv/{SITE}/current/{rel}"])[f"/srv/{SITE}/current/{rel}"]
    served = version_served(sandbox.address)
    status = project.djship("status")
    says_no_drift = "no drift" in status.stdout
    assert served == "sB" and on_server == local, (
        f"after deploying commit {commit} (VERSION sB, same size and mtime as sA) the server "
        f"serves VERSION {served}; current/{rel} sha256 {on_server[:12]} vs the commit's "
        f"{local[:12]}; `djship status` said {'no drift' if says_no_drift else 'drift'}; "
        f"deploy said: {second.stderr.strip().splitlines()[-3:]}")
    assert status.returncode == 0, str(status)


def test_env_change_is_live_after_deploy_and_rollback_restores_it(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    """Issue 15, 5: the site's environment is part of the release."""
    sandbox = warm_sandbox
    before, _ = releases_listing(project)
    old_greeting = env_served(sandbox, "GREETING")
    assert env_served(sandbox, "SAFETY_ADDED") == "<unset>"
    config = project.read("djship.toml")
    assert f'GREETING = "{old_greeting}"' in config, (old_greeting, config)
    project.write("djship.toml", config.replace(
        f'GREETING = "{old_greeting}"',
        'GREETING = "hello from the edited env"\nSAFETY_ADDED = "added in djship.toml"'))
    project.commit("env: an edited and an added variable")
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    after, _ = releases_listing(project)
    assert after != before, f"no new release went live:\n{run}"
    seen = (env_served(sandbox, "GREETING"), env_served(sandbox, "SAFETY_ADDED"))
    status = project.djship("status")
    assert seen == ("hello from the edited env", "added in djship.toml"), (
        f"after `djship deploy` alone the app sees GREETING={seen[0]!r}, "
        f"SAFETY_ADDED={seen[1]!r}; expected the values now in djship.toml "
        f"(`djship status`: {status.stdout.strip()[-300:]!r})")
    assert "drift: environment" not in status.stdout, str(status)
    back = project.djship("rollback")
    assert back.returncode == 0, str(back)
    assert releases_listing(project)[0] == before
    restored = (env_served(sandbox, "GREETING"), env_served(sandbox, "SAFETY_ADDED"))
    assert restored == (old_greeting, "<unset>"), (
        f"after `djship rollback` to {before} the app sees GREETING={restored[0]!r}, "
        f"SAFETY_ADDED={restored[1]!r}; expected the old release's {old_greeting!r} and unset")


REDIRECT_ALWAYS = '''

# A deploy-safety test: redirect every request to https, the health path included,
# although the site has no TLS.
SECURE_SSL_REDIRECT = True
SECURE_REDIRECT_EXEMPT = []
'''


def test_redirect_to_https_without_tls_fails_the_health_gate(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    """Issue 15, 4: a 301 to https on a site without TLS is not healthy."""
    sandbox = warm_sandbox
    live = current_release(sandbox)
    version = version_served(sandbox.address)
    _, listed = releases_listing(project)
    settings = "guestbook/settings.py"
    project.write(settings, project.read(settings) + REDIRECT_ALWAYS)
    project.commit("SECURE_SSL_REDIRECT on, TLS off")
    try:
        run = project.djship("deploy", timeout=600)
    finally:
        project.git("reset", "-q", "--hard", "HEAD~1")
    try:
        page = request(sandbox.address, "/")
        assert run.returncode != 0, (
            f"`djship deploy` of a release whose every page answers a redirect to https "
            f"(TLS off) exited 0; / now answers {page.status} "
            f"{page.headers.get('location', '')}; last lines: "
            f"{run.stderr.strip().splitlines()[-3:]}")
        assert re.search(r"SECURE_SSL_REDIRECT|redirect", run.stderr, re.IGNORECASE), (
            f"the failure does not name SECURE_SSL_REDIRECT or the redirect:\n{run}")
        assert current_release(sandbox) == live and version_served(sandbox.address) == version
        assert page.status == 200, (page.status, page.headers)
    finally:
        put_back(project, sandbox, live, listed)


def put_back(project: Project, sandbox: SandboxInfo, live: str, listed: list[str]) -> None:
    """After a deploy that should have failed went live: serve ``live`` again and remove
    the releases it made (so later tests' rollbacks do not land on them)."""
    if current_release(sandbox) != live:
        back = project.djship("rollback", live)
        assert back.returncode == 0, str(back)
    _, now = releases_listing(project)
    for rid in set(now) - set(listed):
        sandbox.run(["rm", "-rf", "--", f"/srv/{SITE}/releases/{rid}"])
    assert request(sandbox.address, "/", host=DOMAIN).status == 200


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The upload phase's large file, made once."""
    return big_file(tmp_path_factory.mktemp("blob"))


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("how", ["SIGKILL", "cut"])
def test_killed_or_cut_deploy_leaves_no_trap(how: str, phase: str, project: Project,
                                             warm_sandbox: SandboxInfo, blob: Path) -> None:
    """Issue 15, 2: SIGKILL of djship's pid, or its ssh ControlMaster killed, under load."""
    outcome = interrupted_deploy(project, warm_sandbox, phase, how, blob)
    assert not outcome.problems, outcome.report()


WRITE_MARKER = ("python -c \"import os, pathlib; pathlib.Path(os.environ['DJSHIP_DATA_DIR'], "
                "'release-ran').write_text(os.environ['GREETING'])\"")
FAILING = "python -c 'import sys; sys.exit(3)'"


def with_release_commands(config: str, commands: list[str]) -> str:
    """djship.toml with ``sites.<SITE>.release`` set to ``commands``."""
    listed = ", ".join(json.dumps(c) for c in commands)
    return config.replace(f"[sites.{SITE}]\n", f"[sites.{SITE}]\nrelease = [{listed}]\n", 1)


def test_release_commands_run_in_the_new_release_and_a_failing_one_refuses_it(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    """Issue 23, 1: the project's release commands run before the release serves; a failing
    one refuses it with the old release serving, under load, without a failed request."""
    sandbox = warm_sandbox
    marker = f"/srv/{SITE}/shared/data/release-ran"
    sandbox.run(f"rm -f {marker}")
    live, version = current_release(sandbox), version_served(sandbox.address)
    config = project.read("djship.toml")
    project.write("djship.toml", with_release_commands(config, [WRITE_MARKER, FAILING]))
    stamped_version(project, "rc-refused")
    with loaded_around(sandbox.address, DOMAIN, ["/", "/health/"], clients=4,
                       min_seconds=6) as load:
        run = project.djship("deploy", timeout=600)
    assert run.returncode != 0, f"a release whose command exits 3 went live:\n{run}"
    assert "release failed" in run.stderr and "sys.exit(3)" in run.stderr, str(run)
    assert current_release(sandbox) == live and version_served(sandbox.address) == version
    assert load.result.total > 0 and load.result.failures == 0, load.result.summary()
    # The commands before the failing one ran, in the new release, with the site's env.
    greeting = sandbox.run(f"cat {marker}").stdout
    assert greeting == env_served(sandbox, "GREETING"), greeting
    sandbox.run(f"rm -f {marker}")
    project.write("djship.toml", with_release_commands(config, [WRITE_MARKER]))
    stamped_version(project, "rc-served")
    run = project.djship("deploy", timeout=600)
    assert run.returncode == 0, str(run)
    assert version_served(sandbox.address) == "rc-served"
    assert sandbox.run(f"cat {marker}").stdout == env_served(sandbox, "GREETING")
    project.write("djship.toml", config)
    project.commit("no release commands")


def test_gunicorn_logs_no_control_socket_error(project: Project,
                                               warm_sandbox: SandboxInfo) -> None:
    """Issue 23, 8: gunicorn 25+ opens a control socket; it has a writable place."""
    slot = warm_sandbox.run(f"cat /srv/{SITE}/live-slot").stdout.strip()
    log = warm_sandbox.run(f"journalctl -u djship-{SITE}@{slot}.service --no-pager -o cat "
                           "-n 400").stdout
    assert "Booting worker" in log or "Listening at" in log, log[-500:]  # the app's own log
    assert "Control server error" not in log, log[-1500:]


def test_a_process_added_or_removed_in_the_config_follows_at_deploy(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    """Issue 23, 6: processes are part of the release plan, no provision needed."""
    sandbox = warm_sandbox
    unit = f"djship-{SITE}-ticker@1.service"
    config = project.read("djship.toml")
    ticker = (f"\n[sites.{SITE}.processes.ticker]\n"
              "command = \"python -c 'import time; time.sleep(86400)'\"\n")
    project.write("djship.toml", config + ticker)
    project.commit("a ticker process")
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    state = sandbox.run(f"systemctl is-active {unit}", check=False).stdout.strip()
    assert state == "active", (state, run.stderr[-1500:])
    project.write("djship.toml", config)
    project.commit("no ticker process")
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    gone = sandbox.run(f"systemctl is-active {unit}", check=False).stdout.strip()
    assert gone in ("inactive", "unknown"), gone
    assert sandbox.run(f"test -e /etc/systemd/system/djship-{SITE}-ticker@.service",
                       check=False).returncode != 0


def test_deploy_returns_only_once_nginx_routes_to_the_new_slot(
        project: Project, warm_sandbox: SandboxInfo) -> None:
    """`systemctl reload nginx` only signals nginx: its old workers keep the old upstream
    until the master has read the new configuration. A deploy that returns before then
    reports a site that answers 502 (the old slot retires after its drain; on a first deploy
    the old upstream is the placeholder). Seen in CI right after first deploys on a busy
    machine; made deterministic here by holding nginx's master (SIGSTOP) over the deploy."""
    sandbox = warm_sandbox
    master = sandbox.run("cat /run/nginx.pid").stdout.strip()
    assert master.isdigit(), master
    upstream = f"/etc/nginx/djship/{SITE}-upstream.conf"
    before = sandbox.run(f"cat {upstream}").stdout
    project.set_version("reload-held")
    deploy = project.start("deploy")
    sandbox.run(["kill", "-STOP", master])
    try:
        deadline = time.monotonic() + 300
        while deploy.poll() is None and time.monotonic() < deadline:
            if sandbox.run(f"cat {upstream}").stdout != before:
                break
            time.sleep(0.2)
        # The switch wrote the new upstream: give a deploy that does not wait for nginx
        # time to return, and the old slot time to retire (its drain is 3 s).
        held_until = time.monotonic() + 6
        while deploy.poll() is None and time.monotonic() < held_until:
            time.sleep(0.2)
        if deploy.poll() is not None:
            returned = finish(deploy, ["deploy"])
            time.sleep(max(0.0, held_until - time.monotonic()))  # past the old slot's drain
            page = request(sandbox.address, "/")
            pytest.fail(f"deploy exited {returned.returncode} while nginx had not applied the "
                        f"switch (its master held 6 s): the site answers {page.status}\n"
                        f"{returned}")
    finally:
        sandbox.run(["kill", "-CONT", master])
    run = finish(deploy, ["deploy"]) if deploy.returncode is None else None
    if run is not None:
        assert run.returncode == 0, str(run)
        assert version_served(sandbox.address) == "reload-held"
