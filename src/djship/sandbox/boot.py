"""Booting and stopping one sandbox: its root file system copy and its nspawn process."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from djship.errors import DjshipError
from djship.sandbox import proc
from djship.sandbox.network import BRIDGE


def is_mounted(path: Path) -> bool:
    """True if path is a mount point in this mount namespace."""
    target = str(path.resolve())
    text = Path("/proc/self/mountinfo").read_text()
    return any(line.split()[4] == target for line in text.splitlines())


def make_rootfs(image: Path, mdir: Path) -> Path:
    """A writable copy of image in mdir: an overlay if the kernel allows, else a full copy."""
    root, upper, work = mdir / "rootfs", mdir / "upper", mdir / "work"
    for d in (root, upper, work):
        d.mkdir(mode=0o755, exist_ok=True)
    opts = f"lowerdir={image},upperdir={upper},workdir={work}"
    mounted = proc.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(root)],
                       what="mounting the overlay", check=False)
    if mounted.returncode != 0:
        # Overlayfs is refused on some file systems (e.g. inside another overlay).
        root.rmdir()
        proc.run(["cp", "-a", "--reflink=auto", str(image), str(root)],
                 what="copying the base image")
    return root


def unmount(root: Path) -> None:
    """Unmount the sandbox's overlay if it is mounted."""
    if is_mounted(root):
        done = proc.run(["umount", str(root)], what="umount", check=False)
        if done.returncode != 0:
            proc.run(["umount", "--lazy", str(root)], what=f"unmounting {root}")


def nspawn_argv(root: Path, name: str, binds: Sequence[str]) -> list[str]:
    """The systemd-nspawn command line booting one sandbox."""
    argv = [
        "systemd-nspawn", "--quiet", f"--directory={root}", "--boot", f"--machine={name}",
        # No systemd on the host to register with: nspawn runs as our plain child.
        "--register=no", "--keep-unit", f"--network-bridge={BRIDGE}",
        # SIGTERM to nspawn becomes a clean poweroff of the guest.
        "--kill-signal=SIGRTMIN+4", "--resolv-conf=off", "--timezone=off",
        "--link-journal=no", "--console=read-only",
    ]
    return argv + [f"--bind-ro={b}" for b in binds]


def start(argv: list[str], log: Path) -> tuple[int, int]:
    """Start nspawn in its own session, logging the console; return its PID and start time."""
    with log.open("ab") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    started = proc.start_time(child.pid)
    if started is None:
        raise console_error("systemd-nspawn exited at once", log)
    return child.pid, started


def leader(pid: int) -> int | None:
    """The guest's init (nspawn's child), which we may have to kill if nspawn hangs."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def stop(pid: int, started: int, grace: float) -> None:
    """Power the guest off through nspawn; kill only our processes if it does not finish."""
    guest = leader(pid)
    guest_started = proc.start_time(guest) if guest else None
    if proc.signal_if_ours(pid, started, signal.SIGTERM) and _wait_gone(pid, started, grace):
        proc.reap(pid)
        return
    if guest and guest_started:
        # Killing the guest's init ends its whole PID namespace; nspawn then exits.
        proc.signal_if_ours(guest, guest_started, signal.SIGKILL)
    if not _wait_gone(pid, started, 5.0):
        proc.signal_if_ours(pid, started, signal.SIGKILL)
        _wait_gone(pid, started, 5.0)
    proc.reap(pid)


def _wait_gone(pid: int, started: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while proc.alive(pid, started):
        if time.monotonic() > deadline:
            return False
        proc.reap(pid)
        time.sleep(0.1)
    return True


def console_tail(log: Path, lines: int = 25) -> list[str]:
    """The last lines of a sandbox's console log."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return text.strip().splitlines()[-lines:]


def console_error(message: str, log: Path) -> DjshipError:
    """An error carrying the end of the console log."""
    tail = "\n".join(f"    {line}" for line in console_tail(log))
    return DjshipError(f"{message}; console (last lines):\n{tail}", hint=f"full log: {log}")


def wait_ssh(check: Sequence[str], pid: int, started: int, log: Path, timeout: float) -> float:
    """Poll until the ssh command succeeds; return the seconds it took."""
    begin = time.monotonic()
    while True:
        if not proc.alive(pid, started):
            raise console_error("the sandbox stopped while booting", log)
        done = subprocess.run(list(check), capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=30, check=False)
        if done.returncode == 0:
            return time.monotonic() - begin
        if time.monotonic() - begin > timeout:
            raise console_error(f"SSH did not answer within {timeout:.0f}s", log)
        time.sleep(0.2)
