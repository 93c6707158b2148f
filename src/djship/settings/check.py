"""`djship check`: Django's deploy checks, plus what they miss, in the production environment."""

from __future__ import annotations

import ast
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from djship.config.schema import Config
from djship.project import module_file
from djship.settings import deps, groups
from djship.settings.analysis import PROXY_HEADER
from djship.settings.probe import (
    DjangoNotImportable,
    SettingsImportError,
    import_settings,
    manage_check_deploy,
    production_env,
    project_python,
)

Level = Literal["error", "warning"]
FIX_SETTINGS = "run `djship init --settings` to propose the change"


ENV_ONLY_ON_SERVERS = "settings.env-missing"


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, a stable code, what is wrong, and how to fix it."""

    level: Level
    code: str
    message: str
    fix: str


def run_check(root: Path, config: Config, site: str, *, settings_passed: bool = False
              ) -> list[Finding]:
    """Every problem that would break or weaken the site in production; empty when none.

    ``settings_passed``: the settings and what they read are unchanged since they passed,
    so only `check --deploy` (which reads the whole app) runs again."""
    root = root.resolve()
    findings = project_findings(root, config, site)
    manage = root / config.project.manage
    if not manage.is_file():
        return findings
    python = project_python(root)
    module = config.settings_module(site)
    with tempfile.TemporaryDirectory(prefix="djship-check-") as tmp, \
            ThreadPoolExecutor(max_workers=3) as pool:
        env = production_env(config, site, Path(tmp))
        # Three independent Python processes: run them side by side (a deploy waits on them).
        imports = [pool.submit(import_settings, python, manage.parent, module, env.values)
                   for _ in range(0 if settings_passed else 2)]
        deploy = pool.submit(manage_check_deploy, python, manage, env.values)
        if imports:
            try:
                first, again = (f.result() for f in imports)
            except SettingsImportError as exc:
                code = ENV_ONLY_ON_SERVERS if exc.type_name == "KeyError" else "settings.import"
                return [*findings, Finding("error", code, exc.message, _import_fix(exc))]
            findings += settings_findings(first, again, env.values, config, site)
        plain_http = env.values.get("DJANGO_SECURE_SSL", "").lower() in ("0", "false", "no", "off")
        findings += deploy_findings(deploy.result(), plain_http)
    return findings


def deploy_check(root: Path, config: Config, site: str, *, settings_passed: bool = False
                 ) -> list[Finding]:
    """`run_check` for `djship deploy`: without a local Django, the file checks and a warning."""
    try:
        findings = run_check(root, config, site, settings_passed=settings_passed)
    except DjangoNotImportable as exc:
        return [*project_findings(root.resolve(), config, site),
                Finding("warning", "check.skipped", f"settings not checked: {exc.message}",
                        exc.hint or "run djship from the project's virtualenv")]
    # A variable set only on the servers (`djship env set`) cannot be known here; the
    # server-side `check --deploy` of the deploy imports the settings with the real one.
    return [replace(f, level="warning", message=f"settings not checked locally: {f.message}")
            if f.code == ENV_ONLY_ON_SERVERS else f for f in findings]


def _import_fix(exc: SettingsImportError) -> str:
    fix = "make the settings import with the production environment djship sets"
    if exc.type_name == "KeyError":
        # Typically os.environ["NAME"] for a variable set on the servers with `djship env set`.
        fix += (f"; {exc.detail} is not set here (the check knows the site's env in djship.toml, "
                "not variables set with `djship env set`): read it with os.environ.get()")
    return fix


def project_findings(root: Path, config: Config, site: str) -> list[Finding]:
    """Files the deploy needs: manage.py, settings, the app, the dependency file."""
    out: list[Finding] = []
    proj = config.project
    manage = root / proj.manage
    if not manage.is_file():
        out.append(Finding("error", "project.manage", f"{manage} does not exist",
                           "set project.manage in djship.toml"))
    elif module_file(manage.parent, config.settings_module(site)) is None:
        out.append(Finding("error", "project.settings", f"settings module "
                           f"{config.settings_module(site)} not found under {manage.parent}",
                           "set project.settings (or the site's settings) in djship.toml"))
    app = proj.wsgi or proj.asgi or ""
    if manage.is_file() and not _app_defined(manage.parent, app):
        out.append(Finding("error", "project.app", f"{app} does not resolve to a file "
                           "defining it", "set project.wsgi to 'package.wsgi:application'"))
    return out + dependency_findings(root, config, site)


def _app_defined(app_dir: Path, ref: str) -> bool:
    module, _, attr = ref.partition(":")
    path = module_file(app_dir, module)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8")) if path else None
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    return tree is not None and any(
        isinstance(n, ast.Name) and n.id == attr and isinstance(n.ctx, ast.Store)
        for n in ast.walk(tree))


def dependency_findings(root: Path, config: Config, site: str) -> list[Finding]:
    """The dependency file exists and lists Django, the database driver and what settings use."""
    proj = config.project
    path = deps.dependency_file(root, proj)
    names = deps.declared(root, proj)
    if names is None:
        return [Finding("error", "dependencies.missing", f"no dependency file: {path} is missing",
                        f"create it (`pip freeze > {proj.requirements}`), or run "
                        "`djship init --settings`")]
    wanted = {"django"} | _settings_imports(root, config, site)
    out = [Finding("error", "dependencies.package", f"{path.name} does not list {name}",
                   f"add {name} to {path.name}") for name in sorted(wanted - names)]
    out += group_findings(root, config, site)
    if config.sites[site].database == "postgres" and not names & deps.POSTGRES_DRIVERS:
        out.append(Finding("error", "dependencies.postgres", f"the site uses PostgreSQL but "
                           f"{path.name} lists no driver", f"add psycopg[binary] to {path.name}"))
    return out


def group_findings(root: Path, config: Config, site: str) -> list[Finding]:
    """Runtime packages pyproject.toml lists only in a group or extra djship leaves out."""
    out = []
    for m in groups.misplaced(root, config, site):
        out.append(Finding(
            "error", "dependencies.group",
            f"{m.module} ({m.where}) comes from {m.dist}, which pyproject.toml lists only in "
            f"{m.describe()}: djship installs the main dependencies, so the import fails on "
            "the servers", f"add {m.setting()} in djship.toml (or move {m.dist} to the main "
            "dependencies)"))
    return out


def _settings_imports(root: Path, config: Config, site: str) -> set[str]:
    """Distributions the settings module's own imports need (dj-database-url, ...)."""
    path = module_file((root / config.project.manage).parent, config.settings_module(site))
    try:
        tree = ast.parse(path.read_text(encoding="utf-8")) if path else None
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    tops = {(a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0]
            for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
            and not getattr(n, "level", 0) for a in n.names} if tree else set()
    return {deps.IMPORTS[t] for t in tops if t in deps.IMPORTS}


