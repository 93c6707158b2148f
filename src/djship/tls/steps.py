"""The TLS provision steps of a web host, around the nginx step.

Order: files certbot and nginx need (webroot, renewal hook, CA bundle, own certificate) →
nginx (HTTP with the ACME webroot, or HTTPS once the certificate is there) → certificate
(DNS checked first, from here) → nginx again (now HTTPS) → certbot.timer for renewals.
A second provision finds everything in place and changes nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from djship.config import Config
from djship.facts.files import FileStates, file_states
from djship.plan import Action, AnyStep, Fact, Plan, Put, Run, Step
from djship.shell import Script, cmd, nginx_reload, raw
from djship.steps.files import File, differs
from djship.tls import certs
from djship.tls.dns import NAMESERVER_ENV, Check
from djship.tls.lookup import check_site, make_resolver

HOOK = """#!/bin/sh
# Managed by djship: certbot runs this after it renews a certificate, so nginx serves the
# new one. The config is tested first: a broken file never takes nginx down.
set -e
nginx -t -q
systemctl reload nginx
logger -t djship "nginx reloaded for renewed certificate ${RENEWED_LINEAGE:-}"
"""
DROPIN = f"""# Managed by djship: certbot trusts the private ACME server's CA (tls.acme_ca_bundle).
[Service]
Environment=REQUESTS_CA_BUNDLE={certs.ACME_CA}
"""
WEBROOT_README = b"certbot writes HTTP-01 challenge files below .well-known/; nginx serves them.\n"
TIMER = "certbot.timer"


def local_file(root: Path | None, value: str) -> bytes:
    """A file named in the config, relative to the project root."""
    path = Path(value).expanduser()
    return (path if path.is_absolute() or root is None else root / path).read_bytes()


def support_files(config: Config, site: str, root: Path | None) -> list[File]:
    """Webroot, renewal hook and, for a private ACME server, its CA and certbot's drop-in."""
    tls = config.sites[site].tls
    files = [File(f"{certs.WEBROOT}/README", WEBROOT_README),
             File(certs.DEPLOY_HOOK, HOOK.encode(), mode=0o755)]
    if tls.acme_ca_bundle:
        files += [File(certs.ACME_CA, local_file(root, tls.acme_ca_bundle)),
                  File(certs.CERTBOT_DROPIN, DROPIN.encode())]
    return files


def own_cert_files(config: Config, site: str, root: Path | None) -> list[File]:
    """The site's own certificate chain and key, both 0600 root."""
    tls = config.sites[site].tls
    if not (tls.certificate and tls.key):
        return []
    p = certs.cert_paths(site, tls)
    return [File(p.fullchain, local_file(root, tls.certificate), mode=0o600),
            File(p.key, local_file(root, tls.key), mode=0o600)]


def plan_put(files: Sequence[File], states: FileStates, then: Sequence[Script],
             label: str, secret: frozenset[str] = frozenset()) -> Plan:
    """Put the files that differ (secret ones never printed), then run follow-ups."""
    changed = [f for f in files if differs(f, states)]
    if not changed:
        return Plan.nothing(f"{label} up to date")
    actions: list[Action] = [Put(f.path, f.content, f"wrote {f.path}", f.mode, f.owner,
                                 f.group, secret=f.path in secret) for f in changed]
    actions += [Run(s, "") for s in then]
    return Plan(tuple(actions))


def put_step(name: str, files: Sequence[File], then: Sequence[Script] = (),
             secret: frozenset[str] = frozenset()) -> Step[FileStates]:
    """A step keeping ``files`` (mode and owner included)."""
    return Step(name, file_states([f.path for f in files]),
                lambda states: plan_put(files, states, then, name, secret))


def timer_probe() -> Script:
    """'enabled active' style state of certbot.timer."""
    return Script.of([cmd(raw("echo \"$(systemctl is-enabled"), TIMER,
                          raw("2>/dev/null || true) $(systemctl is-active"), TIMER,
                          raw("2>/dev/null || true)\""))])


def plan_timer(state: str) -> Plan:
    """Enable and start the distribution's renewal timer unless it already runs."""
    if state.split() == ["enabled", "active"]:
        return Plan.nothing(f"{TIMER} enabled and active")
    return Plan.of(Run(Script.of([cmd("systemctl", "enable", "--now", TIMER)]),
                       f"enabled {TIMER} (renewals)"))


def timer_step() -> Step[str]:
    """Renewals run from certbot.timer (twice a day; renews 30 days before expiry)."""
    return Step("certbot timer", Fact(timer_probe(), lambda r: r.stdout.strip(),
                                      "enabled active"), plan_timer)


def dns_checker(config: Config, site: str) -> list[Check]:
    """The site's DNS verdicts from the resolver djship uses ($DJSHIP_NAMESERVER or system)."""
    return check_site(config, site, make_resolver(os.environ.get(NAMESERVER_ENV)))


def before_nginx(config: Config, site: str, root: Path | None) -> list[AnyStep]:
    """Steps before the nginx site: support files and an own certificate."""
    tls = config.sites[site].tls
    if not tls.enabled:
        return []
    certs.check_tls_config(config, site, root)
    steps: list[AnyStep] = []
    if certs.uses_acme(tls):
        reload = [Script.of([cmd("systemctl", "daemon-reload")])] if tls.acme_ca_bundle else []
        steps.append(put_step("tls files", support_files(config, site, root), reload))
    own = own_cert_files(config, site, root)
    if own:
        reload_nginx = Script.of([nginx_reload(when="nginx -t -q")])
        steps.append(put_step("own certificate", own, [reload_nginx],
                              secret=frozenset({own[1].path})))
    return steps


def after_nginx(config: Config, site: str, nginx: AnyStep) -> list[AnyStep]:
    """Certificate, nginx again (HTTPS now that the certificate is there), renewal timer."""
    if not certs.uses_acme(config.sites[site].tls):
        return []
    return [certs.certificate_step(config, site, lambda: dns_checker(config, site)),
            dataclasses.replace(nginx, name="nginx https"),
            timer_step()]
