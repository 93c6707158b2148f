"""scripts/setup.sh: the demo installs only what the demo uses; the tests get the rest."""

from __future__ import annotations

import subprocess
from pathlib import Path

from djship.sandbox import preflight

SETUP = Path(__file__).resolve().parents[2] / "scripts" / "setup.sh"
ESSENTIAL = {"libc-bin"}  # on every Debian system, never installed by setup


def packages(purpose: str) -> list[str]:
    out = subprocess.run(["bash", str(SETUP), "--list", purpose], capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def test_demo_installs_what_sandboxes_and_deploys_need_and_nothing_for_tests() -> None:
    demo = set(packages("demo"))
    assert set(preflight.TOOLS.values()) - ESSENTIAL <= demo  # sandbox up
    assert {"rsync", "openssh-client", "git"} <= demo  # djship deploy
    assert not demo & {"docker.io", "docker-compose", "postgresql", "pebble", "testssl.sh"}
    assert demo == {"debootstrap", "systemd-container", "rsync", "openssh-client",
                    "iproute2", "nftables", "git"}


def test_tests_install_the_demo_packages_and_their_own() -> None:
    tests = packages("tests")
    assert set(packages("demo")) < set(tests)
    assert {"docker.io", "postgresql", "pebble", "testssl.sh"} <= set(tests)


def test_scripts_name_their_purpose() -> None:
    root = SETUP.parent
    assert "./scripts/setup.sh demo\n" in (root / "demo.sh").read_text()
    assert "./scripts/setup.sh tests\n" in (root / "test.sh").read_text()
    bad = subprocess.run(["bash", str(SETUP), "--list", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown purpose" in bad.stderr
