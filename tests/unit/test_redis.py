"""Redis and Celery: init's detection, the provision planners, the helper, nginx upgrades."""

from __future__ import annotations

import grp
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from djship.config import validate
from djship.errors import ConfigError
from djship.paths import SitePaths
from djship.remote import envtool
from djship.runner import Runner
from djship.settings.probe import production_env
from djship.settings.services import detect_services
from djship.steps import nginx, packages, redis
from djship.steps.provision import provision_steps
from djship.transport.base import Result
from djship.transport.recording import RecordingTransport
from djship.ui import UI


def config(*, roles: list[list[str]], redis_table: dict[str, Any] | None = None,
           asgi: bool = False) -> Any:
    project = {"name": "shop", "settings": "shop.settings"}
    project |= {"asgi": "shop.asgi:application"} if asgi else {"wsgi": "shop.wsgi:application"}
    site: dict[str, Any] = {"domains": ["shop.example"]}
    if redis_table is not None:
        site["redis"] = redis_table
    return validate({"project": project, "sites": {"shop": site},
                     "hosts": [{"name": f"h{i}", "address": f"10.0.0.{i}", "roles": r}
                               for i, r in enumerate(roles, 1)]})


SPLIT = config(roles=[["web", "worker"], ["db"]],
               redis_table={"enabled": True, "env": ["REDIS_URL", "CELERY_BROKER_URL"]})
SINGLE = config(roles=[["web", "worker", "db"]], redis_table={"enabled": True})


def names(cfg: Any, host: int) -> list[str]:
    return [s.name for s in provision_steps(cfg, "shop", cfg.hosts[host], None)]


def test_redis_runs_on_the_db_host_only_and_opens_its_port_to_the_site_hosts() -> None:
    db = names(SPLIT, 1)
    assert db[-3:] == ["redis user", "redis config", "redis firewall"], db
    assert not [n for n in names(SPLIT, 0) if n.startswith("redis")]
    assert "redis-server" in packages.wanted_packages(SPLIT, SPLIT.hosts[1], False)
    assert "redis-server" not in packages.wanted_packages(SPLIT, SPLIT.hosts[0], False)
    rules = redis.firewall_rules(SPLIT, "shop")
    assert "ip saddr { 10.0.0.1 } tcp dport 6379 accept" in rules
    conf = redis.main_conf(SPLIT, SPLIT.hosts[1])
    assert "bind 127.0.0.1 -::1 10.0.0.2\n" in conf
    assert "user default off resetpass" in conf and "include /etc/redis/djship.d/*.conf" in conf


def test_single_host_redis_listens_on_localhost_and_writes_the_url_into_the_env_file() -> None:
    steps = names(SINGLE, 0)
    assert steps.index("environment") < steps.index("redis user") < steps.index("redis config")
    assert "redis firewall" not in steps
    assert "bind 127.0.0.1 -::1\n" in redis.main_conf(SINGLE, SINGLE.hosts[0])
    req = redis.user_request(SINGLE, "shop", SINGLE.hosts[0], check=False)
    assert req["host"] == "127.0.0.1" and req["names"] == ["REDIS_URL"]
    assert req["env_file"] == SitePaths("shop").env_file
    remote = redis.user_request(SPLIT, "shop", SPLIT.hosts[1], check=False)
    assert remote["host"] == "10.0.0.2" and "env_file" not in remote


def test_no_redis_no_steps() -> None:
    plain = config(roles=[["web", "worker", "db"]])
    assert not [n for n in names(plain, 0) if n.startswith("redis")]
    assert "redis-server" not in packages.wanted_packages(plain, plain.hosts[0], True)


def test_redis_without_a_db_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        config(roles=[["web", "worker"]], redis_table={"enabled": True})
    assert [str(i) for i in exc.value.issues] == [
        'sites.shop.redis: Redis runs on the site\'s db host, but none of its hosts has the '
        'role "db": add it to one']


def test_user_step_no_change_when_ready_and_secrets_only_on_stdin() -> None:
    step = redis.user_step(SPLIT, "shop", SPLIT.hosts[1])
    ready = Result(0, '{"ready": true}\n', "")
    assert step.plan(step.fact.parse(ready)).actions == ()
    t = RecordingTransport(responses={"redis": Result(0, '{"ready": false}\n', "")})
    report = Runner(UI(quiet=True)).run_steps(t, [step])
    assert report.changed == ["redis user"]
    run = [s for s in t.sent if s.kind == "run" and s.stdin][-1]
    request = json.loads(run.stdin or b"")
    assert request["op"] == "redis" and not request["check"] and "password" not in run.text
    assert "systemctl restart redis-server" in run.text


