"""The deploy pipeline across a site's hosts: phases run in parallel, failures undo cleanly.

Phases: lock → read state → upload → venv → check/migrate (once) → collectstatic → start the
idle slot and health-check it → switch every host (only when all are healthy) → retire the old
slot → prune → unlock. Until the switch, the live release is never touched; a failure stops
the new slot and removes the new release on every host.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from djship.config import Host
from djship.context import Context
from djship.errors import DjshipError, RemoteFailure
from djship.paths import SitePaths, other_slot
from djship.release import scripts, state
from djship.release.build import Build, config_fingerprint
from djship.runner import MultiHostFailure, Runner
from djship.shell import Script, cmd
from djship.steps import workers
from djship.transport.base import Transport


@dataclass
class Target:
    """One host's part in a deploy."""

    host: Host
    transport: Transport
    state: state.HostState = field(default_factory=state.HostState)
    slot: str | None = None
    release: str | None = None
    uploaded: bool = False
    switched: bool = False
    locked: bool = False

    @property
    def name(self) -> str:
        """The host's name."""
        return self.host.name

    @property
    def serves(self) -> bool:
        """True on web hosts: they run the app server slots; worker-only hosts do not."""
        return "web" in self.host.roles


class Pipeline:
    """Shared machinery of deploy, rollback and restart."""

    def __init__(self, ctx: Context, site: str) -> None:
        self.ctx = ctx
        self.site = site
        self.paths = SitePaths(site)
        self.config = ctx.config
        self.runner = Runner(ctx.ui, site=site)
        hosts = [h for h in ctx.hosts(site) if {"web", "worker"} & set(h.roles)]
        if not hosts:
            raise DjshipError(f"site {site!r} has no host with the web or worker role",
                              hint="add roles = [\"web\"] to a host")
        self.targets = [Target(h, ctx.transport(h)) for h in hosts]

    def phase(self, name: str, fn: Callable[[Target], str | None],
              targets: Sequence[Target] | None = None) -> None:
        """Run ``fn`` on each target in parallel with progress; raise after all finish."""
        chosen = list(self.targets if targets is None else targets)

        def one(t: Target) -> DjshipError | None:
            start = time.monotonic()
            try:
                detail = fn(t)
            except DjshipError as exc:
                self.ctx.ui.step(t.name, name, "failed", exc.message, time.monotonic() - start)
                return exc
            self.ctx.ui.step(t.name, name, "ok", detail or "", time.monotonic() - start)
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(chosen)))) as pool:
            errors = [e for e in pool.map(one, chosen) if e is not None]
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise MultiHostFailure(errors)

    def run(self, t: Target, step: str, script: Script, hint: str | None = None) -> str:
        """Run a script on a target, raising a located failure."""
        return self.runner.check(t.transport, script, step, hint=hint).stdout

    def lock_all(self) -> None:
        """Take the site lock on every host (any refusal stops the deploy)."""
        holder = (f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} "
                  f"since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")

        def take(t: Target) -> str:
            res = t.transport.run(scripts.lock(self.paths, holder))
            if res.status == scripts.LOCKED:
                raise DjshipError(f"{t.name}: another deploy is running on site {self.site} "
                                  f"({res.stderr.strip()})",
                                  hint="wait for it; if it died, run `djship lock release`")
            if not res.ok:
                raise RemoteFailure(t.name, "lock", "mkdir lock", res.status, res.stderr,
                                    site=self.site)
            t.locked = True
            return "locked"

        self.phase("lock", take)

    def unlock_all(self) -> None:
        """Release the lock wherever this run took it."""
        for t in self.targets:
            if t.locked:
                t.transport.run(scripts.unlock(self.paths))
                t.locked = False

    def read_state(self) -> None:
        """Read every host's releases, slot and environment digest."""
        def read(t: Target) -> str:
            t.state = state.parse(self.runner.check(t.transport, state.probe(self.paths),
                                                    "state"))
            return f"current {t.state.current or 'none'}"

        self.phase("state", read)

    def start_and_check(self, release_for: Callable[[Target], str]) -> None:
        """Start the idle slot on every web/worker host with its release; health-check web."""
        site = self.config.sites[self.site]
        host_header = site.domains[0] if site.domains else "localhost"

        def start(t: Target) -> str:
            release = release_for(t)
            if not t.serves:
                return f"{release} ready for the workers (no app server on a worker host)"
            t.slot = other_slot(t.state.live_slot or "green")
            self.run(t, "start", scripts.start_slot(self.paths, t.slot, release,
                                                                 site.health_timeout),
                     hint="the app failed to start: see its log above")
            self.run(t, "health", scripts.health(self.paths, t.slot, host_header,
                                                 site.health_path, site.health_timeout,
                                                 https=site.tls.enabled),
                     hint="fix the error above, or set sites.*.health_path / health_timeout")
            return f"{t.slot} serving {release} healthy"

        self.phase("start", start)

    def switch_all(self, release_for: Callable[[Target], str]) -> None:
        """Switch traffic on every host; if one fails, switch the others back."""
        def flip(t: Target) -> str:
            if t.slot is None:  # a worker-only host: its processes run from `current`
                self.run(t, "switch", scripts.point_current(self.paths, release_for(t)))
                t.switched = True
                return f"current → {release_for(t)}"
            t.transport.put(scripts.upstream_conf(self.paths, t.slot),
                            self.paths.nginx_upstream + ".djship-new")
            self.run(t, "switch", scripts.switch(self.paths, t.slot, release_for(t)))
            t.switched = True
            return f"traffic → {t.slot}"

        try:
            self.phase("switch", flip)
        except DjshipError:
            self.switch_back()
            raise

    def switch_back(self) -> None:
        """Return switched hosts to their previous slot and release."""
        for t in self.targets:
            if t.switched and t.slot is None and t.state.current:
                t.transport.run(scripts.point_current(self.paths, t.state.current))
                t.switched = False
            elif t.switched and t.state.live_slot and t.state.current:
                t.transport.put(scripts.upstream_conf(self.paths, t.state.live_slot),
                                self.paths.nginx_upstream + ".djship-new")
                t.transport.run(scripts.switch(self.paths, t.state.live_slot, t.state.current))
                t.switched = False

    def retire_all(self) -> None:
        """Stop the previous slot once nginx has moved on."""
        def stop(t: Target) -> str | None:
            if t.state.live_slot and t.state.live_slot != t.slot:
                self.run(t, "retire", scripts.retire(self.paths, t.state.live_slot))
                return f"{t.state.live_slot} stops after a {scripts.DRAIN_SECONDS:g}s drain"
            return None

        self.phase("retire", stop)

    def restart_workers(self) -> None:
        """Restart worker processes on worker hosts, now that the new release is live."""
        script = workers.restart_workers(self.config, self.site)
        if script is None:
            return
        chosen = [t for t in self.targets if "worker" in t.host.roles]

        def restart(t: Target) -> str:
            self.run(t, "workers", script)
            return "restarted on the new release"

        self.phase("workers", restart, chosen)

    def stop_new(self) -> None:
        """After a failure before the switch: stop the new slot (the live one is untouched)."""
        for t in self.targets:
            if t.slot and not t.switched:
                t.transport.run(Script.of([cmd("systemctl", "stop",
                                               self.paths.unit_name(t.slot))]))


