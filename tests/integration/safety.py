"""Hooks and drivers for the deploy-safety tests (issue 15): interrupt a real `djship deploy`
at a known phase, deterministically, and read back what it left behind.

The guestbook example gets, per test, a change that holds one phase open long enough to
interrupt it, and a trigger that says the phase is running:

- upload: a large incompressible file in the commit; trigger: the release folder (its id
  ends with the commit) exists on the server while djship's own ``rsync`` child still runs.
- migrate: a migration whose RunPython writes a marker file into the site's data folder
  (``DJSHIP_DATA_DIR``) and then sleeps; trigger: the marker exists on the server.
- start: ``wsgi.py`` that, in a slot (``DJSHIP_SLOT`` is set by the unit), writes a marker
  and sleeps at import (gunicorn --preload imports it before the slot is ready, so
  ``systemctl start`` and djship's start step wait); trigger: the marker exists.

Every marker name carries a token unique to the test, so a marker left by an earlier test
never fires a later one. The server side is watched by one ssh command per trigger that
polls every 20 ms there (remote_wait), not by round trips.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from helpers import (
    DJSHIP,
    DOMAIN,
    SITE,
    Project,
    Run,
    current_release,
    djship_env,
    loaded_around,
    releases_listing,
    releases_on,
    version_served,
)

from djship.sandbox.records import SandboxInfo

DATA_DIR = f"/srv/{SITE}/shared/data"
MIGRATE_SLEEP = 8  # seconds the slow migration sleeps after writing its marker
IMPORT_SLEEP = 8  # seconds the slow wsgi.py sleeps at import in a slot
BIG_FILE_MB = 160  # the upload phase's incompressible payload
BIG_FILE = "payload/blob.bin"  # outside every static folder: collectstatic ignores it
PHASES = ("upload", "migrate", "start")
RELEASE_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]+")

SLOW_MIGRATION = '''import os
import time
from pathlib import Path

from django.db import migrations


def slow(apps, schema_editor):
    Path(os.environ.get("DJSHIP_DATA_DIR", "/tmp"), "migrating-{token}").touch()
    time.sleep({sleep})


class Migration(migrations.Migration):
    dependencies = [("entries", "0001_initial")]
    operations = [migrations.RunPython(slow, migrations.RunPython.noop)]
'''

SLOW_WSGI = '''"""WSGI entry point that is slow to import inside a djship slot (a deploy-safety test)."""

import os
import time
from pathlib import Path

if os.environ.get("DJSHIP_SLOT"):
    Path(os.environ.get("DJSHIP_DATA_DIR", "/tmp"), "starting-{token}").touch()
    time.sleep({sleep})

from django.core.wsgi import get_wsgi_application  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guestbook.settings")
application = get_wsgi_application()
'''


def token() -> str:
    """A short unique id for one test's markers and migration."""
    return uuid.uuid4().hex[:10]


def big_file(folder: Path) -> Path:
    """An incompressible file of BIG_FILE_MB MB (made once per folder)."""
    path = folder / "blob.bin"
    if not path.exists():
        with path.open("wb") as out:
            for _ in range(BIG_FILE_MB):
                out.write(os.urandom(1 << 20))
    return path


def hold_phase(project: Project, phase: str, tok: str, blob: Path) -> str:
    """Write the change that holds ``phase`` open; return the marker path on the server
    ("" for upload, whose trigger is local)."""
    if phase == "upload":
        target = project.root / BIG_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(blob, target)
        return ""
    if phase == "migrate":
        project.write(f"entries/migrations/0002_slow_{tok}.py",
                      SLOW_MIGRATION.format(token=tok, sleep=MIGRATE_SLEEP))
        return f"{DATA_DIR}/migrating-{tok}"
    if phase == "start":
        project.write("guestbook/wsgi.py", SLOW_WSGI.format(token=tok, sleep=IMPORT_SLEEP))
        return f"{DATA_DIR}/starting-{tok}"
    raise ValueError(phase)


# --- djship in the background -------------------------------------------------------

@dataclass
class Background:
    """A `djship` process started in its own session (its process group is ours to signal),
    with its output in files (an orphaned ssh or rsync child must not hold a pipe open)."""

    proc: subprocess.Popen[bytes]
    argv: list[str]
    out: Path
    err: Path
    began: float
    control_dir: Path

    @property
    def pid(self) -> int:
        """djship's process id."""
        return self.proc.pid

    def wait(self, timeout: float) -> Run:
        """Wait for djship to exit (raises TimeoutExpired after ``timeout``)."""
        self.proc.wait(timeout=timeout)
        return self.collect()

    def collect(self) -> Run:
        """What it printed so far, with its exit status (-N: killed by signal N)."""
        return Run(self.argv, self.proc.returncode if self.proc.returncode is not None else -999,
                   self.out.read_text(errors="replace"), self.err.read_text(errors="replace"),
                   time.monotonic() - self.began)


