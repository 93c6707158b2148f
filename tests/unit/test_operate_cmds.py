"""`djship db restore` and `djship env` through recording transports: what is sent, in order."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from djship.commands import env_cmd
from djship.commands.base import State
from djship.config import Config, validate
from djship.config.loader import Source
from djship.context import Context
from djship.errors import DjshipError, RemoteFailure, UsageError
from djship.ops import envvars
from djship.ops.restore import Restore
from djship.steps import tools
from djship.transport.base import Result
from djship.transport.recording import RecordingTransport, Sent
from djship.ui import UI

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {
        "domains": ["example.com"],
        "health_path": "/health/",
        "processes": {"queue": {"command": "manage.py qcluster"}},
        "backups": {"keep": 3},
    }},
    "hosts": [{"name": "web1", "address": "192.0.2.10", "roles": ["web", "db"]},
              {"name": "work1", "address": "192.0.2.11", "roles": ["worker"]}],
})
STATE = Result(0, "current:20261122T010203-abc1234\nslot:green\nactive:active\n", "")


def context(config: Config, transports: dict[str, RecordingTransport]) -> Context:
    """A Context whose hosts are recording transports."""
    ctx = Context(config, Source(Path("/nowhere/djship.toml")), UI())
    ctx._transports.update(transports)
    return ctx


def fakes(responses: dict[str, Result] | None = None) -> dict[str, RecordingTransport]:
    """One recording transport per host, answering the state probe and ``responses``
    (substring of the script → result)."""
    answers = {"current:$(basename": STATE, **(responses or {})}
    return {name: RecordingTransport(name, dict(answers)) for name in ("web1", "work1")}


def order(t: RecordingTransport, needles: list[str]) -> list[str]:
    """Which of ``needles`` each sent script contains, in sending order."""
    return [n for text in t.scripts() for n in needles if n in text]


STEPS = ["mkdir /srv/blog/.lock", "test -f", "backup /etc/djship/blog.env",
         "systemctl stop", "envtool.py restore", "systemctl start", "--unix-socket",
         "prerestore-*.dump", "rm -rf -- /srv/blog/.lock"]


def test_restore_saves_stops_restores_starts_in_order_under_the_lock() -> None:
    hosts = fakes()
    safety = Restore(context(CONFIG, hosts), "blog").execute("manual-1.dump")
    assert safety.startswith("prerestore-") and safety.endswith(".dump")
    # The backups live on the job host (the first worker host): saved and restored there.
    worker = order(hosts["work1"], [*STEPS, "systemctl restart djship-blog-queue@1"])
    assert worker == ["mkdir /srv/blog/.lock", "test -f", "backup /etc/djship/blog.env",
                      "systemctl stop", "envtool.py restore",
                      "systemctl restart djship-blog-queue@1", "prerestore-*.dump",
                      "rm -rf -- /srv/blog/.lock"]
    # The web host's app stops for the restore, then its live slot starts and is checked.
    assert order(hosts["web1"], STEPS) == ["mkdir /srv/blog/.lock", "systemctl stop",
                                           "systemctl start", "--unix-socket",
                                           "rm -rf -- /srv/blog/.lock"]
    start = next(s for s in hosts["web1"].scripts() if "systemctl start" in s)
    assert "djship-blog@green.service" in start


def test_failed_restore_still_starts_the_app_and_unlocks() -> None:
    hosts = fakes({"envtool.py restore": Result(1, "", "pg_restore: error: boom")})
    with pytest.raises(RemoteFailure) as exc:
        Restore(context(CONFIG, hosts), "blog").execute("manual-1.dump")
    assert exc.value.step == "restore" and "one transaction" in (exc.value.hint or "")
    assert order(hosts["web1"], STEPS)[-3:] == ["systemctl start", "--unix-socket",
                                                "rm -rf -- /srv/blog/.lock"]
    assert order(hosts["work1"], STEPS)[-2:] == ["prerestore-*.dump",
                                                 "rm -rf -- /srv/blog/.lock"]


def test_missing_backup_changes_nothing() -> None:
    hosts = fakes({"test -f": Result(1, "", "")})
    with pytest.raises(UsageError, match=r"no backup manual-9\.dump on work1"):
        Restore(context(CONFIG, hosts), "blog").execute("manual-9.dump")
    for t in hosts.values():
        assert not order(t, ["systemctl stop", "systemctl start", "envtool.py restore",
                             "envtool.py backup"])
        assert "rm -rf -- /srv/blog/.lock" in t.scripts()[-1]


def test_restore_refused_while_a_deploy_holds_the_lock() -> None:
    hosts = fakes()
    # The lock and the fact probe go in one script: the lock's answer must match first.
    hosts["web1"].responses = {"mkdir /srv/blog/.lock": Result(75, "", "held by: ann@laptop"),
                               **hosts["web1"].responses}
    with pytest.raises(DjshipError, match="another deploy is running"):
        Restore(context(CONFIG, hosts), "blog").execute("manual-1.dump")
    # The lock script also reads facts (systemctl is-active); nothing was stopped or started.
    assert not [s for t in hosts.values() for s in t.scripts()
                if any(f"systemctl {verb}" in s for verb in ("stop", "start", "restart"))]


HELPER = tools.envtool_file()
HELPER_CURRENT = Result(0, f"stat|{HELPER.path}|755|root|root\n"
                        f"{hashlib.sha256(HELPER.content).hexdigest()}  {HELPER.path}\n", "")


def env_change(changed: list[str], helper: Result = HELPER_CURRENT
               ) -> dict[str, RecordingTransport]:
    # The helper's probe names envtool.py too: its answer must match first.
    return fakes({"sha256sum --": helper,
                  "envtool.py": Result(0, json.dumps({"changed": changed}), "")})


def requests(t: RecordingTransport) -> list[Sent]:
    """What was sent to the env helper (the scripts that have a stdin)."""
    return [s for s in t.sent if s.kind == "run" and s.stdin]


def test_env_set_sends_values_on_stdin_to_every_app_host() -> None:
    hosts = env_change(["FOO"])
    env_cmd.apply(context(CONFIG, hosts), "blog",
                  envvars.EnvChange({"FOO": "s3cret-value"}, []), restart=False)
    for t in hosts.values():
        (sent,) = requests(t)
        assert not [s for s in t.sent if "s3cret-value" in s.text]
        assert json.loads(sent.stdin or b"")["set"] == {"FOO": "s3cret-value"}
        assert not [s for s in t.sent if s.kind == "put"]  # the helper is current


def test_env_set_brings_an_older_helper_up_to_date_first() -> None:
    hosts = env_change(["FOO"], helper=Result(0, "", ""))
    env_cmd.apply(context(CONFIG, hosts), "blog", envvars.EnvChange({"FOO": "a\nb"}, []),
                  restart=False)
    for t in hosts.values():
        kinds = [("put " + s.text) if s.kind == "put" else "request" if s.stdin else "run"
                 for s in t.sent]
        assert kinds.index(f"put {HELPER.path}") < kinds.index("request"), kinds
        assert t.files[HELPER.path] == HELPER.content


def test_env_set_without_a_change_does_not_restart() -> None:
    hosts = env_change([])
    env_cmd.apply(context(CONFIG, hosts), "blog", envvars.EnvChange({"FOO": "x"}, []),
                  restart=True)
    for t in hosts.values():  # no lock, no restart
        assert not [s for s in t.scripts() if "/srv/blog/.lock" in s or "systemctl" in s]


def test_short_values_are_not_masked_long_ones_are() -> None:
    ui = UI()
    envvars.mask_values(ui, ["1", "yes", "a-long-secret"])
    assert ui.mask("release 20261122T010203 yes a-long-secret") == "release 20261122T010203 yes ***"


def test_read_values_masks_and_tolerates_fresh_hosts() -> None:
    t = RecordingTransport("web1", {"envtool.py": Result(0, '{"SECRET_KEY": "k3y-value-long"}',
                                                         "")})
    ctx = context(CONFIG, {"web1": t})
    host = CONFIG.hosts[0]
    values = envvars.read_values(ctx, host, envvars.get_request(envvars.SitePaths("blog"),
                                                                None), site="blog")
    assert values == {"SECRET_KEY": "k3y-value-long"}
    assert ctx.ui.mask("k3y-value-long") == "***"
    fresh = RecordingTransport("web1", {"envtool.py": Result(2, "", "No such file")})
    ctx = context(CONFIG, {"web1": fresh})
    request = envvars.get_request(envvars.SitePaths("blog"), None)
    assert envvars.read_values(ctx, host, request, site="blog", missing_ok=True) == {}
    with pytest.raises(RemoteFailure):
        envvars.read_values(ctx, host, request, site="blog")


PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7+/=\n"
       "-----END PRIVATE KEY-----\n")


def invoke_env(monkeypatch: pytest.MonkeyPatch, hosts: dict[str, RecordingTransport],
               args: list[str], stdin: bytes = b"") -> click.testing.Result:
    """`djship env ARGS` with ``stdin`` piped in (not a terminal), through ``hosts``."""
    monkeypatch.setattr(State, "context", lambda self, dry_run=False: context(CONFIG, hosts))
    return CliRunner().invoke(env_cmd.env, args, input=stdin)


@pytest.mark.parametrize("value", [PEM, PEM.replace("\n", "\r\n"), PEM.rstrip("\n"),
                                   '{\n  "type": "service_account",\n  "key": "a\\nb"\n}\n',
                                   'quotes " \\ $HOME `x`\n\n'])
def test_env_set_dash_sends_all_of_stdin_byte_for_byte(monkeypatch: pytest.MonkeyPatch,
                                                       value: str) -> None:
    hosts = env_change(["KEY"])
    run = invoke_env(monkeypatch, hosts, ["set", "--no-restart", "KEY=-"], value.encode())
    assert run.exit_code == 0, run.output
    for t in hosts.values():
        (sent,) = requests(t)
        assert json.loads(sent.stdin or b"")["set"] == {"KEY": value}
        assert not [s for s in t.sent if "BKcwggSj" in s.text]


def test_env_set_dash_drops_the_line_ending_of_a_single_line() -> None:
    assert envvars.stdin_value("K", b"s3cret\n") == "s3cret"
    assert envvars.stdin_value("K", b"s3cret\r\n") == "s3cret"
    assert envvars.stdin_value("K", b"s3cret") == "s3cret"
    assert envvars.stdin_value("K", b"s3cret\n\n") == "s3cret\n\n"  # two lines: kept as is
    assert envvars.stdin_value("K", b"\n") == ""


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["KEY=-"], b"", "KEY=- but stdin is empty"),
    (["KEY=-"], b"\x30\x82\x04\xbd\x02\x01\xff", "not UTF-8 text"),
    (["A=-", "B=-"], PEM.encode(), "A, B all ask for stdin"),
    (["KEY=a\x00b"], b"", "cannot be passed to the app"),
])
def test_env_set_refuses_what_it_cannot_deliver_whole(
        monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: bytes, message: str) -> None:
    hosts = env_change(["KEY"])
    run = invoke_env(monkeypatch, hosts, ["set", *args], stdin)
    assert isinstance(run.exception, UsageError), run.output
    assert message in run.exception.message
    assert not [t.sent for t in hosts.values() if t.sent]


def test_a_prompt_refuses_the_first_line_of_a_longer_text() -> None:
    for partial in ("-----BEGIN PRIVATE KEY-----", "{", '{"type": "service_account",', "["):
        with pytest.raises(UsageError, match="first line"):
            envvars.check_prompted("KEY", partial)
    for whole in ("s3cret-p4ss", "", '{"a": 1}', "[1, 2]", "-----BEGIN X----- -----END X-----"):
        assert envvars.check_prompted("KEY", whole) == whole


def test_env_get_prints_a_multi_line_value_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, printed in ((PEM, PEM), (PEM.rstrip("\n"), PEM.rstrip("\n")),
                           ("one-line", "one-line\n")):
        t = RecordingTransport("web1", {"envtool.py": Result(0, json.dumps({"KEY": value}), "")})
        run = invoke_env(monkeypatch, {"web1": t}, ["get", "KEY"])
        assert run.exit_code == 0 and run.stdout == printed


def test_every_line_of_a_multi_line_secret_is_masked() -> None:
    ui = UI()
    envvars.mask_values(ui, [PEM])
    assert "BKcwggSj" not in ui.mask("stderr: bad line BKcwggSjAgEAAoIBAQC7+/=")
