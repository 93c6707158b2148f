"""Planners: facts in, exact actions out, and a no-change case for every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from djship.config import validate
from djship.facts.files import FileState
from djship.facts.files import parse as parse_files
from djship.paths import SitePaths
from djship.plan import Plan, Put, Run
from djship.steps import database, packages, site, tools, web
from djship.steps.files import File, plan_files
from djship.steps.provision import provision_steps
from djship.transport.base import Result

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {"domains": ["example.com", "www.example.com"], "env": {"A": "1"}}},
    "hosts": [{"name": "web1", "address": "192.0.2.10"}],
})
P = SitePaths("blog")


def scripts_of(plan: Plan) -> str:
    return "\n".join(a.script.render() for a in plan.actions if isinstance(a, Run))


def test_packages_installs_only_missing_in_one_transaction() -> None:
    plan = packages.plan_packages(["nginx", "postgresql", "rsync"], {"rsync"})
    text = scripts_of(plan)
    assert "apt-get install -y -q --no-install-recommends" in text
    assert text.count("apt-get install") == 1
    assert "nginx postgresql" in text and "rsync\n" not in text.split("install")[-1]


def test_packages_no_change() -> None:
    plan = packages.plan_packages(["nginx"], {"nginx"})
    assert not plan.changes and "installed" in plan.reason


def test_parse_installed() -> None:
    out = Result(0, "nginx installed\npostgresql not-installed\nlibc6:amd64 installed\n", "")
    assert packages.parse_installed(out) == {"nginx", "libc6"}


def test_files_put_changed_and_no_change() -> None:
    f = File("/etc/x.conf", b"hello\n", 0o600)
    plan = plan_files([f], {})
    assert isinstance(plan.actions[0], Put) and plan.actions[0].mode == 0o600
    same = {f.path: FileState(f.sha256, 0o600, "root", "root")}
    assert not plan_files([f], same).changes
    wrong_mode = {f.path: FileState(f.sha256, 0o644, "root", "root")}
    assert plan_files([f], wrong_mode).changes


def test_validated_files_are_staged_and_restored_on_failure() -> None:
    f = File("/etc/nginx/x.conf", b"server {}\n")
    plan = plan_files([f], {}, validate=[web.NGINX_TEST[0]], then=web.NGINX_RELOAD)
    puts = [a for a in plan.actions if isinstance(a, Put)]
    assert puts[0].path == "/etc/nginx/x.conf.djship-new"
    text = scripts_of(plan)
    assert "if ! ( nginx -t -q ); then" in text and ".djship-old" in text
    assert text.index("nginx -t") < text.index("systemctl reload-or-restart nginx")


def test_parse_file_states() -> None:
    out = Result(0, "stat|/a|600|root|root\nabc123  /a\n", "")
    assert parse_files(out) == {"/a": FileState("abc123", 0o600, "root", "root")}


def test_user_plan_and_no_change() -> None:
    plan = site.plan_user(P, site.UserFact(False), has_nginx=True)
    text = scripts_of(plan)
    assert "useradd --system --user-group --home-dir /srv/blog --no-create-home --shell /usr/sbin/nologin djship-blog" in text
    assert "usermod -aG djship-blog www-data" in text
    assert not site.plan_user(P, site.UserFact(True, "/usr/sbin/nologin", True), True).changes


def test_parse_user() -> None:
    r = Result(0, "djship-blog:x:999:999::/srv/blog:/usr/sbin/nologin\ngroups: www-data djship-blog\n", "")
    assert site.parse_user(P, r) == site.UserFact(True, "/usr/sbin/nologin", True)


def test_layout_plan_and_no_change() -> None:
    assert "install -d -m 700 -o root -g root /srv/blog/shared/backups" in scripts_of(
        site.plan_layout(P, {}))
    done = {path: (mode, owner) for path, mode, owner in site.layout(P)}
    assert not site.plan_layout(P, done).changes


def test_env_plan_sends_values_on_stdin_only() -> None:
    s = CONFIG.sites["blog"]
    plan = database.plan_env(P, s, database.EnvFact({}, False), with_db=True)
    action = plan.actions[0]
    assert isinstance(action, Run) and action.stdin is not None
    request = json.loads(action.stdin)
    # [sites.blog.env] (A=1) travels with each release, not in the secrets file.
    assert request["set"] == {} and request["database"] == {"name": "blog"}
    assert "SECRET_KEY" in request["generate"]
    assert '"1"' not in action.script.render()


def test_env_no_change() -> None:
    hashes = {"SECRET_KEY": "h", "DATABASE_URL": "h"}
    plan = database.plan_env(P, CONFIG.sites["blog"], database.EnvFact(hashes, True), True)
    assert not plan.changes


def test_uv_plan_and_no_change() -> None:
    assert "pip install --quiet 'uv>=0.4,<1'" in scripts_of(tools.plan_uv(False))
    assert not tools.plan_uv(True).changes


def test_service_plan() -> None:
    assert not database.plan_service("nginx", ("enabled", "active")).changes
    assert "systemctl enable --now nginx" in scripts_of(database.plan_service("nginx", ("disabled", "inactive")))


def test_upstream_created_once() -> None:
    assert web.plan_upstream(P, False).changes
    assert not web.plan_upstream(P, True).changes


def test_unit_file_golden() -> None:
    text = web.unit_file(CONFIG, "blog", None, local_db=True).content.decode()
    for line in ["User=djship-blog", "EnvironmentFile=/etc/djship/blog.env",
                 "Environment=DJANGO_SETTINGS_MODULE=blog.settings",
                 "Environment=ALLOWED_HOSTS=example.com,www.example.com",
                 "WorkingDirectory=/srv/blog/slots/%i",
                 "--bind unix:/run/djship-blog/%i/app.sock", "blog.wsgi:application",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "Restart=on-failure", "Type=notify", "--timeout 30 "]:
        assert line in text, line
    slow = CONFIG.model_copy(update={"sites": {"blog": CONFIG.sites["blog"].model_copy(
        update={"health_timeout": 90.0})}})
    text = web.unit_file(slow, "blog", None, local_db=True).content.decode()
    assert "--timeout 90 " in text and "TimeoutStartSec=120" in text


def test_unit_preloads_the_app_unless_told_not_to() -> None:
    text = web.unit_file(CONFIG, "blog", None, local_db=True).content.decode()
    assert f"gunicorn --config {tools.GUNICORN_CONF} --preload blog.wsgi:application " in text
    off = CONFIG.model_copy(update={"sites": {"blog": CONFIG.sites["blog"].model_copy(
        update={"preload": False})}})
    text = web.unit_file(off, "blog", None, local_db=True).content.decode()
    assert f"gunicorn --config {tools.GUNICORN_CONF} blog.wsgi:application " in text


def test_nginx_site_golden() -> None:
    conf = web.nginx_files(CONFIG, "blog", None)[0].content.decode()
    assert "server_name example.com www.example.com;" in conf
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    assert "alias /srv/blog/current/.static/;" in conf and "root /srv/blog/shared;" in conf
    assert "include /etc/nginx/djship/blog-upstream.conf;" in conf
    default = web.nginx_files(CONFIG, "blog", None)[1].content.decode()
    assert "default_server" in default and "return 444" in default


def test_template_override(tmp_path: Path) -> None:
    override = tmp_path / "djship" / "templates"
    override.mkdir(parents=True)
    (override / "nginx-default.conf.j2").write_text("# mine\n")
    assert web.nginx_files(CONFIG, "blog", tmp_path)[1].content == b"# mine\n"


def test_provision_steps_by_role() -> None:
    host = CONFIG.hosts[0]
    names = [s.name for s in provision_steps(CONFIG, "blog", host, None)]
    # The Python check first: a server that cannot run the project gets nothing installed.
    assert names[:5] == ["python", "packages", "security updates", "firewall", "ssh hardening"]
    assert {"postgresql", "environment", "app unit", "nginx"} <= set(names)
    lb_only = host.model_copy(update={"roles": ["db"]})
    db_names = [s.name for s in provision_steps(CONFIG, "blog", lb_only, None)]
    assert "nginx" not in db_names and "postgresql" in db_names


@pytest.mark.parametrize("step", [s for s in provision_steps(CONFIG, "blog", CONFIG.hosts[0], None)
                                  # clean-ups find nothing to remove on a fresh server; the
                                  # python step only checks
                                  if not s.name.startswith("stale ") and s.name != "python"],
                         ids=lambda s: s.name)
def test_every_step_plans_something_for_a_fresh_server(step: object) -> None:
    from djship.plan import Step
    assert isinstance(step, Step)
    assert step.plan(step.fact.assume).changes


@pytest.mark.parametrize(("fails", "status"), [(0, 0), (1, 0), (2, 1)])
def test_firewall_reload_tries_once_more_then_shows_the_log(tmp_path: Path, fails: int,
                                                            status: int) -> None:
    import subprocess

    from djship.shell import Script
    from djship.steps.security import FIREWALL_RELOAD

    count, fake = tmp_path / "count", tmp_path / "bin"
    fake.mkdir()
    count.write_text("0")
    # A systemctl whose first ``fails`` reloads fail (as with status=219/CGROUP).
    (fake / "systemctl").write_text(
        f'#!/bin/sh\nn=$(cat {count}); echo $((n + 1)) > {count}\n[ "$n" -ge {fails} ]\n')
    (fake / "journalctl").write_text("#!/bin/sh\necho the unit log\n")
    (fake / "sleep").write_text("#!/bin/sh\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    done = subprocess.run(["bash", "-c", Script.of(FIREWALL_RELOAD).render()],
                          env={"PATH": f"{fake}:/usr/bin:/bin"}, capture_output=True,
                          text=True, check=False)
    assert done.returncode == status
    assert int(count.read_text()) == min(fails + 1, 2)
    assert ("the unit log" in done.stderr) is (status != 0)
