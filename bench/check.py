"""Benchmark: what the production checks add to `djship deploy`.

`djship deploy` runs `djship check` before it builds anything remote: two imports of the
settings and `manage.py check --deploy`, three Python processes, started side by side. A
redeploy of files and config that passed before skips them. This prints, for the example
project and a patched `startproject`, the median of ``--runs`` runs of:

  - the three processes one after another (what a naive check would cost),
  - ``run_check`` as deploy runs it (side by side),
  - the cache lookup of an unchanged redeploy.

Local only (no sandbox); prints figures, asserts nothing.

Usage: python bench/check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from djship.config import load
from djship.init import run_init
from djship.release.build import build
from djship.settings import apply_plan, gate, plan_settings
from djship.settings.check import run_check
from djship.settings.localenv import check_python
from djship.settings.probe import import_settings, manage_check_deploy, production_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guestbook"


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` over ``runs`` runs, after one untimed warm-up."""
    fn()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def one_after_another(root: Path, site: str) -> None:
    """The three processes of the check, sequentially."""
    config = load(root)[0]
    manage = root / config.project.manage
    with tempfile.TemporaryDirectory() as tmp:
        env = production_env(config, site, Path(tmp)).values
        python = check_python(root, config)
        for _ in range(2):
            import_settings(python, manage.parent, config.settings_module(site), env, "SECRET_KEY")
        manage_check_deploy(python, manage, env)


def startproject(base: Path) -> Path:
    """A fresh `startproject` made production-ready by djship."""
    root = base / "site"
    root.mkdir()
    django_admin = Path(sys.executable).with_name("django-admin")
    subprocess.run([str(django_admin), "startproject", "mysite", str(root)], check=True)
    run_init(root, force=True)
    apply_plan(root, plan_settings(root, load(root)[0], "site"))
    return root


def measure(label: str, root: Path, site: str, runs: int) -> None:
    config = load(root)[0]
    b = build(root, config)
    key = gate.check_key(b, config, site)
    seq = median_seconds(lambda: one_after_another(root, site), runs)
    par = median_seconds(lambda: run_check(root, config, site), runs)
    hit = median_seconds(lambda: gate.passed_before(root, site, key), runs)
    print(f"{label:<22} one after another {seq:6.2f} s   side by side {par:6.2f} s   "
          f"unchanged redeploy {hit * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        example = Path(tmp) / "guestbook"
        shutil.copytree(EXAMPLE, example)
        measure("examples/guestbook", example, "guestbook", args.runs)
        measure("startproject, patched", startproject(Path(tmp)), "site", args.runs)


if __name__ == "__main__":
    main()
