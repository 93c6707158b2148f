"""Pure builders of the deploy pipeline's remote scripts (tested without a server)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from djship.config import Config
from djship.errors import UsageError
from djship.paths import RELEASE_STATIC, TOOLS, UV, SitePaths, other_slot
from djship.release import poetry
from djship.release import python as pyreq
from djship.shell import Command, Script, cmd, nginx_reload, raw
from djship.steps.tools import ENVTOOL

RELEASE_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{4,40}$")
LOCKED = 75
# Interpreters uv installs live under /opt/djship (readable by every site user), not in
# root's home; downloads happen only through an explicit `uv python install`, planned only
# when project.python_source names where from.
UV_ENV = ("UV_NATIVE_TLS=1", "UV_PYTHON_DOWNLOADS=manual", "UV_COMPILE_BYTECODE=1",
          "UV_LINK_MODE=hardlink", "UV_NO_PROGRESS=1", f"UV_PYTHON_INSTALL_DIR={TOOLS}/python")
PYTHON_MISSING = "djship: python:"
PYTHON_INSTALL_TIMEOUT = 300
VENV_DONE = ".djship-complete"
RELEASE_ENV = ".djship-env"


def check_release_id(release_id: str) -> str:
    """Refuse anything that is not a djship release id (it becomes part of paths we delete)."""
    if not RELEASE_ID.match(release_id):
        raise UsageError(f"not a release id: {release_id!r}")
    return release_id


def lock(p: SitePaths, holder: str) -> Script:
    """Take the site lock atomically (mkdir); say who holds it when taken."""
    return Script.of([
        cmd(raw(f"if ! mkdir {p.lock} 2>/dev/null; then"), "echo",
            raw(f'"deploy lock held by: $(cat {p.lock}/holder 2>/dev/null || echo unknown)"'),
            raw(f">&2; exit {LOCKED}; fi")),
        cmd("printf", "%s\\n", holder, raw(f"> {p.lock}/holder")),
    ])


def take_over(p: SitePaths, stale: str, holder: str) -> Script:
    """Take a lock whose holder is gone, only if it is still held by that same ``stale``
    holder (two runs taking over at once: one wins, the other is refused)."""
    return Script.of([
        cmd(raw(f'if [ "$(cat {p.lock}/holder 2>/dev/null)" !='), stale,
            raw("]; then echo"), "the lock changed hands meanwhile",
            raw(f">&2; exit {LOCKED}; fi")),
        cmd("printf", "%s\\n", holder, raw(f"> {p.lock}/holder.new")),
        cmd("mv", "-f", f"{p.lock}/holder.new", f"{p.lock}/holder"),
    ])


def unlock(p: SitePaths) -> Script:
    """Release the site lock."""
    return Script.of([cmd("rm", "-rf", "--", p.lock)])


def uv(*args: str) -> Command:
    """A uv command with djship's environment (system certificates, no downloads)."""
    return cmd("env", *UV_ENV, UV, *args)


@dataclass(frozen=True)
class PythonPlan:
    """How a release venv gets its interpreter: the server's python3, or one uv provides."""

    interpreter: str
    setup: tuple[Command, ...]
    reason: str


def plan_python(reqs: Sequence[pyreq.Requirement], server: tuple[int, int],
                found: tuple[str, ...] = (), source: str | None = None, *,
                os_name: str = "", site: str | None = None) -> PythonPlan:
    """The interpreter of a release venv: the server's python3 when it satisfies the project,
    else another one already on the server (``found``), else one uv installs from ``source``
    (project.python_source). Without a source, raise PythonUnavailable: nothing downloads.
    """
    have = ".".join(map(str, server))
    wanted = list(reqs)
    if not wanted or pyreq.allows(wanted, server):
        return PythonPlan(pyreq.SYSTEM_PYTHON, (), f"the server's python3 ({have})")
    needs = pyreq.describe(wanted)
    path = pyreq.pick_interpreter(wanted, found)
    if path is not None:
        return PythonPlan(path, (), f"{path} ({needs}; python3 is {have})")
    if source is None:
        raise pyreq.PythonUnavailable(wanted, server, os_name, site)
    request = pyreq.uv_request(wanted)
    origin = "uv's download location" if source == "uv" else source
    mirror = [] if source == "uv" else [f"UV_PYTHON_INSTALL_MIRROR={source}"]
    fail = (f"{PYTHON_MISSING} the project needs Python {needs}; the server has Python {have} "
            f"({pyreq.SYSTEM_PYTHON}) and `uv python install {request}` from {origin} "
            "(project.python_source) failed (see above): can the server reach it?")
    setup = cmd(raw("if !"), "timeout", str(PYTHON_INSTALL_TIMEOUT), "env", "UV_HTTP_TIMEOUT=30",
                *mirror, *uv_args("python", "install", request), raw("; then"), "echo", fail,
                raw(">&2; exit 1; fi"))
    return PythonPlan(request, (setup,), f"Python {request} from {origin} ({needs}; "
                      f"server has {have})")


