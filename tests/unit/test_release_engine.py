"""The release engine through recording transports: the exact actions of deploy, rollback
and abandon (the undo after a failure) at each phase, and a dry run that shows exactly what
the runner then sends."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from djship.config import Config, validate
from djship.config.loader import Source
from djship.context import Context
from djship.errors import DjshipError, RemoteFailure
from djship.release import check, scripts
from djship.release.build import Build, build
from djship.release.deploy import Activate, Deploy
from djship.release.pipeline import is_stale
from djship.runner import MultiHostFailure
from djship.transport.base import Result
from djship.transport.recording import RecordingTransport
from djship.ui import UI

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {
        "domains": ["example.com"],
        "health_path": "/health/",
        "env": {"GREETING": 'hello "you"'},
        "processes": {"queue": {"command": "manage.py qcluster"}},
    }},
    "hosts": [{"name": "web1", "address": "192.0.2.10", "roles": ["web", "db"]},
              {"name": "web2", "address": "192.0.2.12", "roles": ["web"]},
              {"name": "work1", "address": "192.0.2.11", "roles": ["worker"]},
              {"name": "lb1", "address": "192.0.2.13", "roles": ["lb"]}],
})
LIVE = "20261122T010203-abc1234"
PLAN_PENDING = f"{check.SEPARATOR}\nPlanned operations:\nblog.0002_entry\n    Add field x\n"


def project(tmp_path: Path) -> Build:
    """A small project (no git: a walked tree) built into a release."""
    for name, text in {"manage.py": "print()\n", "requirements.txt": "django\n",
                       "blog/__init__.py": "", "blog/settings.py": "X = 1\n",
                       "djship.toml": "[project]\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return build(tmp_path, CONFIG, now=1764900000)


def state(live: bool) -> Result:
    """The lock+facts answer: a first deploy, or a host serving LIVE in slot green."""
    lines = ["python:3 11", "free:99999999999"]
    if live:
        meta = {"id": LIVE, "fingerprint": "old", "deps_hash": "x"}
        lines += [f"current:{LIVE}", "slot:green", "active:active",
                  f"release:{json.dumps(meta)}"]
    return Result(0, "\n".join(lines) + "\n", "")


def hosts(live: bool, fail: str | None = None) -> dict[str, RecordingTransport]:
    """Recording transports: facts, the check's answer, and a failure for scripts that
    contain ``fail``."""
    answers: dict[str, Result] = {}
    if fail:
        answers[fail] = Result(1, "", "boom")
    answers |= {"current:$(basename": state(live), check.SEPARATOR: Result(0, PLAN_PENDING, "")}
    return {n: RecordingTransport(n, dict(answers)) for n in ("web1", "web2", "work1")}


def context(transports: dict[str, RecordingTransport], *, dry_run: bool = False,
            config: Config = CONFIG) -> Context:
    ctx = Context(config, Source(Path("/nowhere/djship.toml")), UI(), dry_run=dry_run)
    ctx._transports.update(transports)
    return ctx


MARKS = [  # (label, a substring only that action's script or path has), most specific first
    ("scopes", "*.scope"), ("lock", "mkdir /srv/blog/.lock"), ("switch", "nginx -t"),
    ("stage", "put /etc/systemd/system/"),
    ("upload", "<- "), ("venv", "venv --quiet"),
    ("latecheck", "check --deploy"), ("check", check.SEPARATOR), ("backup", "envtool.py backup"),
    ("migrate", "migrate --noinput"), ("static", "collectstatic"),
    ("complete", ".djship-release.json"), ("start", "systemctl start --no-block"),
    ("start", "timeout 30 systemctl start"), ("health", "--unix-socket"),
    ("upstream", "upstream.conf.djship-new"), ("current", "mv -Tf /srv/blog/current.new"), ("retire", "systemd-run --quiet --unit"),
    ("workers", "systemctl restart"), ("stop", "systemctl stop"),
    ("discard", "rm -rf -- /srv/blog/releases/"), ("rmvenv", "rm -rf -- /srv/blog/venvs/"),
    ("unlock", "rm -rf -- /srv/blog/.lock"), ("units", "worker %i$"),
]


def labels(t: RecordingTransport) -> list[str]:
    """What each thing sent to a host was, in order (first matching mark)."""
    out = []
    for sent in t.sent:
        text = sent.text if sent.kind != "put" else f"put {sent.text}"
        if sent.kind == "put" and sent.text.endswith("envtool.py"):
            out.append("helper")
            continue
        if sent.kind == "put" and sent.text.endswith(".djship-env"):
            out.append("env")
            continue
        found = next((label for label, mark in MARKS if mark in text), f"?{text[:60]}")
        out.append(found)
    return out


def test_first_deploy_sends_every_phase_in_order_and_only_to_app_hosts(tmp_path: Path) -> None:
    t = hosts(live=False)
    assert Deploy(context(t), "blog", project(tmp_path)).execute()
    web = ["lock", "helper", "upload", "env", "venv"]
    after = ["static", "complete", "start", "health", "upstream", "switch"]
    # The check process collects the static files on the first host too (one Django start).
    # A web host's finish makes sure it runs no worker process the config does not name.
    assert labels(t["web1"]) == [*web, "check", "backup", "migrate", *after[1:], "units",
                                 "unlock"]
    checked = t["web1"].scripts()[2]
    assert check.SEPARATOR in checked and "collectstatic" in checked
    assert labels(t["web2"]) == [*web, *after, "units", "unlock"]
    # The worker host gets the process's unit file as the config has it, then restarts it.
    assert labels(t["work1"]) == [*web, "static", "complete", "current", "stage", "workers",
                                  "unlock"]


FRESH_DB = f"{check.DEFERRED}\n{PLAN_PENDING}"  # the check process on an unmigrated database


def test_first_deploy_on_an_unmigrated_database_migrates_before_it_checks(
        tmp_path: Path) -> None:
    t = hosts(live=False)
    t["web1"].responses[check.SEPARATOR] = Result(0, FRESH_DB, "")
    assert Deploy(context(t), "blog", project(tmp_path)).execute()
    sent = labels(t["web1"])
    assert sent[sent.index("check"):sent.index("complete")] == [
        "check", "backup", "migrate", "latecheck"]
    scripts_ = {label: x.text for label, x in zip(sent, t["web1"].sent, strict=True)}
    # Nothing is live: the check process may defer the check (it reads the database).
    assert re.search(rf"\s{check.FIRST}\b", scripts_["check"])  # the program's argument
    # Django's migrate runs the system checks itself: they run after it, on the real tables.
    assert "migrate --noinput --skip-checks" in scripts_["migrate"]
    assert "manage.py check --deploy" in scripts_["latecheck"]


def test_a_later_deploy_checks_before_it_migrates(tmp_path: Path) -> None:
    t = hosts(live=True)
    assert Deploy(context(t), "blog", project(tmp_path)).execute()
    sent = labels(t["web1"])
    assert sent[sent.index("check"):sent.index("complete")] == ["check", "backup", "migrate"]
    scripts_ = {label: x.text for label, x in zip(sent, t["web1"].sent, strict=True)}
    # A live database is never migrated before the check (a failing check refuses first).
    assert not re.search(rf"\s{check.FIRST}\b", scripts_["check"])
    assert "--skip-checks" not in scripts_["migrate"]


def test_a_first_deploy_whose_late_check_fails_is_refused_before_it_serves(
        tmp_path: Path) -> None:
    t = hosts(live=False, fail="check --deploy")
    t["web1"].responses[check.SEPARATOR] = Result(0, FRESH_DB, "")
    with pytest.raises(RemoteFailure) as caught:
        Deploy(context(t), "blog", project(tmp_path)).execute()
    assert caught.value.step == "check"
    assert "SILENCED_SYSTEM_CHECKS" in (caught.value.hint or "")
    assert "djship deploy" in (caught.value.hint or "")
    sent = labels(t["web1"])
    assert "latecheck" in sent and "start" not in sent and "switch" not in sent
    assert sent[-2:] == ["discard", "unlock"]


def test_dry_run_of_a_first_deploy_says_the_check_may_follow_the_migration(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Deploy(context({}, dry_run=True), "blog", project(tmp_path)).execute()
    shown = capsys.readouterr().out
    assert "a database with no migration applied yet is migrated first, then checked" in shown


def test_parse_reads_a_deferred_check() -> None:
    assert check.parse(FRESH_DB, "").deferred
    assert check.parse(FRESH_DB, "").pending == ("blog.0002_entry", "    Add field x")
    assert not check.parse(PLAN_PENDING, "").deferred


def test_redeploy_links_the_venv_retires_the_old_slot_and_prunes(tmp_path: Path) -> None:
    b = project(tmp_path)
    t = hosts(live=True)
    venv = f"venv:{b.deps_hash[:16]}"
    for host in t.values():
        host.responses["current:$(basename"] = Result(
            0, state(True).stdout + venv + "\n", "")
    assert Deploy(context(t), "blog", b).execute()
    sent = t["web1"].scripts()
    assert any(f"ln -sfn -- /srv/blog/venvs/{b.deps_hash[:16]}" in s for s in sent)
    assert not any("venv --quiet" in s for s in sent)
    retire = [s for s in sent if "systemd-run --quiet --unit" in s]
    assert len(retire) == 1 and "djship-blog@green.service" in retire[0]


@pytest.mark.parametrize(("fail_at", "undo"), [
    # The failing action's own undo runs too (recorded before it ran); then the earlier ones,
    # newest first. The live release is never touched.
    # First the deploy's commands still running on the server (its scopes) are stopped.
    ("venv --quiet", ["scopes", "rmvenv", "discard"]),
    ("migrate --noinput", ["scopes", "rmvenv", "discard"]),
    ("collectstatic", ["scopes", "rmvenv", "discard"]),
    ("--unix-socket", ["scopes", "stop", "rmvenv", "discard"]),
])
def test_a_failure_undoes_what_was_done_newest_first(tmp_path: Path, fail_at: str,
                                                     undo: list[str]) -> None:
    t = hosts(live=True, fail=fail_at)
    with pytest.raises(DjshipError):
        Deploy(context(t), "blog", project(tmp_path)).execute()
    sent = labels(t["web1"])
    failed = max(i for i, s in enumerate(t["web1"].scripts()) if fail_at in s)
    runs = [label for label, s in zip(sent, t["web1"].sent, strict=True) if s.kind == "run"]
    assert runs[failed + 1:] == [*undo, "unlock"]
    assert not any("nginx -t" in s for s in t["web1"].scripts())  # never switched


def test_a_failed_switch_switches_every_host_back(tmp_path: Path) -> None:
    t = hosts(live=True)
    t["web2"].responses = {"nginx -t": Result(1, "", "bad"), **t["web2"].responses}
    with pytest.raises(DjshipError):
        Deploy(context(t), "blog", project(tmp_path)).execute()
    back = [s for s in t["web1"].scripts() if "nginx -t" in s]
    assert len(back) == 2 and "green" in t["web1"].files["/etc/nginx/djship/blog-upstream.conf"
                                                        ".djship-new"].decode()
    assert f"ln -sfn /srv/blog/releases/{LIVE} /srv/blog/current.new" in back[1]
    assert labels(t["web1"])[-7:] == ["scopes", "upstream", "switch", "stop", "rmvenv",
                                      "discard", "unlock"]


def test_interrupt_cancels_transports_and_undoes(tmp_path: Path) -> None:
    t = hosts(live=True)
    deploy = Deploy(context(t), "blog", project(tmp_path))
    original = t["web1"].run

    def run_then_signal(script, **kw):  # type: ignore[no-untyped-def]
        if "collectstatic" in script.render():
            deploy.on_signal(15, None)  # SIGTERM arrives while static files are collected
        return original(script, **kw)

    t["web1"].run = run_then_signal  # type: ignore[method-assign]
    with pytest.raises(DjshipError) as caught:
        deploy.execute()
    assert caught.value.exit_code == 143
    assert any(s.kind == "cancel" for s in t["web2"].sent)
    assert labels(t["web1"])[-4:] == ["scopes", "rmvenv", "discard", "unlock"]
    assert not any("systemctl start" in s for s in t["web1"].scripts())


def test_rollback_starts_the_kept_release_and_switches_without_upload() -> None:
    t = hosts(live=True)
    older = "20261121T000000-aaaa"
    meta = json.dumps({"id": older})
    for host in t.values():
        host.responses["current:$(basename"] = Result(
            0, state(True).stdout + f"release:{meta}\n", "")
    assert Activate(context(t), "blog").execute(None) == older
    assert labels(t["web1"]) == ["lock", "start", "health", "upstream", "switch", "retire",
                                 "unlock"]
    assert labels(t["work1"]) == ["lock", "current", "stage", "workers", "unlock"]


def test_rollback_refuses_a_release_that_never_completed() -> None:
    t = hosts(live=True)
    for host in t.values():
        host.responses["current:$(basename"] = Result(
            0, state(True).stdout + "incomplete:20261123T000000-bbbb\n", "")
    with pytest.raises(DjshipError, match="does not keep release"):
        Activate(context(t), "blog").execute("20261123T000000-bbbb")


def test_next_deploy_removes_unfinished_releases_and_stops_a_stray_idle_slot(
        tmp_path: Path) -> None:
    t = hosts(live=True)
    for host in t.values():
        host.responses["current:$(basename"] = Result(
            0, state(True).stdout + "incomplete:20261123T000000-bbbb\nidle:active\n", "")
    Deploy(context(t), "blog", project(tmp_path)).execute()
    clean = "\n".join(t["web1"].scripts()[1:3])
    assert "rm -rf -- /srv/blog/releases/20261123T000000-bbbb" in clean
    assert "systemctl stop djship-blog@blue.socket djship-blog@blue.service" in clean


def normalise(text: str) -> str:
    return re.sub(r"since .*? \(epoch \d+\)", "since T", text)


def test_dry_run_shows_exactly_what_the_runner_sends(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    b = project(tmp_path)
    dry = context({}, dry_run=True)
    Deploy(dry, "blog", b).execute()
    shown = capsys.readouterr().out
    t = hosts(live=False)
    Deploy(context(t), "blog", b).execute()
    for name, host in t.items():
        blocks = re.split(r"^# \[(\S+)\] ", shown, flags=re.M)
        mine = [blocks[i + 1] for i in range(1, len(blocks), 2) if blocks[i] == name]
        expected = []
        for block in mine:
            block = "\n".join(ln for ln in block.splitlines()
                              if not ln.startswith("#   undo on failure"))
            head, _, body = block.partition("\n")
            if "no change" in head:
                continue
            if ": put " in head:
                expected.append(("put", head.split(": put ")[1].split(" mode=")[0]))
            elif body.startswith("rsync --checksum"):
                expected.append(("sync", body.split(" files to ")[1].split("/,")[0].rstrip("/\n")))
            else:
                expected.append(("run", normalise(body.strip())))
        got = [(s.kind, s.text.split(" <- ")[0] if s.kind == "sync"
                else normalise(s.text.strip())) for s in host.sent]
        assert got == expected, name
    assert "[lb1]" not in shown  # an lb host takes no part in a deploy


def test_stale_lock_rules() -> None:
    line = "ann@box pid 4242 since 2026-12-06 01:00:00 UTC (epoch 1000)"
    assert is_stale(line, machine="box", now=1500, alive=lambda _p: False)
    assert is_stale(line, machine="box", now=1500, alive=lambda _p: True) is None
    assert is_stale(line, machine="other", now=1500, alive=lambda _p: False) is None
    assert "ago on box" in (is_stale(line, machine="other", now=1000 + 7200) or "")
    assert is_stale("held by: ann@laptop", machine="laptop", now=0) is None


def test_release_env_file_quotes_values() -> None:
    from djship.release.phases import release_env

    text = release_env(CONFIG.sites["blog"]).decode()
    assert 'GREETING="hello \\"you\\""' in text
    assert scripts.RELEASE_ENV == ".djship-env"


def test_code_or_asset_change_skips_the_server_check_when_checks_ran_locally(
        tmp_path: Path) -> None:
    from djship.release.record import checks_fingerprint, static_fingerprint

    b = project(tmp_path)
    meta = {"id": LIVE, "fingerprint": "old", "deps_hash": b.deps_hash,
            "checks": checks_fingerprint(CONFIG, "blog", b, ""),
            "static": static_fingerprint(CONFIG, "blog", b, "")}
    lines = [ln for ln in state(True).stdout.splitlines() if not ln.startswith("release:")]
    answer = Result(0, "\n".join([*lines, f"release:{json.dumps(meta)}"]) + "\n", "")

    def deploy(build_: Build, checks: bool) -> list[str]:
        t = hosts(live=True)
        for host in t.values():
            host.responses["current:$(basename"] = answer
        ran: list[bool] = []
        job = (lambda: ran.append(True)) if checks else None
        Deploy(context(t), "blog", build_, checks=job).execute()
        assert ran == ([True] if checks else [])
        return labels(t["web1"])

    assert "check" not in deploy(b, checks=True)
    assert "check" in deploy(b, checks=False)  # --skip-checks: the server checks instead
    # A changed stylesheet: collected again, by collectstatic alone (no check beside it).
    (tmp_path / "blog" / "static").mkdir()
    (tmp_path / "blog" / "static" / "site.css").write_text("body {}\n")
    css = deploy(build(tmp_path, CONFIG, now=1764900001), checks=True)
    assert "check" not in css and "static" in css
    (tmp_path / "blog" / "migrations").mkdir()
    (tmp_path / "blog" / "migrations" / "0002_x.py").write_text("x = 1\n")
    assert "check" in deploy(build(tmp_path, CONFIG, now=1764900002), checks=True)


def test_a_draining_old_slot_is_not_taken_for_a_leftover() -> None:
    from djship.release import state as facts

    draining = facts.parse(Result(0, "slot:green\nidle:active active draining\n", ""))
    stray = facts.parse(Result(0, "slot:green\nidle:inactive active \n", ""))
    assert not draining.idle_active and stray.idle_active
    from djship.paths import SitePaths
    from djship.release.phases import plan_clean

    assert not [a for a in plan_clean(SitePaths("blog"), draining).actions
                if "stop slot" in a.summary]


@pytest.mark.parametrize("plain", [True, False])
def test_slot_starts_while_static_files_are_collected_only_for_a_plain_storage(
        tmp_path: Path, plain: bool) -> None:
    from djship.release.record import checks_fingerprint

    b = project(tmp_path)
    meta = {"id": LIVE, "fingerprint": "old", "deps_hash": b.deps_hash,
            "checks": checks_fingerprint(CONFIG, "blog", b, ""), "static": "older"}
    lines = [ln for ln in state(True).stdout.splitlines() if not ln.startswith("release:")]
    lines += [f"release:{json.dumps(meta)}"] + (["static:plain"] if plain else [])
    t = hosts(live=True)
    for host in t.values():
        host.responses["current:$(basename"] = Result(0, "\n".join(lines) + "\n", "")
    Deploy(context(t), "blog", b, checks=lambda: None).execute()
    sent = labels(t["web1"])
    assert "check" not in sent and {"static", "start", "complete"} <= set(sent)
    if plain:  # the app reads no collected file: it starts beside collectstatic
        assert sent.index("start") < sent.index("complete")
    else:  # a manifest (or no files here) may be read at start: collected first
        assert sent.index("static") < sent.index("complete") < sent.index("start")
    assert sent.index("start") < sent.index("health") < sent.index("switch")


def test_a_failing_release_command_refuses_the_release(tmp_path: Path) -> None:
    config = validate({**CONFIG.model_dump(exclude_none=True), "sites": {"blog": {
        **CONFIG.sites["blog"].model_dump(exclude_none=True),
        "build": ["npm run build"],
        "release": ["manage.py compress --force", "manage.py createcachetable"]}}})
    t = hosts(live=True, fail="manage.py compress")
    with pytest.raises(MultiHostFailure) as err:
        Deploy(context(t, config=config), "blog", project(tmp_path)).execute()
    for failure in err.value.failures:  # the command and its status are named
        assert isinstance(failure, RemoteFailure) and failure.step == "release"
        assert "manage.py compress --force" in failure.command and failure.exit_status == 1
    scripts_ = t["web1"].scripts()
    order = [next(i for i, s in enumerate(scripts_) if mark in s)
             for mark in ("npm run build", "collectstatic", "manage.py compress")]
    assert order == sorted(order)  # build before collectstatic, release commands after it
    assert not any("createcachetable" in s for s in scripts_)  # stops at the first failure
    assert not any("nginx -t" in s for s in scripts_)  # never switched
    assert not any("systemctl start" in s for s in scripts_)  # the release never started
    assert labels(t["web1"])[-2:] == ["discard", "unlock"]  # the release is gone
    for host in ("web2", "work1"):  # every app host runs them, in its own release
        assert any("npm run build" in s for s in t[host].scripts())


def test_release_commands_output_is_merged_into_shared_static(tmp_path: Path) -> None:
    # compress writes into the release's STATIC_ROOT after collectstatic merged it: the
    # release phase merges again, so a page still in flight at the switch finds its CSS.
    config = validate({**CONFIG.model_dump(exclude_none=True), "sites": {"blog": {
        **CONFIG.sites["blog"].model_dump(exclude_none=True),
        "release": ["manage.py compress"]}}})
    t = hosts(live=True)
    assert Deploy(context(t, config=config), "blog", project(tmp_path)).execute()
    for host in ("web1", "web2", "work1"):
        sent = t[host].scripts()
        compress = next(i for i, s in enumerate(sent) if "manage.py compress" in s)
        merged = [i for i, s in enumerate(sent) if "rsync -a" in s
                  and "/srv/blog/shared/static/" in s]
        assert merged and merged[-1] > compress, host
        assert "envtool.py exec" not in sent[merged[-1]]  # a step of its own, not a command
