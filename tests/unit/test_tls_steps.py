"""TLS: certificate facts and plan, nginx HTTPS site, support files, tls status parsing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from djship.config import Config, validate
from djship.errors import ConfigError
from djship.plan import Put, Run
from djship.steps import web
from djship.steps.provision import provision_steps
from djship.tls import certs, nginx, status, steps
from djship.tls.certs import CertFacts, CertState
from djship.tls.dns import Check
from djship.transport.base import Result

PEBBLE = "https://10.213.77.1:14000/dir"


def config(tls: dict[str, object] | None = None, **site: object) -> Config:
    return validate({
        "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
        "sites": {"blog": {"domains": ["example.com", "www.example.com", "192.0.2.10"],
                           "tls": {"enabled": True, **(tls or {})}, **site}},
        "hosts": [{"name": "web1", "address": "192.0.2.10"}]})


OK = (Check("example.com", "A 192.0.2.10", "A 192.0.2.10", "ok"),)
CERT = CertState(True, ("example.com", "www.example.com"), "Feb 20 01:52:17 2027 GMT", PEBBLE)
PROBE_OUT = ("djship-cert:present\nnotAfter=Feb 20 01:52:17 2027 GMT\n"
             "X509v3 Subject Alternative Name: \n    DNS:example.com, DNS:www.example.com\n"
             f"{PEBBLE}\n")


def script(plan: object) -> str:
    return "\n".join(a.script.render() for a in plan.actions  # type: ignore[attr-defined]
                     if isinstance(a, Run))


def test_parse_cert() -> None:
    assert certs.parse_cert(Result(0, PROBE_OUT, "")) == CERT
    assert certs.parse_cert(Result(0, "", "")) == CertState()


def test_certificate_requested_with_every_dns_name() -> None:
    cfg = config({"email": "ops@example.com", "acme_server": PEBBLE,
                  "acme_ca_bundle": "ca.pem"})
    plan = certs.plan_certificate(cfg, "blog", CertFacts(CertState(), OK))
    text = script(plan)
    assert ("env REQUESTS_CA_BUNDLE=/etc/djship/tls/acme-ca.pem certbot certonly "
            "--non-interactive --agree-tos --cert-name blog --webroot --webroot-path "
            "/var/www/djship-acme --keep-until-expiring --expand -d example.com "
            "-d www.example.com --email ops@example.com --server "
            "https://10.213.77.1:14000/dir") in text
    assert "192.0.2.10" not in text  # IP addresses get no certificate


def test_certificate_without_email_and_default_server() -> None:
    text = script(certs.plan_certificate(config(), "blog", CertFacts(CertState(), OK)))
    assert "--register-unsafely-without-email" in text and "--server" not in text
    assert "REQUESTS_CA_BUNDLE" not in text


def test_certificate_no_change() -> None:
    plan = certs.plan_certificate(config({"acme_server": PEBBLE}), "blog", CertFacts(CERT, ()))
    assert not plan.changes and "in place" in plan.reason


def test_certificate_names_changed_or_other_ca() -> None:
    fewer = dataclasses.replace(CERT, names=("example.com",))
    plan = certs.plan_certificate(config({"acme_server": PEBBLE}), "blog", CertFacts(fewer, OK))
    assert "names changed" in plan.actions[0].summary  # type: ignore[union-attr]
    other = certs.plan_certificate(config(), "blog", CertFacts(CERT, OK))
    assert "--force-renewal" in script(other)


def test_certificate_skipped_while_dns_not_ready() -> None:
    bad = (Check("www.example.com", "none", "A 192.0.2.10", "missing", "no address record",
                 ("CNAME  www.example.com  example.com.",)),)
    plan = certs.plan_certificate(config(), "blog", CertFacts(CertState(), OK + bad))
    assert not plan.changes
    assert plan.reason.startswith("SKIPPED, DNS not ready: www.example.com missing")
    assert "CNAME  www.example.com  example.com." in plan.reason


def test_dns_is_not_queried_when_the_certificate_matches() -> None:
    calls: list[int] = []
    step = certs.certificate_step(config({"acme_server": PEBBLE}), "blog",
                                  lambda: calls.append(1) or [])  # type: ignore[func-returns-value]
    facts = step.fact.parse(Result(0, PROBE_OUT, ""))
    assert facts.cert == CERT and calls == []


def test_nginx_without_certificate_serves_http_and_acme() -> None:
    text = nginx.site_conf(config(), "blog", None, cert_ready=False)
    assert "listen 443" not in text and "return 301" not in text
    assert "location ^~ /.well-known/acme-challenge/" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text


def test_nginx_https_site() -> None:
    text = nginx.site_conf(config({"hsts_max_age": 300}, canonical="apex"), "blog", None,
                           cert_ready=True)
    for line in ["listen 443 ssl http2;", "ssl_certificate /etc/letsencrypt/live/blog/fullchain.pem;",
                 "ssl_certificate_key /etc/letsencrypt/live/blog/privkey.pem;",
                 "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_session_tickets off;",
                 "return 301 https://$djship_blog_host$request_uri;",
                 "www.example.com example.com;", "root /var/www/djship-acme;",
                 'add_header Strict-Transport-Security "max-age=300" always;',
                 "proxy_set_header X-Forwarded-Proto $scheme;"]:
        assert line in text, line
    # add_header in the hashed static locations (the live release's and the fallback) would
    # drop the server's HSTS: it is repeated there.
    assert text.count("Strict-Transport-Security") == 3


def test_nginx_no_hsts_by_default_and_www_canonical() -> None:
    text = nginx.site_conf(config(canonical="www"), "blog", None, cert_ready=True)
    assert "Strict-Transport-Security" not in text
    assert "example.com www.example.com;" in text


def test_nginx_own_certificate_paths() -> None:
    cfg = config({"certificate": "c.pem", "key": "k.pem"})
    text = nginx.site_conf(cfg, "blog", None, cert_ready=True)
    assert "ssl_certificate /etc/djship/tls/blog/fullchain.pem;" in text


def test_nginx_tls_off_output_unchanged() -> None:
    plain = validate({
        "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
        "sites": {"blog": {"domains": ["example.com"]}},
        "hosts": [{"name": "web1", "address": "192.0.2.10"}]})
    golden = (Path(web.__file__).parent.parent / "templates" / "nginx-site.conf.j2").read_text()
    assert golden.startswith("# Managed by djship: site {{ site }}.")
    files = web.nginx_files(plain, "blog", None)
    assert "listen 443" not in files[0].content.decode()
    assert web.nginx_step(plain, "blog", None).fact.probe is not None
    names = [s.name for s in provision_steps(plain, "blog", plain.hosts[0], None)]
    assert "certificate" not in names and "tls files" not in names


def test_nginx_step_plans_https_once_certificate_is_there() -> None:
    step = web.nginx_step(config(), "blog", None)
    facts = step.fact.parse(Result(0, nginx.READY_MARK + "\n", ""))
    assert facts.cert_ready
    plan = step.plan(facts)
    site = next(a for a in plan.actions if isinstance(a, Put) and "djship-blog" in a.path)
    assert b"listen 443 ssl" in site.content
    assert "djship-default-tls.conf" in script(plan) and "nginx -t" in script(plan)


def test_provision_order_on_web_host(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("CA\n")
    cfg = config({"acme_ca_bundle": "ca.pem"})
    names = [s.name for s in provision_steps(cfg, "blog", cfg.hosts[0], tmp_path)]
    i = names.index("tls files")
    assert names[i:i + 5] == ["tls files", "nginx", "certificate", "nginx https",
                              "certbot timer"]


def test_support_files(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("CA\n")
    files = {f.path: f for f in steps.support_files(config({"acme_ca_bundle": "ca.pem"}),
                                                      "blog", tmp_path)}
    hook = files[certs.DEPLOY_HOOK]
    assert hook.mode == 0o755 and b"systemctl reload nginx" in hook.content
    assert files[certs.ACME_CA].content == b"CA\n"
    assert b"REQUESTS_CA_BUNDLE=/etc/djship/tls/acme-ca.pem" in files[certs.CERTBOT_DROPIN].content


def test_own_certificate_uploaded_0600_and_key_never_shown(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("CERT\n")
    (tmp_path / "k.pem").write_text("KEY\n")
    cfg = config({"certificate": "c.pem", "key": "k.pem"})
    step = next(s for s in steps.before_nginx(cfg, "blog", tmp_path) if s.name == "own certificate")
    plan = step.plan({})
    puts = [a for a in plan.actions if isinstance(a, Put)]
    assert [(p.path, p.mode, p.secret) for p in puts] == [
        ("/etc/djship/tls/blog/fullchain.pem", 0o600, False),
        ("/etc/djship/tls/blog/privkey.pem", 0o600, True)]
    assert not [s for s in provision_steps(cfg, "blog", cfg.hosts[0], tmp_path)
                if s.name == "certificate"]


def test_own_certificate_needs_both(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("CERT\n")
    with pytest.raises(ConfigError) as err:
        steps.before_nginx(config({"certificate": "c.pem"}), "blog", tmp_path)
    assert "both certificate and key" in str(err.value.details())


def test_timer_plan() -> None:
    assert not steps.plan_timer("enabled active").changes
    assert "systemctl enable --now certbot.timer" in script(steps.plan_timer("disabled inactive"))


def test_tls_status_parse() -> None:
    out = ("djship-tls:example.com\nnotAfter=Feb 20 01:52:17 2027 GMT\n"
           "issuer=CN = Pebble Intermediate CA 7174fa\nCertificate will not expire\n"
           "X509v3 Subject Alternative Name: \n    DNS:example.com, DNS:www.example.com\n"
           "djship-tls:www.example.com\n")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    rows = status.parse("web1", ["example.com", "www.example.com", "192.0.2.10"], out, now)
    assert [(r.domain, r.days_left, r.healthy) for r in rows] == [
        ("example.com", 50, True), ("www.example.com", None, False)]
    lines = status.table(rows)
    assert lines[1].endswith("ok") and lines[2].endswith("no certificate")
    assert "Pebble Intermediate CA" in lines[1]
