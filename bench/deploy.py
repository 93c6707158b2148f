"""Benchmark: djship against the hand-written procedure, ../shared/bench/baseline-deploy.sh.

Both deploy ../shared/bench/sample-site, each to its own sandbox. Every round boots a fresh
pair of identical sandboxes together (the same warm image: every package a djship provision
installs is preinstalled; the baseline still runs its own apt-get) and takes both down at
the end of the round, also on failure or Ctrl-C. In each round, one pair per case, djship
and the baseline one after the other, the order alternating from pair to pair:

  cold      bare server to first page: ``djship provision`` + ``djship deploy`` against
            ``baseline-deploy.sh first``
  one-line  SITE_VERSION bumped in notes/views.py (committed for djship), redeploy
  no-op     redeploy with nothing changed
  css       a rule added to notes/static/notes/site.css (committed for djship), redeploy

A case is timed from the command's start until the change is visible through nginx (the page
shows "site version N", or the stylesheet has the new rule), asked every 0.1 s from this host
with the Host header each nginx answers to; a no-op until the command exits. One untimed
one-line redeploy of each follows the cold deploy, as on a server deployed to before, and
every timed run starts after ``--pause`` idle seconds (djship stops the old slot 3 s after a
deploy, in the background: a user does not redeploy within seconds either) and 30 requests
to the page (so every gunicorn worker has imported the code it serves, as on a live site).

On the last round's servers: static throughput (wrk, ``Accept-Encoding: gzip``, on the
stylesheet, bounded in time), and failed requests during one one-line redeploy of each under
a steady paced load on the page and the stylesheet.

Prints medians, ratios djship/baseline, the load average at the start and end of each pair,
and the targets beside them (reported, never asserted).

Usage (root, on a machine that can run sandboxes): python bench/deploy.py [--runs 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from deploy_measure import (  # noqa: E402
    Loaded,
    Rate,
    Sample,
    Visible,
    ensure_wrk,
    static_rate,
    timed,
    under_load,
)
from deploy_sites import CSS_URL, DJSHIP, BaselineSite, DjshipSite, Site  # noqa: E402

from djship.sandbox.testing import SandboxFactory, provision_packages  # noqa: E402

CASES = ("cold", "one-line", "no-op", "css")
LABELS = {"cold": "cold: bare server to first page", "one-line": "one-line change",
          "no-op": "no-op redeploy", "css": "CSS-only change"}
# djship/baseline time at most this (throughput: at least), reported and not asserted.
TARGETS = {"cold": 0.9, "one-line": 0.5, "no-op": 0.1, "css": 0.6}
THROUGHPUT_TARGET = 1.0


@dataclass
class Pair:
    """One case measured once for each contender, with the machine's load around it."""

    case: str
    first: str
    samples: dict[str, Sample]
    load: tuple[float, float]

    def ratio(self) -> float | None:
        """djship/baseline for this pair, when both succeeded."""
        d, b = self.samples.get("djship"), self.samples.get("baseline")
        return d.seconds / b.seconds if d and b and d.ok and b.ok and b.seconds else None


@dataclass
class Results:
    """Everything measured in one benchmark run."""

    pairs: list[Pair] = field(default_factory=list)
    rates: dict[str, list[Rate]] = field(default_factory=dict)
    loaded: dict[str, Loaded] = field(default_factory=dict)

    def of(self, case: str, label: str) -> list[Sample]:
        """Every sample of one contender for one case."""
        return [p.samples[label] for p in self.pairs if p.case == case and label in p.samples]


class BenchFactory(SandboxFactory):
    """Sandboxes named bench-PID-N (12 characters at most), booted from the warm image."""

    def __init__(self, release: str) -> None:
        super().__init__(release, preinstall=provision_packages())
        self.numbers = itertools.count(1)

    def new_name(self) -> str:
        return f"bench-{os.getpid() % 1000}-{next(self.numbers) % 100}"


@contextmanager
def sandbox_pair(factory: BenchFactory, djship: str) -> Iterator[tuple[Site, Site]]:
    """A djship site and a baseline site on two sandboxes booted together; both go down
    at the end, whatever happens."""
    try:
        dbox, bbox = factory.many(2)
        with tempfile.TemporaryDirectory(prefix="djship-bench-") as tmp:
            yield DjshipSite(Path(tmp), dbox, djship), BaselineSite(Path(tmp), bbox)
    finally:
        factory.destroy_all()