def settings_findings(first: dict[str, Any], again: dict[str, Any], env: dict[str, str],
                      config: Config, site: str) -> list[Finding]:
    """What `check --deploy` lets through: secret key, hosts, proxy header, file roots, mail."""
    out = _secret_findings(first, again)
    out += _host_findings(first, config.sites[site].domains)
    if tuple(first["proxy_header"] or ()) != PROXY_HEADER:
        out.append(Finding("error", "settings.proxy_header",
                           f"SECURE_PROXY_SSL_HEADER is {first['proxy_header']}: Django will not "
                           "see HTTPS requests as secure behind djship's nginx",
                           "set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"))
    for key in ("STATIC_ROOT", "MEDIA_ROOT"):
        got = first[key.lower()]
        if got is None or Path(got) != Path(env[key]):
            out.append(Finding("error", f"settings.{key.lower()}",
                               f"{key} is {got!r}, not the {key} variable djship's servers set, "
                               "so nginx will not find the files",
                               f"{key} = os.environ.get('{key}') or ...; {FIX_SETTINGS}"))
    if first["db_name"] != env["DATABASE_URL"].removeprefix("sqlite:///"):
        out.append(Finding("error", "settings.database", "DATABASES ignores DATABASE_URL, which "
                           "djship sets to the site's database", FIX_SETTINGS))
    return out + _mail_findings(first)


