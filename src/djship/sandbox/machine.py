"""The sandbox Python API: up, down, down_all and list_machines."""

from __future__ import annotations

import contextlib
import subprocess
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from djship.errors import UsageError
from djship.sandbox import boot, guest, network, preflight, proc, state
from djship.sandbox.fs import remove_tree
from djship.sandbox.host import HostSources, read_host_sources, resolve
from djship.sandbox.image import ensure_image, ensure_preinstalled
from djship.sandbox.proc import run
from djship.sandbox.records import Record, SandboxInfo, info, load, save
from djship.sandbox.sources import pip_local_dirs, render_pip_conf
from djship.sandbox.state import RELEASES, Layout, check_name, locked

__all__ = ["SandboxInfo", "down", "down_all", "ensure_base_image", "ensure_preinstalled_image",
           "list_machines", "up"]
GUEST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BOOT_TIMEOUT = 60.0


def _layout(state_dir: str | Path | None) -> Layout:
    return Layout(state.state_dir(state_dir))


def ensure_key(layout: Layout) -> str:
    """Generate the sandbox SSH key pair once; return the public key."""
    with locked(layout.root / "key.lock"):
        if not layout.key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "djship-sandbox",
                 "-f", str(layout.key)], what="generating the sandbox SSH key")
    return Path(f"{layout.key}.pub").read_text()


def ensure_base_image(release: str = "bookworm", *, state_dir: str | Path | None = None) -> Path:
    """Build the base image for release unless it is cached; return its root directory."""
    preflight.require()
    if release not in RELEASES:
        raise UsageError(f"unknown release {release!r}", hint=f"use one of {', '.join(RELEASES)}")
    return ensure_image(_layout(state_dir), release, read_host_sources())


def list_machines(*, state_dir: str | Path | None = None) -> list[SandboxInfo]:
    """Every sandbox in the state dir, sorted by name."""
    layout = _layout(state_dir)
    if not layout.machines.is_dir():
        return []
    return [info(layout, load(layout, d.name)) for d in sorted(layout.machines.iterdir())
            if (d / "machine.json").is_file()]


def _egress(host: HostSources) -> tuple[dict[str, list[str]], list[tuple[str, int]]]:
    """The package sources' addresses (as the host resolves them) and the allowed pairs."""
    names: dict[str, list[str]] = {}
    pairs: set[tuple[str, int]] = set()
    for endpoint in host.endpoints():
        names.setdefault(endpoint.host, resolve(endpoint.host))
        pairs.update((ip, endpoint.port) for ip in names[endpoint.host])
    return names, sorted(pairs)


def _claim(layout: Layout, net: IPv4Network, rec: Record) -> Record:
    """Reserve the name and an address under the state lock."""
    with locked(layout.root / "lock"):
        mdir = layout.machine(rec.name)
        if mdir.exists():
            raise UsageError(f"sandbox {rec.name} already exists",
                             hint=f"pick another name or run `djship sandbox down {rec.name}`")
        used = [IPv4Address(m.address) for m in list_machines(state_dir=layout.root)]
        rec.address = str(network.allocate(net, used))
        mdir.mkdir(parents=True)
        save(layout, rec)
    return rec


def _attach(layout: Layout, net: IPv4Network, rec: Record) -> None:
    """Set up the host side of the network for one sandbox, under the state lock."""
    with locked(layout.root / "lock"):
        network.ensure_host_network(net, layout.net / "ip_forward")
        network.attach(net, IPv4Address(rec.address), rec.egress, rec.internet)


def ensure_preinstalled_image(release: str, packages: list[str], *,
                              state_dir: str | Path | None = None) -> Path:
    """The base image for release with packages installed (cached); its root directory."""
    ensure_base_image(release, state_dir=state_dir)
    return ensure_preinstalled(_layout(state_dir), release, packages, read_host_sources())


def up(name: str, release: str = "bookworm", *, state_dir: str | Path | None = None,
       internet: bool = False, timeout: float = BOOT_TIMEOUT,
       preinstall: list[str] | None = None) -> SandboxInfo:
    """Boot a new sandbox and return once SSH answers.

    With preinstall, it boots from a cached image that already has those packages.
    """
    check_name(name)
    image = (ensure_preinstalled_image(release, preinstall, state_dir=state_dir) if preinstall
             else ensure_base_image(release, state_dir=state_dir))
    layout, net, host = _layout(state_dir), network.sandbox_net(), read_host_sources()
    client_pub = ensure_key(layout)
    names, pairs = _egress(host)
    rec = _claim(layout, net, Record(name, "", release, internet, egress=pairs))
    try:
        _attach(layout, net, rec)
        _boot(layout, net, rec, image, names, host, client_pub, timeout)
    except BaseException:
        _destroy(layout, net, rec)
        raise
    return info(layout, rec)


