"""Several servers per site: db host access rules, the load balancer, shared secrets."""

from __future__ import annotations

import hashlib
import json

from djship.config import validate
from djship.paths import SitePaths
from djship.steps import database, dbhost, lb
from djship.steps.base import Run
from djship.steps.envfile import desired_hashes

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {"domains": ["example.com"]}},
    "hosts": [
        {"name": "lb1", "address": "10.0.0.1", "roles": ["lb"]},
        {"name": "web1", "address": "10.0.0.2", "roles": ["web", "worker"]},
        {"name": "web2", "address": "10.0.0.3", "roles": ["web"]},
        {"name": "db1", "address": "10.0.0.4", "roles": ["db"]},
    ],
})


def test_db_host_and_clients() -> None:
    db = dbhost.db_host(CONFIG, "blog")
    assert db is not None and db.name == "db1"
    assert dbhost.client_addresses(CONFIG, "blog") == ["10.0.0.2", "10.0.0.3"]
    assert dbhost.hba_block(CONFIG, "blog") == (
        "host blog blog 10.0.0.2/32 scram-sha-256\nhost blog blog 10.0.0.3/32 scram-sha-256")


def test_db_network_plan_and_no_change() -> None:
    host = CONFIG.hosts[3]
    plan = dbhost.plan_network(CONFIG, "blog", host, dbhost.PgFact("/etc/postgresql/15/main", "", ""))
    texts = [a.summary for a in plan.actions]
    assert "listen on private address" in texts
    run = [a for a in plan.actions if isinstance(a, Run) and a.stdin]
    assert json.loads(run[0].stdin or b"{}")["content"] == dbhost.hba_block(CONFIG, "blog")
    done = dbhost.PgFact("/etc/postgresql/15/main",
                         hashlib.sha256(dbhost.listen_conf(host).encode()).hexdigest(),
                         hashlib.sha256(dbhost.hba_block(CONFIG, "blog").encode()).hexdigest())
    assert not dbhost.plan_network(CONFIG, "blog", host, done).changes


def test_lb_config_lists_web_hosts_with_failover() -> None:
    assert lb.backends(CONFIG, "blog") == ["10.0.0.2", "10.0.0.3"]
    conf = lb.lb_files(CONFIG, "blog", None)[0].content.decode()
    assert "server 10.0.0.2:80 max_fails=1 fail_timeout=10s;" in conf
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in conf
    assert "server_name example.com;" in conf


def test_shared_secret_key_is_set_not_generated() -> None:
    p = SitePaths("blog")
    site = CONFIG.sites["blog"]
    plan = database.plan_env(p, site, database.EnvFact({}, False), False,
                             {"SECRET_KEY": "k", "DATABASE_URL": "postgres://x"})
    request = json.loads(plan.actions[0].stdin or b"{}")  # type: ignore[union-attr]
    assert request["set"] == {"SECRET_KEY": "k", "DATABASE_URL": "postgres://x"}
    assert request["generate"] == ["SECRET_KEY"]  # harmless: the helper keeps a set value
    same = desired_hashes({"SECRET_KEY": "k", "DATABASE_URL": "postgres://x"})
    assert not database.plan_env(p, site, database.EnvFact(same, False), False,
                                 {"SECRET_KEY": "k", "DATABASE_URL": "postgres://x"}).changes
