"""SSH through the system OpenSSH client, one multiplexed control connection per host.

Using the real ``ssh`` binary means the user's ~/.ssh/config, agent, keys and ProxyJump
all work, and after the first command each one costs a single round trip.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from djship.errors import ConnectionFailure, RemoteFailure
from djship.shell import Script, cmd, raw
from djship.transport.base import Endpoint as Host
from djship.transport.base import Result

SSH_ERROR = 255
CUT_SHORT = 137  # 128 + SIGKILL: a command this run cut short
CANCEL_POLL = 0.2  # seconds between looks for a cancel while a command runs
CONNECT_RETRY_PAUSES = (1.0, 3.0)
TRANSIENT = ("did not finish within", "control master", "connection reset", "connection closed",
             "kex_exchange_identification", "banner exchange")


def transient(stderr: str) -> bool:
    """True when ssh's complaint may go away on a second try (not a definite refusal)."""
    text = stderr.lower()
    return any(word in text for word in TRANSIENT)


CONTROL_DIR_ENV = "DJSHIP_SSH_CONTROL_DIR"
CONTROL_PERSIST = 60  # seconds a control connection outlives the last command using it

_CONTROL_DIR: Path | None = None


def _private_dir(path: Path) -> bool:
    """Create ``path`` (0700) unless it exists; True if it is a real folder of ours that
    nobody else can write to (a world-writable /tmp lets anyone create the name first)."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def control_dir() -> Path:
    """The folder for control sockets, kept between runs like tmux's ``/tmp/tmux-UID``.

    A control connection lives on for CONTROL_PERSIST seconds after a command, so the next
    djship command to the same host skips the SSH handshake (0.5-1 s). Runs never close a
    connection (another run may be using it); a connection is matched to one host entry by
    its socket name (see control_path). ``DJSHIP_SSH_CONTROL_DIR`` names another folder.
    If the folder is not ours alone, this run uses a private one that goes with it.
    """
    global _CONTROL_DIR
    if _CONTROL_DIR is None or not _CONTROL_DIR.is_dir():
        wanted = Path(os.environ.get(CONTROL_DIR_ENV) or f"/tmp/djship-{os.getuid()}")
        if not _private_dir(wanted):
            wanted = Path(tempfile.mkdtemp(prefix=f"djship-{os.getpid()}-", dir="/tmp"))
            atexit.register(shutil.rmtree, wanted, True)
        _CONTROL_DIR = wanted
    return _CONTROL_DIR


def control_path(host: Host) -> str:
    """The socket of ``host``'s control connection.

    ssh's ``%C`` tells hosts, ports and users apart; the prefix adds what else decides who
    we talk to and as whom: the key, and the pinned host key (a server rebuilt at the same
    address gets a new connection, never the old one's).
    """
    pinned = b""
    if host.known_hosts_file:
        with contextlib.suppress(OSError):
            pinned = Path(host.known_hosts_file).expanduser().read_bytes()
    key = hashlib.sha256(b"\0".join(
        [str(host.identity_file or "").encode(), str(host.known_hosts_file or "").encode(),
         pinned])).hexdigest()[:10]
    return f"{control_dir()}/{key}-%C"


def ssh_options(host: Host, *, multiplex: bool = True) -> list[str]:
    """The ssh options djship adds; everything else comes from the user's ssh config."""
    opts = ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_path(host)}",
            "-o", f"ControlPersist={CONTROL_PERSIST}"] if multiplex else ["-o", "ControlPath=none"]
    opts += [
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=15",
        "-p", str(host.port),
        "-l", host.user,
    ]
    if host.identity_file:
        opts += ["-i", str(Path(host.identity_file).expanduser()), "-o", "IdentitiesOnly=yes"]
    if host.known_hosts_file:
        opts += ["-o", f"UserKnownHostsFile={Path(host.known_hosts_file).expanduser()}",
                 "-o", "StrictHostKeyChecking=yes"]
    return opts


def connection_hint(host: Host, stderr: str) -> tuple[str, str]:
    """Turn ssh's complaint into a headline and advice; used only to word the message."""
    target = f"{host.user}@{host.address}:{host.port}"
    text = stderr.lower()
    if "permission denied" in text:
        key = host.identity_file or "your ssh agent / default keys"
        return (f"{target} refused our key",
                f"check that the public key for {key} is in ~{host.user}/.ssh/authorized_keys "
                f"on the server, or set hosts.identity_file")
    if "host key verification failed" in text or "remote host identification" in text:
        return (f"{target}: host key is unknown or changed",
                "verify the server's fingerprint, then update known_hosts "
                "(ssh-keygen -R ADDRESS) or hosts.known_hosts_file")
    if "could not resolve" in text:
        return (f"cannot resolve {host.address}", "check hosts.address and your DNS")
    return (f"cannot connect to {target}",
            "check that the server is up, the address and port are right and a firewall "
            f"allows SSH; try `ssh -p {host.port} {host.user}@{host.address}` yourself")


