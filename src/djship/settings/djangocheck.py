"""Findings from Django's own `manage.py check --deploy`, each with a fix that leads somewhere."""

from __future__ import annotations

import json
import re
import subprocess

from djship.settings.finding import FIX_SETTINGS, NEEDS_DATABASE, Finding, Level
from djship.settings.probe import NEEDS_DATABASE as MARK

_MESSAGE = re.compile(r"^(?P<obj>[^\n]*?): \((?P<id>[\w.]+)\) (?P<msg>.*)$")

_HTTPS_CHECKS = {"security.W004", "security.W008", "security.W012", "security.W016"}
PLAIN_HTTP = ("expected while the site's env sets DJANGO_SECURE_SSL=0 (plain HTTP, no TLS); "
              "remove that once the site has a certificate")
# The setting each of Django's deploy checks is about (the key of djship's snippet for it).
SETTING_OF = {
    "security.W004": "SECURE_HSTS_SECONDS", "security.W005": "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "security.W006": "SECURE_CONTENT_TYPE_NOSNIFF", "security.W008": "SECURE_SSL_REDIRECT",
    "security.W009": "SECRET_KEY", "security.W012": "SESSION_COOKIE_SECURE",
    "security.W016": "CSRF_COOKIE_SECURE", "security.W018": "DEBUG",
    "security.W019": "X_FRAME_OPTIONS", "security.W020": "ALLOWED_HOSTS",
    "security.W021": "W021", "security.W022": "SECURE_REFERRER_POLICY",
    "security.E023": "SECURE_REFERRER_POLICY", "security.E024": "SECURE_CROSS_ORIGIN_OPENER_POLICY",
}


def fix_for(check_id: str, proposed: set[str] | None) -> str:
    """`djship init --settings` when it would change the setting, else the change by hand."""
    key = SETTING_OF.get(check_id)
    if key is not None and (proposed is None or key in proposed):
        return FIX_SETTINGS
    silence = f'if deliberate, add "{check_id}" to SILENCED_SYSTEM_CHECKS'
    if key == "W021":
        return f"set SECURE_HSTS_PRELOAD = True only if you mean it; {silence}"
    if key is not None:
        return (f"change {key} in the settings (djship leaves a value the project set "
                f"alone); {silence}")
    return f"change what Django names above in the code or settings; {silence}"


def deploy_findings(proc: subprocess.CompletedProcess[str], plain_http: bool = False,
                    proposed: set[str] | None = None) -> list[Finding]:
    """Findings from the output of ``manage.py check --deploy``.

    ``proposed``: the settings `djship init --settings` would change (None: unknown)."""
    out = [needs_database(line) for line in proc.stderr.splitlines() if line.startswith(MARK)]
    level: Level = "warning"
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if not ln.startswith(MARK)]
    for i, line in enumerate(lines):
        if line.strip() in ("ERRORS:", "WARNINGS:"):
            level = "error" if line.strip() == "ERRORS:" else "warning"
        elif m := _MESSAGE.match(line):
            hint = lines[i + 1].strip() if i + 1 < len(lines) else ""
            fix = hint.removeprefix("HINT:").strip() if hint.startswith("HINT:") else ""
            if plain_http and m["id"] in _HTTPS_CHECKS:
                fix = PLAIN_HTTP
            if fix and m["id"] in SETTING_OF:  # Django's hint, and where it applies
                fix += f" (set {SETTING_OF[m['id']]} in the settings)"
            out.append(Finding(level, m["id"], m["msg"], fix or fix_for(m["id"], proposed)))
    if proc.returncode != 0 and not any(f.level == "error" for f in out):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        out.append(Finding("error", "django.check", "manage.py check --deploy failed: "
                           + " / ".join(tail), "fix the error above in the project's code (`python "
                           "manage.py check --deploy` with the production environment shows "
                           "all of its output)"))
    return out


NEEDS_DATABASE_FIX = ("nothing to change for it here: the local check's stand-in database has no "
                      "tables; the server runs this check against the real database, after "
                      "migrate on a first deploy (`djship deploy`)")


def needs_database(line: str) -> Finding:
    """A check that failed only on the empty stand-in database (a NEEDS_DATABASE line)."""
    d = json.loads(line.removeprefix(MARK))
    said = "; ".join(f"({i}) {m}" for i, m in zip(d["ids"], d["messages"], strict=False)) \
        or d["error"]
    return Finding("warning", NEEDS_DATABASE, f"{', '.join(d['ids']) or d['check']} needs the "
                   f"real database: checked on the server after migrate (here: {said})",
                   NEEDS_DATABASE_FIX)
