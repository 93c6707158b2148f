"""Domains and TLS against a real ACME server: pebble and its test DNS on the host bridge.

pebble (Debian package ``pebble``) listens on the bridge address only; its DNS resolver is
pebble-challtestsrv, whose management API makes ``shop.test`` resolve to the sandbox. certbot
in the sandbox trusts a throwaway CA made here for pebble's own HTTPS (tls.acme_ca_bundle).
Both servers are stopped by PID at the end of the module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from acme import BRIDGE, Pebble, Ports, running_pebble
from helpers import REPO, Project, make_project

from djship.sandbox.records import SandboxInfo

DOMAIN = "shop.test"
WWW = f"www.{DOMAIN}"
ELSEWHERE = "10.213.77.250"  # an address no sandbox has: a record "pointing elsewhere"
PORTS = Ports(acme=14000, management=15000, dns=8053, dns_management=8055)
DIRECTORY = f"https://{BRIDGE}:{PORTS.acme}/dir"
NAMESERVER = f"{BRIDGE}:{PORTS.dns}"


@pytest.fixture(scope="module")
def sandbox(warm_sandbox: SandboxInfo) -> SandboxInfo:
    """Packages preinstalled: this module is not about installing them (test_provision is)."""
    return warm_sandbox


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """pebble and pebble-challtestsrv on the bridge (acme.py); stopped by PID afterwards.

    ocspResponderURL only puts an OCSP URI in the certificates, as public CAs do; nothing is
    fetched from it (testssl runs without --phone-out).
    """
    with running_pebble(tmp_path_factory.mktemp("pebble"), PORTS,
                        ocspResponderURL=f"http://{BRIDGE}:4002/",
                        certificateValidityPeriod=7776000) as server:
        yield server


def tls_overlay(sandbox: SandboxInfo, domains: list[str]) -> str:
    """djship.test.toml: the sandbox host, the domains, TLS from pebble."""
    return "\n".join([
        "[sites.guestbook]",
        f"domains = {json.dumps(domains)}",
        'canonical = "apex"',
        "[sites.guestbook.env]",
        'DJANGO_SECURE_SSL = "1"',
        "[sites.guestbook.tls]",
        "enabled = true",
        f'acme_server = "{DIRECTORY}"',
        'acme_ca_bundle = "acme-ca.pem"',
        sandbox.host_entry(["web", "worker", "db"]),
    ]) + "\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxInfo,
            pebble: Pebble) -> Project:
    """The example project with TLS on, its DNS at challtestsrv."""
    proj = make_project(tmp_path_factory.mktemp("tls"), [sandbox])
    shutil.copy(pebble.ca, proj.root / "acme-ca.pem")
    pebble.dns("add-a", {"host": f"{DOMAIN}.", "addresses": [sandbox.address]})
    pebble.dns("set-cname", {"host": f"{WWW}.", "target": f"{DOMAIN}."})
    pebble.dns("add-a", {"host": f"wrong.{DOMAIN}.", "addresses": [ELSEWHERE]})
    return proj


def with_dns(project: Project, *args: str, timeout: float = 900) -> str:
    """Run djship with the test DNS as its resolver; return stdout+stderr, assert exit 0."""
    run = project.djship(*args, timeout=timeout, env={"DJSHIP_NAMESERVER": NAMESERVER})
    assert run.returncode == 0, run
    return run.output


def curl(*args: str) -> str:
    """curl to the sandbox only (--resolve), returning '<status> <location>'."""
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "15",
                           "-w", "%{http_code} %{redirect_url}", *args],
                          capture_output=True, text=True, timeout=30, check=False)
    return done.stdout.strip()


def test_domains_check_verdicts(project: Project, sandbox: SandboxInfo) -> None:
    domains = [DOMAIN, WWW, f"wrong.{DOMAIN}", f"missing.{DOMAIN}", sandbox.address]
    project.write("djship.test.toml", tls_overlay(sandbox, domains))
    run = project.djship("domains", "check", "--nameserver", NAMESERVER)
    assert run.returncode == 1, run
    rows = {line.split()[0]: line.split()[-1] for line in run.stdout.splitlines()
            if line.startswith("  ") and len(line.split()) >= 4}
    assert rows[DOMAIN] == "ok", run
    assert rows[WWW] == "ok", run
    assert rows[f"wrong.{DOMAIN}"] == "wrong", run
    assert rows[f"missing.{DOMAIN}"] == "missing", run
    assert rows[sandbox.address] == "skipped", run
    adds = run.stdout.split("records to add:")[1].split("records to remove:")[0]
    assert [ln.strip() for ln in adds.strip().splitlines()] == [
        f"A  wrong.{DOMAIN}  {sandbox.address}", f"A  missing.{DOMAIN}  {sandbox.address}"]
    removes = run.stdout.split("records to remove:")[1]
    assert removes.strip().splitlines() == [f"A  wrong.{DOMAIN}  {ELSEWHERE}"]


def test_provision_skips_certificate_until_dns_is_ready(project: Project) -> None:
    out = with_dns(project, "provision")  # the overlay still has the broken names
    assert "SKIPPED, DNS not ready" in out and f"missing.{DOMAIN} missing" in out, out


def test_provision_gets_certificate_and_serves_https(project: Project, sandbox: SandboxInfo,
                                                     pebble: Pebble) -> None:
    project.write("djship.test.toml", tls_overlay(sandbox, [DOMAIN, WWW]))
    project.commit("tls")
    began = time.monotonic()
    out = with_dns(project, "provision")
    assert f"obtained certificate for {DOMAIN}, {WWW} (new)" in out, out
    print(f"provision with certificate: {time.monotonic() - began:.1f}s")
    with_dns(project, "deploy")
    root = str(pebble.root())
    resolve = ["--resolve", f"{DOMAIN}:443:{sandbox.address}", "--resolve",
               f"{DOMAIN}:80:{sandbox.address}", "--resolve", f"{WWW}:443:{sandbox.address}",
               "--cacert", root]
    assert curl(*resolve, f"https://{DOMAIN}/") == "200"
    assert curl(*resolve, f"http://{DOMAIN}/a?b=1") == f"301 https://{DOMAIN}/a?b=1"
    assert curl(*resolve, f"https://{WWW}/x") == f"301 https://{DOMAIN}/x"
    challenge = curl(*resolve, f"http://{DOMAIN}/.well-known/acme-challenge/nope")
    assert challenge.startswith("404"), challenge  # served from the webroot, not redirected
    status = project.djship("tls", "status")
    assert status.returncode == 0 and "Pebble" in status.stdout, status


def test_second_provision_changes_nothing(project: Project) -> None:
    out = with_dns(project, "provision")
    assert "no change" in out, out


def test_renewal_dry_run_and_deploy_hook(project: Project, sandbox: SandboxInfo) -> None:
    dry = project.djship("tls", "renew", "--dry-run")
    assert dry.returncode == 0 and "all simulated renewals succeeded" in dry.stdout, dry

    def serial() -> str:
        return sandbox.run(f"openssl s_client -connect 127.0.0.1:443 -servername {DOMAIN} "
                           "</dev/null 2>/dev/null | openssl x509 -noout -serial").stdout
    before = serial()
    forced = project.djship("tls", "renew", "--force")
    assert forced.returncode == 0, forced
    journal = sandbox.run("journalctl -t djship --no-pager -o cat").stdout
    assert "nginx reloaded for renewed certificate /etc/letsencrypt/live/guestbook" in journal
    assert serial() != before  # nginx serves the renewed certificate: the hook reloaded it
    timer = sandbox.run("systemctl is-enabled certbot.timer; systemctl start certbot.service; "
                        "systemctl show -p Result --value certbot.service").stdout.split()
    assert timer == ["enabled", "success"], timer  # the timer's own run works (not due: no-op)


def test_testssl_finds_nothing_high(project: Project, sandbox: SandboxInfo,
                                    pebble: Pebble) -> None:
    if not shutil.which("testssl"):
        pytest.skip("needs testssl (apt-get install testssl.sh)")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "tls_report.py"), "--ip",
                           sandbox.address, "--name", DOMAIN, "--ca", str(pebble.root()),
                           "--timeout", "400"], capture_output=True, text=True, timeout=450,
                          check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