def uv_args(*args: str) -> list[str]:
    """Tokens of a uv invocation (for embedding in compound commands)."""
    return ["env", *UV_ENV, UV, *args]


def install_commands(config: Config, venv_python: str) -> list[Command]:
    """Install the project's dependencies (with project.groups and extras) plus the app
    server into the release venv."""
    proj = config.project
    server = ["gunicorn"] + (["uvicorn-worker"] if not proj.wsgi else [])
    pip = ["pip", "install", "--python", venv_python]
    chosen = [*(w for g in proj.groups for w in ("--group", g)),
              *(w for e in proj.extras for w in ("--extra", e))]
    if proj.dependencies == "uv":
        # --no-dev leaves out uv's default "dev" group, unless project.groups names it.
        dev = [] if "dev" in proj.groups else ["--no-dev"]
        return [cmd("env", f"UV_PROJECT_ENVIRONMENT={PurePosixPath(venv_python).parent.parent}",
                    *UV_ENV, UV, "sync", "--frozen", *dev, "--no-install-project", *chosen,
                    "--python", venv_python),
                uv(*pip, *server)]
    if proj.dependencies == "poetry":  # the groups and extras are in the exported pins
        return [uv(*pip, "-r", poetry.REQUIREMENTS_FILE, *server)]
    if proj.dependencies == "pyproject":
        return [uv(*pip, "-r", "pyproject.toml", *chosen, *server)]
    return [uv(*pip, "-r", proj.requirements, *server)]


def venv_path(p: SitePaths, deps_hash: str, release_id: str, *, fresh: bool = False) -> str:
    """Where a release's virtualenv lives: shared by every release with the same dependencies;
    ``fresh`` (deploy --force) gives the release one of its own."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", deps_hash):
        raise UsageError(f"not a dependency hash: {deps_hash!r}")
    return p.venv(f"{deps_hash}-{check_release_id(release_id)}" if fresh else deps_hash)


def link_venv(p: SitePaths, venv: str, release_id: str) -> Script:
    """Point a release's ``.venv`` at an existing shared virtualenv (no copy)."""
    rel = p.release(check_release_id(release_id))
    return Script.of([cmd("ln", "-sfn", "--", venv, f"{rel}/.venv")])


def build_venv(config: Config, p: SitePaths, release_id: str, venv: str,
               python: PythonPlan | None = None) -> Script:
    """Create a shared virtualenv with uv's cache, mark it complete, link the release to it.

    ``python`` is plan_python()'s choice (default: the server's python3). A folder left by
    an interrupted build (no completion mark) is removed first.
    """
    plan = python or PythonPlan(pyreq.SYSTEM_PYTHON, (), "the server's python3")
    return Script.of([
        guarded_rm(venv, p.venvs),
        cmd("install", "-d", "-m", "755", p.venvs),
        cmd("cd", p.release(check_release_id(release_id))),
        cmd("export", f"UV_CACHE_DIR={p.uv_cache}"),
        *plan.setup,
        uv("venv", "--quiet", "--relocatable", "--python", plan.interpreter, venv),
        *install_commands(config, f"{venv}/bin/python"),
        cmd("touch", f"{venv}/{VENV_DONE}"),
        *link_venv(p, venv, release_id).commands,
    ])


def remove_venv(p: SitePaths, venv: str) -> Script:
    """Undo of a venv build: remove the half- or fully built shared virtualenv."""
    return Script.of([guarded_rm(venv, p.venvs)])


def django_env(config: Config, site: str, release_dir: str) -> list[str]:
    """Non-secret KEY=VALUE pairs djship sets wherever it runs Django from ``release_dir``."""
    p = SitePaths(site)
    return [*domain_env(config, site), f"DJANGO_SETTINGS_MODULE={config.settings_module(site)}",
            f"STATIC_ROOT={release_static(release_dir)}", f"MEDIA_ROOT={p.media}",
            f"DJSHIP_DATA_DIR={p.data}", secure_ssl_env(config, site), "PYTHONUNBUFFERED=1"]


