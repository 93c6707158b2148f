"""Fact: the releases on a host, which one is current, which slot is live, who holds the lock."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from djship.paths import SitePaths
from djship.release.scripts import VENV_DONE
from djship.shell import Script, cmd, raw
from djship.steps.tools import ENVTOOL
from djship.transport.base import Result

META = ".djship-release.json"


@dataclass(frozen=True)
class ReleaseMeta:
    """What djship recorded about a release when it built it."""

    id: str
    commit: str = ""
    content_hash: str = ""
    fingerprint: str = ""
    deps_hash: str = ""
    created: float = 0.0
    python: str = ""
    static: str = ""  # static_fingerprint() of the inputs its static files were collected from
    checks: str = ""  # checks_fingerprint() of the release whose checks passed


@dataclass(frozen=True)
class HostState:
    """A host's view of a site's releases."""

    current: str | None = None
    live_slot: str | None = None
    releases: tuple[ReleaseMeta, ...] = ()
    env_digest: str = ""
    slot_active: bool = False
    python: tuple[int, int] = (0, 0)
    extra: dict[str, str] = field(default_factory=dict)
    incomplete: tuple[str, ...] = ()  # release folders of runs that never finished
    venvs: tuple[str, ...] = ()  # complete shared virtualenvs, by folder name
    idle_active: bool = False  # the slot nginx does not use is running
    free: int = -1  # bytes free under the site's folder (-1: unknown)
    envtool: str = ""  # sha256 of djship's env helper on the host
    scopes: tuple[str, ...] = ()  # transient scopes of deploys still running commands

    def release(self, release_id: str | None) -> ReleaseMeta | None:
        """The meta of a kept release, if there."""
        return next((r for r in self.releases if r.id == release_id), None)


def probe(p: SitePaths) -> Script:
    """Print current release, live slot, each release's meta, env digest and python version."""
    loop = (f'for d in {p.releases}/*/; do [ -d "$d" ] || continue; if [ -f "$d{META}" ]; '
            f'then printf "release:"; tr -d "\\n" < "$d{META}"; echo; else d=${{d%/}}; '
            'echo "incomplete:${d##*/}"; fi; done')
    venvs = (f'for v in {p.venvs}/*/; do [ -f "$v{VENV_DONE}" ] && v=${{v%/}} && '
             'echo "venv:${v##*/}"; done; true')
    request = json.dumps({"op": "hashes", "file": p.env_file})
    return Script.of([
        cmd("echo", raw(f'"current:$(basename "$(readlink {p.current} 2>/dev/null)" '
                        '2>/dev/null)"')),
        cmd("echo", raw(f'"slot:$(cat {p.live_slot} 2>/dev/null || true)"')),
        cmd(raw(loop)),
        cmd("echo", raw(f'"env:$(python3 {ENVTOOL} <<< {shlex.quote(request)} '
                        '2>/dev/null | sha256sum | cut -c1-16)"')),
        cmd("echo", raw('"python:$(python3 -c \'import sys;print(*sys.version_info[:2])\')"')),
        cmd("echo", raw(f'"active:$(systemctl is-active djship-{p.site}@$(cat {p.live_slot} '
                        '2>/dev/null || echo none) 2>/dev/null || true)"')),
        cmd(raw(venvs)),
        cmd(raw(f'live=$(cat {p.live_slot} 2>/dev/null || echo none); case "$live" in '
                'blue) idle=green;; green) idle=blue;; *) idle=;; esac; '
                f'[ -z "$idle" ] || echo "idle:$(systemctl is-active djship-{p.site}@$idle.service '
                f'djship-{p.site}@$idle.socket 2>/dev/null | tr "\\n" " " || true)'
                # A slot still draining after the last switch (its delayed stop pending) is
                # not a leftover of an interrupted run.
                f'$(systemctl is-active --quiet djship-{p.site}-retire-$idle.timer '
                '2>/dev/null && echo draining)"')),
        cmd(raw(f"systemctl list-units --type=scope --plain --no-legend "
                f"'djship-{p.site}-run-*' 2>/dev/null | awk '{{print \"scope:\" $1}}' || true")),
        cmd("echo", raw(f'"envtool:$(sha256sum {ENVTOOL} 2>/dev/null | cut -c1-64)"')),
        cmd("echo", raw(f'"free:$(df -B1 --output=avail {p.root} 2>/dev/null | tail -n 1)"')),
    ])


def parse(result: Result) -> HostState:
    """Parse the probe's lines."""
    current = slot = env = ""
    active = False
    py = (0, 0)
    releases: list[ReleaseMeta] = []
    incomplete: list[str] = []
    venvs: list[str] = []
    idle = False
    free = -1
    tool = ""
    scopes: list[str] = []
    known = set(ReleaseMeta.__dataclass_fields__)
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        if key == "current":
            current = value.strip()
        elif key == "slot":
            slot = value.strip()
        elif key == "release":
            data = json.loads(value)
            releases.append(ReleaseMeta(**{k: v for k, v in data.items() if k in known}))
        elif key == "env":
            env = value.strip()
        elif key == "python" and value.split():
            major, minor = value.split()[:2]
            py = (int(major), int(minor))
        elif key == "active":
            active = value.strip() == "active"
        elif key == "incomplete":
            incomplete.append(value.strip())
        elif key == "venv":
            venvs.append(value.strip())
        elif key == "idle":
            words = set(value.split())
            idle = bool({"active", "activating", "reloading"} & words) and "draining" not in words
        elif key == "scope":
            scopes.append(value.strip())
        elif key == "envtool":
            tool = value.strip()
        elif key == "free" and value.strip().isdigit():
            free = int(value.strip())
    releases.sort(key=lambda r: r.id)
    return HostState(current or None, slot or None, tuple(releases), env, active, py,
                     incomplete=tuple(sorted(incomplete)), venvs=tuple(sorted(venvs)),
                     idle_active=idle, free=free, envtool=tool,
                     scopes=tuple(scopes))
