"""Find a URL that answers 200 for the deploy's health check, by asking the project itself.

`djship init` imports the project's URLconf with the production environment's stand-ins
(the same ones `djship check` uses), lists the routes that take no parameters, and asks
them with Django's test client, as nginx would (the site's Host, over HTTPS), in this
order: ``/``; routes named like a health check (health, healthz, ping, up, status, or
django-health-check's view); where ``/`` redirects to (a language prefix, a login page);
any other route. The first that answers 200 is written as ``health_path``.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from djship.config.schema import Config
from djship.settings.localenv import check_python
from djship.settings.probe import production_env

_TIMEOUT = 90
_MAX_TRIES = 25

# Runs in the project's Python. argv: the site's Host, a throwaway SQLite file. Lines marked
# _MARK carry JSON: the routes and what / answered, then one answer per candidate read
# from stdin, until the first 200.
_SCRIPT = r'''
import json, os, re, sys
sys.path.insert(0, os.getcwd())
out = {}
def say(data):
    print("DJSHIP-HEALTH " + json.dumps(data), flush=True)
def done(**kw):
    say(kw); sys.exit(0)
try:
    import django
    from django.conf import settings
    # Only throwaway stores: the developer's own database, cache and mail stay untouched,
    # whatever the settings name (a SQLite file next to the code, Redis, SMTP).
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[2]}
    settings.DATABASES = {alias: dict(db) for alias in (settings.DATABASES or {"default": 0})}
    settings.CACHES = {alias: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
                       for alias in (settings.CACHES or {"default": 0})}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALLOWED_HOSTS = ["*"]  # routes are asked here, not the host configuration
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import URLPattern, URLResolver, get_resolver
except BaseException as exc:
    done(error=f"{type(exc).__name__}: {exc}")
try:  # an empty database, so views that query it can answer
    call_command("migrate", verbosity=0, interactive=False)
except BaseException as exc:
    out["migrate"] = f"{type(exc).__name__}: {exc}"
META = set(".^$*+?{}[]|()\\")
def literal(pattern):
    """The URL text of a pattern that takes no parameters, else None."""
    lang = getattr(pattern, "language_prefix", None)
    if lang is not None:
        return lang
    text = str(pattern)
    if type(pattern).__name__ == "RegexPattern":
        text = text.removeprefix("^").removesuffix("$").replace("\\/", "/").replace("\\.", ".")
        return None if set(text) & META else text
    return None if "<" in text else text
routes = []
def walk(patterns, prefix, depth):
    for p in patterns:
        part = literal(p.pattern)
        if part is None or depth > 8:
            continue
        if isinstance(p, URLResolver):
            try:
                walk(p.url_patterns, prefix + part, depth + 1)
            except Exception:
                pass
        elif isinstance(p, URLPattern):
            view = getattr(p.callback, "view_class", p.callback)
            where = getattr(view, "__module__", "") + "." + getattr(view, "__qualname__", "")
            routes.append({"path": "/" + prefix + part, "name": p.name or "", "view": where})
try:
    walk(get_resolver().url_patterns, "", 0)
except BaseException as exc:
    done(error=f"{type(exc).__name__}: {exc}")
client = Client(raise_request_exception=False, HTTP_HOST=sys.argv[1])
def ask(path):
    try:
        r = client.get(path, secure=True)
        return {"path": path, "status": r.status_code, "location": r.headers.get("Location", "")}
    except BaseException as exc:
        return {"path": path, "status": 0, "location": "", "error": type(exc).__name__}
say({"routes": routes, "root": ask("/"), "migrate": out.get("migrate")})
for line in sys.stdin:  # the candidates, best first: stop at the first that answers 200
    answer = ask(line.strip())
    say(answer)
    if answer["status"] == 200:
        break
'''

_HEALTHY_WORDS = re.compile(r"(^|[/_.-])(health|healthz|healthcheck|health_check|ping|up|"
                            r"status|alive|liveness|readiness|ready)([/_.-]|$)")
_SKIP = ("/admin/", "/static/", "/media/", "/__debug__/", "/favicon.ico", "/robots.txt")
_MARK = "DJSHIP-HEALTH "


@dataclass(frozen=True)
class Route:
    """A URL that takes no parameters: its path, URL name and view."""

    path: str
    name: str = ""
    view: str = ""

    def looks_like_health(self) -> bool:
        """Named like a health check, or django-health-check's view."""
        return (self.view.startswith("health_check.") or bool(
            _HEALTHY_WORDS.search(self.path.lower()) or _HEALTHY_WORDS.search(self.name.lower())))


@dataclass(frozen=True)
class Answer:
    """What one path answered locally."""

    path: str
    status: int
    location: str = ""


@dataclass(frozen=True)
class HealthFinding:
    """The path to write (None: keep "/"), and what the user should read about it."""

    path: str | None
    note: str | None