SECURE_SSL = "DJANGO_SECURE_SSL"


def secure_ssl_env(config: Config, site: str) -> str:
    """What the HTTPS settings `djship init --settings` proposes read (SECURE_SSL_REDIRECT,
    the secure cookies): on while the site has TLS, off while it has none, so a site without
    TLS does not redirect every page to an https nobody answers (the site's env overrides)."""
    return f"{SECURE_SSL}={1 if config.sites[site].tls.enabled else 0}"


def domain_env(config: Config, site: str) -> list[str]:
    """ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS from the site's domains (the env file overrides)."""
    domains = config.sites[site].domains
    if not domains:
        return []
    s = config.sites[site]
    scheme = "https" if s.tls.enabled else "http"
    origins = ",".join(f"{scheme}://{d}" for d in domains)
    # Under the names the project's settings read (DJANGO_ALLOWED_HOSTS, say).
    return [f"{s.env_name('ALLOWED_HOSTS')}={','.join(domains)}",
            f"{s.env_name('CSRF_TRUSTED_ORIGINS')}={origins}"]


def app_exec(config: Config, site: str, release_dir: str, words: list[str],
             extra_env: tuple[str, ...] = ()) -> list[str]:
    """argv running WORDS in a release's app folder as the site user with the site's env.

    ``manage.py`` and ``python`` resolve to the release's venv. Used for deploy steps,
    `djship run`, and scheduled jobs alike.
    """
    p = SitePaths(site)
    manage_py = PurePosixPath(config.project.manage)
    folder = str(PurePosixPath(release_dir) / manage_py.parent)
    python = f"{release_dir}/.venv/bin/python"
    if words and words[0] in ("manage.py", "./manage.py"):
        words = [python, manage_py.name, *words[1:]]
    elif words and words[0] in ("python", "python3"):
        words = [python, *words[1:]]
    return ["python3", ENVTOOL, "exec", p.env_file, p.user, folder,
            *django_env(config, site, release_dir), *extra_env,
            f"@{release_dir}/{RELEASE_ENV}", "--", *words]


def manage(config: Config, site: str, release_dir: str, *args: str) -> Command:
    """``manage.py ARGS`` in a release, as the site user, with the site's environment."""
    return cmd(*app_exec(config, site, release_dir, ["manage.py", *args]))


def release_static(release_dir: str) -> str:
    """A release's own collected static files: the STATIC_ROOT its processes read.

    The app reads the manifest of hashed names (ManifestStaticFilesStorage) from here, so a
    rolled-back release finds its own, while nginx serves every release's files from the
    merged shared/static.
    """
    return f"{release_dir}/{RELEASE_STATIC}"


def collect_static(config: Config, site: str, release_dir: str,
                   collector: Command | None = None) -> Script:
    """collectstatic into the release's own folder, precompress it, merge it into shared/static.

    nginx serves the live release's own folder (through ``current``) first, so the merge
    only matters for names the live release lacks: the old hashed files pages still in
    flight ask for. It is a rename per file, nothing deleted, so every old and new hashed
    file stays available throughout, and a failed release's files in it are never served
    in place of the live release's own. ``collector`` replaces the plain collectstatic (the
    deploy's check process collects too, saving a Django start).
    """
    p = SitePaths(site)
    own = release_static(release_dir)
    return Script.of([
        cmd("install", "-d", "-m", "755", "-o", p.user, "-g", p.user, own),
        collector or manage(config, site, release_dir, "collectstatic", "--noinput", "-v", "0"),
        *publish_static(site, release_dir).commands,
    ])


def publish_static(site: str, release_dir: str) -> Script:
    """Precompress a release's own static files (those not done yet) and merge them into
    shared/static; after the release commands too, for what they write into STATIC_ROOT
    (django-compressor's CACHE), which old pages still in flight at the switch may ask for."""
    p = SitePaths(site)
    own = release_static(release_dir)
    return Script.of([
        precompress(p, own, reference=p.live_static),
        cmd("rsync", "-a", "--chown", f"{p.user}:{p.user}", f"{own}/", f"{p.static}/"),
    ])


