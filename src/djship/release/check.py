"""`check --deploy` and `migrate --plan` of a new release in one remote Python process
(and collectstatic, when static files must be collected).

Each Django start costs most of a second; asking every question of one process saves it.
The output is parsed here (pure), and decides whether the database is backed up and
migrated, and whether the check runs after the migration instead (a first deploy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from djship.config import Config
from djship.release import scripts
from djship.shell import Script, cmd

SEPARATOR = "=== djship: migrate --plan ==="
DEFERRED = "=== djship: check deferred: no migrations applied yet ==="
FIRST = "--first"  # the program's argument: nothing of the site is live on any host
DANGEROUS = re.compile(r"^\s*(Remove field|Delete model|Rename field|Rename model|"
                       r"Rename table)", re.IGNORECASE | re.MULTILINE)
CHECK_ID = re.compile(r"\([a-z_]+\.[WE]\d+\)")  # a system check's message: (security.W004)
# On a first deploy (nothing live, and the database has no migration applied), a check that
# queries the database (a third-party schema check reading content types) would fail on the
# missing tables: the check then runs after the first migrate (phases.plan_migrate), and a
# check that fails there still refuses the release before anything serves it.
PROGRAM = (
    "import sys, django\n"
    "django.setup()\n"
    "from django.core.management import call_command\n"
    "defer = False\n"
    f"if {FIRST!r} in sys.argv[1:]:\n"
    "    from django.db import connection\n"
    "    from django.db.migrations.recorder import MigrationRecorder\n"
    "    recorder = MigrationRecorder(connection)\n"
    "    defer = not recorder.has_table() or not recorder.applied_migrations()\n"
    "if defer:\n"
    f"    print({DEFERRED!r}, flush=True)\n"
    "else:\n"
    "    call_command('check', deploy=True)\n"
    f"print({SEPARATOR!r}, flush=True)\n"
    "call_command('migrate', plan=True)\n"
)


@dataclass(frozen=True)
class CheckReport:
    """What the release's checks said, and the migration operations pending."""

    warnings: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    risky: tuple[str, ...] = ()
    deferred: bool = False  # the check runs after the first migrate (see PROGRAM)


UNKNOWN = CheckReport(pending=("(the dry run cannot know which migrations are pending)",))


COLLECT = "call_command('collectstatic', interactive=False, verbosity=0)\n"


def script(config: Config, site: str, release_dir: str, *, collect: bool = False,
           first: bool = False) -> Script:
    """Run both commands in the release, as the site user, with the site's environment;
    with ``collect``, collectstatic too (then precompressed and merged as usual). ``first``:
    nothing is live, so a database with no migration applied defers the check."""
    argv = scripts.app_exec(config, site, release_dir,
                            ["python", "-c", PROGRAM + (COLLECT if collect else ""),
                             *([FIRST] if first else [])])
    if not collect:
        return Script.of([cmd(*argv)])
    return scripts.collect_static(config, site, release_dir, collector=cmd(*argv))


def pending_migrations(plan_output: str) -> list[str]:
    """Operations listed by ``migrate --plan`` (empty when nothing is pending)."""
    if "No planned migration operations" in plan_output:
        return []
    return [ln.rstrip() for ln in plan_output.splitlines()
            if ln.strip() and not ln.startswith("Planned operations")]


def risky_operations(plan_output: str) -> list[str]:
    """Operations that can break the still-running old release."""
    return [m.group(0).strip() for m in DANGEROUS.finditer(plan_output)]


def parse(stdout: str, stderr: str) -> CheckReport:
    """Split the process's output into check warnings and the migration plan."""
    checks, _, plan = stdout.partition(SEPARATOR)
    warnings = [ln for ln in (checks + "\n" + stderr).splitlines() if CHECK_ID.search(ln)]
    deferred = DEFERRED in checks.splitlines()
    return CheckReport(tuple(warnings), tuple(pending_migrations(plan)),
                       tuple(risky_operations(plan)), deferred)


def code(warning: str) -> str:
    """The check's id in a warning line (``security.W004``)."""
    m = CHECK_ID.search(warning)
    return m.group(0).strip("()") if m else "?"
