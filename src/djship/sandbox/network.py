"""The private sandbox network on the host: bridge, routes, egress filter and NAT."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from djship.errors import DjshipError, UsageError
from djship.sandbox.proc import run

BRIDGE = "djship0"
NET_ENV = "DJSHIP_SANDBOX_NET"
DEFAULT_NET = "10.213.77.0/24"
TABLE = "djship"
FORWARD_SYSCTL = Path("/proc/sys/net/ipv4/ip_forward")

Egress = tuple[str, int]  # (IPv4 address, TCP port)


def sandbox_net(value: str | None = None) -> IPv4Network:
    """The sandbox address range: value, else $DJSHIP_SANDBOX_NET, else the default."""
    text = value or os.environ.get(NET_ENV) or DEFAULT_NET
    try:
        net = IPv4Network(text)
    except ValueError as e:
        raise UsageError(f"{NET_ENV}={text!r} is not an IPv4 network: {e}") from e
    if net.prefixlen > 29 or not net.is_private:
        raise UsageError(f"{NET_ENV}={text!r} must be a private range of at least /29")
    return net


def gateway(net: IPv4Network) -> IPv4Address:
    """The host's own address on the sandbox bridge: the first host address."""
    return next(net.hosts())


def allocate(net: IPv4Network, used: Iterable[IPv4Address]) -> IPv4Address:
    """The lowest free guest address in net."""
    taken = {gateway(net), *used}
    for addr in net.hosts():
        if addr not in taken:
            return addr
    raise DjshipError(f"no free address left in {net}", hint="run `djship sandbox down` first")


def nft_table(net: IPv4Network) -> str:
    """An nft script (one atomic transaction) confining sandboxes to the listed egress.

    It rewrites the chains but keeps the sets, so re-running it on a live table (say
    after an upgrade of djship) updates the rules without dropping live sandboxes.
    Sandbox-to-sandbox traffic is accepted explicitly: with br_netfilter loaded, frames
    bridged between two sandboxes also pass the forward hook (in and out on the bridge).
    """
    gw, br, t = gateway(net), BRIDGE, f"inet {TABLE}"
    chains = {
        "input": ("type filter hook input priority filter; policy accept;", [
            f'iifname "{br}" meta nfproto ipv6 drop',
            f'iifname "{br}" ip daddr {gw} accept',
            f'iifname "{br}" reject with icmpx type admin-prohibited',
        ]),
        "forward": ("type filter hook forward priority filter; policy accept;", [
            f'iifname "{br}" meta nfproto ipv6 drop',
            f'iifname "{br}" oifname "{br}" accept',
            f'oifname "{br}" ct state established,related accept',
            f'oifname "{br}" drop',
            f'iifname "{br}" ip saddr . ip daddr . tcp dport @egress accept',
            f'iifname "{br}" ip saddr @internet accept',
            f'iifname "{br}" reject with icmpx type admin-prohibited',
        ]),
        "postrouting": ("type nat hook postrouting priority srcnat; policy accept;", [
            f'ip saddr {net} oifname != "{br}" masquerade',
        ]),
    }
    lines = [
        f"add table {t}",
        f"add set {t} egress {{ type ipv4_addr . ipv4_addr . inet_service; }}",
        f"add set {t} internet {{ type ipv4_addr; }}",
    ]
    for chain, (spec, rules) in chains.items():
        lines += [f"add chain {t} {chain} {{ {spec} }}", f"flush chain {t} {chain}"]
        lines += [f"add rule {t} {chain} {rule}" for rule in rules]
    return "\n".join(lines) + "\n"


def nft_elements(verb: str, addr: IPv4Address, egress: Iterable[Egress], internet: bool) -> str:
    """An nft script adding or deleting one sandbox's set elements."""
    lines = []
    items = sorted(set(egress))
    if items:
        body = ", ".join(f"{addr} . {ip} . {port}" for ip, port in items)
        lines.append(f"{verb} element inet {TABLE} egress {{ {body} }}")
    if internet:
        lines.append(f"{verb} element inet {TABLE} internet {{ {addr} }}")
    return "\n".join(lines) + "\n"


def _nft(script: str, what: str) -> None:
    run(["nft", "-f", "-"], stdin=script, what=what)


def _has_table() -> bool:
    return run(["nft", "list", "table", "inet", TABLE], what="nft", check=False).returncode == 0


def _has_link(name: str) -> bool:
    # Asks the kernel, not /sys: a sysfs mounted from another network namespace lies.
    return run(["ip", "link", "show", "dev", name], what="ip link", check=False).returncode == 0


