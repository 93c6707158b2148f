"""Helpers for the export tests: a throwaway PostgreSQL cluster, free ports, HTTP fetches."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql")
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "guestbook"


def need(what: str, ok: bool) -> None:
    """Skip (fail under CI=true) when a prerequisite is missing."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: missing prerequisites are an error)")
    pytest.skip(what)


def pg_tool(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, else the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(PG_BIN.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(versions[-1]) if versions else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """A running throwaway cluster reachable on 127.0.0.1:port without a password."""

    port: int
    user: str

    def url(self, db: str) -> str:
        """DATABASE_URL of one database."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{db}"


def _as_user(argv: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else argv


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """initdb + pg_ctl start in a temp dir (as postgres when root); stopped by pg_ctl after."""
    # Its own world-traversable folder: pytest's tmp dirs are private to root.
    tmp = Path(tempfile.mkdtemp(prefix="djship-pg-"))
    try:
        with _cluster(tmp) as pg:
            yield pg
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _cluster(tmp: Path) -> Iterator[Postgres]:
    initdb, pg_ctl, createdb = pg_tool("initdb"), pg_tool("pg_ctl"), shutil.which("createdb")
    need("initdb/pg_ctl not found: apt-get install -y postgresql",
         bool(initdb and pg_ctl and createdb))
    assert initdb and pg_ctl and createdb
    run_as = "postgres" if os.geteuid() == 0 else None
    if run_as:
        tmp.chmod(0o755)
        pw = pwd.getpwnam(run_as)
    data, sock = tmp / "data", tmp / "sock"
    for d in (data, sock):
        d.mkdir()
        if run_as:
            os.chown(d, pw.pw_uid, pw.pw_gid)
    user = run_as or pwd.getpwuid(os.geteuid()).pw_name
    subprocess.run(_as_user([initdb, "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"],
                            run_as), check=True, capture_output=True, cwd=tmp)
    port = free_port()
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock}"
    log = tmp / "sock" / "log"
    subprocess.run(_as_user([pg_ctl, "-D", str(data), "-o", opts, "-w", "-l", str(log),
                             "start"], run_as), check=True, capture_output=True, cwd=tmp)
    try:
        yield Postgres(port, user)
    finally:
        subprocess.run(_as_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], run_as),
                       check=False, capture_output=True)


def createdb(pg: Postgres, name: str) -> None:
    """Create a database in the cluster."""
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.user, name],
                   check=True, capture_output=True)


def fetch(url: str, host: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """GET a URL: (status, body); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, deadline: float, host: str | None = None) -> tuple[int, bytes]:
    """Fetch ``url`` until something answers, up to ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            return fetch(url, host)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.3)


def tree_state(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its content and mtime, to prove nothing was written."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}
