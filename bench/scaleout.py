"""Benchmark: deploy wall time for a site on 1, 2 and 4 web hosts (issue 8, item 5).

Boots its own sandboxes (four web hosts and a database host, from the image with the
packages preinstalled, so apt is not what is measured) and takes them down at the end, even
on failure. Three copies of the example project are three sites on those same servers: ``one``
on web host 1, ``two`` on hosts 1-2, ``four`` on hosts 1-4, each with its database on the
database host. All three are provisioned and deployed once (untimed: the first venv build),
then ``--runs`` rounds each deploy a one-line change (VERSION bumped and committed) to every
site in turn, the order rotating from round to round. Interleaving matters on a shared
machine: a slow minute then slows every size alike instead of one of them.

Reported, not asserted: the 4-host deploy should take at most 1.5 times the 1-host deploy on
the same machine (hosts are deployed in parallel; migrations run once, on one host).

Usage (root, on a machine that can run sandboxes): python bench/scaleout.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
sys.path.insert(0, str(HERE.parent / "src"))

from helpers import Run, make_project, request  # noqa: E402

from djship.sandbox import machine  # noqa: E402
from djship.sandbox.records import SandboxInfo  # noqa: E402
from djship.sandbox.testing import provision_packages  # noqa: E402

SIZES = {1: "one", 2: "two", 4: "four"}
TARGET = 1.5
STEP_LINE = re.compile(r"^(\S+)\s+(\S+(?: \S+)*?)\s+(ok|changed|failed)\s+([\d.]+)s\b")


def must(run: Run) -> Run:
    """Stop the benchmark when a djship run failed."""
    if run.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{run}")
    return run


def busy_seconds() -> float:
    """CPU seconds this machine (every sandbox on it, djship, and anything else) has been busy."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def phase_times(run: Run) -> dict[str, float]:
    """The slowest host's time for each deploy phase, from djship's progress lines."""
    out: dict[str, float] = defaultdict(float)
    for line in run.stderr.splitlines():
        m = STEP_LINE.match(line)
        if m:
            out[m.group(2)] = max(out[m.group(2)], float(m.group(4)))
    return dict(out)


class Site:
    """One copy of the example, deployed as site ``name`` to ``webs`` and the db host."""

    def __init__(self, base: Path, name: str, webs: list[SandboxInfo], db: SandboxInfo
                 ) -> None:
        self.name, self.webs, self.version = name, webs, 1
        (base / name).mkdir()
        self.project = make_project(base / name, [])
        config = self.project.read("djship.toml")
        for table in ("", ".env"):
            config = config.replace(f"[sites.guestbook{table}]", f"[sites.{name}{table}]")
        self.project.write("djship.toml", config.replace('"guestbook.test"', f'"{name}.test"'))
        self.project.set_hosts([*(w.host_entry(["web"]) for w in webs), db.host_entry(["db"])])
        self.project.commit(f"site {name} on {len(webs)} web host(s)")

    def deploy(self) -> tuple[float, float, Run]:
        """A one-line change, deployed; (wall seconds, machine CPU seconds, the run)."""
        self.version += 1
        self.project.set_version(str(self.version))
        began, cpu = time.monotonic(), busy_seconds()
        run = must(self.project.djship("deploy"))
        return time.monotonic() - began, busy_seconds() - cpu, run

    def check(self) -> None:
        """Every web host serves the version just deployed."""
        for web in self.webs:
            page = request(web.address, "/", host=f"{self.name}.test")
            if f"VERSION {self.version}</footer>" not in page.body:
                raise SystemExit(f"{web.name} does not serve {self.name} {self.version}")


Results = dict[int, tuple[list[float], list[float], list[Run]]]


def measure(sites: dict[int, Site], runs: int) -> Results:
    """``runs`` rounds of one deploy per site, rotating the order; times, CPU, runs per size."""
    out: Results = {size: ([], [], []) for size in sites}
    order = list(sites)
    for n in range(runs):
        for size in order[n % len(order):] + order[:n % len(order)]:
            took, cpu, run = sites[size].deploy()
            sites[size].check()
            out[size][0].append(took)
            out[size][1].append(cpu)
            out[size][2].append(run)
        print(f"round {n + 1}: " + ", ".join(f"{s} host(s) {out[s][0][-1]:.1f}s" for s in order),
              file=sys.stderr)
    return out


def median_phases(runs: list[Run]) -> dict[str, float]:
    """Per phase, the median over the runs of its slowest host's time."""
    each = [phase_times(r) for r in runs]
    names = {p for ph in each for p in ph}
    return {p: statistics.median(ph.get(p, 0.0) for ph in each) for p in names}


def report(results: Results, runs: int) -> None:
    """The table, the ratio to the target, and where the time goes."""
    base = statistics.median(results[1][0])
    print(f"\nDeploy wall time of a one-line change: median of {runs} rounds, the sizes "
          "interleaved; one database host throughout\n")
    cores = os.cpu_count() or 1
    print(f"| web hosts | deploy (s) | ratio to 1 host | all runs (s) | machine CPU (s) | "
          f"cores busy (of {cores}) |")
    print("| ---: | ---: | ---: | --- | ---: | ---: |")
    for size, (times, cpu, _) in results.items():
        med, busy = statistics.median(times), statistics.median(cpu)
        print(f"| {size} | {med:.2f} | {med / base:.2f}× | "
              f"{', '.join(f'{t:.1f}' for t in times)} | {busy:.1f} | {busy / med:.1f} |")
    ratio = statistics.median(results[4][0]) / base
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"\ntarget: 4 hosts ≤ {TARGET}× 1 host: {ratio:.2f}× ({verdict})")
    phases = {size: median_phases(runs) for size, (_, _, runs) in results.items()}
    names = sorted({p for ph in phases.values() for p in ph}, key=lambda p: -phases[4].get(p, 0))
    print("\nwhere the time goes: per phase, the slowest host's time (median over rounds, s)\n")
    print("| phase | " + " | ".join(f"{s} host(s)" for s in phases) + " |")
    print("| --- |" + " ---: |" * len(phases))
    for phase in names:
        print(f"| {phase} | " + " | ".join(f"{ph.get(phase, 0.0):.1f}" for ph in phases.values())
              + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of timed deploys")
    args = parser.parse_args()
    names = [f"bs{os.getpid() % 100000}-{i}" for i in range(1, 6)]
    booted: list[str] = []

    def boot(name: str) -> SandboxInfo:
        booted.append(name)
        return machine.up(name, preinstall=provision_packages())

    try:
        with ThreadPoolExecutor(len(names)) as pool:
            boxes = list(pool.map(boot, names))
        print("sandboxes: " + ", ".join(f"{b.name} {b.address}" for b in boxes),
              file=sys.stderr)
        webs, db = boxes[:4], boxes[4]
        with tempfile.TemporaryDirectory(prefix="djship-bench-") as tmp:
            sites = {size: Site(Path(tmp), name, webs[:size], db)
                     for size, name in SIZES.items()}
            for site in sites.values():  # one at a time: they share hosts
                must(site.project.provision())
                site.deploy()  # untimed: the first venv build on each host
            report(measure(sites, args.runs), args.runs)
    finally:
        alive = {m.name for m in machine.list_machines()}
        for name in booted:
            if name in alive:
                try:
                    machine.down(name)
                except Exception as exc:  # keep taking the others down
                    print(f"could not take sandbox {name} down: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