def ensure_unreachable(net: IPv4Network) -> None:
    """Make the whole range fail locally at once unless a live sandbox has a /32 route."""
    run(["ip", "route", "replace", "unreachable", str(net)], what="adding the unreachable route")


def ensure_host_network(net: IPv4Network, saved: Path) -> None:
    """Create the bridge, routes, filter and forwarding the sandboxes need (idempotent)."""
    ensure_unreachable(net)
    if not _has_link(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge"], what="creating the bridge")
        # A /32, not the range: the range's route stays `unreachable`.
        run(["ip", "addr", "add", f"{gateway(net)}/32", "dev", BRIDGE], what="bridge address")
        Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
        run(["ip", "link", "set", BRIDGE, "up"], what="bringing up the bridge")
    _nft(nft_table(net), "installing the sandbox firewall (nftables)")
    open_foreign_forward()
    if not saved.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(FORWARD_SYSCTL.read_text())
    FORWARD_SYSCTL.write_text("1\n")


IPTABLES_TAG = ["-m", "comment", "--comment", "djship sandbox", "-j", "ACCEPT"]


def _iptables(*args: str) -> int:
    return run(["iptables", "-w", *args], what="iptables", check=False).returncode


def _iptables_rules(chain: str) -> list[list[str]]:
    return [[chain, flag, BRIDGE, *IPTABLES_TAG] for flag in ("-i", "-o")]


def open_foreign_forward() -> None:
    """Let the bridge's traffic past another firewall's FORWARD policy of DROP.

    Docker (also ufw, libvirt) sets iptables' FORWARD policy to DROP. Under nftables a
    packet must be accepted by every base chain on the hook, so our table's accept alone
    is not enough. Accept the bridge's traffic in DOCKER-USER (Docker's own place for
    this) or else FORWARD; our table still decides what may leave the bridge.
    """
    if shutil.which("iptables") is None:
        return
    listing = run(["iptables", "-w", "-S"], what="iptables", check=False)
    if listing.returncode != 0:
        return
    lines = listing.stdout.splitlines()
    if "-P FORWARD DROP" not in lines and "-N DOCKER-USER" not in lines:
        return
    chain = "DOCKER-USER" if "-N DOCKER-USER" in lines else "FORWARD"
    for rule in _iptables_rules(chain):
        if _iptables("-C", *rule) != 0:
            run(["iptables", "-w", "-I", *rule], what="iptables: accepting the sandbox bridge")


def close_foreign_forward() -> None:
    """Remove what open_foreign_forward inserted, from either chain."""
    if shutil.which("iptables") is None:
        return
    for chain in ("DOCKER-USER", "FORWARD"):
        for rule in _iptables_rules(chain):
            while _iptables("-C", *rule) == 0:
                if _iptables("-D", *rule) != 0:
                    break


def forget_neighbour(addr: IPv4Address) -> None:
    """Drop the host's ARP entry for addr: a reused address would otherwise be sent to
    the previous sandbox's MAC until the entry times out (tens of seconds)."""
    if _has_link(BRIDGE):
        run(["ip", "neigh", "flush", "to", str(addr), "dev", BRIDGE], what="ip neigh",
            check=False)


def attach(net: IPv4Network, addr: IPv4Address, egress: Iterable[Egress], internet: bool) -> None:
    """Open the way to one sandbox: its /32 route and its egress elements."""
    _nft(nft_elements("add", addr, egress, internet), "allowing the sandbox's egress")
    forget_neighbour(addr)
    run(["ip", "route", "replace", f"{addr}/32", "dev", BRIDGE, "src", str(gateway(net))],
        what="adding the sandbox route")


def detach(addr: IPv4Address, egress: Iterable[Egress], internet: bool, veth: str) -> None:
    """Remove what attach added, and the host end of the sandbox's veth if still there."""
    run(["ip", "route", "del", f"{addr}/32", "dev", BRIDGE], what="route", check=False)
    forget_neighbour(addr)
    if _has_table():
        run(["nft", "-f", "-"], stdin=nft_elements("delete", addr, egress, internet),
            what="nft", check=False)
    if _has_link(veth):
        run(["ip", "link", "del", veth], what=f"deleting {veth}", check=False)


def teardown_host_network(net: IPv4Network, saved: Path) -> None:
    """Remove the bridge and filter once no sandbox is left; keep the unreachable route."""
    if _has_table():
        run(["nft", "delete", "table", "inet", TABLE], what="removing the sandbox firewall")
    close_foreign_forward()
    if _has_link(BRIDGE):
        run(["ip", "link", "del", BRIDGE], what="removing the bridge")
    if saved.exists():
        FORWARD_SYSCTL.write_text(saved.read_text())
        saved.unlink()
    ensure_unreachable(net)
