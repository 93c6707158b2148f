"""Certificates: where they live, what the server has, and the certbot run that gets one.

One certificate per site (certbot's cert name is the site name, so it lives in
``/etc/letsencrypt/live/<site>/``) covering every DNS name of the site, validated over
HTTP-01 from a webroot nginx serves. Renewal is the distribution's ``certbot.timer``; a
deploy hook reloads nginx after each renewal. A site may bring its own certificate instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from djship.config import Config
from djship.config.schema import Tls
from djship.errors import ConfigError, ConfigIssue
from djship.plan import Fact, Plan, Run, Step
from djship.shell import Command, Script, cmd, raw
from djship.tls.dns import Check, dns_names
from djship.transport.base import Result

LETSENCRYPT = "/etc/letsencrypt"
LETSENCRYPT_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
WEBROOT = "/var/www/djship-acme"
TLS_DIR = "/etc/djship/tls"
ACME_CA = f"{TLS_DIR}/acme-ca.pem"
DEPLOY_HOOK = f"{LETSENCRYPT}/renewal-hooks/deploy/djship-nginx"
CERTBOT_DROPIN = "/etc/systemd/system/certbot.service.d/djship-acme-ca.conf"
CERT_MARK = "djship-cert:"


@dataclass(frozen=True)
class CertPaths:
    """Where nginx finds a site's certificate chain and key."""

    fullchain: str
    key: str
    cert: str


def cert_paths(site: str, tls: Tls) -> CertPaths:
    """certbot's live/<site>/ files, or the uploaded own certificate."""
    if tls.certificate:
        own = f"{TLS_DIR}/{site}"
        return CertPaths(f"{own}/fullchain.pem", f"{own}/privkey.pem", f"{own}/fullchain.pem")
    live = f"{LETSENCRYPT}/live/{site}"
    return CertPaths(f"{live}/fullchain.pem", f"{live}/privkey.pem", f"{live}/cert.pem")


def uses_acme(tls: Tls) -> bool:
    """True when certbot gets the certificate (TLS on, no own certificate)."""
    return tls.enabled and not tls.certificate


def check_tls_config(config: Config, site: str, root: Path | None) -> None:
    """Own certificate and key come together; the local files they name exist."""
    tls = config.sites[site].tls
    issues: list[ConfigIssue] = []
    key = f"sites.{site}.tls"
    if bool(tls.certificate) != bool(tls.key):
        issues.append(ConfigIssue(key, "set both certificate and key, or neither"))
    for name in ("certificate", "key", "acme_ca_bundle"):
        value = getattr(tls, name)
        path = Path(value).expanduser() if value else None
        if path is not None and root is not None and not path.is_absolute():
            path = root / path
        if tls.enabled and path is not None and not path.is_file():
            issues.append(ConfigIssue(f"{key}.{name}", f"no such file: {value}"))
    if issues:
        raise ConfigError(issues, hint="paths are on this machine, relative to the project")


# --- what the server has -----------------------------------------------------------------

@dataclass(frozen=True)
class CertState:
    """The site's certbot certificate as the server has it."""

    present: bool = False
    names: tuple[str, ...] = ()
    not_after: str = ""
    server: str = ""


def cert_probe(site: str) -> Script:
    """Print the certificate's names and expiry, and the ACME server its renewal uses."""
    live = f"{LETSENCRYPT}/live/{site}/cert.pem"
    renewal = f"{LETSENCRYPT}/renewal/{site}.conf"
    return Script.of([
        cmd(raw("if [ -s"), live, raw("]; then echo"), f"{CERT_MARK}present", raw(";"),
            "openssl", "x509", "-noout", "-enddate", "-ext", "subjectAltName", "-in", live,
            raw("; fi")),
        cmd("sed", "-n", r"s/^server *= *//p", renewal, raw("2>/dev/null || true")),
    ])


