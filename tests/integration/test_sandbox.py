"""The sandbox itself: boot, SSH, package installs, confinement and clean teardown.

Traffic goes only to loopback, to sandboxes these tests boot, to a listener the test
opens on the host's own address, and to the package sources the host already uses.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from djship.errors import DjshipError
from djship.sandbox import machine
from djship.sandbox.records import SandboxInfo
from djship.sandbox.state import state_dir
from djship.sandbox.testing import SandboxFactory, host_entry

pytestmark = pytest.mark.integration
SRC = str(Path(__file__).resolve().parents[2] / "src")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `djship sandbox ...` as a user would, in a separate process."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "djship.sandbox", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def connect_error(address: str, port: int, timeout: float = 5.0) -> tuple[int | None, float]:
    """Try a TCP connection from the host; return (errno or None if it worked, seconds)."""
    began = time.monotonic()
    try:
        socket.create_connection((address, port), timeout=timeout).close()
        return None, time.monotonic() - began
    except OSError as e:
        return e.errno, time.monotonic() - began


def test_cli_up_prints_address_and_plain_ssh_works(sandbox_factory: SandboxFactory) -> None:
    name = sandbox_factory.new_name()
    sandbox_factory.names.append(name)
    up = cli("up", name)
    assert up.returncode == 0, up.stderr
    info = next(m for m in machine.list_machines() if m.name == name)
    assert f"is up at {info.address}" in up.stdout
    assert host_entry(info) in up.stdout
    state = cli("ssh", name, "systemctl", "is-system-running")
    assert state.stdout.strip() in ("running", "degraded"), state
    plain = subprocess.run(
        ["ssh", "-i", str(info.identity_file), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={info.known_hosts_file}", "-o", "StrictHostKeyChecking=yes",
         f"root@{info.address}", "hostname"], capture_output=True, text=True, timeout=30)
    assert plain.stdout.strip() == name, plain.stderr
    assert cli("ssh", name, "exit 7").returncode == 7
    listing = cli("ls").stdout
    assert any(line.split()[:3] == [name, info.address, "running"] for line in listing.splitlines())


def test_name_taken_is_a_clear_error(sandbox: SandboxInfo) -> None:
    with pytest.raises(DjshipError, match="already exists"):
        machine.up(sandbox.name)
    again = cli("up", sandbox.name)
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert sandbox.run("true").returncode == 0  # the original is untouched


@pytest.fixture(scope="module")
def four(sandbox_factory: SandboxFactory) -> list[SandboxInfo]:
    return sandbox_factory.many(4)


def test_four_sandboxes_install_packages_in_parallel(four: list[SandboxInfo]) -> None:
    assert len({s.address for s in four}) == 4
    script = ("set -e; DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; "
              "python3 -m venv v; v/bin/pip install -q django gunicorn 2>/dev/null; "
              "systemctl is-active nginx; v/bin/python -c 'import django, gunicorn'")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: s.run(script, check=False, timeout=900), four))
    for box, result in zip(four, results, strict=True):
        assert result.returncode == 0, f"{box.name}: {result.stderr[-2000:]}"
        assert result.stdout.strip() == "active"


def test_sandboxes_reach_each_other(four: list[SandboxInfo]) -> None:
    a, b = four[0], four[1]
    a.run(["systemd-run", "--unit=peer-probe", "python3", "-m", "http.server", "8765",
           "--bind", a.address])
    probe = ("import socket,time\nfor _ in range(50):\n try:\n"
             f"  socket.create_connection(('{a.address}', 8765), timeout=2).close(); break\n"
             " except OSError: time.sleep(0.1)\nelse: raise SystemExit(1)\n")
    assert b.run(["python3", "-c", probe], check=False).returncode == 0


def _host_address_outside(sandbox: SandboxInfo) -> str:
    """One of this host's own global IPv4 addresses that is not on the sandbox bridge."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout
    for link in json.loads(out):
        for addr in link.get("addr_info", []):
            if link["ifname"] != "djship0" and addr["local"] != sandbox.address:
                return str(addr["local"])
    pytest.skip("this host has no global IPv4 address outside the sandbox network")


