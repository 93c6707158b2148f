"""Import the settings in a subprocess with the production environment djship sets."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djship.config.schema import Config
from djship.errors import DjshipError

# Variables kept from the caller's environment; everything else (a DEBUG=1 or DATABASE_URL
# in the developer's shell) would make the check disagree with the server.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "SYSTEMROOT")
_TIMEOUT = 120

# Runs in the project's Python: import the settings module and report what production cares
# about as JSON. Only a hash of SECRET_KEY leaves the process.
_SCRIPT = r'''
import hashlib, importlib, json, os, sys, traceback
sys.path.insert(0, os.getcwd())
try:
    import django
except ImportError as exc:
    print(json.dumps({"error": "no-django", "message": str(exc)})); sys.exit(0)
# Record every variable the settings read (os.environ[...], .get, in, os.getenv, and libraries
# such as django-environ, which all go through os.environ's __getitem__) and whether it was set.
reads = {}
_Environ = type(os.environ)
class _Recording(_Environ):
    def __getitem__(self, key):
        try:
            value = _Environ.__getitem__(self, key)
        except KeyError:
            reads.setdefault(key, False); last[0] = key; raise
        reads[key] = True
        return value
last = [None]
os.environ.__class__ = _Recording
try:
    m = importlib.import_module(sys.argv[1])
except BaseException as exc:
    here = [f for f in traceback.extract_tb(exc.__traceback__)
            if os.path.realpath(f.filename).startswith(os.path.realpath(os.getcwd()))]
    var = last[0]  # the last unset variable read, if the error is about it
    named = var is not None and (isinstance(exc, KeyError) and exc.args[:1] == (var,)
                                 or var in str(exc))
    print(json.dumps({"error": "import", "type": type(exc).__name__, "message": str(exc),
                      "file": here[-1].filename if here else None,
                      "line": here[-1].lineno if here else None,
                      "variable": var if named else None, "reads": reads})); sys.exit(0)
finally:
    os.environ.__class__ = _Environ
g = lambda name, default=None: getattr(m, name, default)
s = lambda v: None if v is None else os.fspath(v) if hasattr(v, "__fspath__") else str(v)
key = str(g("SECRET_KEY", ""))
def _fed(setting, value):  # True when the setting holds what this variable says
    got = g(setting)
    if setting == "SECRET_KEY":
        return str(got) == value
    items = [i.strip() for i in value.split(",") if i.strip()]
    return bool(items) and isinstance(got, (list, tuple)) and set(items) <= set(map(str, got))
sources = {name: [k for k, found in reads.items() if found and _fed(name, os.environ[k])]
           for name in ("SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")}
log = g("LOGGING") or {}
classes = [str(h.get("class", "")) for h in (log.get("handlers") or {}).values()]
db = (g("DATABASES") or {}).get("default") or {}
caches = g("CACHES") or {}
mails = -1
try:  # how many mail handlers an error of django.request reaches, as Django configures them
    import logging
    from django.utils.log import configure_logging
    configure_logging(g("LOGGING_CONFIG", "logging.config.dictConfig"), log)
    mails, lg = 0, logging.getLogger("django.request")
    while lg is not None:
        mails += sum(type(h).__name__ == "AdminEmailHandler" for h in lg.handlers)
        lg = lg.parent if lg.propagate else None
except Exception:
    pass
print(json.dumps({
    "django": django.get_version(),
    "secret_key_sha": hashlib.sha256(key.encode()).hexdigest(), "secret_key_empty": not key,
    "secret_key_from_env": key == os.environ.get(sys.argv[2]),
    "reads": reads, "sources": sources,
    "debug": bool(g("DEBUG", False)),
    "allowed_hosts": [str(h) for h in g("ALLOWED_HOSTS", [])],
    "proxy_header": list(g("SECURE_PROXY_SSL_HEADER") or []) or None,
    "static_root": s(g("STATIC_ROOT")), "media_root": s(g("MEDIA_ROOT")),
    "db_engine": str(db.get("ENGINE", "")), "db_name": s(db.get("NAME")),
    "admins": [str(a[1] if isinstance(a, (list, tuple)) else a) for a in g("ADMINS", [])],
    "logging": bool(log), "log_mails": mails,
    "log_console": any(c.endswith("StreamHandler") for c in classes),
    # What release commands the project needs (releasecmds). COMPRESS_ENABLED defaults to
    # `not DEBUG`, and production runs with DEBUG off (check insists): unset means on.
    "installed_apps": [str(a) for a in g("INSTALLED_APPS") or []],
    "compress_enabled": bool(g("COMPRESS_ENABLED", True)),
    "compress_offline": bool(g("COMPRESS_OFFLINE", False)),
    "cache_backends": [str(c.get("BACKEND", "")) for c in caches.values()
                       if isinstance(c, dict)] if isinstance(caches, dict) else [],
}))
'''


class SettingsImportError(DjshipError):
    """The settings module raised while being imported."""

    def __init__(self, message: str, *, type_name: str, detail: str, hint: str,
                 variable: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.type_name = type_name
        self.detail = detail
        self.variable = variable  # the unset environment variable the error is about
        self.standins: dict[str, str] = {}  # variables given stand-in values before it
        self.from_servers: set[str] = set()  # those set on the servers (stand-ins of their shape)


class DjangoNotImportable(DjshipError):
    """The local Python cannot import Django, so the settings cannot be imported."""


@dataclass(frozen=True)
class CheckEnv:
    """The environment for a local production-like run, and the temp folder it points at."""

    values: dict[str, str]
    tmp: Path


def dummy_secret_key() -> str:
    """A random 50-character key that passes Django's W009 check."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(50))


