"""Step: the server can run the project's Python, checked before provision installs anything.

The deploy decides the interpreter of each release (release.scripts.plan_python); this step
asks the same question first, so a server that cannot satisfy the project is refused with
the ways out before its packages, users and services are set up for nothing. A server
without python3 yet (a minimal image) is checked at deploy instead.
"""

from __future__ import annotations

from pathlib import Path

from djship.config import Config
from djship.paths import TOOLS
from djship.plan import Fact, Plan, Step
from djship.release import python as pyreq
from djship.release import state
from djship.release.scripts import plan_python
from djship.shell import Script, cmd, raw

PROBE = Script.of([
    cmd("echo", raw('"python:$(python3 -c \'import sys;print(*sys.version_info[:2])\' '
                    '2>/dev/null || true)"')),
    cmd(raw(f"for f in /usr/bin/python3.* /usr/local/bin/python3.* {TOOLS}/python/*/bin/"
            'python3.*; do case "$f" in *[0-9]) [ -x "$f" ] && echo "interpreter:$f";; '
            "esac; done; true")),
    cmd("echo", raw('"os:$(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME")"')),
])


def plan_check(reqs: list[pyreq.Requirement], facts: state.HostState, source: str | None,
               site: str) -> Plan:
    """No change, or PythonUnavailable (raised) when the server cannot run the project."""
    if facts.python == (0, 0):
        return Plan.nothing("python3 is not installed yet: the deploy checks it")
    chosen = plan_python(reqs, facts.python, facts.interpreters, source, os_name=facts.os,
                         site=site)
    return Plan.nothing(chosen.reason)


def python_step(config: Config, site: str, root: Path | None) -> Step[state.HostState]:
    """Check the server's Python against the project's requirements (none without a root)."""
    reqs = (pyreq.read_requirements(root, (root / config.project.manage).parent,
                                    config.project.python) if root else [])
    return Step("python", Fact(PROBE, state.parse, state.HostState()),
                lambda facts: plan_check(reqs, facts, config.project.python_source, site))