def reuse_static(p: SitePaths, from_release: str, release_id: str) -> Script:
    """Hard-link an earlier release's collected static files (shared/static has them too),
    precompressing any a release from before precompression lacks (new files: the links,
    shared with the earlier release, are not written)."""
    src = release_static(p.release(check_release_id(from_release)))
    dst = release_static(p.release(check_release_id(release_id)))
    return Script.of([cmd("cp", "-al", "--", src, dst), precompress(p, dst)])


def backup_db(p: SitePaths, release_id: str, keep: int) -> Script:
    """Dump the database before migrating; keep the newest ``keep`` pre-deploy dumps."""
    target = f"{p.backups}/pre-{check_release_id(release_id)}.dump"
    return Script.of([
        cmd("python3", ENVTOOL, "backup", p.env_file, target),
        cmd(raw(f"ls -1t {p.backups}/pre-*.dump 2>/dev/null | tail -n +{keep + 1} |"),
            "xargs", "-r", "rm", "-f", "--"),
    ])


def start_slot(p: SitePaths, slot: str, release_id: str, timeout: float) -> Script:
    """Point the idle slot at the release and start it beside the live one, waiting at most
    ``timeout`` seconds (the site's health_timeout) for it to be ready."""
    rel = p.release(check_release_id(release_id))
    secs = max(1, math.ceil(timeout))
    unit = p.unit_name(slot)
    # The slot's socket (systemd holds it, so connections wait while the app starts) is
    # stopped and started with the app: a socket left alone would start a stopped app.
    units = p.slot_units(slot)
    return Script.of([
        cmd(raw(f"if [ ! -e {p.socket_unit_file} ]; then"), "echo",
            f"{p.socket_unit_file} is missing: the server was provisioned by an older djship; "
            "run `djship provision`, then deploy again", raw(">&2; exit 1; fi")),
        *cancel_retire(p, slot),
        cmd("systemctl", "stop", *units),
        cmd("systemctl", "reset-failed", *units, raw("2>/dev/null || true")),
        cmd("install", "-d", "-m", "755", f"{p.root}/slots"),
        # Releases from before djship kept static files per release read the shared ones.
        cmd(raw(f"[ -e {release_static(rel)} ] ||"), "ln", "-s", p.static, release_static(rel)),
        cmd("ln", "-sfn", rel, p.slot(slot) + ".new"),
        cmd("mv", "-Tf", p.slot(slot) + ".new", p.slot(slot)),
        # The wait is bounded here (not only by the unit's TimeoutStartSec, written at
        # provision time), so the deploy's health_timeout holds for a preloading app too.
        cmd(raw("rc=0; timeout"), str(secs), "systemctl", "start", *units, raw("|| rc=$?;"),
            raw('if [ "$rc" -ne 0 ]; then'), "journalctl", "-u", unit, "-n", "40",
            "--no-pager", "-o", "cat", raw('>&2; if [ "$rc" = 124 ]; then'), "echo",
            f"the app did not become ready within {secs}s (sites.{p.site}.health_timeout; "
            "gunicorn --preload imports it before it is ready): it hangs at import, or needs "
            f"longer: then raise sites.{p.site}.health_timeout", raw(">&2; fi; exit 1; fi")),
    ])