def _secret_findings(first: dict[str, Any], again: dict[str, Any]) -> list[Finding]:
    if first["secret_key_empty"]:
        return [Finding("error", "settings.secret_key", "SECRET_KEY is empty", FIX_SETTINGS)]
    if first["secret_key_sha"] != again["secret_key_sha"]:
        return [Finding("error", "settings.secret_key", "SECRET_KEY changes on every import: "
                        "sessions and password resets break at each restart", FIX_SETTINGS)]
    if not first["secret_key_from_env"]:
        return [Finding("error", "settings.secret_key", "SECRET_KEY does not come from the "
                        "SECRET_KEY variable (djship generates one per site): the key in the "
                        "source is public", FIX_SETTINGS)]
    return []


def _host_findings(first: dict[str, Any], domains: list[str]) -> list[Finding]:
    out: list[Finding] = []
    if first["debug"]:
        out.append(Finding("error", "settings.debug", "DEBUG is on in production", FIX_SETTINGS))
    hosts = first["allowed_hosts"]
    if not hosts:
        return [*out, Finding("error", "settings.allowed_hosts", "ALLOWED_HOSTS is empty: "
                              "every request gets 400 Bad Request", FIX_SETTINGS)]
    for domain in domains:
        if not host_allowed(domain, hosts):
            out.append(Finding("error", "settings.allowed_hosts", f"{domain} is not in "
                               f"ALLOWED_HOSTS {hosts}", f"add {domain} (or set ALLOWED_HOSTS "
                               "in the site's env)"))
    return out


def host_allowed(host: str, patterns: list[str]) -> bool:
    """Django's ALLOWED_HOSTS matching: exact, ``.example.com`` for subdomains, or ``*``."""
    host = host.lower()
    for p in (x.lower() for x in patterns):
        if p == "*" or p == host or (p.startswith(".") and (host.endswith(p) or host == p[1:])):
            return True
    return False


def _mail_findings(first: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    if not first["admins"]:
        out.append(Finding("warning", "settings.admins", "ADMINS is empty: nobody is mailed "
                           "when the site fails", "set ADMINS in the site's env, e.g. "
                           "ADMINS = \"You <you@example.com>\""))
    if first["log_mails"] == 0:
        out.append(Finding("warning", "settings.logging", "LOGGING sends django.request errors "
                           "to no AdminEmailHandler: they are not mailed to ADMINS",
                           "add a mail_admins handler to the django logger"))
    elif first["log_mails"] > 1:
        out.append(Finding("warning", "settings.logging", f"each server error is mailed "
                           f"{first['log_mails']} times: django.request propagates to Django's "
                           "default 'django' logger, which mails too",
                           "configure the 'django' logger with your handlers (it replaces "
                           "Django's default) or set propagate False on django.request"))
    if not first["log_console"]:
        out.append(Finding("warning", "settings.logging", "no LOGGING handler writes to stderr: "
                           "with DEBUG off nothing reaches the journal", FIX_SETTINGS))
    return out


_MESSAGE = re.compile(r"^(?P<obj>[^\n]*?): \((?P<id>[\w.]+)\) (?P<msg>.*)$")


_HTTPS_CHECKS = {"security.W004", "security.W008", "security.W012", "security.W016"}
PLAIN_HTTP = ("expected while the site's env sets DJANGO_SECURE_SSL=0 (plain HTTP, no TLS); "
              "remove that once the site has a certificate")


def deploy_findings(proc: subprocess.CompletedProcess[str],
                    plain_http: bool = False) -> list[Finding]:
    """Findings from the output of ``manage.py check --deploy``."""
    out: list[Finding] = []
    level: Level = "warning"
    lines = (proc.stderr + proc.stdout).splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("ERRORS:", "WARNINGS:"):
            level = "error" if line.strip() == "ERRORS:" else "warning"
        elif m := _MESSAGE.match(line):
            hint = lines[i + 1].strip() if i + 1 < len(lines) else ""
            fix = hint.removeprefix("HINT:").strip() if hint.startswith("HINT:") else ""
            if plain_http and m["id"] in _HTTPS_CHECKS:
                fix = PLAIN_HTTP
            out.append(Finding(level, m["id"], m["msg"], fix or FIX_SETTINGS))
    if proc.returncode != 0 and not any(f.level == "error" for f in out):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        out.append(Finding("error", "django.check", "manage.py check --deploy failed: "
                           + " / ".join(tail), "run it yourself to see the whole output"))
    return out
