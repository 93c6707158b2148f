"""The cached base image: a minimal Debian built once with debootstrap, reused by copy."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from djship.errors import DjshipError
from djship.sandbox import sources
from djship.sandbox.fs import remove_tree, write_atomic
from djship.sandbox.host import HostSources, ca_certificates
from djship.sandbox.state import Layout, locked

PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssh-server", "iproute2",
    "python3", "python3-venv", "sudo", "ca-certificates", "curl", "rsync", "procps",
)
# Bump when the image recipe changes, so stale cached images are rebuilt.
IMAGE_VERSION = "1"
MARKER = ".djship-image"
# Units that only slow a sandbox down or race with the tests for the dpkg lock.
MASKED = ("apt-daily.timer", "apt-daily-upgrade.timer", "systemd-networkd-wait-online.service")
SSHD_CONF = "# djship sandbox: host keys are generated per sandbox on the host\n" \
            "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\n"


def image_ready(layout: Layout, release: str) -> bool:
    """True if a complete image of the current recipe is cached for release."""
    marker = layout.image_rootfs(release) / MARKER
    return marker.is_file() and marker.read_text().strip() == IMAGE_VERSION


def ensure_image(layout: Layout, release: str, host: HostSources) -> Path:
    """Return the cached image root for release, building it first if needed."""
    with locked(layout.images / f"{release}.lock"):
        if not image_ready(layout, release):
            build_image(layout, release, host)
    return layout.image_rootfs(release)


def build_image(layout: Layout, release: str, host: HostSources) -> None:
    """Build the base image with debootstrap."""
    mirror, security = host.mirrors()

    def fill(root: Path, out: IO[str]) -> None:
        _step(out, ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                    release, str(root), mirror])
        _configure(root, release, mirror, security, out)

    _build(layout, release, fill)


def _build(layout: Layout, key: str, fill: Callable[[Path, IO[str]], None]) -> None:
    """Build image ``key`` in a temporary directory and move it into place when complete."""
    layout.images.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=layout.images, prefix=f".build-{key}-"))
    log = layout.images / f"{key}.build.log"
    try:
        root = work / "rootfs"
        with log.open("w") as out:
            fill(root, out)
        final = layout.image_rootfs(key)
        if final.exists():
            remove_tree(final.parent, layout.root)
        final.parent.mkdir(parents=True)
        # The rename is atomic: nobody ever sees a half-built image under the final name.
        root.rename(final)
    except subprocess.CalledProcessError as e:
        tail = log.read_text(errors="replace").strip().splitlines()[-25:]
        raise ImageBuildError(key, log, tail, e.returncode) from e
    finally:
        remove_tree(work, layout.root)


class ImageBuildError(DjshipError):
    """Building the base image failed; shows the end of the build log."""

    def __init__(self, release: str, log: Path, tail: list[str], code: int) -> None:
        super().__init__(f"building the {release} sandbox image failed (exit {code})",
                         hint=f"full log: {log}; check the host's apt sources and network")
        self.tail = tail

    def details(self) -> list[str]:
        return ["  build log (last lines):", *(f"    {line}" for line in self.tail)]


def _step(out: IO[str], argv: list[str]) -> None:
    out.write(f"\n$ {' '.join(argv)}\n")
    out.flush()
    started = time.monotonic()
    subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                   check=True)
    out.write(f"# {time.monotonic() - started:.1f}s\n")


def _configure(root: Path, release: str, mirror: str, security: str, out: IO[str]) -> None:
    write_atomic(root / "etc/apt/sources.list",
                 sources.render_apt_sources(release, mirror, security))
    for cert in ca_certificates():
        dest = root / "usr/local/share/ca-certificates" / cert.name
        shutil.copyfile(cert, dest)
    _step(out, ["chroot", str(root), "update-ca-certificates"])
    _step(out, ["chroot", str(root), "systemctl", "enable", "systemd-networkd", "ssh"])
    _step(out, ["chroot", str(root), "systemctl", "mask", *MASKED])
    # Lists fetched now let `apt-get install` work in a fresh sandbox without an update.
    _step(out, ["chroot", str(root), "apt-get", "update"])
    _step(out, ["chroot", str(root), "apt-get", "clean"])
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_atomic(root / "etc/ssh/sshd_config.d/djship.conf", SSHD_CONF)
    (root / "etc/machine-id").write_text("")
    write_atomic(root / MARKER, IMAGE_VERSION + "\n")


def preinstalled_key(release: str, packages: list[str]) -> str:
    """Cache key of the image with packages preinstalled: release+hash of the sorted set."""
    digest = hashlib.sha256(" ".join(sorted(set(packages))).encode()).hexdigest()[:12]
    return f"{release}+{digest}"


def ensure_preinstalled(layout: Layout, release: str, packages: list[str],
                        host: HostSources) -> Path:
    """The base image plus packages, built once and cached like the base image.

    Booting from it skips the package downloads a first provision would do, so tests that
    are not about provisioning (and users rehearsing often) start from warm servers.
    """
    base = ensure_image(layout, release, host)
    key = preinstalled_key(release, packages)
    with locked(layout.images / f"{key}.lock"):
        if not image_ready(layout, key):
            _build_preinstalled(layout, key, base, packages)
    return layout.image_rootfs(key)


def _build_preinstalled(layout: Layout, key: str, base: Path, packages: list[str]) -> None:
    def fill(root: Path, out: IO[str]) -> None:
        _step(out, ["cp", "-a", "--reflink=auto", str(base), str(root)])
        # Not booted: services are installed, not started; the host's network and
        # resolver serve apt, as they did for debootstrap.
        _step(out, ["systemd-nspawn", "--quiet", f"--directory={root}", "--register=no",
                    "--keep-unit", "--resolv-conf=bind-host", "--timezone=off",
                    "--setenv=DEBIAN_FRONTEND=noninteractive", "sh", "-c",
                    "apt-get update -q && apt-get install -y -q --no-install-recommends "
                    "-o Dpkg::Options::=--force-confold \"$@\" && apt-get clean",
                    "sh", *packages])
        (root / "etc/machine-id").write_text("")

    _build(layout, key, fill)