def health(p: SitePaths, slot: str, host_header: str, path: str, timeout: float, *,
           https: bool = False, warm: int = 0) -> Script:
    """Poll the slot's socket over HTTP with the site's Host header until it answers 2xx.

    With ``https`` (a TLS site) the request says it came over HTTPS, as nginx would, so the
    app serves the page instead of its redirect to https. A redirect is not healthy: the
    page users would get is another one, and a redirect to https on a site without TLS
    means nobody can use it.

    On failure it shows the end of the slot's log, then says which it was (last, so it ends
    the error's output): no answer at all, a redirect (where to, and the setting behind it),
    or another status.

    Once healthy, ``warm`` requests go at once (waited for, up to the timeout): a sync
    worker busy with one accepts no other, so each of that many workers answers one before
    traffic comes, and no user meets a worker's slow first request (lazy imports, caches).
    """
    sock = p.socket(slot)
    secs = int(timeout)
    key = f"sites.{p.site}"
    proto = "-H 'X-Forwarded-Proto: https' " if https else ""
    curl = ("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 "
            f"--unix-socket {sock} -H 'Host: {host_header}' {proto}'http://localhost{path}'")
    silent = (f"health check: the app gave no HTTP answer on {path} within {secs}s "
              f"(health_timeout): it is still starting or hangs; if it needs longer to start, "
              f"raise {key}.health_timeout")
    to_https = (f"health check: {path} redirects to $where, but {p.site} has no TLS "
                f"({key}.tls.enabled = false), so nobody could use the site. SECURE_SSL_REDIRECT "
                "is on in the settings: turn it off while the site has no TLS (e.g. "
                "SECURE_SSL_REDIRECT = os.environ.get('SECURE_SSL_REDIRECT', '0') == '1'), "
                f"or enable TLS with {key}.tls")
    moved = (f"health check: {path} answered HTTP $code, a redirect to $where (wanted 2xx): "
             f"set {key}.health_path in djship.toml to the page it redirects to, or to a URL "
             "that answers 200")
    wrong = (f"health check of {path} answered HTTP $code (wanted 2xx) within {secs}s; "
             f"if {path} is not meant to answer 200, set {key}.health_path in djship.toml to a "
             "URL that does")
    redirect = (f'elif [ "${{where#https://}}" != "$where" ] && [ {int(https)} = 0 ]; then '
                f'echo "{to_https}" >&2; '
                f'elif [ "${{code#3}}" != "$code" ]; then echo "{moved}" >&2; ')
    warmup = ""
    if warm > 0:
        one = curl.replace("--max-time 5", f"--max-time {secs}")
        warmup = (f"for i in $(seq {warm}); do {one} >/dev/null 2>&1 & done; "
                  "wait || true; ")
    loop = (f"deadline=$((SECONDS + {secs})); code=000; where=; "
            f"while [ $SECONDS -lt $deadline ]; do out=$({curl} || true); "
            'code=${out%% *}; where=${out#* }; '
            f'case "$code" in 2??) {warmup}exit 0;; 3??) break;; esac; sleep 0.5; done; '
            f"journalctl -u {p.unit_name(slot)} -n 30 --no-pager -o cat >&2; "
            f'if [ "$code" = 000 ]; then echo "{silent}" >&2; {redirect}'
            f'else echo "{wrong}" >&2; fi; '
            "exit 1")
    return Script.of([cmd(raw(loop))])


def upstream_conf(p: SitePaths, slot: str) -> bytes:
    """The nginx upstream include pointing at a slot's socket."""
    return f"# live slot: {slot}\nserver unix:{p.socket(slot)} max_fails=0;\n".encode()


def switch(p: SitePaths, slot: str, release_id: str) -> Script:
    """Atomically point nginx, ``current`` and the live-slot marker at the new slot.

    Only the live slot is enabled (its socket and app), so a reboot brings back that one,
    through its socket; the other is disabled here (its stop is retire's, after the drain).
    ``--no-reload``: the links only matter at boot, and a daemon-reload costs time.
    ``current`` moves before nginx reloads: the static files it serves through ``current``
    are cached open (open_file_cache) by each nginx worker, and only the workers the reload
    starts, after the move, may cache the new release's.
    """
    up = p.nginx_upstream
    return Script.of([
        cmd("cp", "-a", "--", up, up + ".djship-old"),
        cmd("mv", "-f", "--", up + ".djship-new", up),
        cmd(raw("if ! nginx -t -q; then"), "mv", "-f", "--", up + ".djship-old", up,
            raw("; exit 1; fi")),
        *point_current(p, release_id).commands,
        nginx_reload(),
        cmd("rm", "-f", "--", up + ".djship-old"),
        cmd("printf", "%s\\n", slot, raw(f"> {p.live_slot}.new")),
        cmd("mv", "-f", p.live_slot + ".new", p.live_slot),
        cmd("systemctl", "enable", "--quiet", "--no-reload", *p.slot_units(slot)),
        cmd("systemctl", "disable", "--quiet", "--no-reload", *p.slot_units(other_slot(slot))),
    ])


def point_current(p: SitePaths, release_id: str) -> Script:
    """Move ``current`` to a release with one atomic rename (all a worker-only host needs)."""
    rel = p.release(check_release_id(release_id))
    return Script.of([cmd("ln", "-sfn", rel, p.current + ".new"),
                      cmd("mv", "-Tf", p.current + ".new", p.current)])


DRAIN_SECONDS = 3.0


def cancel_retire(p: SitePaths, slot: str) -> list[Command]:
    """Cancel a pending delayed stop of ``slot`` (it would stop a release started now)."""
    name = p.retire_unit(slot)
    return [cmd("systemctl", "stop", f"{name}.timer", f"{name}.service",
                raw("2>/dev/null || true")),
            cmd("systemctl", "reset-failed", f"{name}.timer", f"{name}.service",
                raw("2>/dev/null || true"))]