def upload(t: Target, build: Build, paths: SitePaths, release: str, link_dest: str | None
           ) -> None:
    """rsync the release's files over the host's ssh connection, hard-linking unchanged ones."""
    shell = getattr(t.transport, "rsync_shell", None)
    if shell is None:
        raise DjshipError(f"{t.name}: uploading needs the ssh transport")
    with tempfile.NamedTemporaryFile("w", suffix=".files") as listing:
        listing.write("\n".join(build.files) + "\n")
        listing.flush()
        argv = ["rsync", "-rltp", "--chmod=D755,Fu=rwX,Fgo=rX", "--delete",
                f"--files-from={listing.name}", "-e", shell()]
        if t.host.user != "root":
            argv.append("--rsync-path=sudo rsync")
        if link_dest:
            argv.append(f"--link-dest={paths.release(link_dest)}")
        argv += [f"{build.root}/", f"{t.host.address}:{paths.release(release)}/"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RemoteFailure(t.name, "upload", "rsync", proc.returncode, proc.stderr,
                            hint_text="is rsync on the server? `djship provision` installs it")


def meta_json(build: Build, release: str, fingerprint: str, python: str, static: str = ""
              ) -> bytes:
    """The release's record, stored beside its code."""
    meta = {"id": release, "commit": build.commit, "content_hash": build.content_hash,
            "fingerprint": fingerprint, "deps_hash": build.deps_hash, "created": time.time(),
            "python": python, "static": static}
    return json.dumps(meta, sort_keys=True).encode()


def fingerprint(ctx: Context, site: str, build: Build, env_digest: str) -> str:
    """What makes two deploys equal: code, site config and environment."""
    return build.fingerprint(config_fingerprint(ctx.config, site) + env_digest)


def static_fingerprint(ctx: Context, site: str, build: Build, env_digest: str) -> str:
    """What collectstatic's output depends on: static inputs, dependencies, config, env."""
    if not build.static_hash:
        return ""
    return hashlib.sha256((build.static_hash + config_fingerprint(ctx.config, site)
                           + env_digest).encode()).hexdigest()
