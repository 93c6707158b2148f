"""Benchmark: djship redeploys against the hand-written "seed" procedure, on one sandbox.

Boots its own sandbox (taken down at the end, even on failure), provisions it, deploys the
guestbook example, then measures on that same server:

  (a) a no-op ``djship deploy`` (nothing changed),
  (b) a ``djship deploy`` of a one-line change (VERSION bumped, committed),
  (c) the seed-style procedure the tutorials in /work/shared/seeds teach: ``rm -rf`` the app
      folder, copy the whole project again (rsync without --link-dest), ``python3 -m venv`` +
      ``pip install -r requirements.txt gunicorn``, migrate, collectstatic and
      ``systemctl restart`` of a plain gunicorn unit on 127.0.0.1:8001,
  (d) failed requests while each redeploys under load: djship through nginx from this host
      (tests/support/load.py, 10 clients), the seed through 10 bounded curl loops inside the
      server against 127.0.0.1:8001 (the seed has no nginx in front).

Times are medians of ``--runs`` runs after one untimed warm-up (pip's and uv's caches warm,
as on a server deployed to before). Targets, reported and not asserted: a one-line redeploy
at most 0.6 and a no-op at most 0.15 times the seed time.

Usage (root, on a machine that can run sandboxes): python bench/deploy.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
sys.path.insert(0, str(HERE.parent / "src"))

from helpers import (  # noqa: E402
    DOMAIN,
    ENV_FILE,
    ENVTOOL,
    Load,
    Project,
    css_path,
    make_project,
    request,
    version_served,
)

from djship.sandbox import machine  # noqa: E402
from djship.sandbox.records import SandboxInfo  # noqa: E402
from djship.sandbox.testing import provision_packages  # noqa: E402

SEED_DIR = "/srv/seed"
SEED_PORT = 8001
SEED_UNIT = f"""[Unit]
Description=seed-style gunicorn for the guestbook
After=network.target postgresql.service

[Service]
WorkingDirectory={SEED_DIR}/app
EnvironmentFile={ENV_FILE}
Environment=ALLOWED_HOSTS={DOMAIN},127.0.0.1 STATIC_ROOT={SEED_DIR}/static
ExecStart={SEED_DIR}/app/.venv/bin/gunicorn guestbook.wsgi:application \\
    --bind 127.0.0.1:{SEED_PORT} --workers 2

[Install]
WantedBy=multi-user.target
"""
# 10 clients, each a bounded curl loop; they stop at the stop file or after 300 s.
SEED_LOAD = f"""
rm -f /tmp/seed-load.stop /tmp/seed-load.*.log
for c in $(seq 1 10); do
  ( end=$((SECONDS + 300))
    while [ ! -e /tmp/seed-load.stop ] && [ $SECONDS -lt $end ]; do
      curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 -H 'Host: {DOMAIN}' \\
        http://127.0.0.1:{SEED_PORT}/ || true
    done > /tmp/seed-load.$c.log ) &
done
wait
"""


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes."""
    began = time.monotonic()
    fn()
    return time.monotonic() - began


def must(run: object) -> None:
    """Fail loudly when a djship run failed."""
    if getattr(run, "returncode", 1) != 0:
        raise SystemExit(f"benchmark step failed:\n{run}")


class Seed:
    """The seed-style procedure, driven over plain ssh and rsync (a fresh connection each)."""

    def __init__(self, box: SandboxInfo, project: Project) -> None:
        self.box, self.project = box, project

    def ssh(self, script: str) -> None:
        done = self.box.run(script, check=False, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"seed step failed: {script}\n{done.stdout}\n{done.stderr}")

    def install_unit(self) -> None:
        self.box.run(f"install -d {SEED_DIR} && cat > /etc/systemd/system/seed.service "
                     "&& systemctl daemon-reload && systemctl enable --quiet seed",
                     stdin=SEED_UNIT)

    def redeploy(self) -> None:
        """rm -rf, full copy, fresh venv + pip, migrate, collectstatic, restart."""
        app = f"{SEED_DIR}/app"
        self.ssh(f"rm -rf {app} && mkdir -p {app}")
        rsh = shlex.join([*self.box.ssh_argv()[:-1], "-oBatchMode=yes"])
        subprocess.run(["rsync", "-a", "--exclude", ".git", "-e", rsh,
                        f"{self.project.root}/", f"root@{self.box.address}:{app}/"],
                       check=True, capture_output=True, timeout=600)
        manage = (f"python3 {ENVTOOL} exec {ENV_FILE} root {app} ALLOWED_HOSTS={DOMAIN} "
                  f"STATIC_ROOT={SEED_DIR}/static -- {app}/.venv/bin/python manage.py")
        self.ssh(f"cd {app} && python3 -m venv .venv && .venv/bin/pip install -q "
                 "-r requirements.txt gunicorn")
        self.ssh(f"{manage} migrate --noinput && {manage} collectstatic --noinput -v 0")
        self.ssh("systemctl restart seed")

    def serves(self) -> str:
        """The seed's VERSION marker."""
        out = self.box.run(f"curl -s -H 'Host: {DOMAIN}' http://127.0.0.1:{SEED_PORT}/",
                           check=False).stdout
        return out.rsplit("VERSION ", 1)[-1].split("<", 1)[0] if "VERSION " in out else "?"

    def redeploy_under_load(self) -> tuple[float, int, int]:
        """(seconds, failed, total) of a redeploy while 10 curl loops hit the seed's port."""
        self.box.run("systemd-run --unit seed-load --collect bash -c "
                     + shlex.quote(SEED_LOAD))
        try:
            time.sleep(2)
            took = timed(self.redeploy)
            time.sleep(3)
        finally:
            self.box.run("touch /tmp/seed-load.stop; for i in $(seq 1 20); do "
                         "systemctl is-active -q seed-load || break; sleep 0.5; done",
                         check=False)
        codes = self.box.run("cat /tmp/seed-load.*.log", check=False).stdout.split()
        return took, sum(1 for c in codes if not c.startswith("2")), len(codes)