def retire(p: SitePaths, old_slot: str, drain: float = DRAIN_SECONDS) -> Script:
    """Stop the old slot gracefully (SIGTERM) once nginx's old workers had time to finish.

    The wait happens on the server, in a transient systemd timer, so the deploy does not
    sit through it; starting that slot again (next deploy, rollback, restart) cancels it.
    The slot's socket stops with it: left listening, it would start the app again.
    """
    name = p.retire_unit(old_slot)
    units = p.slot_units(old_slot)
    return Script.of([
        *cancel_retire(p, old_slot),
        cmd("systemctl", "disable", "--quiet", "--no-reload", *units),
        cmd("systemd-run", "--quiet", f"--unit={name}", f"--on-active={drain:g}s",
            "--timer-property=AccuracySec=100ms", "--timer-property=RemainAfterElapse=no",
            "--property=CollectMode=inactive-or-failed",
            "systemctl", "stop", *units),
    ])


def discard(p: SitePaths, slot: str | None, release_id: str) -> Script:
    """Undo a failed deploy on a host: stop the new slot (socket and app, never to come back
    at boot), remove the new release."""
    cmds = []
    if slot:
        units = p.slot_units(slot)
        cmds.append(cmd("systemctl", "stop", *units, raw("|| true")))
        cmds.append(cmd("systemctl", "disable", "--quiet", "--no-reload", *units,
                        raw("|| true")))
    cmds.append(remove_release(p, release_id))
    return Script.of(cmds)


def guarded_rm(target: str, root: str) -> Command:
    """``rm -rf`` that refuses anything not strictly inside ``root`` (checked by the shell)."""
    return cmd(raw(f'case {target} in {root}/?*) rm -rf -- {target};; '
                   f'*) echo "refusing to delete {target}" >&2; exit 1;; esac'))


def remove_release(p: SitePaths, release_id: str) -> Command:
    """``rm -rf`` of one release directory, guarded twice: here and in the shell."""
    return guarded_rm(p.release(check_release_id(release_id)), p.releases)


def trash(p: SitePaths) -> str:
    """Where pruned releases wait to be deleted (outside releases/, so no one lists them)."""
    return f"{p.root}/.trash"


def prune(p: SitePaths, releases: list[str], keep: int, protect: set[str]) -> Script | None:
    """Drop the oldest releases beyond ``keep``, never the ones in ``protect``, and the
    shared virtualenvs no remaining release links to.

    Each is moved out of releases/ at once (a rename), and deleted in the background on the
    server: removing a release's venv takes a second or more of disk work per host, which
    the deploy need not wait for.
    """
    doomed = doomed_releases(releases, keep, protect)
    if not doomed:
        return None
    bin_ = trash(p)
    unused = (f'for v in {p.venvs}/*/; do v=${{v%/}}; [ -d "$v" ] || continue; used=0; '
              f'for r in {p.releases}/*/.venv; do [ "$(readlink "$r")" = "$v" ] && used=1; '
              'done; if [ $used = 0 ]; then case "$v" in '
              f'{p.venvs}/?*) mv -T -- "$v" "{bin_}/venv-${{v##*/}}";; esac; fi; done')
    return Script.of([
        cmd("install", "-d", "-m", "700", bin_),
        *(cmd("mv", "-T", "--", p.release(r), f"{bin_}/{r}") for r in doomed),
        cmd(raw(unused)),
        cmd("systemd-run", "--quiet", "--collect", "--nice=19",
            "--property=IOSchedulingClass=idle", "find", bin_, "-mindepth", "1", "-maxdepth",
            "1", "-exec", "rm", "-rf", "--", "{}", "+"),
    ])


def doomed_releases(releases: list[str], keep: int, protect: set[str]) -> list[str]:
    """The releases a prune removes: beyond the newest ``keep``, never a protected one."""
    if not keep:
        return []
    return [check_release_id(r) for r in sorted(releases)[:-keep] if r not in protect]


# Text formats worth compressing (images, fonts like woff2 and archives already are).
COMPRESSIBLE = (".css", ".js", ".mjs", ".map", ".json", ".svg", ".txt", ".html", ".htm",
                ".xml", ".ico", ".ttf", ".otf", ".eot", ".wasm", ".csv", ".webmanifest")