def _boot(layout: Layout, net: IPv4Network, rec: Record, image: Path,
          names: dict[str, list[str]], host: HostSources, client_pub: str,
          timeout: float) -> None:
    mdir, addr = layout.machine(rec.name), IPv4Address(rec.address)
    root = boot.make_rootfs(image, mdir)
    host_pub = guest.prepare(root, name=rec.name, addr=addr, net=net, client_pub=client_pub,
                             sources=names, pip_conf=render_pip_conf(host.pip, GUEST_CA_BUNDLE),
                             internet=rec.internet)
    (mdir / "known_hosts").write_text(guest.render_known_hosts(addr, host_pub))
    binds = [str(d) for d in pip_local_dirs(host.pip) if Path(d).is_dir()]
    log = mdir / "console.log"
    rec.pid, rec.started = boot.start(boot.nspawn_argv(root, rec.name, binds), log)
    save(layout, rec)
    check = info(layout, rec).ssh_argv("true")
    check[1:1] = ["-oBatchMode=yes", "-oConnectTimeout=2"]
    rec.boot_seconds = round(boot.wait_ssh(check, rec.pid, rec.started, log, timeout), 2)
    save(layout, rec)


def _destroy(layout: Layout, net: IPv4Network, rec: Record) -> None:
    """Stop the guest and remove everything up and _claim created for it."""
    mdir = layout.machine(rec.name)
    if rec.pid:
        boot.stop(rec.pid, rec.started, grace=30.0)
    with locked(layout.root / "lock"):
        if rec.address:
            network.detach(IPv4Address(rec.address), rec.egress, rec.internet, f"vb-{rec.name}")
        boot.unmount(mdir / "rootfs")
        remove_tree(mdir, layout.root)
        if not list_machines(state_dir=layout.root):
            network.teardown_host_network(net, layout.net / "ip_forward")


def reboot(name: str, *, state_dir: str | Path | None = None,
           timeout: float = BOOT_TIMEOUT) -> SandboxInfo:
    """Reboot a sandbox as a server reboots: its systemd shuts down cleanly (``systemctl
    reboot``), then it boots again from the same disk; return once SSH answers.

    nspawn runs with --keep-unit, so a reboot inside ends it (exit 133): it is started
    again here, with the same root, network and binds, and the record follows the new PID.
    """
    preflight.require()
    layout = _layout(state_dir)
    rec = load(layout, name)
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(info(layout, rec).ssh_argv("systemctl reboot"), capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=30, check=False)
    deadline = time.monotonic() + 90
    while proc.alive(rec.pid, rec.started):
        proc.reap(rec.pid)
        if time.monotonic() > deadline:
            raise UsageError(f"sandbox {name} did not shut down within 90s",
                             hint=f"see {layout.machine(name) / 'console.log'}")
        time.sleep(0.2)
    host = read_host_sources()
    binds = [str(d) for d in pip_local_dirs(host.pip) if Path(d).is_dir()]
    mdir = layout.machine(name)
    log = mdir / "console.log"
    rec.pid, rec.started = boot.start(boot.nspawn_argv(mdir / "rootfs", name, binds), log)
    save(layout, rec)
    check = info(layout, rec).ssh_argv("true")
    check[1:1] = ["-oBatchMode=yes", "-oConnectTimeout=2"]
    rec.boot_seconds = round(boot.wait_ssh(check, rec.pid, rec.started, log, timeout), 2)
    save(layout, rec)
    return info(layout, rec)


def down(name: str, *, state_dir: str | Path | None = None) -> None:
    """Power a sandbox off cleanly and remove its files, routes and firewall entries."""
    preflight.require()
    layout = _layout(state_dir)
    if not (layout.machine(name) / "machine.json").is_file():
        raise UsageError(f"no sandbox named {name}", hint="`djship sandbox ls` lists them")
    _destroy(layout, network.sandbox_net(), load(layout, name))


def down_all(*, state_dir: str | Path | None = None) -> list[str]:
    """Take every sandbox down; return their names."""
    names = [m.name for m in list_machines(state_dir=state_dir)]
    for name in names:
        down(name, state_dir=state_dir)
    return names
