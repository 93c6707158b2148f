"""Steps: firewall (nftables), SSH hardening, unattended security upgrades."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from djship import paths
from djship.config import Host
from djship.errors import ConnectionFailure
from djship.facts.files import FileStates, file_states
from djship.plan import Call, Plan, Step
from djship.render import render
from djship.shell import Script, cmd, raw
from djship.steps.files import File, files_step, plan_files

NFT_FILE = f"{paths.ETC}/firewall.nft"
# Per-site additions to the firewall (e.g. PostgreSQL clients), included by NFT_FILE.
ALLOW_DIR = f"{paths.ETC}/firewall.d"
FIREWALL_UNIT = "djship-firewall.service"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-djship.conf"


def firewall_step(host: Host, root: Path | None) -> Step[Any]:
    """Only SSH, HTTP and HTTPS in, plus the per-site rules in ALLOW_DIR."""
    nft = render("firewall.nft.j2", root, ssh_port=host.port, allow_dir=ALLOW_DIR)
    unit = render("firewall.service.j2", root, nft_file=NFT_FILE)
    files = [File(NFT_FILE, nft.encode(), 0o600),
             File(f"{paths.SYSTEMD}/{FIREWALL_UNIT}", unit.encode())]
    return files_step("firewall", files, validate=[cmd("nft", "-c", "-f", NFT_FILE)],
                      then=[cmd("systemctl", "daemon-reload"),
                            cmd("systemctl", "enable", FIREWALL_UNIT), *FIREWALL_RELOAD])


# Reload, not restart: a restart deletes the table first (a moment with no firewall); the
# file replaces the whole table, snippets included, in one nft transaction. A second try
# after a second: on a busy host (seen in containers) systemd can fail to set up the
# reload's own cgroup (status 219/CGROUP) although the rules are fine (checked by nft -c
# before); loading the same file again is harmless.
FIREWALL_RELOAD = [cmd(raw("if ! systemctl reload-or-restart"), FIREWALL_UNIT,
                       raw("&& ! { sleep 1; systemctl reload-or-restart"), FIREWALL_UNIT,
                       raw("; }; then"),
                       "journalctl", "-u", FIREWALL_UNIT, "-n", "20", "--no-pager", "-o", "cat",
                       raw(">&2; exit 1; fi"))]


def verify_login(transport: Any) -> None:
    """After reloading sshd, prove a fresh login works; otherwise undo the hardening."""
    fresh = getattr(transport, "fresh_login_works", None)
    if fresh is None:
        return
    deadline = time.monotonic() + 15  # sshd restarts itself on reload, refusing briefly
    while time.monotonic() < deadline:
        if fresh():
            return
        time.sleep(0.5)
    transport.run(Script.of([cmd("rm", "-f", SSHD_DROPIN),
                             cmd("systemctl", "try-reload-or-restart", "ssh")]))
    raise ConnectionFailure(transport.name, "a new SSH login failed after hardening sshd; the "
                            "change was undone",
                            hint="check that you log in with a key (not a password) and retry")


def plan_sshd(host: Host, root: Path | None, states: FileStates) -> Plan:
    """Keys only; root may log in with a key only."""
    root_login = "prohibit-password" if host.user == "root" else "no"
    text = render("sshd.conf.j2", root, root_login=root_login)
    plan = plan_files([File(SSHD_DROPIN, text.encode())], states,
                      validate=[cmd("sshd", "-t")],
                      then=[cmd("systemctl", "try-reload-or-restart", "ssh")], label="sshd")
    if not plan.changes:
        return plan
    return Plan((*plan.actions, Call(verify_login, "verified a fresh SSH login")))


def sshd_step(host: Host, root: Path | None) -> Step[FileStates]:
    """Harden sshd without ever locking the user out."""
    return Step("ssh hardening", file_states([SSHD_DROPIN]), lambda s: plan_sshd(host, root, s))


def upgrades_step(root: Path | None) -> Step[Any]:
    """Turn on unattended security upgrades."""
    text = render("auto-upgrades.j2", root)
    return files_step("security updates",
                      [File("/etc/apt/apt.conf.d/20auto-upgrades", text.encode())])


__all__ = ["firewall_step", "sshd_step", "upgrades_step"]
