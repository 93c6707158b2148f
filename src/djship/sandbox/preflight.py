"""Checks that this host can run sandboxes, each failing with what to install."""

from __future__ import annotations

import os
import shutil

from djship.errors import DjshipError

# Tool -> the Debian package that provides it.
TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "nft": "nftables",
    "ip": "iproute2",
    "getent": "libc-bin",
}
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"


def missing_tools() -> dict[str, str]:
    """Tools not found on PATH (plus the sbin directories), mapped to their apt package."""
    path = os.environ.get("PATH", "") + ":" + SBIN_PATH
    return {tool: pkg for tool, pkg in TOOLS.items() if shutil.which(tool, path=path) is None}


def problems() -> list[str]:
    """Every reason this host cannot run sandboxes; empty if it can."""
    found = []
    if os.geteuid() != 0:
        found.append("sandboxes need root (network setup, mounts, systemd-nspawn)")
    for tool, pkg in missing_tools().items():
        found.append(f"{tool} is missing: apt-get install {pkg}")
    return found


def require() -> None:
    """Raise a DjshipError naming every missing prerequisite."""
    found = problems()
    if not found:
        return
    missing = sorted(set(missing_tools().values()))
    hint = f"apt-get install {' '.join(missing)}" if missing else "run it again with sudo"
    if missing and os.geteuid() != 0:
        hint += ", then run it again with sudo"
    raise DjshipError("cannot run sandboxes here: " + "; ".join(found), hint=hint)