def parse_cert(result: Result) -> CertState:
    """Names, expiry and ACME server from :func:`cert_probe`'s output."""
    lines = [ln.strip() for ln in result.stdout.splitlines()]
    if f"{CERT_MARK}present" not in lines:
        return CertState()
    names: list[str] = []
    not_after = server = ""
    for ln in lines:
        if ln.startswith("notAfter="):
            not_after = ln.removeprefix("notAfter=")
        elif ln.startswith("DNS:"):
            names += [p.strip().removeprefix("DNS:").lower() for p in ln.split(",")]
        elif ln.startswith("https://") or ln.startswith("http://"):
            server = ln
    return CertState(True, tuple(sorted(names)), not_after, server)


# --- the plan -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertFacts:
    """The server's certificate and the DNS verdicts read just before planning."""

    cert: CertState
    dns: tuple[Check, ...]


def certbot_command(site: str, tls: Tls, names: Sequence[str], *, force: bool) -> Command:
    """``certbot certonly`` over HTTP-01 from djship's webroot, non-interactive."""
    argv: list[str] = []
    if tls.acme_ca_bundle:
        argv += ["env", f"REQUESTS_CA_BUNDLE={ACME_CA}"]
    argv += ["certbot", "certonly", "--non-interactive", "--agree-tos", "--cert-name", site,
             "--webroot", "--webroot-path", WEBROOT, "--keep-until-expiring", "--expand"]
    for name in names:
        argv += ["-d", name]
    argv += ["--email", tls.email] if tls.email else ["--register-unsafely-without-email"]
    if tls.acme_server:
        argv += ["--server", tls.acme_server]
    if force:
        argv.append("--force-renewal")
    return cmd(*argv)


def dns_blockers(checks: Sequence[Check]) -> str:
    """Why DNS is not ready: each wrong domain with its fix."""
    parts = []
    for c in checks:
        if not c.ok:
            fix = [f"add {', '.join(c.add)}"] if c.add else []
            fix += [f"remove {', '.join(c.remove)}"] if c.remove else []
            parts.append(f"{c.domain} {c.verdict} ({'; '.join([c.note, *fix])})")
    return "; ".join(parts)


def cert_names(config: Config, site: str) -> list[str]:
    """The names the site's certificate covers: its DNS names, sorted."""
    return sorted(dict.fromkeys(n.lower() for n in dns_names(config.sites[site].domains)))


def cert_matches(config: Config, site: str, cert: CertState) -> bool:
    """True when the server's certificate covers exactly the site's names, from its CA."""
    server = config.sites[site].tls.acme_server or LETSENCRYPT_SERVER
    return (cert.present and cert.names == tuple(cert_names(config, site))
            and cert.server in ("", server))


def plan_certificate(config: Config, site: str, facts: CertFacts) -> Plan:
    """Request the certificate when it is missing, lacks names or is from another CA."""
    tls = config.sites[site].tls
    names = cert_names(config, site)
    if not names:
        return Plan.nothing("skipped: the site has no DNS names to certify")
    server = tls.acme_server or LETSENCRYPT_SERVER
    cert = facts.cert
    if cert_matches(config, site, cert):
        return Plan.nothing(f"certificate for {', '.join(names)} in place "
                            f"(until {cert.not_after})")
    blockers = dns_blockers(facts.dns)
    if blockers:
        return Plan.nothing(f"SKIPPED, DNS not ready: {blockers}; "
                            "fix DNS (`djship domains check`) and provision again")
    force = cert.present and cert.server not in ("", server)
    why = "new" if not cert.present else ("other CA" if force else "names changed")
    return Plan.of(Run(Script.of([certbot_command(site, tls, names, force=force)]),
                       f"obtained certificate for {', '.join(names)} ({why})"))


def certificate_step(config: Config, site: str,
                     dns_check: Callable[[], list[Check]]) -> Step[CertFacts]:
    """Get the site's certificate with certbot; DNS is checked first (from here)."""

    def parse(result: Result) -> CertFacts:
        cert = parse_cert(result)
        # DNS only matters when a request is due; a matching certificate needs no lookups.
        checks = () if cert_matches(config, site, cert) else tuple(dns_check())
        return CertFacts(cert, checks)

    assumed = CertFacts(CertState(), ())
    return Step("certificate", Fact(cert_probe(site), parse, assumed),
                lambda facts: plan_certificate(config, site, facts))
