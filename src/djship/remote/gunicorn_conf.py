"""The gunicorn configuration djship starts every site's app server with.

Installed as /opt/djship/lib/gunicorn_conf.py and given to gunicorn with ``--config``. It
runs inside gunicorn, with the release's Python: it imports nothing of djship.

1. The project's own ``gunicorn.conf.py`` (in the working directory) is loaded first, as
   gunicorn would have loaded it by default: a ``--config`` replaces that default. Its
   settings stand; djship's command line still overrides the ones it gives (bind, workers).
2. Each worker answers one request of its own before it accepts a connection: GET on the
   site's health path (``DJSHIP_WARM_PATH``, with the site's Host ``DJSHIP_WARM_HOST`` and,
   for a TLS site, ``X-Forwarded-Proto: https``), straight through the WSGI app. So no user
   meets a worker's slow first request (lazy imports, per-process caches, connections):
   after a deploy or rollback, a restart, a crash, or a worker gunicorn replaced. The
   project's own ``post_worker_init`` runs first. Only WSGI workers; ASGI ones are skipped.
"""

from __future__ import annotations

import inspect
import io
import os
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

_PROJECT_CONF = "gunicorn.conf.py"

if Path(_PROJECT_CONF).is_file():
    globals().update({k: v for k, v in runpy.run_path(_PROJECT_CONF).items()
                      if not k.startswith("__")})

_project_post_worker_init = globals().get("post_worker_init")


def _environ(path: str, host: str, https: bool) -> dict[str, Any]:
    """A WSGI environ for GET ``path`` as nginx would pass it on."""
    path_info, _, query = path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path_info).decode("latin-1"), "QUERY_STRING": query,
        "SERVER_NAME": host.split(":")[0], "SERVER_PORT": "443" if https else "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": host,
        "HTTP_USER_AGENT": "djship warm-up", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    if https:
        environ["HTTP_X_FORWARDED_PROTO"] = "https"
    return environ


def _is_wsgi(worker: Any, app: object) -> bool:
    """gunicorn's own (WSGI) worker classes, holding an app that is not a coroutine."""
    if not type(worker).__module__.startswith("gunicorn.workers."):
        return False  # e.g. uvicorn's worker: the app is ASGI
    call = getattr(app, "__call__", None)  # noqa: B004 - an instance's async __call__ too
    return not (inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call))


def warm(worker: Any) -> None:
    """Send this worker's first request to the app itself; log what it answered."""
    path = os.environ.get("DJSHIP_WARM_PATH", "")
    app = getattr(worker, "wsgi", None)
    if not path.startswith("/") or not callable(app) or not _is_wsgi(worker, app):
        return
    host = os.environ.get("DJSHIP_WARM_HOST") or "localhost"
    https = os.environ.get("DJSHIP_WARM_HTTPS") == "1"
    status: list[str] = []

    def start_response(code: str, headers: list[tuple[str, str]],
                       exc_info: object = None) -> Callable[[bytes], None]:
        status.append(code)
        return lambda data: None

    began = time.monotonic()
    try:
        body = app(_environ(path, host, https), start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if callable(close):
                close()
    except Exception:  # the worker serves anyway; its log says why the warm-up failed
        worker.log.exception("djship warm-up: GET %s failed", path)
        return
    worker.log.info("djship warm-up: GET %s answered %s in %.2fs", path,
                    status[0] if status else "nothing", time.monotonic() - began)


def post_worker_init(worker: Any) -> None:
    """gunicorn calls this in each worker once the app is loaded, before it accepts."""
    if callable(_project_post_worker_init):
        _project_post_worker_init(worker)
    warm(worker)