class SshTransport:
    """Runs scripts on a host over a persistent OpenSSH control connection."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.name = host.name
        self._base = ["ssh", *ssh_options(host), host.address]
        self._connected = False
        self._running: set[subprocess.Popen[bytes]] = set()
        self._guard = threading.Lock()
        self._cut: set[subprocess.Popen[bytes]] = set()

    def connect(self) -> None:
        """Open the control connection, turning any failure into advice.

        A busy server (sshd or logind slow to answer) can make the first connection stall
        or lose its control master; that is retried twice. Definite answers (refused, no
        route, TCP connect timeout, wrong key, unknown host key) are not.
        """
        if self._connected:
            return
        for pause in (*CONNECT_RETRY_PAUSES, None):
            try:
                proc = subprocess.run([*self._base, "--", "true"], capture_output=True,
                                      text=True, stdin=subprocess.DEVNULL, timeout=60,
                                      check=False)
            except subprocess.TimeoutExpired:
                proc = subprocess.CompletedProcess([], SSH_ERROR, "",
                                                   "ssh did not finish within 60s")
            if proc.returncode == 0 or pause is None or not transient(proc.stderr):
                break
            subprocess.run([*self._base, "-O", "exit"], capture_output=True, check=False)
            time.sleep(pause)
        if proc.returncode != 0:
            headline, hint = connection_hint(self.host, proc.stderr)
            tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
            raise ConnectionFailure(self.name, headline + (f" ({tail[0]})" if tail else ""),
                                    hint=hint)
        self._connected = True

    def remote_command(self, script: Script) -> str:
        """The single string ssh hands to the remote shell for ``script``."""
        inner = ["bash", "-c", script.render()]
        if self.host.user != "root":
            inner = ["sudo", "-n", "--", *inner]
        return shlex.join(inner)

    def run(self, script: Script, *, stdin: bytes | None = None,
            timeout: float | None = None) -> Result:
        """Run a script; a lost connection raises ConnectionFailure, other failures return."""
        self.connect()
        return self._call([*self._base, "--", self.remote_command(script)],
                          stdin if stdin is not None else b"", timeout)

    def _call(self, argv: list[str], stdin: bytes, timeout: float | None) -> Result:
        """Run a local command (ssh, rsync) that cancel() can stop; its status and output."""
        with self._guard:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            self._running.add(proc)
        deadline = None if timeout is None else time.monotonic() + timeout
        # The input is written by a thread of its own, and communicate() only reads: a retried
        # communicate() (after a timeout, to look for a cancel) writes no more input, so a
        # first try that timed out before writing it all, as on a busy machine, left stdin
        # open and the remote command (envtool reading its request) waiting for ever.
        pipe, proc.stdin = proc.stdin, None
        feed_and_close(pipe, stdin)
        try:
            while True:
                try:
                    out, err = proc.communicate(None, timeout=CANCEL_POLL)
                    break
                except subprocess.TimeoutExpired:
                    if proc in self._cut:
                        return self._abandon(proc)
                    if deadline is not None and time.monotonic() > deadline:
                        proc.kill()
                        proc.communicate()
                        raise
        finally:
            with self._guard:
                self._running.discard(proc)
                self._cut.discard(proc)
        return Result(proc.returncode, out.decode(errors="replace"),
                      err.decode(errors="replace"))

    @staticmethod
    def _abandon(proc: subprocess.Popen[bytes]) -> Result:
        """A command cut short: its client is dead, but the control master holds our pipes
        (it took the client's file descriptors) until the remote side ends; don't wait."""
        for pipe in (proc.stdout, proc.stderr, proc.stdin):
            with contextlib.suppress(OSError, ValueError):
                if pipe is not None:
                    pipe.close()
        proc.wait()
        return Result(CUT_SHORT, "", "cut short: the run was interrupted")

    def cancel(self) -> None:
        """Stop the local ssh/rsync processes of running commands (after Ctrl-C or SIGTERM),
        so the run can undo at once; commands sent afterwards (the undo) run normally."""
        with self._guard:
            for proc in self._running:
                # SIGKILL: a multiplexed ssh client waits for the server's exit status on
                # SIGTERM/SIGINT, i.e. for the very command being cut short.
                proc.kill()
                self._cut.add(proc)

    def sync(self, source: str, files: Sequence[str], dest: str, link_dest: str | None
             ) -> Result:
        """rsync ``files`` over the control connection, compared by content (--checksum):
        a file with the live copy's size and mtime but other bytes is still sent."""
        self.connect()
        with tempfile.NamedTemporaryFile("w", suffix=".files") as listing:
            listing.write("\n".join(files) + "\n")
            listing.flush()
            argv = ["rsync", "-rlp", "--checksum", "--chmod=D755,Fu=rwX,Fgo=rX", "--delete",
                    f"--files-from={listing.name}", "-e", self.rsync_shell()]
            if self.host.user != "root":
                argv.append("--rsync-path=sudo rsync")
            if link_dest:
                argv.append(f"--link-dest={link_dest}")
            argv += [f"{source}/", f"{self.host.address}:{dest}/"]
            return self._call(argv, b"", None)

    def argv(self, script: Script | None, *, tty: bool = False,
             own_connection: bool = False) -> list[str]:
        """The local ssh command line for a script (None: a login shell).

        ``own_connection``: not through the shared control connection, so that ending this
        client ends the connection, and sshd ends the remote command with it (a `tail -f`
        that writes nothing would otherwise wait for its next line to notice).
        """
        flag = "-tt" if tty else "-T"
        base = (["ssh", *ssh_options(self.host, multiplex=False), self.host.address]
                if own_connection else self._base)
        if script is None:
            return [*base, flag]
        return [*base, flag, "--", self.remote_command(script)]

    def interactive(self, script: Script | None, *, tty: bool) -> int:
        """Run a script (or a login shell) attached to the user's terminal; its exit status."""
        self.connect()
        return subprocess.call(self.argv(script, tty=tty))

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root",
            group: str = "root") -> None:
        """Write a file atomically: temp file beside it, mode and owner, then rename."""
        result = self.run(put_script(path, mode, owner, group), stdin=data)
        if not result.ok:
            raise RemoteFailure(self.name, f"write {path}", f"put {path}", result.status,
                                result.stderr)

    def get(self, path: str) -> bytes:
        """Read a remote file as bytes."""
        self.connect()
        proc = subprocess.run([*self._base, "--", self.remote_command(
            Script.of([cmd("cat", "--", path)]))], capture_output=True, check=False)
        if proc.returncode != 0:
            raise RemoteFailure(self.name, f"read {path}", f"cat {path}", proc.returncode,
                                proc.stderr.decode(errors="replace"))
        return proc.stdout

    def fresh_login_works(self) -> bool:
        """Open a brand-new connection (not through the control master) and run ``true``."""
        argv = ["ssh", *ssh_options(self.host, multiplex=False), self.host.address, "--", "true"]
        proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                              check=False)
        return proc.returncode == 0

    def rsync_shell(self) -> str:
        """The ``-e`` value that makes rsync reuse this host's control connection."""
        return shlex.join(["ssh", *ssh_options(self.host)])

    def close(self) -> None:
        """Done with this host. The control connection stays for CONTROL_PERSIST seconds,
        for the next command (this run's or another's); only ssh itself ends it."""
        self._connected = False


