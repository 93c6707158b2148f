"""No 502 while the live app restarts, crashes or the server reboots (issue 15, Done-when 4).

Each slot's socket is a systemd socket unit (djship-<site>@<slot>.socket) that stays open
while gunicorn (re)starts, so nginx's connections wait in its queue instead of failing.
One provisioned and deployed sandbox for the module; under a steady, paced load (about 50
requests a second on the page and on a static file) every request must succeed while:
``systemctl restart`` of the live slot's app, SIGKILL of the gunicorn master, and a reboot
of the whole server (measured from the moment it accepts connections again).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from helpers import (
    DOMAIN,
    SITE,
    TRACEBACK,
    Load,
    LoadResult,
    Project,
    css_path,
    make_project,
    request,
    version_served,
)

from djship.sandbox import machine
from djship.sandbox.records import SandboxInfo

RATE = 50.0  # requests a second, page and stylesheet alternating
CLIENTS = 10
SETTLE = 3.0  # seconds of load before and after the event
RUN_DIR = f"/run/djship-{SITE}"


@pytest.fixture(scope="module")
def sandbox(warm_sandbox: SandboxInfo) -> SandboxInfo:
    """Packages preinstalled: this module is not about installing them."""
    return warm_sandbox


@pytest.fixture(scope="module")
def project(sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example, provisioned and deployed once."""
    proj = make_project(tmp_path_factory.mktemp("restarts"), [sandbox])
    run = proj.provision()
    assert run.returncode == 0, str(run)
    run = proj.djship("deploy")
    assert run.returncode == 0, str(run)
    assert TRACEBACK not in run.output
    return proj


def paced(sandbox: SandboxInfo, paths: list[str]) -> Load:
    """About RATE requests a second from CLIENTS clients, page and stylesheet alternating."""
    return Load(sandbox.address, DOMAIN, paths, concurrency=CLIENTS, max_seconds=300,
                timeout=30.0, interval=CLIENTS / RATE)


@contextmanager
def paced_load(sandbox: SandboxInfo, paths: list[str]) -> Iterator[LoadResult]:
    """Paced load around the block: SETTLE seconds before and after it."""
    load = paced(sandbox, paths)
    with load:
        time.sleep(SETTLE)
        yield load.result
        time.sleep(SETTLE)
        load.stop()


def live_slot(sandbox: SandboxInfo) -> str:
    return sandbox.run(f"cat /srv/{SITE}/live-slot").stdout.strip()