def test_only_package_sources_are_reachable_from_inside(four: list[SandboxInfo]) -> None:
    box = four[2]
    outside = _host_address_outside(box)
    listener = socket.create_server((outside, 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    probe = (f"import socket\ntry:\n socket.create_connection(('{outside}', {port}), "
             "timeout=5)\nexcept OSError as e: print('refused', e.errno)\nelse: print('open')\n")
    began = time.monotonic()
    result = box.run(["python3", "-c", probe])
    assert result.stdout.startswith("refused"), result.stdout
    assert time.monotonic() - began < 10
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    # The package sources the sandbox was given (its own apt mirror) do answer.
    mirror = box.run("awk 'NR==1 {print $2}' /etc/apt/sources.list").stdout.strip()
    code = box.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30",
                    f"{mirror}/dists/{box.release}/InRelease"])
    assert code.stdout == "200"


def test_downed_sandbox_address_fails_at_once(sandbox_factory: SandboxFactory) -> None:
    keep, gone = sandbox_factory(), sandbox_factory()
    assert connect_error(gone.address, 22)[0] is None
    machine.down(gone.name)
    err, seconds = connect_error(gone.address, 22)
    assert err == errno.EHOSTUNREACH and seconds < 0.5
    route = subprocess.run(["ip", "route", "get", gone.address], capture_output=True, text=True)
    assert route.returncode != 0 or "unreachable" in route.stdout
    assert "No route to host" in route.stderr or "unreachable" in route.stdout
    assert connect_error(keep.address, 22)[0] is None
    assert f"vb-{gone.name}" not in _links()


def _links() -> list[str]:
    """Interface names in this network namespace (from the kernel, not /sys)."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return [line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()]


def _nspawn_processes(names: set[str]) -> list[str]:
    """Command lines of live (non-zombie) systemd-nspawn processes for these sandboxes."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fields[0] != "Z" and cmd.startswith("systemd-nspawn") and any(
                f"--machine={name} " in cmd for name in names):
            found.append(cmd)
    return found


def _exclusive(why: str) -> None:
    if os.environ.get("CI") != "true" and os.environ.get("DJSHIP_SANDBOX_EXCLUSIVE") != "1":
        pytest.skip(f"{why} needs the host to itself: set CI=true or "
                    "DJSHIP_SANDBOX_EXCLUSIVE=1 (or run in an isolated netns)")


def _iptables_forward_policy() -> str | None:
    listing = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True,
                             text=True, check=False)
    if listing.returncode != 0:
        return None
    return next(line.split()[2] for line in listing.stdout.splitlines()
                if line.startswith("-P FORWARD"))


def test_works_behind_a_forward_policy_of_drop(sandbox_factory: SandboxFactory) -> None:
    """Docker sets iptables' FORWARD policy to DROP; sandboxes must still get out."""
    _exclusive("changing the host's FORWARD policy")
    before = _iptables_forward_policy()
    if before is None:
        pytest.skip("iptables is not installed")
    subprocess.run(["iptables", "-w", "-P", "FORWARD", "DROP"], check=True)
    try:
        box = sandbox_factory()
        mirror = box.run("awk 'NR==1 {print $2}' /etc/apt/sources.list").stdout.strip()
        code = box.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "30", f"{mirror}/dists/{box.release}/InRelease"],
                       check=False)
        assert code.stdout == "200", code.stderr
        rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
        assert "djship sandbox" in rules
    finally:
        subprocess.run(["iptables", "-w", "-P", "FORWARD", before], check=True)


def test_down_all_leaves_nothing_behind(sandbox_factory: SandboxFactory) -> None:
    # `down --all` takes down every sandbox in the state dir, including ones someone
    # creates while this test runs: only run it where this test run owns the host.
    _exclusive("`down --all`")
    boxes = sandbox_factory.many(2)
    ours = set(sandbox_factory.names)
    if {m.name for m in machine.list_machines()} - ours:
        pytest.skip("other sandboxes are running; `down --all` would take them down")
    result = cli("down", "--all")
    assert result.returncode == 0, result.stderr
    assert machine.list_machines() == []
    assert _nspawn_processes(ours) == []
    assert [n for n in _links() if n.startswith(("ve-", "vb-"))] == []
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "djship" not in tables
    if _iptables_forward_policy() is not None:
        rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
        assert "djship sandbox" not in rules
    mounts = Path("/proc/self/mountinfo").read_text()
    machines = state_dir() / "machines"
    assert [n for n in ours if f" {machines / n}/" in mounts or f" {machines / n} " in mounts] == []
    for box in boxes:
        err, seconds = connect_error(box.address, 22)
        assert err == errno.EHOSTUNREACH and seconds < 0.5