def load1() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]


class Bench:
    """Runs the pairs, alternating which contender goes first."""

    def __init__(self, results: Results, pause: float) -> None:
        self.results, self.pause = results, pause
        self.count = 0
        self.version = 1
        self.broken: set[str] = set()  # labels whose cold deploy failed this round

    def order(self, sites: tuple[Site, Site]) -> list[Site]:
        """djship first in even pairs, the baseline first in odd ones."""
        self.count += 1
        return list(sites) if self.count % 2 else list(reversed(sites))

    def measure(self, site: Site, case: str, visible: Visible | None) -> Sample:
        """One timed run of ``case`` by ``site``."""
        if site.label in self.broken:
            return Sample(error="its cold deploy failed in this round")
        commands = site.cold() if case == "cold" else [site.redeploy()]
        time.sleep(self.pause)  # the previous deploy's background work (drain, prune) ends
        site.serve_a_while()
        sample = timed(commands, site.env(), visible)
        if case == "cold" and not sample.ok:
            self.broken.add(site.label)
        return sample

    def pair(self, case: str, sites: tuple[Site, Site],
             visible: Callable[[Site], Visible | None]) -> Pair:
        """Measure ``case`` once for each contender and print the pair."""
        before = load1()
        samples = {s.label: self.measure(s, case, visible(s)) for s in self.order(sites)}
        pair = Pair(case, next(iter(samples)), samples, (before, load1()))
        self.results.pairs.append(pair)
        print_pair(self.count, pair)
        return pair

    def one_line(self, sites: tuple[Site, Site], case: str = "one-line") -> Pair:
        """Bump SITE_VERSION in both copies and redeploy each."""
        self.version += 1
        version = self.version
        for site in sites:
            site.set_version(version)
        return self.pair(case, sites, lambda s: lambda: s.serves_version(version))

    def css(self, sites: tuple[Site, Site]) -> Pair:
        """Add a CSS rule in both copies and redeploy each."""
        marker = f"{os.getpid()}-{self.count}"
        for site in sites:
            site.set_css(marker)
        return self.pair("css", sites, lambda s: lambda: s.serves_css(marker))

    def round(self, sites: tuple[Site, Site]) -> None:
        """Cold, an untimed warm-up, then one pair of each redeploy case."""
        self.broken.clear()
        self.version = 1
        self.pair("cold", sites, lambda s: lambda: s.serves_version(1))
        warm = self.one_line(sites, "warm-up")
        self.results.pairs.remove(warm)
        self.one_line(sites)
        self.pair("no-op", sites, lambda s: None)
        self.css(sites)

    def extras(self, sites: tuple[Site, Site], wrk: str | None, seconds: int,
               connections: int) -> None:
        """Static throughput and failed requests under load, on this round's servers."""
        if wrk:
            order = self.order(sites)
            for site in [*order, *reversed(order), *order]:
                rate = static_rate(wrk, site.box.address, site.host_header, CSS_URL,
                                   seconds=seconds, connections=connections)
                self.results.rates.setdefault(site.label, []).append(rate)
        for site in self.order(sites):
            if site.label in self.broken:
                continue
            self.version += 1
            site.set_version(self.version)
            self.results.loaded[site.label] = self.loaded_redeploy(site, self.version)

    @staticmethod
    def loaded_redeploy(site: Site, version: int) -> Loaded:
        """A one-line redeploy of ``site`` to ``version`` under a steady load."""
        return under_load(site.box.address, site.host_header, ["/", CSS_URL],
                          lambda: timed([site.redeploy()], site.env(),
                                        lambda: site.serves_version(version)))


# --- reporting ---------------------------------------------------------------------------

def why(sample: Sample) -> str:
    """What went wrong, in one line: the command, and the last line it printed."""
    lines = [x.strip() for x in sample.error.splitlines() if x.strip()] or ["?"]
    first = lines[0].split(":", 1)[0]
    return f"{first}: {lines[-1][:200]}" if len(lines) > 1 else lines[0][:240]