def feed_and_close(pipe: IO[bytes] | None, data: bytes) -> None:
    """Write ``data`` to a child's stdin and close it, in the background when there is any
    (a child that reads slowly, or not at all, never blocks the caller)."""
    if pipe is None:
        return

    def write() -> None:
        with contextlib.suppress(OSError, ValueError):  # the child went away: nothing to say
            if data:
                pipe.write(data)
        with contextlib.suppress(OSError, ValueError):
            pipe.close()

    if data:
        threading.Thread(target=write, name="djship-stdin", daemon=True).start()
    else:
        write()


def put_script(path: str, mode: int, owner: str, group: str) -> Script:
    """Script that stores stdin at ``path`` atomically with the given mode and owner."""
    folder = str(Path(path).parent)
    return Script.of([
        cmd("install", "-d", "-m", "755", folder),
        cmd(raw("tmp=$(mktemp"), "--", f"{path}.djship-XXXXXX", raw(")")),
        cmd("trap", 'rm -f -- "$tmp"', "EXIT"),
        cmd("cat", raw('> "$tmp"')),
        cmd("chmod", f"{mode:o}", raw('"$tmp"')),
        cmd("chown", f"{owner}:{group}", raw('"$tmp"')),
        cmd("mv", "-f", raw('"$tmp"'), "--", path),
        cmd("trap", "-", "EXIT"),
    ])

