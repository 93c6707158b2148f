"""A private ACME server for the TLS tests: pebble and pebble-challtestsrv on the host bridge.

pebble (Debian package ``pebble``) listens on the bridge address only, so sandboxes reach it
and nothing outside does; its DNS resolver is pebble-challtestsrv, whose management API sets
the records the tests need. certbot in a sandbox trusts a throwaway CA made here for pebble's
own HTTPS (``tls.acme_ca_bundle``). Each module passes its own ports, so two modules (or two
runs) never collide; the servers are stopped by PID when the context ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BRIDGE = "10.213.77.1"


@dataclass(frozen=True)
class Ports:
    """Where pebble and its DNS listen on the bridge."""

    acme: int
    management: int
    dns: int
    dns_management: int

    def all(self) -> tuple[int, ...]:
        """Every port, for the busy/started checks."""
        return (self.acme, self.management, self.dns, self.dns_management)


@dataclass
class Pebble:
    """The running ACME server and test DNS."""

    workdir: Path
    ports: Ports
    procs: list[subprocess.Popen[bytes]]

    @property
    def ca(self) -> Path:
        """The CA of pebble's own HTTPS listener (certbot trusts it for the directory)."""
        return self.workdir / "ca.pem"

    @property
    def directory(self) -> str:
        """The ACME directory URL (tls.acme_server)."""
        return f"https://{BRIDGE}:{self.ports.acme}/dir"

    @property
    def nameserver(self) -> str:
        """The test DNS as ``address:port`` (DJSHIP_NAMESERVER)."""
        return f"{BRIDGE}:{self.ports.dns}"

    def dns(self, path: str, body: dict[str, object]) -> None:
        """Call challtestsrv's management API (add-a, set-cname, clear-a, ...)."""
        req = urllib.request.Request(f"http://{BRIDGE}:{self.ports.dns_management}/{path}",
                                     data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def add_a(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` (for pebble's validation and djship's check)."""
        self.dns("add-a", {"host": f"{name}.", "addresses": [address]})

    def root(self) -> Path:
        """The root that issues the certificates (new at every pebble start)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        with urllib.request.urlopen(f"https://{BRIDGE}:{self.ports.management}/roots/0",
                                    timeout=5, context=ctx) as resp:
            path = self.workdir / "pebble-root.pem"
            path.write_bytes(resp.read())
        return path


def listening(port: int) -> bool:
    """Something listens on the bridge address at ``port``."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((BRIDGE, port)) == 0


def make_ca(d: Path) -> None:
    """A throwaway CA, and a certificate from it for pebble's own HTTPS on the bridge."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=djship test ACME CA",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    openssl("req", *ec, "-subj", "/CN=pebble", "-keyout", str(d / "key.pem"),
            "-out", str(d / "req.csr"))
    (d / "ext.cnf").write_text(f"subjectAltName=IP:{BRIDGE}\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(d / "req.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
            str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"),
            "-out", str(d / "cert.pem"))


@contextmanager
def running_pebble(workdir: Path, ports: Ports, **config: Any) -> Iterator[Pebble]:
    """Start challtestsrv and pebble (``config`` adds pebble settings); stop them by PID."""
    missing = [b for b in ("pebble", "pebble-challtestsrv", "openssl", "curl")
               if not shutil.which(b)]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing {missing}: apt-get install pebble")
        pytest.skip(f"needs {', '.join(missing)} (apt-get install pebble)")
    busy = [p for p in ports.all() if listening(p)]
    assert not busy, f"ports {busy} on {BRIDGE} are taken (another run of this module?)"
    make_ca(workdir)
    (workdir / "config.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"{BRIDGE}:{ports.acme}",
        "managementListenAddress": f"{BRIDGE}:{ports.management}",
        "certificate": str(workdir / "cert.pem"), "privateKey": str(workdir / "key.pem"),
        "httpPort": 80, "tlsPort": 443, "externalAccountBindingRequired": False, **config}}))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    dns = f"{BRIDGE}:{ports.dns}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(workdir / "challtestsrv.log", "wb") as log:
            procs.append(subprocess.Popen(
                ["pebble-challtestsrv", "-dns01", dns, "-management",
                 f"{BRIDGE}:{ports.dns_management}", "-http01", "", "-https01", "",
                 "-tlsalpn01", "", "-defaultIPv4", "", "-defaultIPv6", ""],
                stdout=log, stderr=subprocess.STDOUT))
        with open(workdir / "pebble.log", "wb") as log:
            procs.append(subprocess.Popen(
                ["pebble", "-config", str(workdir / "config.json"), "-dnsserver", dns],
                stdout=log, stderr=subprocess.STDOUT, env=env))
        deadline = time.monotonic() + 15
        while not all(listening(p) for p in ports.all()):
            assert time.monotonic() < deadline, f"pebble did not start: see {workdir}"
            time.sleep(0.2)
        yield Pebble(workdir, ports, procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
