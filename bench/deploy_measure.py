"""How bench/deploy.py measures: a deploy until its change is visible, static throughput
with wrk, and failed requests under a steady load.

Every request goes to a sandbox address the benchmark booted; wrk and the load are bounded
in time.
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.load import Load, LoadResult  # noqa: E402

POLL_SECONDS = 0.1  # how often the page is asked whether the change is visible
SETTLE_SECONDS = 30.0  # how long a change may take to appear after its command ended
CONFIRM = 10  # answers in a row that must show the change (after the command ended)
# Step timings in the commands' output: baseline-deploy.sh "step NAME SECONDS", djship's
# progress lines "HOST  PHASE  ok|changed|failed  SECONDSs ...".
BASELINE_STEP = re.compile(r"^step\s+(\S+)\s+([\d.]+)\s*$", re.M)
DJSHIP_STEP = re.compile(r"^(\S+)\s+(\S+(?: \S+)*?)\s+(?:ok|changed|failed)\s+([\d.]+)s\b",
                         re.M)

Visible = Callable[[], bool]


@dataclass
class Sample:
    """One timed deploy."""

    seconds: float = 0.0  # start of the first command until the change was visible
    command_seconds: float = 0.0  # until the last command exited
    error: str = ""
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the commands succeeded and the change became visible."""
        return not self.error


def phases_of(output: str) -> dict[str, float]:
    """Seconds per step or phase printed by either tool (summed when a name repeats);
    djship's steps on this machine are marked "(local)"."""
    steps = [(name, secs) for name, secs in BASELINE_STEP.findall(output)]
    steps += [(f"{name} (local)" if host == "local" else name, secs)
              for host, name, secs in DJSHIP_STEP.findall(output)]
    out: dict[str, float] = {}
    for name, secs in steps:
        out[name] = out.get(name, 0.0) + float(secs)
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a command the benchmark started, if it still runs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Watch:
    """Asks whether a change is visible; it counts from the first of an unbroken run of yes.

    A hand-written deploy can show the change on some gunicorn workers before the restart
    (a worker that has not imported the view yet imports the new file), then the old code
    again: only the time from which every answer shows the change counts.
    """

    def __init__(self, visible: Visible | None, began: float) -> None:
        self.visible, self.began = visible, began
        self.since: float | None = None
        self.streak = 0

    def check(self) -> None:
        """Ask once (nothing to do when there is nothing to see)."""
        if self.visible is None:
            return
        if self.visible():
            self.since = time.monotonic() - self.began if self.since is None else self.since
            self.streak += 1
        else:
            self.since, self.streak = None, 0

    def settle(self, deadline: float) -> float | None:
        """Ask until CONFIRM answers in a row show the change; when it started, or None."""
        while self.streak < CONFIRM and time.monotonic() < deadline:
            self.check()
            time.sleep(POLL_SECONDS)
        return self.since if self.streak >= CONFIRM else None


def run_polling(argv: Sequence[str], env: dict[str, str], watch: Watch, deadline: float
                ) -> tuple[int, str]:
    """Run one command, watching for the change meanwhile: (exit code, output)."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                watch.check()
                time.sleep(POLL_SECONDS)
        finally:
            stop(proc)
        log.seek(0)
        return proc.returncode, log.read().decode("utf-8", "replace")


def timed(commands: Sequence[Sequence[str]], env: dict[str, str], visible: Visible | None,
          timeout: float = 900.0) -> Sample:
    """Run ``commands`` in order; time them until ``visible`` holds for good (or until they
    end when there is nothing to see)."""
    began = time.monotonic()
    sample, output, watch = Sample(), "", Watch(visible, began)
    for argv in commands:
        code, out = run_polling(argv, env, watch, began + timeout)
        output += out
        if code != 0:
            sample.error = (f"{Path(argv[0]).name} {argv[-1] if len(argv) > 1 else ''} "
                            f"exited {code}: {out.strip()[-1500:]}")
            break
    sample.command_seconds = time.monotonic() - began
    sample.phases = phases_of(output)
    sample.seconds = sample.command_seconds
    if sample.error or visible is None:
        return sample
    seen = watch.settle(time.monotonic() + SETTLE_SECONDS)
    if seen is None:
        sample.error = f"the change was not visible {SETTLE_SECONDS:.0f}s after the command"
    else:
        sample.seconds = seen
    return sample


# --- static throughput -------------------------------------------------------------------

def ensure_wrk() -> str | None:
    """The wrk binary, installed from Debian's packages when missing; None if impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True,
                   check=False, timeout=300)
    return shutil.which("wrk")


@dataclass
class Rate:
    """What wrk measured on one static file."""

    per_second: float = 0.0
    non_2xx: int = 0
    encoding: str = ""
    error: str = ""


def content_encoding(address: str, host: str, path: str) -> str:
    """The Content-Encoding the server answers ``Accept-Encoding: gzip`` with ('' = none)."""
    conn = http.client.HTTPConnection(address, 80, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host, "Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("Content-Encoding") or "identity"
    except OSError as exc:
        return f"error: {exc}"
    finally:
        conn.close()


def static_rate(wrk: str, address: str, host: str, path: str, *, seconds: int,
                connections: int) -> Rate:
    """Requests per second wrk gets for ``path`` with ``Accept-Encoding: gzip``."""
    argv = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
            "-H", f"Host: {host}", "-H", "Accept-Encoding: gzip", f"http://{address}{path}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          timeout=seconds + 30)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", done.stdout, re.M)
    if done.returncode != 0 or not rate:
        return Rate(error=(done.stdout + done.stderr).strip()[-500:])
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    return Rate(float(rate.group(1)), int(bad.group(1)) if bad else 0,
                content_encoding(address, host, path))


# --- failed requests under load ----------------------------------------------------------

@dataclass
class Loaded:
    """A deploy under load: the sample, what the clients saw, and for how long."""

    sample: Sample
    result: LoadResult
    seconds: float

    def rate(self) -> float:
        """Requests a second the clients sent."""
        return self.result.total / self.seconds if self.seconds else 0.0


def under_load(address: str, host: str, paths: list[str], deploy: Callable[[], Sample], *,
               rate: float = 50.0, clients: int = 5) -> Loaded:
    """Run ``deploy`` while ``clients`` clients send about ``rate`` requests a second in all
    to ``paths`` (from 2 s before the deploy until 3 s after it)."""
    load = Load(address, host, paths, concurrency=clients, max_seconds=600,
                interval=clients / rate)
    began = time.monotonic()
    with load:
        time.sleep(2)
        sample = deploy()
        time.sleep(3)
        result = load.stop()
    return Loaded(sample, result, time.monotonic() - began)