def candidates(routes: list[Route], root: Answer) -> list[str]:
    """Paths to ask after ``/``, best first: health-like routes, where ``/`` redirects,
    then the rest (admin, static files and favicons left out)."""
    health = [r.path for r in routes if r.looks_like_health()]
    moved = root.location.split("?")[0] if 300 <= root.status < 400 else ""
    redirect = [moved] if moved.startswith("/") else []
    others = [r.path for r in routes if not r.path.startswith(_SKIP)]
    return [p for p in dict.fromkeys([*health, *redirect, *others])
            if p != "/" and "//" not in p][:_MAX_TRIES]


def conclude(root: Answer, tried: list[Answer], health: set[str], site: str) -> HealthFinding:
    """The first path that answered 200 (else a health-like route, which may need the
    server's services), and the note saying why it is not "/"."""
    if root.status == 200:
        return HealthFinding(None, None)
    why = f"/ answers {root.status}" + (f" (to {root.location})" if root.location else "")
    ok = next((a for a in tried if a.status == 200), None)
    key = f"sites.{site}.health_path"
    if ok is not None:
        return HealthFinding(ok.path, (
            f'health_path = "{ok.path}": {why} locally, {ok.path} answers 200 (the deploy '
            f"checks it before switching traffic; change {key} in djship.toml to use another)"))
    meant = next((a for a in tried if a.path in health and a.status not in (0, 404)), None)
    if meant is not None:
        return HealthFinding(meant.path, (
            f'health_path = "{meant.path}": {why} locally, and {meant.path}, made for health '
            f"checks, answered {meant.status} here, where djship's stand-ins replace the "
            f"database, cache and other services: if it does not answer 200 on the server, "
            f"set {key} in djship.toml to a URL that does"))
    asked = ", ".join(f"{a.path} {a.status}" for a in tried[:6])
    if root.status >= 500 or root.status == 0:  # most likely a service the stand-ins lack
        return HealthFinding(None, (
            f'health_path: kept "/", which failed here ({why}; djship\'s stand-ins replace '
            "the database, cache and other services) and may answer 200 on the server; if "
            f"the deploy's health check says otherwise, set {key} in djship.toml to a URL "
            "that answers 200"))
    return HealthFinding(None, (
        f'health_path: kept "/", but {why} locally and no route without parameters '
        f"answered 200{f' ({asked})' if asked else ''}: set {key} in djship.toml to a URL "
        "that answers 200, or the deploy's health check fails"))


def _unknown(reason: str, site: str) -> HealthFinding:
    return HealthFinding(None, (
        f"health_path: kept \"/\" without checking it ({reason}); if / does not answer 200 "
        f"(an API, a login or language redirect), set sites.{site}.health_path in djship.toml"))


def _read(proc: subprocess.Popen[str]) -> dict[str, object] | None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(_MARK):
            data: dict[str, object] = json.loads(line[len(_MARK):])
            return data
    return None


def _answer(data: object) -> Answer:
    d = data if isinstance(data, dict) else {}
    return Answer(str(d.get("path", "")), int(d.get("status", 0)), str(d.get("location", "")))


def _converse(python: str, app_dir: Path, env: dict[str, str], args: list[str],
              site: str) -> HealthFinding:
    proc = subprocess.Popen([python, "-c", _SCRIPT, *args], cwd=app_dir, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    timer = threading.Timer(_TIMEOUT, proc.kill)
    timer.start()
    try:
        first = _read(proc)
        if first is None or "error" in first:
            reason = "it did not answer" if first is None else str(first["error"])[:200]
            return _unknown(f"the URLconf did not load locally: {reason}", site)
        routes_data = first.get("routes")
        routes = [Route(str(r["path"]), str(r["name"]), str(r["view"]))
                  for r in (routes_data if isinstance(routes_data, list) else [])]
        root = _answer(first.get("root"))
        assert proc.stdin is not None
        todo = candidates(routes, root) if root.status != 200 else []
        proc.stdin.write("".join(f"{p}\n" for p in todo))
        proc.stdin.close()
        tried = []
        while (data := _read(proc)) is not None:
            tried.append(_answer(data))
        return conclude(root, tried, {r.path for r in routes if r.looks_like_health()}, site)
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


def find_health_path(root: Path, config: Config, site: str) -> HealthFinding:
    """Ask the project's routes locally which one answers 200 (see the module docstring)."""
    app_dir = (root / config.project.manage).parent
    if not any(app_dir.glob("*/urls.py")) and not any(app_dir.glob("*/urls/__init__.py")):
        return _unknown("no urls.py found", site)
    host = (config.sites[site].domains or ["localhost"])[0]
    with tempfile.TemporaryDirectory(prefix="djship-health-") as tmp:
        env = production_env(config, site, Path(tmp))
        try:
            return _converse(check_python(root, config), app_dir, env.values,
                             [host, str(Path(tmp) / "health.sqlite3")], site)
        except (OSError, ValueError) as exc:
            return _unknown(f"cannot run the project's Python: {exc}", site)
