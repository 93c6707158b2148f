"""Benchmark the sandbox: base image build time and boot-to-SSH-ready time.

Prints figures, asserts nothing. Needs root, debootstrap and systemd-nspawn.

    python bench/sandbox.py                 # boot 4 sandboxes, one after another and at once
    python bench/sandbox.py --build         # also time a fresh image build (~1 min)
    python bench/sandbox.py --count 2 --release trixie
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from djship.sandbox import machine
from djship.sandbox.fs import remove_tree


def time_build(release: str) -> None:
    """Build an image from scratch in a throwaway state dir."""
    base = Path("/var/tmp")
    scratch = Path(tempfile.mkdtemp(prefix="djship-bench-", dir=base))
    try:
        began = time.monotonic()
        machine.ensure_base_image(release, state_dir=scratch)
        print(f"image build ({release}, fresh):        {time.monotonic() - began:6.1f} s")
    finally:
        remove_tree(scratch, base)
    began = time.monotonic()
    machine.ensure_base_image(release)
    print(f"image ready ({release}, cached or built): {time.monotonic() - began:6.1f} s")


def time_boots(release: str, count: int) -> None:
    """Boot count sandboxes sequentially, then count at once; report up/SSH/down times."""
    prefix = f"b{os.getpid() % 10000}"
    for mode in ("sequential", "parallel"):
        names = [f"{prefix}{mode[0]}{i}" for i in range(count)]
        began = time.monotonic()
        try:
            if mode == "sequential":
                infos = [machine.up(n, release) for n in names]
            else:
                with ThreadPoolExecutor(count) as pool:
                    infos = list(pool.map(lambda n: machine.up(n, release), names))
            wall = time.monotonic() - began
            ssh = [i.boot_seconds for i in infos]
            print(f"{mode:10} up x{count}: wall {wall:5.1f} s; boot-to-SSH per sandbox "
                  f"median {statistics.median(ssh):.2f} s, max {max(ssh):.2f} s")
        finally:
            began = time.monotonic()
            for name in names:
                if any(m.name == name for m in machine.list_machines()):
                    machine.down(name)
            print(f"{mode:10} down x{count}: {time.monotonic() - began:5.1f} s")


def main() -> None:
    """Parse options and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="bookworm")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--build", action="store_true", help="time a fresh image build too")
    args = parser.parse_args()
    if args.build:
        time_build(args.release)
    else:
        began = time.monotonic()
        machine.ensure_base_image(args.release)
        print(f"image ready ({args.release}): {time.monotonic() - began:.1f} s")
    time_boots(args.release, args.count)


if __name__ == "__main__":
    main()
