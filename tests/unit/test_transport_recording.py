"""The recording transport, and the ssh transport's pure pieces."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from djship.config.schema import Host
from djship.shell import Script, cmd
from djship.transport import ssh
from djship.transport.base import Result
from djship.transport.local import LocalTransport
from djship.transport.recording import RecordingTransport
from djship.transport.ssh import (
    SshTransport,
    connection_hint,
    control_path,
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


@pytest.fixture
def control_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DJSHIP_SSH_CONTROL_DIR for one test."""
    folder = tmp_path / "cp"
    monkeypatch.setenv("DJSHIP_SSH_CONTROL_DIR", str(folder))
    monkeypatch.setattr(ssh, "_CONTROL_DIR", None)
    return folder


def test_control_connections_are_kept_in_one_private_folder(control_folder: Path) -> None:
    host = Host(name="w", address="192.0.2.1")
    path = control_path(host)
    assert path.startswith(f"{control_folder}/") and path.endswith("-%C")
    assert control_folder.stat().st_mode & 0o777 == 0o700
    assert control_path(host) == path  # the next run finds the same connection


def test_default_control_socket_fits_in_a_unix_socket_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJSHIP_SSH_CONTROL_DIR", raising=False)
    monkeypatch.setattr(ssh, "_CONTROL_DIR", None)
    path = control_path(Host(name="w", address="192.0.2.1"))
    assert path.startswith(f"/tmp/djship-{os.getuid()}/")
    # sun_path holds 108 bytes; ssh expands %C to 40 hex digits and first binds a temporary
    # name 17 characters longer.
    assert len(path) - 2 + 40 + 17 < 108


def test_control_connection_is_never_shared_across_keys_or_rebuilt_servers(
        control_folder: Path, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("192.0.2.1 ssh-ed25519 AAAAold\n")
    host = Host(name="w", address="192.0.2.1", identity_file="/k/a", known_hosts_file=str(known))
    first = control_path(host)
    assert control_path(host.model_copy(update={"identity_file": "/k/b"})) != first
    known.write_text("192.0.2.1 ssh-ed25519 AAAAnew\n")  # same address, a new server
    assert control_path(host) != first


def test_a_control_folder_others_can_write_is_not_used(control_folder: Path) -> None:
    control_folder.mkdir(mode=0o777)
    os.chmod(control_folder, 0o777)  # mkdir's mode is cut by the umask
    path = control_path(Host(name="w", address="192.0.2.1"))
    assert not path.startswith(f"{control_folder}/")
    assert Path(path).parent.stat().st_mode & 0o777 == 0o700


def test_closing_leaves_the_shared_connection_to_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **_: calls.append(argv))
    t = SshTransport(Host(name="w", address="192.0.2.1"))
    t._connected = True
    t.close()
    assert calls == []  # no `ssh -O exit`: another run may be using the connection


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


def test_a_stream_can_have_a_connection_of_its_own(control_folder: Path) -> None:
    t = SshTransport(Host(name="w", address="192.0.2.1"))
    shared = t.argv(Script.of([cmd("tail", "-f", "x")]))
    own = t.argv(Script.of([cmd("tail", "-f", "x")]), own_connection=True)
    assert any(o.startswith("ControlPath=") and o != "ControlPath=none" for o in shared)
    assert "ControlPath=none" in own and own[-1] == shared[-1]


def test_input_reaches_the_command_whole_when_a_wait_times_out_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Each wait for the command is a short communicate(); on a busy machine the first can time
    # out before the input was written. Every input byte must still arrive, and stdin close.
    import threading

    monkeypatch.setattr(ssh, "CANCEL_POLL", 0.001)
    t = SshTransport(Host(name="w", address="192.0.2.1"))
    data = b"0123456789abcdef" * 65536  # 1 MiB: more than a pipe holds at once
    got: list[Result] = []
    worker = threading.Thread(target=lambda: got.append(t._call(["wc", "-c"], data, None)),
                              daemon=True)
    worker.start()
    worker.join(30)
    assert got, "the command never saw the end of its input"
    assert got[0].status == 0 and got[0].stdout.strip() == str(len(data))
