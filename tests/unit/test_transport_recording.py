"""The recording transport, and the ssh transport's pure pieces."""

from __future__ import annotations

import subprocess
from pathlib import Path

from djship.config.schema import Host
from djship.shell import Script, cmd
from djship.transport.base import Result
from djship.transport.local import LocalTransport
from djship.transport.recording import RecordingTransport
from djship.transport.ssh import (
    SshTransport,
    connection_hint,
    put_script,
    ssh_options,
    transient,
)


def test_recording_records_and_answers() -> None:
    t = RecordingTransport(responses={"dpkg-query": Result(0, "nginx installed\n", "")})
    assert t.run(Script.of([cmd("dpkg-query", "-W")])).stdout == "nginx installed\n"
    t.put(b"data", "/etc/x", mode=0o600, owner="root")
    assert t.files["/etc/x"] == b"data"
    assert [s.kind for s in t.sent] == ["run", "put"]
    assert t.sent[1].mode == 0o600


def test_put_script_writes_atomically_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.conf"
    owner = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    t = LocalTransport()
    t.put(b"it's \"quoted\" $HOME\n", str(target), mode=0o640, owner=owner, group=group)
    assert target.read_bytes() == b"it's \"quoted\" $HOME\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in target.parent.iterdir()] == ["file.conf"]  # no temp left behind
    assert "mv -f" in put_script(str(target), 0o640, owner, group).render()


def test_ssh_options_use_identity_and_known_hosts() -> None:
    host = Host(name="w", address="192.0.2.1", port=2222, user="deploy",
                identity_file="/k/id", known_hosts_file="/k/known")
    opts = ssh_options(host)
    assert "BatchMode=yes" in opts and "-p" in opts and "2222" in opts
    assert "/k/id" in opts and "StrictHostKeyChecking=yes" in opts
    assert "ControlPath=none" in ssh_options(host, multiplex=False)


def test_non_root_runs_through_sudo() -> None:
    t = SshTransport(Host(name="w", address="192.0.2.1", user="deploy"))
    remote = t.remote_command(Script.of([cmd("id")]))
    assert remote.startswith("sudo -n -- bash -c ")


def test_connection_hints() -> None:
    host = Host(name="w", address="192.0.2.1")
    assert "refused our key" in connection_hint(host, "Permission denied (publickey).")[0]
    assert "authorized_keys" in connection_hint(host, "Permission denied (publickey).")[1]
    assert "cannot connect" in connection_hint(host, "Connection timed out")[0]
    assert "known_hosts" in connection_hint(host, "Host key verification failed.")[1]


def test_only_transient_connection_failures_are_retried() -> None:
    assert transient("Connection timed out during banner exchange")
    assert not transient("ssh: connect to host 10.0.0.1 port 22: Connection timed out")
    assert transient("Failed to connect to new control master")
    assert transient("kex_exchange_identification: read: Connection reset by peer")
    assert not transient("ssh: connect to host 10.0.0.1 port 22: No route to host")
    assert not transient("ssh: connect to host 10.0.0.1 port 22: Connection refused")
    assert not transient("root@10.0.0.1: Permission denied (publickey).")
    assert not transient("Host key verification failed.")