def fmt(sample: Sample) -> str:
    """A sample for the progress lines."""
    if not sample.ok:
        return f"FAILED ({why(sample)})"
    return f"{sample.seconds:6.2f}s (command {sample.command_seconds:.2f}s)"


def print_pair(number: int, pair: Pair) -> None:
    """One progress line per pair."""
    parts = "  ".join(f"{label} {fmt(s)}" for label, s in pair.samples.items())
    ratio = pair.ratio()
    print(f"pair {number:2d} {pair.case:9} {parts}  ratio "
          f"{f'{ratio:.2f}' if ratio is not None else '-'}  load {pair.load[0]:.2f}"
          f"→{pair.load[1]:.2f}", flush=True)


def median(samples: list[Sample]) -> float | None:
    """Median seconds of the samples that succeeded."""
    good = [s.seconds for s in samples if s.ok]
    return statistics.median(good) if good else None


def case_row(results: Results, case: str) -> str:
    """One table row: medians, ratio, target, failures and load."""
    d, b = median(results.of(case, "djship")), median(results.of(case, "baseline"))
    ratio = d / b if d is not None and b else None
    pairs = [p for p in results.pairs if p.case == case]
    loads = [x for p in pairs for x in p.load]
    failed = sum(not s.ok for p in pairs for s in p.samples.values())
    verdict = "-" if ratio is None else ("meets" if ratio <= TARGETS[case] else "misses")
    return (f"| {LABELS[case]} | {secs(d)} | {secs(b)} | {times(ratio)} | "
            f"≤ {TARGETS[case]}× ({verdict}) | {len(pairs)} | {failed} | "
            f"{min(loads, default=0):.1f}–{max(loads, default=0):.1f} |")


def secs(value: float | None) -> str:
    """Seconds for the table."""
    return "-" if value is None else f"{value:.2f}"


def times(ratio: float | None) -> str:
    """A ratio for the table."""
    return "-" if ratio is None else f"**{ratio:.2f}×**"


def print_table(results: Results) -> None:
    """The summary table of the redeploy cases."""
    print("\n| case | djship (s) | baseline (s) | djship/baseline | target | pairs "
          "| failed runs | load avg (1 min) |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    for case in CASES:
        print(case_row(results, case))


def print_runs(results: Results) -> None:
    """Every run's seconds and each pair's ratio, for the record."""
    print()
    for case in CASES:
        pairs = [p for p in results.pairs if p.case == case]
        runs = {label: [f"{s.seconds:.2f}" if s.ok else "failed"
                        for s in results.of(case, label)] for label in ("djship", "baseline")}
        ratios = [f"{r:.2f}" if (r := p.ratio()) is not None else "-" for p in pairs]
        print(f"- {case}: djship {', '.join(runs['djship'])}; baseline "
              f"{', '.join(runs['baseline'])}; pair ratios {', '.join(ratios)}")


def print_phases(results: Results, case: str) -> None:
    """Median seconds per step of each contender for ``case``, slowest first."""
    for label in ("djship", "baseline"):
        samples = [s for s in results.of(case, label) if s.ok]
        names = {n for s in samples for n in s.phases}
        medians = {n: statistics.median(s.phases.get(n, 0.0) for s in samples) for n in names}
        steps = ", ".join(f"{n} {v:.2f}" for n, v in
                          sorted(medians.items(), key=lambda kv: -kv[1]) if v >= 0.05)
        print(f"- {case}, {label} steps (median s): {steps or '-'}")


def print_throughput(results: Results) -> None:
    """Static requests per second of each nginx and their ratio."""
    rates = {label: [r for r in rs if not r.error] for label, rs in results.rates.items()}
    if not rates:
        return
    med = {label: statistics.median(r.per_second for r in rs) if rs else None
           for label, rs in rates.items()}
    for label, rs in results.rates.items():
        shown = ", ".join(f"{r.per_second:.0f}" if not r.error else f"failed: {r.error[:80]}"
                          for r in rs)
        enc = rs[0].encoding if rs else "?"
        bad = sum(r.non_2xx for r in rs)
        print(f"- static {CSS_URL}, {label}: {shown} requests/s (Content-Encoding {enc}, "
              f"{bad} non-2xx)")
    d, b = med.get("djship"), med.get("baseline")
    ratio = d / b if d and b else None
    verdict = "-" if ratio is None else ("meets" if ratio >= THROUGHPUT_TARGET else "misses")
    print(f"- static throughput djship/baseline: {times(ratio)} (target ≥ "
          f"{THROUGHPUT_TARGET}×: {verdict})")


def print_loaded(results: Results) -> None:
    """Failed requests during one redeploy of each under load."""
    for label, loaded in results.loaded.items():
        r = loaded.result
        state = "ok" if loaded.sample.ok else f"FAILED: {why(loaded.sample)}"
        print(f"- under load, {label}: {r.failures} of {r.total} requests failed "
              f"({loaded.rate():.0f} req/s for {loaded.seconds:.0f}s on / and {CSS_URL}; "
              f"statuses {dict(r.statuses)}; redeploy {loaded.sample.seconds:.2f}s, {state})"
              + (f"; first errors {r.errors[:2]}" if r.errors else ""))


def print_report(results: Results) -> None:
    """Everything, after the last round."""
    print_table(results)
    print_runs(results)
    for case in ("one-line", "css", "cold"):
        print_phases(results, case)
    print_throughput(results)
    print_loaded(results)


def describe_djship(executable: str) -> str:
    """The djship being measured: the commit, and whether src/ has uncommitted changes."""
    if executable != DJSHIP:
        return f"djship {executable}"
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True,
                              text=True, check=False).stdout.strip()
    dirty = [line for line in git("status", "--porcelain", "--", "src").splitlines() if line]
    return (f"djship at {git('rev-parse', '--short', 'HEAD')}"
            + (f" with {len(dirty)} uncommitted change(s) in src/" if dirty else ""))


