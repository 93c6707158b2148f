"""`djship provision` on a fresh sandbox (issue 4): services, secrets, idempotence, firewall,
SSH hardening, a broken template kept out, and clear connection errors.

One sandbox for the module; the tests run in file order and build on the first provision.
"""

from __future__ import annotations

import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import (
    ENV_FILE,
    ENVTOOL,
    MANAGED_FILES,
    NGINX_SITE,
    REPO,
    TRACEBACK,
    Project,
    Run,
    env_values,
    make_project,
    request,
    sha256s,
    unit_states,
)

from djship.sandbox.records import SandboxInfo

SERVICES = ("nginx", "postgresql", "djship-firewall", "ssh")
UNUSED_ADDRESS = "10.213.77.250"  # in the sandbox range, never allocated by these tests


@pytest.fixture(scope="module")
def project(sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    return make_project(tmp_path_factory.mktemp("provision"), [sandbox])


@pytest.fixture(scope="module")
def first(project: Project) -> Run:
    """The first provision of the fresh sandbox, verbose (so -v output is checked too)."""
    return project.provision("-v")


@pytest.fixture(scope="module")
def second(project: Project, first: Run, sandbox: SandboxInfo
           ) -> tuple[Run, dict[str, str], dict[str, str]]:
    """A second provision with the managed files' hashes taken before and after."""
    assert first.returncode == 0, str(first)
    before = sha256s(sandbox, MANAGED_FILES)
    run = project.provision()
    after = sha256s(sandbox, MANAGED_FILES)
    return run, before, after


def secrets_of(sandbox: SandboxInfo) -> dict[str, str]:
    """SECRET_KEY and the database password, read from the env file on the server."""
    env = env_values(sandbox)
    password = urlsplit(env["DATABASE_URL"]).password
    assert password and len(password) >= 16, "DATABASE_URL has no real password"
    assert len(env["SECRET_KEY"]) >= 32
    return {"SECRET_KEY": env["SECRET_KEY"], "database password": password}


def assert_clear_error(run: Run, *names: str) -> list[str]:
    """Non-zero exit, exactly one `error:` line (naming ``names``), a hint, no traceback."""
    assert run.returncode != 0, str(run)
    assert TRACEBACK not in run.output, str(run)
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, str(run)
    for name in names:
        assert name in errors[0], str(run)
    assert any(ln.startswith("hint:") for ln in run.stderr.splitlines()), str(run)
    return errors


def test_provision_installs_services_user_and_env_file(first: Run, sandbox: SandboxInfo
                                                         ) -> None:
    assert first.returncode == 0, str(first)
    assert TRACEBACK not in first.output
    for unit, (active, enabled) in unit_states(sandbox, ("nginx", "postgresql")).items():
        assert (active, enabled) == ("active", "enabled"), unit
    assert sandbox.run("nginx -t", check=False).returncode == 0
    passwd = sandbox.run(["getent", "passwd", "djship-guestbook"]).stdout.strip()
    assert passwd.split(":")[-1] == "/usr/sbin/nologin", passwd
    assert sandbox.run(["stat", "-c", "%a %U", ENV_FILE]).stdout.split() == ["600", "root"]
    env = env_values(sandbox)
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["SECRET_KEY"]
    psql = sandbox.run(["python3", ENVTOOL, "exec", ENV_FILE, "root", "/", "--",
                        "psql", "-XtAc", "select 1"], check=False)
    assert (psql.returncode, psql.stdout.strip()) == (0, "1"), psql.stderr


def test_no_secret_leaks(first: Run, second: tuple[Run, dict[str, str], dict[str, str]],
                         sandbox: SandboxInfo) -> None:
    secrets = secrets_of(sandbox)
    etc_environment = sandbox.run("cat /etc/environment 2>/dev/null || true").stdout
    journal = sandbox.run(["journalctl", "--no-pager", "-o", "cat"], timeout=120).stdout
    assert len(journal) > 1000, "the journal is unexpectedly empty"
    places = {"/etc/environment": etc_environment, "journal": journal,
              "djship -v provision output": first.output,
              "djship provision output": second[0].output}
    for what, value in secrets.items():
        for where, text in places.items():
            assert value not in text, f"{what} appears in {where}"


def test_second_provision_changes_nothing(second: tuple[Run, dict[str, str], dict[str, str]],
                                          project: Project, sandbox: SandboxInfo) -> None:
    run, before, after = second
    assert run.returncode == 0, str(run)
    assert "no change" in run.output, str(run)
    assert "changed " not in run.stderr.replace("no change", ""), str(run)
    assert before == after
    assert "missing" not in before.values(), before
    states = unit_states(sandbox, SERVICES)
    url = env_values(sandbox)["DATABASE_URL"]
    third = project.provision()
    assert third.returncode == 0 and "no change" in third.output, third
    assert unit_states(sandbox, SERVICES) == states
    assert all(s == ("active", "enabled") for s in states.values()), states
    assert env_values(sandbox)["DATABASE_URL"] == url
    assert sha256s(sandbox, MANAGED_FILES) == after


def open_ports(address: str, ports: list[int], timeout: float = 1.0) -> set[int]:
    """Ports accepting a TCP connection (many at once, each with a short timeout)."""
    def probe(port: int) -> int | None:
        try:
            socket.create_connection((address, port), timeout=timeout).close()
            return port
        except OSError:
            return None

    with ThreadPoolExecutor(128) as pool:
        return {p for p in pool.map(probe, ports) if p is not None}


def test_firewall_lets_in_only_ssh_and_http(first: Run, sandbox: SandboxInfo) -> None:
    assert first.returncode == 0, str(first)
    # A listener on all interfaces inside the server: only the firewall keeps it in.
    listener = sandbox.run(
        "systemd-run --unit djship-test-listener --collect "
        "python3 -m http.server 8080 --bind 0.0.0.0 >/dev/null 2>&1; sleep 1; "
        "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/", check=False)
    try:
        assert listener.stdout.strip() == "200", listener  # it does listen, from inside
        found = open_ports(sandbox.address, [*range(1, 1025), 5432, 8000, 8080])
    finally:
        sandbox.run("systemctl stop djship-test-listener", check=False)
    assert found <= {22, 80, 443}, found
    assert {22, 80} <= found, found
    assert 5432 not in found and 8080 not in found


def test_ssh_refuses_passwords_but_keys_work(first: Run, sandbox: SandboxInfo) -> None:
    assert first.returncode == 0, str(first)
    argv = ["ssh", "-o", "PasswordAuthentication=yes", "-o", "PubkeyAuthentication=no",
            "-o", "KbdInteractiveAuthentication=yes", "-o", "BatchMode=yes",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", f"UserKnownHostsFile={sandbox.known_hosts_file}",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
            f"root@{sandbox.address}", "true"]
    denied = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert denied.returncode == 255, denied
    assert "Permission denied" in denied.stderr, denied.stderr
    # The server offers only public keys (BatchMode alone would also deny a password prompt).
    offered = denied.stderr.split("Permission denied (", 1)[1].split(")", 1)[0]
    assert offered == "publickey", denied.stderr
    effective = sandbox.run("sshd -T").stdout.lower().splitlines()
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
    assert sandbox.run("hostname").stdout.strip() == sandbox.name  # key login still works


def test_broken_nginx_template_is_refused_and_old_config_kept(
        first: Run, project: Project, sandbox: SandboxInfo) -> None:
    assert first.returncode == 0, str(first)
    before = sha256s(sandbox, [NGINX_SITE])
    answers = {h: request(sandbox.address, "/", host=h).status
               for h in ("guestbook.test",)}
    template = (REPO / "src/djship/templates/nginx-site.conf.j2").read_text()
    broken = template.replace("client_max_body_size 25m;",
                              "client_max_body_size 25m;\n    djship_no_such_directive on;")
    assert broken != template
    override = project.write("djship/templates/nginx-site.conf.j2", broken)
    try:
        run = project.provision()
    finally:
        override.unlink()
    assert run.returncode != 0, str(run)
    assert 'unknown directive "djship_no_such_directive"' in run.stderr, str(run)
    assert TRACEBACK not in run.output
    assert sha256s(sandbox, [NGINX_SITE]) == before
    assert sandbox.run("nginx -t", check=False).returncode == 0
    assert sandbox.run("systemctl is-active nginx").stdout.strip() == "active"
    assert {h: request(sandbox.address, "/", host=h).status for h in answers} == answers
    assert "djship-no-such" not in sandbox.run(f"cat {NGINX_SITE}").stdout
    again = project.provision()
    assert again.returncode == 0 and "no change" in again.output, str(again)


def bad_entry(sandbox: SandboxInfo, name: str, *, address: str | None = None,
              identity: Path | None = None, roles: tuple[str, ...] = ("web", "worker", "db")
              ) -> str:
    """The sandbox's [[hosts]] entry, renamed, with another address or key."""
    entry = sandbox.host_entry(roles).replace(f'name = "{sandbox.name}"', f'name = "{name}"')
    if address:
        entry = entry.replace(f'address = "{sandbox.address}"', f'address = "{address}"')
    if identity:
        entry = entry.replace(str(sandbox.identity_file), str(identity))
    return entry


def test_unreachable_host_is_one_clear_error(project: Project, sandbox: SandboxInfo,
                                             tmp_path: Path) -> None:
    other = make_project(tmp_path, [])
    other.set_hosts([bad_entry(sandbox, "ghost", address=UNUSED_ADDRESS)])
    run = other.djship("provision")
    assert_clear_error(run, "ghost")
    assert UNUSED_ADDRESS in run.stderr, str(run)


def test_wrong_key_is_one_clear_error(project: Project, sandbox: SandboxInfo,
                                      tmp_path: Path) -> None:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    other = make_project(tmp_path, [])
    other.set_hosts([bad_entry(sandbox, "wrongkey", identity=key)])
    run = other.djship("provision")
    errors = assert_clear_error(run, "wrongkey")
    assert "key" in errors[0], str(run)


def test_one_unreachable_host_of_two_names_only_that_host(
        first: Run, project: Project, sandbox: SandboxInfo, tmp_path: Path) -> None:
    assert first.returncode == 0, str(first)
    before = sha256s(sandbox, MANAGED_FILES)
    other = make_project(tmp_path, [])
    other.set_hosts([sandbox.host_entry(("web", "worker", "db")),
                     bad_entry(sandbox, "ghost", address=UNUSED_ADDRESS, roles=("web",))])
    run = other.djship("provision")
    errors = assert_clear_error(run, "ghost")
    assert sandbox.name not in errors[0], str(run)
    failed = [ln for ln in run.stderr.splitlines() if " failed " in f" {ln} "]
    assert failed and all(ln.startswith("ghost") for ln in failed), str(run)
    assert sha256s(sandbox, MANAGED_FILES) == before