def helper(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    req = {"op": "redis", "check": False, "file": str(tmp_path / "shop.redis.env"),
           "acl": str(tmp_path / "acl.conf"), "user": "djship-shop", "host": "10.0.0.2",
           "port": 6379, "group": grp.getgrgid(os.getgid()).gr_name, **extra}
    return envtool.ensure_redis(req)


def test_helper_makes_the_user_once_and_keeps_only_a_hash_in_redis_config(
        tmp_path: Path) -> None:
    (tmp_path / "other.redis.env").write_text('REDIS_DB="0"\n')  # another site's database
    assert helper(tmp_path, check=True) == {"ready": False}
    assert not (tmp_path / "shop.redis.env").exists()  # a check changes nothing
    helper(tmp_path, env_file=str(tmp_path / "app.env"), names=["REDIS_URL", "BROKER_URL"])
    stored = envtool.read_env(tmp_path / "shop.redis.env")
    password = stored["REDIS_PASSWORD"]
    assert stored["REDIS_DB"] == "1"
    assert stored["REDIS_URL"] == f"redis://djship-shop:{password}@10.0.0.2:6379/1"
    acl = (tmp_path / "acl.conf").read_text()
    assert password not in acl and hashlib.sha256(password.encode()).hexdigest() in acl
    assert oct((tmp_path / "shop.redis.env").stat().st_mode & 0o777) == "0o600"
    app = envtool.read_env(tmp_path / "app.env")
    assert app == {"REDIS_URL": stored["REDIS_URL"], "BROKER_URL": stored["REDIS_URL"]}
    again = helper(tmp_path, env_file=str(tmp_path / "app.env"),
                   names=["REDIS_URL", "BROKER_URL"])
    assert again == {"ready": True}
    assert envtool.read_env(tmp_path / "shop.redis.env") == stored


def test_check_gets_a_stand_in_under_each_name(tmp_path: Path) -> None:
    env = production_env(SPLIT, "shop", tmp_path).values
    assert env["REDIS_URL"] == env["CELERY_BROKER_URL"] == "redis://localhost:6379/0"
    assert "REDIS_URL" not in production_env(config(roles=[["web", "db"]]), "shop",
                                             tmp_path).values


def test_asgi_apps_get_websocket_upgrade_headers() -> None:
    asgi = config(roles=[["web", "worker", "db"]], asgi=True)
    conf = nginx.nginx_files(asgi, "shop", None)[0].content.decode()
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "map $http_upgrade $djship_shop_connection" in conf
    assert "proxy_set_header Connection $djship_shop_connection;" in conf
    plain = nginx.nginx_files(SINGLE, "shop", None)[0].content.decode()
    assert "Upgrade" not in plain and 'proxy_set_header Connection "";' in plain


CELERY = '''import os
from celery import Celery
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
'''


def project(root: Path, settings: str, celery: str | None = CELERY) -> Path:
    (root / "shop").mkdir(parents=True)
    (root / "shop/settings.py").write_text(settings)
    if celery is not None:
        (root / "shop/celery.py").write_text(celery)
    return root


@pytest.mark.parametrize(("settings", "celery", "processes", "env"), [
    ('import os\nCELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]\n'
     'INSTALLED_APPS = ["django_celery_beat"]\n', CELERY,
     {"celery": "celery -A shop worker --loglevel info",
      "beat": "celery -A shop beat --loglevel info "
              "--scheduler django_celery_beat.schedulers:DatabaseScheduler"},
     ["CELERY_BROKER_URL"]),
    ('CELERY_BEAT_SCHEDULE = {}\n', CELERY,
     {"celery": "celery -A shop worker --loglevel info",
      "beat": "celery -A shop beat --loglevel info --schedule /tmp/celerybeat-schedule"}, ["REDIS_URL", "CELERY_BROKER_URL"]),
    ('import environ\nenv = environ.Env()\nCACHES = {"default": env.cache("REDIS_CACHE_URL")}\n'
     'X = "django_redis.cache.RedisCache"\n', None, {}, ["REDIS_CACHE_URL"]),
    ('DEBUG = False\n', None, {}, None),
    ('DEBUG = False\n', "app = object()\n", {}, None),  # a celery.py without a Celery app
])
def test_init_detects_celery_beat_and_the_redis_variables(
        tmp_path: Path, settings: str, celery: str | None, processes: dict[str, str],
        env: list[str] | None) -> None:
    found = detect_services(project(tmp_path, settings, celery), "shop.settings")
    assert found.processes == processes
    assert found.redis == (env is not None)
    assert found.redis_env == (env or [])


def test_init_writes_the_worker_beat_and_redis_it_found(tmp_path: Path) -> None:
    import tomllib

    from djship.init import run_init

    root = project(tmp_path / "shop", 'CELERY_BEAT_SCHEDULE = {}\n')
    (root / "manage.py").write_text('import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", '
                                    '"shop.settings")\n')
    (root / "shop/wsgi.py").write_text("application = None\n")
    result = run_init(root, force=False)
    site = validate(tomllib.loads(result.path.read_text())).sites["shop"]
    assert {n: p.command for n, p in site.processes.items()} == {
        "celery": "celery -A shop worker --loglevel info",
        "beat": "celery -A shop beat --loglevel info --schedule /tmp/celerybeat-schedule"}
    assert site.redis.enabled and site.redis.env == ["REDIS_URL", "CELERY_BROKER_URL"]
    assert any("shop/celery.py" in n for n in result.notes), result.notes


def test_removing_a_site_drops_its_redis_user_and_firewall_rules() -> None:
    from djship.ops.site import remove_site

    kept = remove_site(SitePaths("shop"), purge=False).render()
    assert "rm -f -- /etc/redis/djship.d/shop.conf ; systemctl restart redis-server" in kept
    assert "rm -f -- /etc/djship/firewall.d/shop.redis.nft ;" in kept
    assert "/etc/djship/shop.redis.env" not in kept  # password and database number stay
    assert "/etc/djship/shop.redis.env" in remove_site(SitePaths("shop"), purge=True).render()