def unit_show(sandbox: SandboxInfo, unit: str, *props: str) -> dict[str, str]:
    out = sandbox.run(["systemctl", "show", unit, *(f"-p{p}" for p in props)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_new_main_pid(sandbox: SandboxInfo, unit: str, old: str, seconds: float = 60) -> str:
    """Wait until the unit runs again with another main process; return its PID."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = unit_show(sandbox, unit, "MainPID", "ActiveState")
        if st["ActiveState"] == "active" and st["MainPID"] not in ("0", old):
            return st["MainPID"]
        time.sleep(0.2)
    raise AssertionError(f"{unit} did not come back within {seconds}s: {st}")


def assert_all_served(result: LoadResult, seconds: float) -> None:
    """Every request succeeded, and the load was steady (about RATE a second)."""
    assert result.failures == 0, result.summary()
    assert result.total >= RATE * seconds * 0.4, result.summary()


def load_paths(sandbox: SandboxInfo) -> list[str]:
    return ["/", css_path(request(sandbox.address, "/").body)]


def test_only_the_live_slot_runs_through_its_socket(project: Project,
                                                    sandbox: SandboxInfo) -> None:
    live = live_slot(sandbox)
    idle = "green" if live == "blue" else "blue"
    units = [f"djship-{SITE}@{s}.{k}" for s in (live, idle) for k in ("socket", "service")]
    active = sandbox.run(["systemctl", "is-active", *units], check=False).stdout.split()
    enabled = sandbox.run(["systemctl", "is-enabled", *units], check=False).stdout.split()
    assert active == ["active", "active", "inactive", "inactive"], active
    assert enabled[:2] == ["enabled", "enabled"] and "enabled" not in enabled[2:], enabled
    # The socket is systemd's, where nginx's upstream points, and only nginx's group gets in.
    sock = f"{RUN_DIR}/{live}/app.sock"
    listen = unit_show(sandbox, f"djship-{SITE}@{live}.socket", "Listen")["Listen"]
    assert listen.startswith(sock), listen
    stat = sandbox.run(["stat", "-c", "%A %U %G", sock]).stdout.split()
    assert stat == ["srw-rw----", f"djship-{SITE}", f"djship-{SITE}"], stat
    upstream = sandbox.run(f"cat /etc/nginx/djship/{SITE}-upstream.conf").stdout
    assert f"unix:{sock} " in upstream
    # gunicorn got the socket from systemd (it did not bind its own).
    pid = unit_show(sandbox, f"djship-{SITE}@{live}.service", "MainPID")["MainPID"]
    fds = sandbox.run(f"ls -l /proc/{pid}/fd | grep -c socket: || true").stdout.strip()
    assert int(fds) >= 1
    assert version_served(sandbox.address) == "1"


def test_restart_of_the_live_app_fails_no_request(project: Project,
                                                  sandbox: SandboxInfo) -> None:
    unit = f"djship-{SITE}@{live_slot(sandbox)}.service"
    old = unit_show(sandbox, unit, "MainPID")["MainPID"]
    began = time.monotonic()
    with paced_load(sandbox, load_paths(sandbox)) as result:
        sandbox.run(["systemctl", "restart", unit])
        new = wait_new_main_pid(sandbox, unit, old)
    assert new != old
    print(f"restart: {result.summary()}")
    assert_all_served(result, time.monotonic() - began)


def test_sigkill_of_the_gunicorn_master_fails_no_request(project: Project,
                                                         sandbox: SandboxInfo) -> None:
    unit = f"djship-{SITE}@{live_slot(sandbox)}.service"
    before = unit_show(sandbox, unit, "MainPID", "NRestarts")
    began = time.monotonic()
    with paced_load(sandbox, load_paths(sandbox)) as result:
        sandbox.run(["systemctl", "kill", "-s", "KILL", "--kill-whom=main", unit])
        wait_new_main_pid(sandbox, unit, before["MainPID"])
    after = unit_show(sandbox, unit, "NRestarts")
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1, (before, after)
    print(f"SIGKILL: {result.summary()}")
    assert_all_served(result, time.monotonic() - began)


def can_connect(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(address: str, port: int, *, up: bool, seconds: float) -> float:
    """Wait until ``address:port`` accepts TCP connections (``up``) or stops accepting them;
    return when it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if can_connect(address, port) is up:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{address}:{port} still {'down' if up else 'up'} after {seconds}s")


def test_after_a_reboot_no_request_fails_once_the_server_accepts_connections(
        project: Project, sandbox: SandboxInfo) -> None:
    paths = load_paths(sandbox)
    live = live_slot(sandbox)
    idle = "green" if live == "blue" else "blue"
    with ThreadPoolExecutor(1) as pool:
        rebooted = pool.submit(machine.reboot, sandbox.name)
        wait_port(sandbox.address, 80, up=False, seconds=90)
        # The load starts the moment nginx accepts again (before SSH answers, or after).
        wait_port(sandbox.address, 80, up=True, seconds=180)
        load = paced(sandbox, paths)
        with load:
            time.sleep(20)
            result = load.stop()
        rebooted.result(timeout=120)
    print(f"after the reboot: {result.summary()}")
    assert_all_served(result, 20)
    # Only the live slot came back, through its socket; the idle one stays down.
    units = [f"djship-{SITE}@{s}.{k}" for s in (live, idle) for k in ("socket", "service")]
    active = sandbox.run(["systemctl", "is-active", *units], check=False).stdout.split()
    assert active == ["active", "active", "inactive", "inactive"], active
    assert version_served(sandbox.address) == "1"
    init_age = int(sandbox.run("ps -o etimes= -p 1").stdout)
    assert init_age < 300, "the server did not reboot"


SLOW_FIRST = 5.0  # seconds a process's first request takes (issue 23, 7)
SLOW_MIDDLEWARE = '''"""A test app's lazy start: each process's first request takes SLOW_FIRST_SECONDS."""

import os
import time


class SlowFirstRequest:
    warmed = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not SlowFirstRequest.warmed:
            time.sleep(float(os.environ.get("SLOW_FIRST_SECONDS", "0")))
            SlowFirstRequest.warmed = True
        return self.get_response(request)
'''


def test_slow_first_requests_are_met_by_the_warm_up_not_by_users(project: Project,
                                                                 sandbox: SandboxInfo) -> None:
    """Issue 23, 7: every worker answers a request of its own before it accepts one (djship's
    gunicorn configuration), so under load no request meets a worker's slow first one:
    redeploy, rollback, and a worker killed and replaced by gunicorn. Each would take
    SLOW_FIRST seconds; none may."""
    settings = "guestbook/settings.py"
    project.write("guestbook/slowfirst.py", SLOW_MIDDLEWARE)
    project.write(settings, project.read(settings) + '\nMIDDLEWARE = '
                  '["guestbook.slowfirst.SlowFirstRequest", *MIDDLEWARE]\n')
    config = project.read("djship.toml")
    project.write("djship.toml", config.replace(
        f"[sites.{SITE}.env]\n", f'[sites.{SITE}.env]\nSLOW_FIRST_SECONDS = "{SLOW_FIRST:g}"\n', 1))
    project.set_version("slow-1")
    project.commit("a slow first request per process")
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    paths = load_paths(sandbox)
    project.set_version("slow-2")
    project.commit("slow-2")
    with paced_load(sandbox, paths) as result:
        began = time.monotonic()
        run = project.djship("deploy")
        assert run.returncode == 0, str(run)
        back = project.djship("rollback")
        assert back.returncode == 0, str(back)
        # A worker gunicorn replaces (max_requests, a recycled worker) warms up before it
        # accepts too. TERM, not KILL: a killed worker's request in flight would fail by itself.
        unit = f"djship-{SITE}@{live_slot(sandbox)}.service"
        master = sandbox.run(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        workers = sandbox.run(f"cat /proc/{master}/task/{master}/children").stdout.split()
        assert workers, (unit, master)
        sandbox.run(["kill", "-TERM", workers[0]])
        time.sleep(SLOW_FIRST * 2)
        seconds = time.monotonic() - began
    log = sandbox.run(f"journalctl -u {unit} --no-pager -o cat | grep 'djship warm-up' "
                      "|| true").stdout
    assert "djship warm-up: GET /health/ answered 200 OK" in log, log[-1500:]
    assert version_served(sandbox.address) == "slow-1"
    assert_all_served(result, seconds)
    assert result.slowest < SLOW_FIRST, (
        f"a request took {result.slowest:.2f}s: it met a worker's first (cold) request "
        f"({result.summary()})")