def djship_under_load(box: SandboxInfo, project: Project, version: str
                      ) -> tuple[float, int, int]:
    """(seconds, failed, total) of a one-line djship redeploy under Load (10 clients)."""
    css = css_path(request(box.address, "/").body)
    project.set_version(version)
    load = Load(box.address, DOMAIN, ["/", css], concurrency=10, max_seconds=300)
    with load:
        time.sleep(2)
        took = timed(lambda: must(project.djship("deploy")))
        time.sleep(3)
        result = load.stop()
    return took, result.failures, result.total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per procedure")
    args = parser.parse_args()
    name = f"bench{os.getpid() % 100000}"
    box = machine.up(name, preinstall=provision_packages())  # redeploys are measured
    try:
        with tempfile.TemporaryDirectory(prefix="djship-bench-") as tmp:
            run_bench(box, make_project(Path(tmp), [box]), args.runs)
    finally:
        machine.down(name)


def run_bench(box: SandboxInfo, project: Project, runs: int) -> None:
    print(f"sandbox {box.name} at {box.address}", file=sys.stderr)
    must(project.provision())
    must(project.djship("deploy"))
    counter = iter(range(2, 1000))

    def bump_and_deploy() -> float:
        project.set_version(str(next(counter)))
        return timed(lambda: must(project.djship("deploy")))

    bump_and_deploy()  # warm-up
    one_line = [bump_and_deploy() for _ in range(runs)]
    noop = [timed(lambda: must(project.djship("deploy"))) for _ in range(runs)]

    seed = Seed(box, project)
    seed.install_unit()
    seed.redeploy()  # warm-up: pip's cache
    seed_times = []
    for _ in range(runs):
        version = str(next(counter))
        project.set_version(version)
        seed_times.append(timed(seed.redeploy))
        if seed.serves() != version:
            raise SystemExit(f"the seed does not serve VERSION {version}: {seed.serves()}")

    version = str(next(counter))
    d_took, d_failed, d_total = djship_under_load(box, project, version)
    if version_served(box.address) != version:
        raise SystemExit(f"djship does not serve VERSION {version} after the loaded deploy")
    project.set_version(str(next(counter)))
    s_took, s_failed, s_total = seed.redeploy_under_load()

    base = statistics.median(seed_times)
    rows = [
        ("seed: rm -rf, copy, venv + pip, migrate, collectstatic, restart", base,
         f"{s_failed} of {s_total}"),
        ("djship deploy, one-line change", statistics.median(one_line),
         f"{d_failed} of {d_total}"),
        ("djship deploy, nothing changed", statistics.median(noop), "-"),
    ]
    print(f"\n{runs} timed runs each (median), after one warm-up; failed requests from one "
          "more redeploy under load of 10 clients "
          f"(seed under load took {s_took:.1f}s, djship {d_took:.1f}s)\n")
    print("| procedure | time (s) | ratio to seed | failed requests |")
    print("| --- | ---: | ---: | ---: |")
    for label, secs, failed in rows:
        print(f"| {label} | {secs:.2f} | {secs / base:.2f}× | {failed} |")
    print(f"\nall runs: one-line {[round(x, 2) for x in one_line]}, no-op "
          f"{[round(x, 2) for x in noop]}, seed {[round(x, 2) for x in seed_times]}")
    print(f"targets: one-line ≤ 0.6× seed ({statistics.median(one_line) / base:.2f}×), "
          f"no-op ≤ 0.15× seed ({statistics.median(noop) / base:.2f}×)")


if __name__ == "__main__":
    main()