# --- main --------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (pairs per case)")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="wrk duration per run")
    parser.add_argument("--wrk-connections", type=int, default=4)
    parser.add_argument("--pause", type=float, default=5.0, help="idle seconds before each "
                        "timed run, so the previous deploy's background work is done")
    parser.add_argument("--release", default="bookworm")
    parser.add_argument("--djship", default=DJSHIP, help="the djship executable to measure "
                        "(default: the one beside this Python, i.e. the working tree)")
    return parser.parse_args()


def on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the benchmark like Ctrl-C: the sandboxes are taken down."""
    raise KeyboardInterrupt


def main() -> None:
    """Run the rounds and print the report."""
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    wrk = ensure_wrk()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"{describe_djship(args.djship)}, {args.runs} round(s)"
          + ("" if wrk else "; wrk missing: no throughput"), flush=True)
    compile_djship(args.djship)
    factory = BenchFactory(args.release)
    results = Results()
    try:
        run_rounds(Bench(results, args.pause), factory, args, wrk)
    except KeyboardInterrupt:
        print("\ninterrupted (the sandboxes are down); what was measured so far:")
        raise SystemExit(130) from None
    finally:
        print_report(results)


def compile_djship(executable: str) -> None:
    """Compile djship's modules to bytecode first, as `pip install` does, so no timed run
    pays for it (the interpreter beside the executable imports djship)."""
    python = str(Path(executable).with_name("python"))
    subprocess.run([python, "-c", "import compileall, os, djship; "
                    "compileall.compile_dir(os.path.dirname(djship.__file__), quiet=1)"],
                   check=True, env={k: v for k, v in os.environ.items()
                                    if k != "PYTHONDONTWRITEBYTECODE"})


def run_rounds(bench: Bench, factory: BenchFactory, args: argparse.Namespace,
               wrk: str | None) -> None:
    """Each round on a fresh pair of sandboxes; the extras on the last one."""
    for index in range(args.runs):
        with sandbox_pair(factory, args.djship) as sites:
            print(f"round {index + 1}: djship on {sites[0].box.address}, baseline on "
                  f"{sites[1].box.address}", flush=True)
            bench.round(sites)
            if index == args.runs - 1:
                bench.extras(sites, wrk, args.wrk_seconds, args.wrk_connections)

if __name__ == "__main__":
    main()