def start_djship(project: Project, *args: str) -> Background:
    """Start ``djship -C ROOT -e test ARGS`` in a new session."""
    argv = [DJSHIP, "-C", str(project.root), "-e", "test", *args]
    folder = Path(tempfile.mkdtemp(prefix="djship-safety-"))
    out, err = folder / "stdout", folder / "stderr"
    # Its own folder for ssh control sockets, so its connections are told apart from the
    # ones every other djship run shares (the folder is created 0700 by djship).
    control = folder / "cp"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL,
                                env=djship_env({"DJSHIP_SSH_CONTROL_DIR": str(control)}),
                                start_new_session=True)
    return Background(proc, argv, out, err, time.monotonic(), control)


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, ppid) of a process, None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[1])


def children(pid: int, comm: str) -> list[int]:
    """Live (not zombie) child processes of ``pid`` named ``comm``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st and st[2] == pid and st[0] == comm and st[1] != "Z":
                found.append(int(entry))
    return found


def control_masters(control_dir: Path) -> list[int]:
    """The ssh ControlMaster processes of one djship run.

    start_djship gives each run its own control folder (DJSHIP_SSH_CONTROL_DIR); the
    master that ControlPersist puts in the background renames itself
    ``ssh: <socket path> [mux]``.
    """
    prefix = f"{control_dir}/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if prefix in cmdline and b"[mux]" in cmdline:
            found.append(int(entry))
    return found


class TriggerMissed(AssertionError):
    """djship ended, or took too long, before the phase to interrupt was seen running."""


def remote_wait(sandbox: SandboxInfo, pattern: str, seconds: float = 300
                ) -> subprocess.Popen[bytes]:
    """Start a watcher on the server that exits 0 as soon as a path matching the shell
    glob ``pattern`` exists (polled every 20 ms there: one ssh connection, no round trips)."""
    loop = (f"end=$((SECONDS + {int(seconds)})); while [ $SECONDS -lt $end ]; do "
            f"for f in {pattern}; do [ -e \"$f\" ] && exit 0; done; sleep 0.02; done; exit 1")
    argv = sandbox.ssh_argv(loop)
    argv.insert(1, "-oBatchMode=yes")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def phase_pattern(phase: str, marker: str, commit: str) -> str:
    """What appears on the server when ``phase`` runs: the release folder rsync creates
    (ids end with the commit), or the phase's marker file."""
    return f"/srv/{SITE}/releases/*-{commit}" if phase == "upload" else marker


def wait_for_phase(bg: Background, phase: str, watcher: subprocess.Popen[bytes],
                   timeout: float = 300) -> str:
    """Block until ``phase`` is running; return what was seen.

    upload: the release folder exists on the server *and* djship's rsync still runs (so
    the signal lands mid-transfer); migrate/start: the phase's marker exists.
    """
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if bg.proc.poll() is not None:
                raise TriggerMissed(f"djship ended before its {phase} phase was seen "
                                    f"running:\n{bg.collect()}")
            status = watcher.poll()
            if status == 0:
                if phase != "upload":
                    return f"the {phase} marker exists on the server"
                rsyncs = children(bg.pid, "rsync")
                if not rsyncs:
                    raise TriggerMissed(
                        "the release folder appeared but djship's rsync had already ended: "
                        f"the upload was too fast to interrupt (raise BIG_FILE_MB)\n{bg.collect()}")
                return f"release folder on the server, local rsync pid {rsyncs[0]} running"
            if status is not None:
                raise TriggerMissed(f"the server-side watcher for {phase} gave up:\n"
                                    f"{bg.collect()}")
            time.sleep(0.01)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(timeout=10)
    raise TriggerMissed(f"the {phase} phase was not seen within {timeout:.0f}s:\n{bg.collect()}")


