"""Fact: the releases on a host, which one is current, which slot is live, who holds the lock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from djship.paths import TOOLS, SitePaths
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
    # The live release's static files are on this host, without a manifest: the app reads
    # none of them (a plain storage), so a new slot can start while they are collected.
    static_plain: bool = False
    # python3.X interpreters besides python3: the distribution's, hand-installed, uv's.
    interpreters: tuple[str, ...] = ()
    os: str = ""  # the OS release in words ("Debian GNU/Linux 12 (bookworm)")

    def release(self, release_id: str | None) -> ReleaseMeta | None:
        """The meta of a kept release, if there."""
        return next((r for r in self.releases if r.id == release_id), None)


def probe(p: SitePaths) -> Script:
    """Print current release, live slot, each release's meta, env digest and python version.

    Read on every deploy before anything else (a no-op deploy is little more than this), so
    it starts no Python and calls systemctl twice: about 0.05 s on a small server.
    """
    loop = (f'for d in {p.releases}/*/; do [ -d "$d" ] || continue; if [ -f "$d{META}" ]; '
            f'then printf "release:"; tr -d "\\n" < "$d{META}"; echo; else d=${{d%/}}; '
            'echo "incomplete:${d##*/}"; fi; done')
    venvs = (f'for v in {p.venvs}/*/; do [ -f "$v{VENV_DONE}" ] && v=${{v%/}} && '
             'echo "venv:${v##*/}"; done; true')
    # The interpreter's version from its file name (python3 -> python3.11), else by asking it.
    python = ('py=$(readlink -f "$(command -v python3)" 2>/dev/null || true); '
              'case "${py##*/}" in python3.[0-9]|python3.[0-9][0-9]) '
              'echo "python:3 ${py##*/python3.}";; *) echo "python:$(python3 -c '
              '\'import sys;print(*sys.version_info[:2])\' 2>/dev/null || true)";; esac')
    app = f"djship-{p.site}"
    # The live slot's app; the idle slot's app and socket, and whether it is draining (a
    # slot whose delayed stop after the last switch is pending is no leftover): one call.
    units = (f'live=$(cat {p.live_slot} 2>/dev/null || true); case "$live" in '
             'blue) idle=green;; green) idle=blue;; *) idle=;; esac; '
             'if [ -n "$idle" ]; then '
             f'read -r a b c d <<< "$(systemctl is-active {app}@$live.service '
             f'{app}@$idle.service {app}@$idle.socket {app}-retire-$idle.timer 2>/dev/null '
             '| tr "\\n" " " || true)"; '
             'echo "active:${a:-}"; '
             'echo "idle:${b:-} ${c:-} $([ "${d:-}" = active ] && echo draining || true)"; fi')
    return Script.of([
        cmd("echo", raw(f'"current:$(basename "$(readlink {p.current} 2>/dev/null)" '
                        '2>/dev/null)"')),
        cmd("echo", raw(f'"slot:$(cat {p.live_slot} 2>/dev/null || true)"')),
        cmd(raw(loop)),
        # The bytes of the env file (root's alone to read): any edit makes a new digest.
        cmd("echo", raw(f'"env:$(cat {p.env_file} 2>/dev/null | sha256sum | cut -c1-16)"')),
        cmd(raw(python)),
        # Other interpreters (the distribution's, hand-installed, uv's) and the OS release,
        # for the venv's Python and its refusal: shell globs and a file read, no process.
        cmd(raw(f"for f in /usr/bin/python3.* /usr/local/bin/python3.* {TOOLS}/python/*/bin/"
                'python3.*; do case "$f" in *[0-9]) [ -x "$f" ] && echo "interpreter:$f";; '
                "esac; done; true")),
        cmd("echo", raw('"os:$(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME")"')),
        cmd(raw(venvs)),
        cmd(raw(units)),
        cmd(raw(f"systemctl list-units --type=scope --plain --no-legend "
                f"'djship-{p.site}-run-*' 2>/dev/null | awk '{{print \"scope:\" $1}}' || true")),
        # The live release collected files here and no manifest: a plain storage, whose
        # app reads no collected file (ManifestStaticFilesStorage reads staticfiles.json).
        cmd(raw(f'if [ -n "$(find {p.live_static}/ -mindepth 1 -maxdepth 1 -print -quit '
                f'2>/dev/null)" ] && [ ! -e {p.live_static}/staticfiles.json ]; then '
                'echo "static:plain"; fi')),
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
    found: list[str] = []
    os_name = ""
    plain = False
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
        elif key == "interpreter":
            found.append(value.strip())
        elif key == "os":
            os_name = value.strip()
        elif key == "envtool":
            tool = value.strip()
        elif key == "static":
            plain = value.strip() == "plain"
        elif key == "free" and value.strip().isdigit():
            free = int(value.strip())
    releases.sort(key=lambda r: r.id)
    return HostState(current or None, slot or None, tuple(releases), env, active, py,
                     incomplete=tuple(sorted(incomplete)), venvs=tuple(sorted(venvs)),
                     idle_active=idle, free=free, envtool=tool,
                     scopes=tuple(scopes), interpreters=tuple(found), os=os_name,
                     static_plain=plain)