def production_env(config: Config, site: str, tmp: Path) -> CheckEnv:
    """What djship sets on the servers, with throwaway secrets, database and folders."""
    s = config.sites[site]
    domains = s.domains
    values = {k: os.environ[k] for k in _KEEP if k in os.environ}
    values.update({  # under the names the project reads (env_names): DJANGO_SECRET_KEY, ...
        s.env_name("SECRET_KEY"): dummy_secret_key(),
        s.env_name("ALLOWED_HOSTS"): ",".join(domains),
        s.env_name("CSRF_TRUSTED_ORIGINS"): ",".join(f"https://{d}" for d in domains)})
    values.update(
        DJANGO_SETTINGS_MODULE=config.settings_module(site),
        DATABASE_URL=f"sqlite:///{tmp / 'check.sqlite3'}",
        STATIC_ROOT=str(tmp / "static"), MEDIA_ROOT=str(tmp / "media"),
        DJSHIP_DATA_DIR=str(tmp / "data"), PYTHONDONTWRITEBYTECODE="1",
    )
    # As on the servers (release.scripts.secure_ssl_env), where the site's env may override.
    values["DJANGO_SECURE_SSL"] = "1" if s.tls.enabled else "0"
    if config.sites[site].redis.enabled:  # a stand-in: the check connects to nothing
        values.update(dict.fromkeys(config.sites[site].redis.env, "redis://localhost:6379/0"))
    values.update(config.sites[site].env)
    return CheckEnv(values, tmp)


