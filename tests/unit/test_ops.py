"""Operate commands' pure parts: env edits, status parsing, logs, backups, timers, workers."""

from __future__ import annotations

import json

import pytest

from djship.commands.ops_cmd import log_command
from djship.config import validate
from djship.errors import UsageError
from djship.ops import db, envvars, status
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
    st = status.parse("web1", Result(0, out, ""))
    assert st.healthy and st.latency_ms == 4.0 and st.disk_free == "78G"
    assert st.commit == "abc" and st.disk_used_pct == 22
    down = status.parse("web1", Result(0, "service:failed\nhttp:502 0.001\n", ""))
    assert not down.healthy and down.as_dict()["healthy"] is False


def test_logs_commands() -> None:
    app = log_command(P, "app", 20, True, "1h", "ERROR").render()
    assert app == "journalctl --no-pager -o short-iso -u 'djship-blog@*' -n 20 -f --since -1h --grep ERROR"
    nginx = log_command(P, "nginx", 5, False, None, None).render()
    assert nginx == "tail -q -n 5  /var/log/nginx/access.log /var/log/nginx/error.log"


def test_backup_names_and_scripts() -> None:
    script, name = db.backup(P, 3, now=0)
    assert name == "manual-19700101T000000.dump"
    assert "envtool.py backup /etc/djship/blog.env /srv/blog/shared/backups/" in script.render()
    assert "tail -n +4" in script.render()
    for bad in ["../etc/passwd", "/x.dump", "manual-x.sql", ""]:
        with pytest.raises(UsageError):
            db.check_name(bad)
    restore = db.restore(P, "manual-1.dump", "green").render()
    assert restore.index("systemctl stop djship-blog@green") < restore.index("envtool.py restore")
    assert "trap 'systemctl start djship-blog@green.service' EXIT" in restore


def test_backup_listing_parse() -> None:
    rows = db.parse_listing("pre-a.dump 10 5.0\nmanual-b.dump 2048 9.0\n")
    assert [b.name for b in rows] == ["manual-b.dump", "pre-a.dump"]
    assert db.human(2048) == "2.0 KiB"


def test_jobs_run_on_one_host_and_backups_on_all() -> None:
    web1, work1 = CONFIG.hosts
    assert is_job_host(CONFIG, "blog", work1) and not is_job_host(CONFIG, "blog", web1)
    units = [u for u, _ in timers.timers(CONFIG, "blog", None, run_jobs=True)]
    assert units == ["djship-blog-job-clearsessions", "djship-blog-backup"]
    assert [u for u, _ in timers.timers(CONFIG, "blog", None, run_jobs=False)] == [
        "djship-blog-backup"]


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
