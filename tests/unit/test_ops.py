"""Operate commands' pure parts: env edits, status parsing, logs, backups, timers, workers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from djship.config import validate
from djship.config.schema import Host
from djship.errors import UsageError
from djship.ops import db, envvars, logs, status
from djship.paths import SitePaths
from djship.steps import timers, workers
from djship.steps.provision import is_job_host
from djship.transport.base import Result

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {
        "domains": ["example.com"],
        "processes": {"queue": {"command": "manage.py qcluster", "instances": 2}},
        "jobs": {"clearsessions": {"command": "manage.py clearsessions", "schedule": "daily"}},
        "backups": {"keep": 4, "schedule": "*-*-* 03:00:00"},
    }},
    "hosts": [{"name": "web1", "address": "192.0.2.10", "roles": ["web", "db"]},
              {"name": "work1", "address": "192.0.2.11", "roles": ["worker"]}],
})
P = SitePaths("blog")


def test_env_values_travel_on_stdin_only() -> None:
    script, stdin = envvars.apply_request(P, envvars.EnvChange({"FOO": "s3cret"}, ["BAR"]))
    assert "s3cret" not in script.render()
    assert json.loads(stdin) == {"file": "/etc/djship/blog.env", "set": {"FOO": "s3cret"},
                                 "unset": ["BAR"]}


@pytest.mark.parametrize("bad", ["FOO", "=x", "1A=b", "A B=c"])
def test_assignments_are_checked(bad: str) -> None:
    with pytest.raises(UsageError):
        envvars.parse_assignments((bad,))


def test_assignment_value_never_in_error() -> None:
    with pytest.raises(UsageError) as exc:
        envvars.parse_assignments(("bad key=hunter2",))
    assert "hunter2" not in exc.value.message


def test_protected_keys_need_force() -> None:
    with pytest.raises(UsageError, match="DATABASE_URL"):
        envvars.check_unset(("DATABASE_URL",), force=False)
    assert envvars.check_unset(("DATABASE_URL",), force=True) == ["DATABASE_URL"]


def test_list_masks_unless_revealed() -> None:
    assert envvars.render_list({"A": "x"}, reveal=False) == ["A=***"]
    assert envvars.render_list({"A": "x"}, reveal=True) == ["A=x"]


def test_status_parse_and_health() -> None:
    out = ("release:20261122T010203-abc\n"
           'meta:{"commit": "abc", "created": 1.5}\nslot:blue\nservice:active\n'
           "since:Sun 2026-11-22\ndisk:78G 22%\npostgres:active\ncert:\nhttp:200 0.004\n")
    st = status.parse("web1", ["web", "db"], Result(0, out, ""))
    assert st.healthy and st.latency_ms == 4.0 and st.disk_free == "78G"
    assert st.commit == "abc" and st.disk_used_pct == 22 and st.problems == []
    down = status.parse("web1", ["web"], Result(0, "service:failed\nhttp:502 0.001\n", ""))
    assert not down.healthy and down.as_dict()["healthy"] is False
    assert down.problems == ["app failed", "HTTP 502"]
    silent = status.parse("web1", ["web"], Result(0, "service:active\nhttp:000 0.0\n", ""))
    assert silent.problems == ["HTTP no answer"]


@pytest.mark.parametrize(("roles", "out", "problems"), [
    (["db"], "postgres:down\n", ["postgres down"]),
    (["db"], "postgres:active\n", []),
    (["worker"], "service:inactive\n", []),  # worker-only hosts run no app server
    (["lb"], "", []),
    (["web"], "service:active\nhttp:301 0.01\n", []),
])
def test_status_problems_depend_on_roles(roles: list[str], out: str,
                                         problems: list[str]) -> None:
    assert status.parse("h", roles, Result(0, out, "")).problems == problems


def test_status_unreachable_host_is_a_problem_whatever_its_roles() -> None:
    st = status.HostStatus("lb1", ["lb"], service="unreachable: cannot connect")
    assert st.problems == ["unreachable: cannot connect"]


def test_status_certificate_days_left() -> None:
    now = 1_800_000_000.0  # 2027-01-15
    st = status.parse("h", ["web"], Result(0, "service:active\nhttp:200 0.1\n"
                                           "cert:Feb 20 10:00:00 2027 GMT\n", ""), now=now)
    assert st.cert_days_left == 36 and st.healthy
    soon = status.parse("h", ["web"], Result(0, "service:active\nhttp:200 0.1\n"
                                             "cert:Jan 20 10:00:00 2027 GMT\n", ""), now=now)
    assert soon.problems == ["certificate expires in 5 days"]
    assert status.days_left("garbage", now) is None


def test_status_probe_uses_https_and_the_certificate_when_tls() -> None:
    plain = status.probe(P, status.Target("example.com", "/health/", web=True)).render()
    assert "-H 'Host: example.com' 'http://127.0.0.1/health/'" in plain
    assert "openssl" not in plain and "pg_isready" in plain
    tls = status.probe(P, status.Target("example.com", "/health/", web=True, https=True,
                                        cert="/etc/letsencrypt/live/blog/cert.pem")).render()
    assert "--resolve example.com:443:127.0.0.1 'https://example.com/health/'" in tls
    assert "-in /etc/letsencrypt/live/blog/cert.pem" in tls
    no_web = status.probe(P, status.Target("example.com", "/", web=False)).render()
    assert "curl" not in no_web


def test_status_health_host_skips_redirected_names() -> None:
    assert status.health_host(["www.example.com", "example.com"], "apex") == "example.com"
    assert status.health_host(["example.com", "www.example.com"], "www") == "www.example.com"
    assert status.health_host(["example.com", "www.example.com"], "none") == "example.com"
    assert status.health_host([], "none") == "localhost"


def test_logs_journal_commands() -> None:
    default = logs.log_command(P, "app", logs.Query()).render()
    assert default == ("journalctl --no-pager -q -o short-iso -u 'djship-blog@*' "
                       "-u 'djship-blog-*' -n 50")
    app = logs.log_command(P, "app", logs.Query(20, True, "1h", "a.b")).render()
    assert app == ("journalctl --no-pager -q -o short-iso -u 'djship-blog@*' -u 'djship-blog-*' "
                   "--since -1h -f --case-sensitive=yes --grep 'a\\.b'")
    # journalctl's -n counts from --since onwards: the newest N come from tail.
    window = logs.log_command(P, "app", logs.Query(5, False, "30min", None)).render()
    assert window.endswith("--since -30min | tail -n 5")
    dated = logs.log_command(P, "app", logs.Query(None, False, "2026-01-01 12:00", None))
    assert dated.render().endswith("--since '2026-01-01 12:00'")


def test_logs_file_commands() -> None:
    nginx = logs.log_command(P, "nginx", logs.Query(5)).render()
    assert nginx == "tail -q -n 5 /var/log/nginx/access.log /var/log/nginx/error.log"
    follow = logs.log_command(P, "postgres", logs.Query(None, True)).render()
    assert follow == "tail -q -n 50 -F /var/log/postgresql/*.log"


@pytest.mark.parametrize(("text", "out"), [
    ("GET /x", "GET /x\n"), ("nothing like it", ""), ("'; rm -rf /", ""), (".*", ""),
])
def test_logs_grep_is_literal_and_no_match_is_not_a_failure(tmp_path: Path, text: str,
                                                            out: str) -> None:
    log = tmp_path / "access.log"
    log.write_text("GET /x\nPOST /y\n")
    line = logs.log_command(P, "nginx", logs.Query(10, grep=text)).render()
    line = line.replace("/var/log/nginx/access.log /var/log/nginx/error.log", str(log))
    proc = subprocess.run(["bash", "-c", f"set -eu -o pipefail; {line}"], capture_output=True,
                          text=True, check=False)
    assert (proc.returncode, proc.stdout) == (0, out), proc.stderr
    missing = line.replace(str(log), str(log) + ".missing")
    broken = subprocess.run(["bash", "-c", f"set -eu -o pipefail; {missing}"],
                            capture_output=True, text=True, check=False)
    assert broken.returncode == 1  # tail failed and nothing matched: reported as an error


def test_log_sources_follow_roles() -> None:
    web_db = Host(name="a", address="192.0.2.1", roles=["web", "db"])
    lb = Host(name="b", address="192.0.2.2", roles=["lb"])
    worker = Host(name="c", address="192.0.2.3", roles=["worker"])
    assert logs.sources_on(web_db, "all") == ["app", "nginx", "postgres"]
    assert logs.sources_on(lb, "all") == ["nginx"] and logs.sources_on(lb, "app") == []
    assert logs.sources_on(worker, "all") == ["app"]


def test_backup_names_and_scripts() -> None:
    script, name = db.backup(P, 3, now=0)
    assert name == "manual-19700101T000000.dump"
    assert "envtool.py backup /etc/djship/blog.env /srv/blog/shared/backups/" in script.render()
    assert "ls -1t /srv/blog/shared/backups/manual-*.dump" in script.render()
    assert "tail -n +4" in script.render()
    unrotated, name = db.backup(P, None, "prerestore", now=0)
    assert name == "prerestore-19700101T000000.dump" and "tail" not in unrotated.render()
    for bad in ["../etc/passwd", "/x.dump", "manual-x.sql", "", "other-1.dump",
                "manual-1.dump/../../x.dump"]:
        with pytest.raises(UsageError):
            db.check_name(bad)
    for good in ["manual-1.dump", "pre-20260101T000000-abc.dump", "prerestore-2.dump"]:
        assert db.check_name(good) == good
    restore = db.restore(P, "manual-1.dump").commands[-1].render()
    assert restore == ("python3 /opt/djship/lib/envtool.py restore /etc/djship/blog.env "
                       "/srv/blog/shared/backups/manual-1.dump")
    stop = db.stop_app(P).commands[-1].render()
    assert stop == ("systemctl stop 'djship-blog@*.socket' 'djship-blog@*.service' "
                    "'djship-blog-*@*.service'")
    assert "systemctl start djship-blog@green.service" in db.start_app(P, "green").render()


def test_rotation_keeps_the_newest_of_a_kind(tmp_path: Path) -> None:
    for i, name in enumerate(["pre-1.dump", "prerestore-1.dump", "prerestore-2.dump",
                              "prerestore-3.dump", "manual-1.dump"]):
        (tmp_path / name).write_text(name)
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    line = db.rotate(P, "prerestore", 2).render().replace(P.backups, str(tmp_path))
    subprocess.run(["bash", "-c", f"set -eu -o pipefail; {line}"], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manual-1.dump", "pre-1.dump", "prerestore-2.dump", "prerestore-3.dump"]


def test_backup_listing_parse() -> None:
    rows = db.parse_listing("pre-a.dump 10 5.0\nmanual-b.dump 2048 9.0\n")
    assert [b.name for b in rows] == ["manual-b.dump", "pre-a.dump"]
    assert db.human(2048) == "2.0 KiB"


def test_jobs_and_backups_run_on_one_host() -> None:
    web1, work1 = CONFIG.hosts
    assert is_job_host(CONFIG, "blog", work1) and not is_job_host(CONFIG, "blog", web1)
    units = [u for u, _ in timers.timers(CONFIG, "blog", None, run_jobs=True)]
    assert units == ["djship-blog-job-clearsessions", "djship-blog-backup"]
    assert [u for u, _ in timers.timers(CONFIG, "blog", None, run_jobs=False)] == []


def test_job_unit_runs_in_live_release_as_site_user() -> None:
    files = dict(timers.timers(CONFIG, "blog", None, True))["djship-blog-job-clearsessions"]
    service, timer = (f.content.decode() for f in files)
    assert "Type=oneshot" in service
    assert "envtool.py exec /etc/djship/blog.env djship-blog /srv/blog/current" in service
    assert "/srv/blog/current/.venv/bin/python manage.py clearsessions" in service
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer


def test_worker_units() -> None:
    (unit,) = workers.worker_files(CONFIG, "blog", None, local_db=False)
    text = unit.content.decode()
    assert unit.path == "/etc/systemd/system/djship-blog-queue@.service"
    assert "ExecStart=/srv/blog/current/.venv/bin/python manage.py qcluster" in text
    assert "User=djship-blog" in text and "EnvironmentFile=/etc/djship/blog.env" in text
    script = workers.restart_workers(CONFIG, "blog")
    assert script is not None
    assert "systemctl restart djship-blog-queue@1.service djship-blog-queue@2.service" in script.render()
    assert workers.exec_start(P, "celery -A proj worker") == "/srv/blog/current/.venv/bin/celery -A proj worker"


def test_site_remove_keeps_data_unless_purged(tmp_path: object) -> None:
    from djship.ops.site import remove_site

    kept = remove_site(P, purge=False).render()
    assert "rm -rf -- /srv/blog/releases" in kept and "dropdb" not in kept
    assert "/etc/djship/blog.env" not in kept
    purged = remove_site(P, purge=True).render()
    assert "dropdb --if-exists blog" in purged and "rm -rf -- /srv/blog;;" in purged


def test_guarded_rm_refuses_root_and_outside(tmp_path: object) -> None:
    import subprocess
    from pathlib import Path

    from djship.release.scripts import guarded_rm

    base = Path(str(tmp_path))
    (base / "srv" / "site").mkdir(parents=True)
    (base / "other").mkdir()
    for target in ["/", "", str(base / "other"), str(base / "srv")]:
        line = guarded_rm(target or "''", str(base / "srv")).render()
        proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True)
        assert proc.returncode == 1 and "refusing" in proc.stderr, target
    assert (base / "other").exists() and (base / "srv").exists()
    line = guarded_rm(str(base / "srv" / "site"), str(base / "srv")).render()
    assert subprocess.run(["bash", "-c", line]).returncode == 0
    assert not (base / "srv" / "site").exists()


def test_journal_without_entries_is_an_empty_answer() -> None:
    assert logs.no_entries(1, "")
    assert not logs.no_entries(1, "Failed to parse timestamp: yesterdayish")
    assert not logs.no_entries(2, "")


def test_values_no_environment_can_carry_are_refused_by_name() -> None:
    assert envvars.check_values({"A": "one line", "B": "two\nlines"}) == {
        "A": "one line", "B": "two\nlines"}
    with pytest.raises(UsageError) as exc:
        envvars.check_values({"KEY": "s3cret\0X=1"})
    assert "KEY" in exc.value.message and "s3cret" not in exc.value.message


def test_status_probe_runs_and_reports_uptime() -> None:
    probe = status.probe(P, status.Target("example.com", "/", web=False)).render()
    fake = ("systemctl() { if [ \"$1\" = show ]; then "
            "date -d '-90 seconds' '+%a %Y-%m-%d %H:%M:%S %Z'; else echo active; fi; }\n")
    out = subprocess.run(["bash", "-c", fake + probe], capture_output=True, text=True,
                         check=True).stdout
    st = status.parse("h", ["worker"], Result(0, out, ""))
    assert st.service == "active" and 89 <= st.uptime_s <= 120, out
    stopped = status.parse("h", ["worker"], Result(0, "service:inactive\nuptime:500\n", ""))
    assert stopped.uptime_s == 0