def interrupt(bg: Background, how: str) -> float:
    """Interrupt djship; returns the monotonic time of the interruption.

    SIGINT goes to djship's process group, as Ctrl-C in a terminal sends it; SIGTERM and
    SIGKILL go to djship's pid alone, as `kill` does. ``cut`` kills the run's ssh
    ControlMaster process(es) with SIGKILL: every remote command in flight loses its
    connection at once, djship itself keeps running.
    """
    at = time.monotonic()
    if how == "SIGINT":
        os.killpg(bg.pid, signal.SIGINT)
    elif how == "SIGTERM":
        os.kill(bg.pid, signal.SIGTERM)
    elif how == "SIGKILL":
        os.kill(bg.pid, signal.SIGKILL)
    elif how == "cut":
        masters = control_masters(bg.control_dir)
        if not masters:
            raise TriggerMissed(f"no ssh ControlMaster of djship pid {bg.pid} found "
                                f"(under {bg.control_dir})")
        for pid in masters:
            os.kill(pid, signal.SIGKILL)
    else:
        raise ValueError(how)
    return at


def wait_group_gone(pgid: int, seconds: float) -> float:
    """Wait (bounded) until no process of djship's process group is left; seconds waited.

    After SIGKILL, djship's rsync and ssh children are orphaned and run on (an upload goes
    on, a remote migrate is waited for); the next deploy starts only after them, so what
    it finds does not depend on a race with them.
    """
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return time.monotonic() - began