# Below this a .gz saves a few bytes and nothing else.
PRECOMPRESS_MIN_BYTES = 256
# Writes FILE.gz beside each compressible FILE that has none (or an older one), keeping it
# only when smaller; nginx serves it (gzip_static) instead of compressing every request.
# A FILE identical to the same name in the reference folder (the live release's) gets a
# hard link to that one's .gz instead of a new compression (a CSS-only change compresses
# one file, not Django admin's 1.8 MB), and the reference's time (the same Last-Modified).
# Atomic (temporary file, rename); a hard-linked file is read, never written.
_PRECOMPRESS = """\
import gzip, os, sys
top, least, exts, ref = sys.argv[1], int(sys.argv[2]), tuple(sys.argv[3].split()), sys.argv[4]
if os.path.islink(top) or not os.path.isdir(top):
    sys.exit(0)
if not os.path.isdir(ref) or os.path.realpath(ref) == os.path.realpath(top):
    ref = ""


def fresh_tmp(src):
    tmp = src + ".gz.djship-tmp"
    try:
        os.unlink(tmp)  # never write into a leftover (it may be a link to another release's)
    except FileNotFoundError:
        pass
    return tmp


def reuse(src, data, st):
    old = os.path.join(ref, os.path.relpath(src, top))
    try:
        if os.path.getsize(old) != len(data) or not os.path.isfile(old + ".gz"):
            return False
        with open(old, "rb") as f:
            if f.read() != data:
                return False
        tmp = fresh_tmp(src)
        os.link(old + ".gz", tmp)
        when = os.stat(tmp).st_mtime_ns
        os.replace(tmp, src + ".gz")
        os.utime(src, ns=(st.st_atime_ns, when))
        return True
    except OSError:
        return False


for folder, _dirs, names in os.walk(top):
    for name in names:
        if not name.lower().endswith(exts):
            continue
        src = os.path.join(folder, name)
        st = os.lstat(src)
        if not os.path.isfile(src) or os.path.islink(src) or st.st_size < least:
            continue
        try:
            if os.stat(src + ".gz").st_mtime_ns >= st.st_mtime_ns:
                continue
        except FileNotFoundError:
            pass
        with open(src, "rb") as f:
            data = f.read()
        if ref and reuse(src, data, st):
            continue
        packed = gzip.compress(data, 9, mtime=0)
        if len(packed) >= len(data):
            continue
        tmp = fresh_tmp(src)
        with open(tmp, "xb") as f:
            f.write(packed)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, src + ".gz")
"""


def precompress(p: SitePaths, static_dir: str, reference: str = "") -> Command:
    """gzip -9 copies of a release's compressible static files, as the site user; those
    identical in ``reference`` (the live release's folder) reuse its compressed copy."""
    return cmd("runuser", "-u", p.user, "--", "python3", "-c", _PRECOMPRESS, static_dir,
               str(PRECOMPRESS_MIN_BYTES), " ".join(COMPRESSIBLE), reference)


def stop_slot(p: SitePaths, slot: str) -> Script:
    """Stop a slot: its socket and its app together (the undo of start_slot). The app alone
    is not enough: its socket, still listening, would start it at the next connection."""
    return Script.of([cmd("systemctl", "stop", *p.slot_units(slot))])


def run_scope(p: SitePaths, release_id: str) -> str:
    """Prefix of the transient systemd scopes a deploy's long commands run in on a host."""
    return f"djship-{p.site}-run-{check_release_id(release_id)}"


def scoped(p: SitePaths, release_id: str, step: str, script: Script) -> Script:
    """Run ``script`` in its own transient scope unit, so an interrupted or cut deploy can
    stop it on the server (a command without a terminal outlives its ssh connection)."""
    return Script.of([cmd("systemd-run", "--scope", "--quiet", "--collect",
                          f"--unit={run_scope(p, release_id)}-{step}", "--",
                          "bash", "-c", script.render())])


def stop_scopes(p: SitePaths, release_id: str | None = None) -> Script:
    """Stop the scopes of one deploy (or of every deploy of the site: leftovers of a run
    that was killed), ending what still runs in them."""
    pattern = f"{run_scope(p, release_id)}-*" if release_id else f"djship-{p.site}-run-*"
    return Script.of([cmd("systemctl", "stop", f"{pattern}.scope", raw("2>/dev/null || true"))])
