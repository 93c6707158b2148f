"""A private Docker engine for the export tests, and a debootstrap base image for it.

Nothing can be pulled (this machine reaches only package sources), so the base image is a
Debian minbase rootfs built with debootstrap, cached under /var/tmp, and `docker import`ed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from djship.sandbox.fs import remove_tree
from djship.sandbox.host import ca_certificates, read_host_sources, resolve

CACHE = Path("/var/tmp/djship-export-base")
RECIPE = "1"  # bump when PACKAGES change
RELEASE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates", "postgresql", "nginx-light",
            "procps")
DOCKER = "/usr/bin/docker"


def base_tarball() -> Path:
    """The cached rootfs tarball (built once with debootstrap)."""
    tarball = CACHE / f"{RELEASE}-{RECIPE}.tar"
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix=".build-"))
    try:
        root = work / "rootfs"
        mirror, _security = read_host_sources().mirrors()
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                        RELEASE, str(root), mirror], check=True, capture_output=True)
        for cert in ca_certificates():  # the egress proxy's CA, for pip inside builds
            shutil.copyfile(cert, root / "usr/local/share/ca-certificates" / cert.name)
        subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True,
                       capture_output=True)
        (root / "etc/nginx/sites-enabled/default").unlink(missing_ok=True)
        subprocess.run(["chroot", str(root), "apt-get", "clean"], check=False,
                       capture_output=True)
        part = work / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(part), "."], check=True)
        part.rename(tarball)
    finally:
        # Never through a mount debootstrap may have left (proc, sys): remove_tree refuses.
        remove_tree(work, CACHE)
    return tarball


def package_hosts() -> list[str]:
    """`--add-host name:ip` arguments for every package source host (pip, apt)."""
    out = []
    for endpoint in read_host_sources().endpoints():
        for address in resolve(endpoint.host)[:1]:
            out.append(f"{endpoint.host}:{address}")
    return sorted(set(out))


@dataclass
class Engine:
    """A running dockerd of our own; ``env`` points the docker client at it."""

    pid: int
    env: dict[str, str]

    def docker(self, *args: str, check: bool = True, timeout: float = 1800,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the docker client against this engine."""
        return subprocess.run([DOCKER, *args], env=self.env, capture_output=True, text=True,
                              check=check, timeout=timeout, cwd=cwd)


@contextmanager
def docker_engine() -> Iterator[Engine]:
    """Start dockerd with its own data root and socket; stop it by PID afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="djship-dockerd-", dir="/var/tmp"))
    sock = tmp / "docker.sock"
    log = (tmp / "dockerd.log").open("w")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(tmp / "data"), "--exec-root", str(tmp / "exec"),
         "--host", f"unix://{sock}", "--pidfile", str(tmp / "dockerd.pid"),
         # No docker0 left behind: builds use the host network, compose its own networks.
         "--bridge", "none",
         # Leave the host firewall alone (dockerd would set iptables' FORWARD policy to
         # DROP for good); compose's published port goes through docker-proxy instead.
         "--iptables=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    engine = Engine(proc.pid, env)
    try:
        deadline = time.monotonic() + 60
        while engine.docker("info", check=False, timeout=30).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dockerd did not start: " +
                                   (tmp / "dockerd.log").read_text()[-3000:])
            time.sleep(0.5)
        yield engine
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        for mount in (tmp / "exec" / "netns" / "default", tmp / "data"):
            subprocess.run(["umount", "-R", str(mount)], check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