def end_leftovers(bg: Background) -> None:
    """Stop the ssh masters a djship run left behind (started by this test)."""
    for pid in control_masters(bg.control_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


# --- the server -------------------------------------------------------------------------

def live_slot(sandbox: SandboxInfo) -> str:
    """The slot nginx sends traffic to."""
    return sandbox.run(f"cat /srv/{SITE}/live-slot").stdout.strip()


def idle_slot_state(sandbox: SandboxInfo) -> tuple[str, str]:
    """(idle slot name, its `systemctl is-active`)."""
    idle = "green" if live_slot(sandbox) == "blue" else "blue"
    state = sandbox.run(["systemctl", "is-active", f"djship-{SITE}@{idle}"], check=False)
    return idle, state.stdout.strip()


def wait_idle_stopped(sandbox: SandboxInfo, seconds: float) -> tuple[str, str]:
    """Poll until the idle slot is inactive/failed or ``seconds`` pass; the last state."""
    deadline = time.monotonic() + seconds
    idle, state = idle_slot_state(sandbox)
    while state in ("active", "activating", "reloading", "deactivating") \
            and time.monotonic() < deadline:
        time.sleep(0.5)
        idle, state = idle_slot_state(sandbox)
    return idle, state


def lock_held(sandbox: SandboxInfo) -> str:
    """Who holds the site lock ("" when free)."""
    out = sandbox.run(f"test -d /srv/{SITE}/.lock && (cat /srv/{SITE}/.lock/holder "
                      "2>/dev/null || echo unknown holder) || true").stdout.strip()
    return out


def of_commit(ids: list[str], commit: str) -> list[str]:
    """Release ids made from ``commit`` (ids end with a commit prefix)."""
    out = []
    for rid in ids:
        suffix = rid.rsplit("-", 1)[-1]
        if suffix and (commit.startswith(suffix) or suffix.startswith(commit)):
            out.append(rid)
    return out


def release_processes(sandbox: SandboxInfo, commit: str) -> list[str]:
    """Processes on the server running from a release folder of ``commit`` (e.g. its
    ``manage.py migrate``); slots run from slots/<name>, see idle_slot_state."""
    pattern = f"/srv/{SITE}/releases/[0-9]{{8}}T[0-9]{{6}}-{commit}/"
    out = sandbox.run(["pgrep", "-a", "-f", pattern], check=False).stdout
    return [ln.strip()[:200] for ln in out.splitlines() if ln.strip()]


def tidy(project: Project, sandbox: SandboxInfo) -> None:
    """Start each case from a clean server: remove release folders no listing names and
    stop a running idle slot, both left by an earlier case (its own report names them)."""
    _, listed = releases_listing(project)
    for rid in set(releases_on(sandbox)) - set(listed):
        if RELEASE_ID.fullmatch(rid):
            sandbox.run(["rm", "-rf", "--", f"/srv/{SITE}/releases/{rid}"])
    idle, _state = idle_slot_state(sandbox)
    # Socket and app: a listening socket alone would start the app at the next request.
    sandbox.run(["systemctl", "stop", f"djship-{SITE}@{idle}.socket",
                 f"djship-{SITE}@{idle}.service"], check=False)


def removed_markers(sandbox: SandboxInfo, tok: str) -> None:
    """Remove this test's marker files from the server."""
    sandbox.run(f"rm -f {DATA_DIR}/migrating-{tok} {DATA_DIR}/starting-{tok}", check=False)


# --- one interrupted deploy, and everything it must (not) leave behind --------------------

LOAD_CLIENTS = 4
EXIT_BOUND = 5.0  # seconds: a handled SIGINT/SIGTERM ends djship well within this (issue: ~3 s)
DRAIN_WAIT = 20.0  # seconds to wait for the retired slot's delayed stop after a deploy


@dataclass
class Interrupted:
    """What one interruption showed; ``problems`` is empty when djship behaved."""

    phase: str
    how: str
    problems: list[str]
    runs: list[Run]
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        """Every problem, then the djship runs involved."""
        head = f"deploy interrupted by {self.how} at {self.phase}: {len(self.problems)} problem(s)"
        return "\n".join([head, *(f"  - {p}" for p in self.problems),
                          *(f"  (note: {n})" for n in self.notes), "",
                          *(str(r) for r in self.runs)])


def interrupted_deploy(project: Project, sandbox: SandboxInfo, phase: str, how: str,
                       blob: Path) -> Interrupted:
    """Deploy a release that holds ``phase`` open, interrupt it there with ``how`` under
    load, then deploy again; collect every way the outcome differs from issue 15's rules."""
    tok = token()
    result = Interrupted(phase, how, [], [])
    problems = result.problems
    clear_leftovers(project, sandbox, result)
    tidy(project, sandbox)
    live = current_release(sandbox)
    old_version = version_served(sandbox.address)
    project.write("entries/version.py", f'"""Release marker."""\n\nVERSION = "i{tok}"\n')
    marker = hold_phase(project, phase, tok, blob)
    commit = project.commit(f"held open at {phase} ({tok})")
    bg: Background | None = None
    running: list[str] = []
    try:
        with loaded_around(sandbox.address, DOMAIN, ["/", "/health/"], clients=LOAD_CLIENTS,
                           min_seconds=8) as loaded:
            watcher = remote_wait(sandbox, phase_pattern(phase, marker, commit))
            bg = start_djship(project, "deploy")
            seen = wait_for_phase(bg, phase, watcher)
            at = interrupt(bg, how)
            try:
                bg.wait(timeout=180)
            except subprocess.TimeoutExpired:
                problems.append(f"djship was still running 180 s after {how} at {phase}")
                bg.proc.kill()
                bg.wait(timeout=30)
            exit_seconds = time.monotonic() - at
            run = bg.collect()
            result.runs.append(run)
            if how != "SIGKILL":  # give what djship stopped 2 s to go, then look
                time.sleep(2)
                running = release_processes(sandbox, commit)
            else:  # its rsync/ssh children live on: let them end before the next deploy
                result.notes.append(f"djship's orphaned children lived "
                                    f"{wait_group_gone(bg.pid, 120):.1f}s after SIGKILL")
            if phase == "start":  # the slot's import would end by now: see whether it ran on
                time.sleep(max(0.0, at + IMPORT_SLEEP + 3 - time.monotonic()))
            served = version_served(sandbox.address)
    finally:
        project.git("reset", "-q", "--hard", "HEAD~1")
        if bg is not None and bg.proc.poll() is None:
            bg.proc.kill()
            bg.proc.wait(timeout=30)
    problems_at_exit(result, run, exit_seconds, seen)
    r = loaded.result
    if r.failures or r.total < 20:
        problems.append(f"under load during the interruption: {r.summary()} "
                        "(expected 0 failed of at least 20)")
    if current_release(sandbox) != live or served != old_version:
        problems.append(f"after the interruption current is {current_release(sandbox)} "
                        f"serving VERSION {served}; expected the old {live} (VERSION "
                        f"{old_version})")
    if how != "SIGKILL":  # djship was alive to clean up: nothing may be left running or held
        idle, state = idle_slot_state(sandbox)
        if state in ("active", "activating", "reloading"):
            problems.append(f"after djship exited the idle slot {idle} is {state} "
                            "(expected stopped)")
        holder = lock_held(sandbox)
        if holder:
            problems.append(f"after djship exited the site lock is still held ({holder})")
        if running:
            problems.append("2 s after djship exited, processes of the interrupted release "
                            f"still ran on the server: {running}")
    _, listed = releases_listing(project)
    mine = of_commit(listed, commit)
    if mine and phase != "start":
        problems.append(f"`djship releases` lists {mine}, interrupted at {phase} before its "
                        "checks and migrations completed")
    left = sorted(set(of_commit(releases_on(sandbox), commit)) | set(mine))
    next_run = next_deploy(project, sandbox, how, tok, result)
    after_dirs, (_, after_listed) = releases_on(sandbox), releases_listing(project)
    if sorted(after_dirs) != sorted(after_listed):
        problems.append(f"after the next deploy, release folders {after_dirs} != listed "
                        f"releases {after_listed} (incomplete: "
                        f"{sorted(set(after_dirs) - set(after_listed))})")
    if phase != "start" and of_commit(after_listed, commit):
        problems.append(f"after the next deploy `djship releases` still lists "
                        f"{of_commit(after_listed, commit)} (interrupted at {phase})")
    idle, state = wait_idle_stopped(sandbox, DRAIN_WAIT)
    if state in ("active", "activating", "reloading"):
        problems.append(f"after the next deploy and its drain the idle slot {idle} is {state}")
    if phase != "start":
        for rid in left:
            refuse_rollback(project, sandbox, rid, next_run, result)
    removed_markers(sandbox, tok)
    if bg is not None:
        end_leftovers(bg)
    return result


def problems_at_exit(result: Interrupted, run: Run, seconds: float, seen: str) -> None:
    """How djship itself ended."""
    if result.how in ("SIGINT", "SIGTERM"):
        if seconds >= EXIT_BOUND:
            result.problems.append(f"djship took {seconds:.1f}s to exit after {result.how} at "
                                   f"{result.phase} (trigger: {seen}); expected < {EXIT_BOUND:g}s")
        if run.returncode == 0:
            result.problems.append(f"djship exited 0 after {result.how}; expected non-zero")
    if result.how == "cut" and run.returncode == 0:
        result.problems.append("djship exited 0 although its connection was cut "
                               f"at {result.phase}; expected a failed deploy")


def next_deploy(project: Project, sandbox: SandboxInfo, how: str, tok: str,
                result: Interrupted) -> str:
    """The deploy after the interruption must proceed (after SIGKILL: taking over the stale
    lock, and saying so). Recovers with `djship lock release` when it does not, so the
    module goes on; returns the release it made live."""
    project.write("entries/version.py", f'"""Release marker."""\n\nVERSION = "n{tok}"\n')
    project.commit(f"after the interruption ({tok})")
    run = project.djship("deploy", timeout=600)
    result.runs.append(run)
    if run.returncode != 0:
        result.problems.append(f"the next `djship deploy` failed (exit {run.returncode}): "
                               f"{last_error(run)}")
        clear_leftovers(project, sandbox, result)
        again = project.djship("deploy", timeout=600)
        result.runs.append(again)
        assert again.returncode == 0, ("could not recover the site for the next tests:\n"
                                       + result.report())
    elif how == "SIGKILL" and not took_over_message(run.output):
        result.problems.append("the next deploy after SIGKILL proceeded but said nothing "
                               "about taking over the dead run's lock (expected a message "
                               "mentioning the lock and that it was stale/taken over)")
    served = version_served(sandbox.address)
    if served != f"n{tok}":
        result.problems.append(f"after the next deploy VERSION {served} is served; "
                               f"expected n{tok}")
    return current_release(sandbox)


def took_over_message(output: str) -> bool:
    """A line saying a stale/dead run's lock was taken over."""
    for line in output.lower().splitlines():
        if "lock" in line and any(w in line for w in ("stale", "took over", "taken over",
                                                      "take over", "dead", "no longer")):
            return True
    return False


def last_error(run: Run) -> str:
    """The run's error line (or its last stderr line)."""
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1][:300]


def refuse_rollback(project: Project, sandbox: SandboxInfo, rid: str, live: str,
                    result: Interrupted) -> None:
    """`djship rollback <interrupted release>` must be refused; if it is not, note it and
    roll forward again to ``live``."""
    run = project.djship("rollback", rid, timeout=300)
    if run.returncode == 0:
        result.runs.append(run)
        result.problems.append(f"`djship rollback {rid}` switched the site to the release "
                               f"interrupted at {result.phase}; expected a refusal")
        back = project.djship("rollback", live, timeout=300)
        result.runs.append(back)
        assert back.returncode == 0, "could not roll forward again:\n" + result.report()


def clear_leftovers(project: Project, sandbox: SandboxInfo, result: Interrupted) -> None:
    """Release a lock an earlier run left, so each test starts from a usable site."""
    if lock_held(sandbox):
        run = project.djship("lock", "release")
        result.runs.append(run)
        assert run.returncode == 0, "could not release the lock:\n" + result.report()
