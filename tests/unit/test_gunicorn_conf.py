"""djship's gunicorn configuration (remote/gunicorn_conf.py), run by a real gunicorn on a
unix socket in a temporary folder: each worker's first request is its own warm-up, on the
site's health path with the site's Host and scheme, before any client is served; the
project's own gunicorn.conf.py still counts (its settings and its post_worker_init)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

SLOW_FIRST = 2.0
WORKERS = 3

APP = f'''
import json, os, time
from pathlib import Path

first = True

def application(environ, start_response):
    global first
    if first:
        first = False
        time.sleep({SLOW_FIRST})
        seen = {{k: environ.get(k) for k in ("PATH_INFO", "QUERY_STRING", "HTTP_HOST",
                                             "HTTP_X_FORWARDED_PROTO", "HTTP_USER_AGENT")}}
        Path("first-{{}}.json".format(os.getpid())).write_text(json.dumps(seen))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''

PROJECT_CONF = '''
from pathlib import Path

timeout = 77

def post_worker_init(worker):
    Path("project-hook-{}".format(worker.pid)).write_text(str(worker.cfg.timeout))
'''


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the app's unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def accepts(sock: Path) -> bool:
    """Whether something listens on the unix socket ``sock``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(sock))
    except OSError:
        return False
    finally:
        probe.close()
    return True


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[Path]:
    """gunicorn with djship's config serving the test app from ``tmp_path``."""
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text(PROJECT_CONF)
    conf = resources.files("djship.remote").joinpath("gunicorn_conf.py")
    env = {**os.environ, "DJSHIP_WARM_PATH": "/health/?probe=1",
           "DJSHIP_WARM_HOST": "shop.example.test", "DJSHIP_WARM_HTTPS": "1"}
    sock = tmp_path / "app.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(conf), "--bind", f"unix:{sock}",
         "--workers", str(WORKERS), "app:application"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not accepts(sock):  # the file appears at bind(), a moment before listen()
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout
            time.sleep(0.05)
        yield tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        print(out)


def get(sock: Path) -> tuple[int, float]:
    """(status, seconds) of GET / on the socket."""
    began = time.monotonic()
    conn = UnixHTTPConnection(str(sock))
    conn.request("GET", "/")
    status = conn.getresponse().status
    conn.close()
    return status, time.monotonic() - began


def test_no_client_meets_a_workers_slow_first_request(served: Path) -> None:
    """Clients that come while the workers warm up wait for a warm one; none waits for a
    worker's own slow first request after it, and each first request was the warm-up."""
    timings = [get(served / "app.sock") for _ in range(WORKERS * 3)]
    assert all(status == 200 for status, _ in timings), timings
    assert max(seconds for _, seconds in timings[1:]) < SLOW_FIRST / 2, timings
    deadline = time.monotonic() + 10  # the other workers finish their warm-up meanwhile
    while len(list(served.glob("first-*.json"))) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.05)
    firsts = [json.loads(p.read_text()) for p in served.glob("first-*.json")]
    assert len(firsts) == WORKERS, firsts
    assert all(f == {"PATH_INFO": "/health/", "QUERY_STRING": "probe=1",
                     "HTTP_HOST": "shop.example.test", "HTTP_X_FORWARDED_PROTO": "https",
                     "HTTP_USER_AGENT": "djship warm-up"} for f in firsts), firsts


def test_the_projects_own_gunicorn_conf_still_counts(served: Path) -> None:
    """Its settings (timeout = 77) and its post_worker_init hook, in every worker."""
    get(served / "app.sock")
    deadline = time.monotonic() + 10
    while len(list(served.glob("project-hook-*"))) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.05)
    hooks = list(served.glob("project-hook-*"))
    assert len(hooks) == WORKERS, hooks
    assert {p.read_text() for p in hooks} == {"77"}
