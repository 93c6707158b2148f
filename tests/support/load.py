"""A bounded HTTP load generator for zero-downtime tests and benchmarks.

Only ever aimed at a sandbox address the test created. Each client loops over the paths
until ``stop()`` or the hard time limit, whichever comes first; nothing runs forever.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Counts of what the clients saw."""

    total: int = 0
    failures: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    slowest: float = 0.0

    def summary(self) -> str:
        """One line for logs and benchmark output."""
        return (f"{self.total} requests, {self.failures} failed, "
                f"statuses {dict(self.statuses)}, first errors {self.errors[:3]}, "
                f"slowest {self.slowest:.2f}s")


class Load:
    """``concurrency`` clients requesting ``paths`` on ``address`` with a Host header."""

    def __init__(self, address: str, host_header: str, paths: list[str], *,
                 concurrency: int = 10, max_seconds: float = 120.0, port: int = 80,
                 timeout: float = 10.0, interval: float = 0.0) -> None:
        self.address, self.host_header, self.paths, self.port = address, host_header, paths, port
        self.concurrency = concurrency
        # Per request. A slow answer is not a failed one: tests on a busy machine raise it.
        self.timeout = timeout
        # Paced: each client sends at most one request every ``interval`` seconds (a steady
        # load of about concurrency / interval a second; a slow answer slows its client and
        # nothing is sent faster to catch up). 0: as fast as the server answers.
        self.interval = interval
        self.deadline = time.monotonic() + max_seconds
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(concurrency)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop all clients and return the counts."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout + 5)
        return self.result

    def _record(self, status: str, ok: bool, error: str = "", seconds: float = 0.0) -> None:
        with self._lock:
            self.result.total += 1
            self.result.slowest = max(self.result.slowest, seconds)
            self.result.statuses[status] += 1
            if not ok:
                self.result.failures += 1
                if error and len(self.result.errors) < 20:
                    self.result.errors.append(error)

    def _client(self) -> None:
        i = 0
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            path = self.paths[i % len(self.paths)]
            i += 1
            conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
            began = time.monotonic()
            try:
                conn.request("GET", path, headers={"Host": self.host_header})
                resp = conn.getresponse()
                resp.read()
                if conn.sock is not None:  # close with a reset: see _no_time_wait
                    _no_time_wait(conn.sock)
                ok = 200 <= resp.status < 300
                self._record(str(resp.status), ok, f"{path}: HTTP {resp.status}",
                             time.monotonic() - began)
            except OSError as exc:
                self._record(type(exc).__name__, False, f"{path}: {exc}",
                             time.monotonic() - began)
            finally:
                conn.close()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))


def _no_time_wait(sock: socket.socket) -> None:
    """Make close() reset the connection instead of leaving it in TIME_WAIT.

    Every request opens a new connection to the same address and port; at a few hundred a
    second, TIME_WAIT (60 s) would use up the local ports and connect() would fail with
    EADDRNOTAVAIL, a failure of the load generator, not of the server. The answer has been
    read in full by then, so the reset loses nothing.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@dataclass
class Loaded:
    """What a bounded load saw around a block, and how long it ran."""

    result: LoadResult = field(default_factory=LoadResult)
    seconds: float = 0.0


@contextmanager
def loaded_around(address: str, host_header: str, paths: list[str], *, clients: int,
                  min_seconds: float) -> Iterator[Loaded]:
    """Load ``paths`` around the block: 2 s before it, 2 s after, ``min_seconds`` in all."""
    out = Loaded()
    began = time.monotonic()
    load = Load(address, host_header, paths, concurrency=clients, max_seconds=300)
    with load:
        time.sleep(2)
        yield out
        time.sleep(max(2.0, min_seconds - (time.monotonic() - began)))
        out.result = load.stop()
    out.seconds = time.monotonic() - began
