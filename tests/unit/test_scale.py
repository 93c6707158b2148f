"""Several servers per site: db host access rules, the load balancer, shared secrets."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from djship import paths
from djship.commands.provision_cmd import host_steps
from djship.config import Host, validate
from djship.config.schema import Backups
from djship.ops import site as ops_site
from djship.ops.site import remove_site
from djship.paths import SitePaths
from djship.plan import AnyStep, Put, Run
from djship.steps import database, dbhost, lb, nginx, security, timers, web, workers
from djship.steps.envfile import desired_hashes
from djship.steps.provision import job_host, provision_steps

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


TWO_SITES = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {"domains": ["example.com"], "hosts": ["lb1", "web1", "web2", "db1"]},
              "shop": {"domains": ["shop.example"], "hosts": ["web3", "db1"]}},
    "hosts": [
        {"name": "lb1", "address": "10.0.0.1", "roles": ["lb"]},
        {"name": "web1", "address": "10.0.0.2", "roles": ["web", "worker"]},
        {"name": "web2", "address": "10.0.0.3", "roles": ["web"]},
        {"name": "db1", "address": "10.0.0.4", "roles": ["db"]},
        {"name": "web3", "address": "2001:db8::5", "roles": ["web"]},
    ],
})


def test_firewall_rules_per_site_file() -> None:
    assert dbhost.allow_file("blog") == "/etc/djship/firewall.d/blog.nft"
    assert dbhost.firewall_rules(TWO_SITES, "blog").splitlines()[1:] == [
        "add rule inet djship input ip saddr { 10.0.0.2, 10.0.0.3 } tcp dport 5432 accept"]
    assert dbhost.firewall_rules(TWO_SITES, "shop").splitlines()[1:] == [
        "add rule inet djship input ip6 saddr { 2001:db8::5 } tcp dport 5432 accept"]
    assert dbhost.hba_block(TWO_SITES, "shop") == "host shop shop 2001:db8::5/128 scram-sha-256"


def test_firewall_includes_every_site_file_and_reloads_without_a_gap() -> None:
    step = security.firewall_step(TWO_SITES.hosts[3], None)
    plan = step.plan({})
    nft = next(a for a in plan.actions if isinstance(a, Put) and a.path.endswith(".nft.djship-new"))
    text = nft.content.decode()
    assert 'include "/etc/djship/firewall.d/*.nft"' in text
    assert "5432" not in text  # PostgreSQL is each site's own business
    swap = next(a for a in plan.actions if isinstance(a, Run)).script.render()
    assert "systemctl reload-or-restart djship-firewall.service" in swap
    assert "systemctl restart" not in swap


def test_shared_db_host_lets_in_the_union_of_every_sites_hosts() -> None:
    db1 = TWO_SITES.hosts[3]

    def steps_for(site: str, host: Host) -> list[AnyStep]:
        if host.name not in [h.name for h in TWO_SITES.site_hosts(site)]:
            return []
        return provision_steps(TWO_SITES, site, host, None)

    steps = host_steps(steps_for, ["blog", "shop"], db1)
    allow = [s for s in steps if s.name.endswith("postgres firewall")]
    assert [s.name for s in allow] == ["blog: postgres firewall", "shop: postgres firewall"]
    files = {}
    for s in allow:
        put = next(a for a in s.plan({}).actions if isinstance(a, Put))
        files[put.path] = put.content.decode()
    assert set(files) == {"/etc/djship/firewall.d/blog.nft.djship-new",
                          "/etc/djship/firewall.d/shop.nft.djship-new"}
    text = "".join(files.values())
    assert "10.0.0.2" in text and "10.0.0.3" in text and "2001:db8::5" in text
    assert "10.0.0.1" not in text  # the load balancer is no database client
    # Only one firewall step for the host, with no site's addresses in it.
    assert [s.name for s in steps].count("firewall") == 1


def test_web_hosts_believe_x_forwarded_proto_only_from_the_lb() -> None:
    assert nginx.lb_addresses(TWO_SITES, "blog") == ["10.0.0.1"]
    conf = web.nginx_files(TWO_SITES, "blog", None)[0].content.decode()
    assert "geo $djship_blog_via_lb {\n    default 0;\n    10.0.0.1 1;\n}" in conf
    assert '"1:https" https;' in conf and "default $scheme;" in conf
    assert "proxy_set_header X-Forwarded-Proto $djship_blog_proto;" in conf
    alone = web.nginx_files(TWO_SITES, "shop", None)[0].content.decode()
    assert "geo " not in alone and "proxy_set_header X-Forwarded-Proto $scheme;" in alone


def test_lb_known_by_name_is_not_trusted() -> None:
    named = TWO_SITES.model_copy(update={"hosts": [
        TWO_SITES.hosts[0].model_copy(update={"address": "lb.internal"}), *TWO_SITES.hosts[1:]]})
    assert nginx.lb_addresses(named, "blog") == []
    assert "geo " not in web.nginx_files(named, "blog", None)[0].content.decode()


def test_site_remove_finds_units_by_site_not_by_name_prefix() -> None:
    script = remove_site(SitePaths("shop"), purge=False).render()
    assert "grep -l -e '^Description=djship shop: '" in script
    assert "djship-shop-*" not in script  # a prefix glob would match shop-staging's units
    assert "/etc/djship/firewall.d/shop.nft" in script and "# djship:shop begin" in script
    assert "/etc/djship/shop.db.env" not in script
    assert "/etc/djship/shop.db.env" in remove_site(SitePaths("shop"), purge=True).render()


def test_site_remove_unit_loop_spares_a_site_sharing_the_prefix(tmp_path: Path) -> None:
    """Run the unit part of the removal in bash with a fake systemd folder and systemctl."""
    systemd = tmp_path / "systemd"
    (systemd / "multi-user.target.wants").mkdir(parents=True)
    for site, units in {"shop": ["djship-shop@.service", "djship-shop-queue@.service",
                                 "djship-shop-job-tick.service", "djship-shop-job-tick.timer"],
                        "shop-staging": ["djship-shop-staging@.service"]}.items():
        for unit in units:
            (systemd / unit).write_text(f"[Unit]\nDescription=djship {site}: something\n")
    for link in ("djship-shop@blue.service", "djship-shop-staging@blue.service"):
        (systemd / "multi-user.target.wants" / link).write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (bin_dir / "systemctl").chmod(0o755)
    loop = ops_site.stop_units(SitePaths("shop"))[0].render().replace(
        paths.SYSTEMD, str(systemd))
    subprocess.run(["bash", "-euc", loop], check=True, env={**os.environ,
                   "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    left = sorted(p.name for p in systemd.rglob("*") if p.is_file())
    assert left == ["djship-shop-staging@.service", "djship-shop-staging@blue.service"]
    calls = log.read_text().splitlines()
    assert "stop djship-shop@*.service" in calls
    assert "stop djship-shop-queue@*.service" in calls
    assert "disable --now --quiet djship-shop-job-tick.timer" in calls
    assert not any("staging" in c for c in calls)


def test_job_waits_for_a_release_backups_do_not() -> None:
    cfg = validate({
        "project": {"name": "blog", "settings": "blog.settings",
                    "wsgi": "blog.wsgi:application"},
        "sites": {"blog": {"jobs": {"tick": {"command": "manage.py tick", "schedule": "hourly"}},
                           "backups": {"schedule": "daily"}}},
        "hosts": [{"name": "web1", "address": "10.0.0.2", "roles": ["web"]}]})
    units = dict(timers.timers(cfg, "blog", None, run_jobs=True))
    job = units["djship-blog-job-tick"][0].content.decode()
    backup = units["djship-blog-backup"][0].content.decode()
    assert "ConditionPathExists=/srv/blog/current\n" in job
    assert "ConditionPathExists" not in backup


WORKER_CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"shop": {"processes": {"queue": {"command": "manage.py work", "instances": 2}},
                       "jobs": {"tick": {"command": "manage.py tick", "schedule": "hourly"}}}},
    "hosts": [{"name": "web1", "address": "10.0.0.2", "roles": ["web"]},
              {"name": "work1", "address": "10.0.0.3", "roles": ["worker"]}],
})


def test_worker_units_restart_on_change_once_a_release_is_live() -> None:
    step = workers.worker_step(WORKER_CONFIG, "shop", None, local_db=False)
    (unit,) = workers.worker_files(WORKER_CONFIG, "shop", None, local_db=False)
    assert "instance %i of 2." in unit.content.decode()  # more instances: a changed file
    script = next(a for a in step.plan({}).actions if isinstance(a, Run)).script.render()
    assert ("if [ -e /srv/shop/current ]; then systemctl enable --quiet "
            "djship-shop-queue@1.service djship-shop-queue@2.service && systemctl restart "
            "djship-shop-queue@1.service djship-shop-queue@2.service ; fi") in script


def test_stale_workers_parse_and_plan() -> None:
    from djship.transport.base import Result

    out = ("template djship-shop-queue@.service\ntemplate djship-shop-mail@.service\n"
           "unit djship-shop-queue@1.service\nunit djship-shop-queue@3.service\n"
           "unit djship-shop-mail@1.service\nunit djship-shop@blue.service\n"
           "unit djship-shop-staging-queue@1.service\nunit djship-shop-queue@3.service\n")
    fact = workers.parse_workers(Result(0, out, ""))
    assert fact.templates == {"djship-shop-queue@.service", "djship-shop-mail@.service"}
    assert fact.instances == {"djship-shop-queue@1.service", "djship-shop-queue@3.service",
                              "djship-shop-mail@1.service"}
    plan = workers.plan_stale_workers(WORKER_CONFIG, "shop", True, fact)
    text = "".join(a.script.render() for a in plan.actions if isinstance(a, Run))
    assert ("systemctl disable --now --quiet djship-shop-mail@1.service "
            "djship-shop-queue@3.service") in text
    assert "rm -f -- /etc/systemd/system/djship-shop-mail@.service" in text
    assert "/etc/systemd/system/djship-shop-queue@.service" not in text  # still wanted
    # A host that lost the worker role stops them all.
    gone = workers.plan_stale_workers(WORKER_CONFIG, "shop", False, fact)
    text = "".join(a.script.render() for a in gone.actions if isinstance(a, Run))
    assert "djship-shop-queue@1.service" in text and "djship-shop-queue@.service" in text
    wanted = workers.WorkerFact(frozenset({"djship-shop-queue@.service"}),
                                frozenset({"djship-shop-queue@1.service",
                                           "djship-shop-queue@2.service"}))
    assert not workers.plan_stale_workers(WORKER_CONFIG, "shop", True, wanted).changes
    assert "worker %i$" in workers.probe_workers("shop").render()


def test_stale_job_timers_leave_the_old_job_host() -> None:
    from djship.transport.base import Result

    web1, work1 = WORKER_CONFIG.hosts
    names = {h.name: [s.name for s in provision_steps(WORKER_CONFIG, "shop", h, None)]
             for h in (web1, work1)}
    assert "timer shop-job-tick" in names["work1"] and "timer shop-job-tick" not in names["web1"]
    assert "app unit" in names["web1"] and "app unit" not in names["work1"]
    assert "stale jobs" in names["web1"] and "stale workers" in names["web1"]
    found = timers.parse_job_timers(Result(
        0, "/etc/systemd/system/djship-shop-job-tick.timer\n", ""))
    assert found == {"djship-shop-job-tick"}
    plan = timers.plan_stale_jobs(set(), found)
    text = "".join(a.script.render() for a in plan.actions if isinstance(a, Run))
    assert "systemctl disable --now --quiet djship-shop-job-tick.timer" in text
    assert ("rm -f -- /etc/systemd/system/djship-shop-job-tick.timer "
            "/etc/systemd/system/djship-shop-job-tick.service") in text
    assert not timers.plan_stale_jobs({"djship-shop-job-tick"}, found).changes
    assert "schedule for job " in timers.job_timers_probe("shop").render()


def test_scheduled_backups_run_on_the_job_host_only() -> None:
    cfg = WORKER_CONFIG.model_copy(update={"sites": {"shop": WORKER_CONFIG.sites["shop"]
                                                     .model_copy(update={"backups": Backups(
                                                         schedule="daily")})}})
    web1, work1 = cfg.hosts
    names = {h.name: [s.name for s in provision_steps(cfg, "shop", h, None)]
             for h in (web1, work1)}
    assert "timer shop-backup" in names["work1"] and "timer shop-backup" not in names["web1"]
    assert "schedule for database backup$" in timers.job_timers_probe("shop").render()
    assert job_host(cfg, "shop") == work1


TLS_LB = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {"domains": ["example.com", "www.example.com"], "canonical": "apex",
                       "tls": {"enabled": True, "hsts_max_age": 600}}},
    "hosts": [
        {"name": "lb1", "address": "10.0.0.1", "roles": ["lb"]},
        {"name": "web1", "address": "10.0.0.2", "roles": ["web", "worker"]},
        {"name": "web2", "address": "10.0.0.3", "roles": ["web"]},
        {"name": "db1", "address": "10.0.0.4", "roles": ["db"]},
    ],
})


def test_lb_terminates_tls_once_the_certificate_is_there() -> None:
    waiting = lb.lb_conf(TLS_LB, "blog", None, cert_ready=False)
    assert "listen 443" not in waiting and "/.well-known/acme-challenge/" in waiting
    assert "proxy_pass http://djship_lb_blog;" in waiting
    ready = lb.lb_conf(TLS_LB, "blog", None, cert_ready=True)
    assert "listen 443 ssl http2;" in ready
    assert "ssl_certificate /etc/letsencrypt/live/blog/fullchain.pem;" in ready
    assert "return 301 https://$djship_lb_blog_host$request_uri;" in ready
    assert "www.example.com example.com;" in ready  # www → apex
    assert 'add_header Strict-Transport-Security "max-age=600" always;' in ready
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in ready
    files = [f.path for f in lb.lb_files(TLS_LB, "blog", None, cert_ready=True)]
    assert "/etc/nginx/sites-available/djship-default-tls.conf" in files
    plain = lb.lb_conf(CONFIG, "blog", None, cert_ready=False)
    assert "listen 443" not in plain and "acme-challenge" not in plain


def test_tls_steps_run_on_the_lb_not_on_the_web_hosts() -> None:
    lb1, web1 = TLS_LB.hosts[0], TLS_LB.hosts[1]
    on_lb = [s.name for s in provision_steps(TLS_LB, "blog", lb1, None)]
    assert on_lb[-5:] == ["tls files", "load balancer", "certificate", "nginx https",
                          "certbot timer"]
    on_web = [s.name for s in provision_steps(TLS_LB, "blog", web1, None)]
    assert not {"tls files", "certificate", "nginx https", "certbot timer"} & set(on_web)
    web_conf = web.nginx_files(TLS_LB, "blog", None)[0].content.decode()
    assert "listen 443" not in web_conf and "geo $djship_blog_via_lb" in web_conf
    step = web.nginx_step(TLS_LB, "blog", None)
    put = next(a for a in step.plan({}).actions if isinstance(a, Put)
               and "djship-blog.conf" in a.path)
    assert b"listen 443" not in put.content
    fact = lb.lb_step(TLS_LB, "blog", None).fact
    assert fact.probe is not None and "/etc/letsencrypt/live/blog/fullchain.pem" in \
        fact.probe.render()


def test_single_host_tls_is_unchanged_by_the_lb_logic() -> None:
    alone = TLS_LB.model_copy(update={"hosts": [TLS_LB.hosts[1]]})
    assert not nginx.fronted(alone, "blog")
    names = [s.name for s in provision_steps(alone, "blog", alone.hosts[0], None)]
    assert {"tls files", "certificate", "nginx https"} <= set(names)