def import_settings(python: str, app_dir: Path, module: str, env: dict[str, str],
                    secret_var: str) -> dict[str, Any]:
    """What the settings module holds when imported with ``env``; raises if it cannot.

    ``secret_var``: the variable SECRET_KEY should come from."""
    try:
        proc = subprocess.run([python, "-c", _SCRIPT, module, secret_var], cwd=app_dir, env=env,
                              capture_output=True, text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DjshipError(f"cannot run {python}: {exc}") from exc
    try:
        data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise DjshipError(f"importing {module} with {python} failed (exit {proc.returncode})",
                          hint=proc.stderr.strip()[-500:] or None) from exc
    if data.get("error") == "no-django":
        raise DjangoNotImportable(f"Django is not importable with {python}",
                          hint="run djship from the project's virtualenv (or create .venv in "
                               "the project) with its requirements installed")
    if data.get("error") == "import":
        where = f"{data['file']}:{data['line']}" if data.get("file") else module
        raise SettingsImportError(
            f"cannot import settings {module}: {data['type']}: {data['message']} ({where})",
            type_name=str(data["type"]), detail=str(data["message"]),
            hint="fix the settings so they import with the production environment "
                 "(`djship check` shows it); djship changed nothing",
            variable=data.get("variable"))
    return data


# Enough for any real settings module; a bound, so a module that reads a new variable on
# every import cannot loop forever.
MAX_STANDINS = 20


def import_with_standins(python: str, app_dir: Path, module: str, env: dict[str, str],
                         standin: Callable[[str], str | None], secret_var: str
                         ) -> tuple[dict[str, Any], dict[str, str]]:
    """Import the settings, giving each variable they need and lack a stand-in value.

    ``standin(name)`` gives the value for a missing variable, or None to give up (the
    import error is raised). Returns what the settings hold and the stand-ins used."""
    env = dict(env)
    used: dict[str, str] = {}
    while True:
        try:
            return import_settings(python, app_dir, module, env, secret_var), used
        except SettingsImportError as exc:
            exc.standins = dict(used)
            var = exc.variable
            value = None if var is None or var in env or len(used) >= MAX_STANDINS \
                else standin(var)
            if var is None or value is None:
                raise
            env[var] = used[var] = value


# Marks a line of stderr: a check that failed only on the stand-in database (JSON follows).
NEEDS_DATABASE = "djship-needs-database: "

# Runs the project's own manage.py (`check --deploy`), each system check guarded: a check
# whose database query failed while the stand-in database has no tables (it queries tables
# only the real database has, migrated) is not the project's error here. It is reported on
# stderr under NEEDS_DATABASE and its own result dropped; the server checks it after migrate.
# Decided on the exception's type and a probe of the database, not on error text.
_CHECK_SCRIPT = r'''
import functools, json, runpy, sys
sys.argv = sys.argv[1:]  # manage.py check --deploy, as if run directly
deferred, failed = [], []
try:
    from django.core.checks.registry import CheckRegistry
    from django.db import DatabaseError
except ImportError:
    CheckRegistry = None
if CheckRegistry is not None:
    def record(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except DatabaseError:
            failed.append(context["connection"]); raise
    hooked = []
    def hook():
        if not hooked:
            from django.db import connections
            for conn in connections.all():
                conn.execute_wrappers.append(record)
            hooked.append(True)
    def stand_in_only():  # every failed query was on a database without tables
        def empty(conn):
            try:
                return not conn.introspection.table_names()
            except DatabaseError:
                return False
        return bool(failed) and all(empty(c) for c in failed)
    def guard(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            hook()
            del failed[:]
            try:
                result = list(check(*args, **kwargs))
                error = None
            except DatabaseError as exc:
                result, error = [], exc
            if not stand_in_only():
                if error is not None:
                    raise error
                return result
            name = getattr(check, "__module__", "?") + "." + getattr(check, "__qualname__", "?")
            deferred.append({"check": name, "ids": [m.id for m in result if m.id],
                             "messages": [str(m.msg) for m in result],
                             "error": f"{type(error).__name__}: {error}" if error else ""})
            return []
        run.tags = getattr(check, "tags", ())
        return run
    _get = CheckRegistry.get_checks
    def get_checks(self, include_deployment_checks=False):
        return [guard(c) for c in _get(self, include_deployment_checks)]
    CheckRegistry.get_checks = get_checks
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    for d in deferred:
        print(MARK + json.dumps(d), file=sys.stderr, flush=True)
'''.replace("MARK", repr(NEEDS_DATABASE))


def manage_check_deploy(python: str, manage: Path, env: dict[str, str]
                        ) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py check --deploy`` with ``env``; a check that fails only on the empty
    stand-in database is reported on stderr under NEEDS_DATABASE instead."""
    try:
        return subprocess.run([python, "-c", _CHECK_SCRIPT, manage.name, "check", "--deploy"],
                              cwd=manage.parent, env=env, capture_output=True, text=True,
                              timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DjshipError(f"cannot run manage.py check --deploy: {exc}") from exc
