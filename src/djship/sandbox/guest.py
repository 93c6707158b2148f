"""Per-sandbox files written into the guest before it boots: identity, network, access."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from djship.sandbox.fs import write_atomic
from djship.sandbox.network import gateway
from djship.sandbox.proc import run

# Sorts before systemd's own 80-container-host0.network, which would otherwise win.
NETWORK_FILE = "etc/systemd/network/10-djship.network"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
LINGER = "var/lib/systemd/linger/root"
NO_DNS = "# djship sandbox: no DNS; package sources are listed in /etc/hosts\n"


def render_network(addr: IPv4Address, net: IPv4Network) -> str:
    """systemd-networkd config giving the guest its static address on the bridge."""
    return (
        "[Match]\nName=host0\n\n[Network]\n"
        f"Address={addr}/{net.prefixlen}\nGateway={gateway(net)}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


def render_hosts(name: str, sources: Mapping[str, list[str]]) -> str:
    """The guest's /etc/hosts: itself plus the host's view of each package source."""
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{name}", "::1\tlocalhost ip6-localhost"]
    lines += [f"{addrs[0]}\t{host}" for host, addrs in sorted(sources.items()) if addrs]
    return "\n".join(lines) + "\n"


def render_known_hosts(addr: IPv4Address, host_pub: str) -> str:
    """A known_hosts line pinning the guest's host key to its address."""
    key_type, key = host_pub.split()[:2]
    return f"{addr} {key_type} {key}\n"


def host_resolv_conf() -> str:
    """The host's resolver config, for sandboxes with full internet access."""
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return NO_DNS


def prepare(root: Path, *, name: str, addr: IPv4Address, net: IPv4Network, client_pub: str,
            sources: Mapping[str, list[str]], pip_conf: str, internet: bool) -> str:
    """Write the guest's per-sandbox files and return its SSH host public key."""
    etc = root / "etc"
    write_atomic(etc / "hostname", name + "\n")
    write_atomic(etc / "hosts", render_hosts(name, sources))
    write_atomic(etc / "machine-id", uuid.uuid4().hex + "\n", mode=0o444)
    write_atomic(root / NETWORK_FILE, render_network(addr, net))
    write_atomic(etc / "pip.conf", pip_conf)
    # root lingers, so its user manager (user@0) runs from boot and is never stopped: on
    # Debian 13 inside nspawn, stopping it hangs in final-sigkill for minutes, and every SSH
    # login that arrives meanwhile (10 s after the previous one ended) hangs with it.
    write_atomic(root / LINGER, "")
    resolv = etc / "resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    write_atomic(resolv, host_resolv_conf() if internet else NO_DNS)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(ssh_dir / "authorized_keys", client_pub, mode=0o600)
    key = root / HOST_KEY
    key.unlink(missing_ok=True)
    key.with_suffix(".pub").unlink(missing_ok=True)
    # Generated here on the host, so known_hosts can pin the exact key before first contact.
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key)],
        what="generating the sandbox host key")
    return Path(f"{key}.pub").read_text()
