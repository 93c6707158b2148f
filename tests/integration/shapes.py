"""Small generated Django projects, one per shape real projects come in (for test_project_shapes).

Each is a startproject-like project (package ``mysite``, SQLite from DATABASE_URL, settings
that pass ``djship check``, one view answering JSON
about itself: settings module, Python version, interface, installed package versions),
committed to its own git repository with a djship.toml and a test overlay aimed at a sandbox.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

from helpers import Project

from djship.sandbox.records import SandboxInfo

MANAGE = '''#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
'''

SETTINGS = '''import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h]
INSTALLED_APPS = ["django.contrib.staticfiles"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
if not DATABASE_URL.startswith("sqlite:///"):
    raise RuntimeError("this project runs on SQLite only")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": DATABASE_URL.removeprefix("sqlite:///")}}
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_TZ = True
SETTINGS_NAME = "single"
'''

VIEWS = '''import os
import sys
from importlib.metadata import PackageNotFoundError, version

from django.conf import settings
from django.http import JsonResponse

PACKAGES = ("django", "gunicorn", "six", "sqlparse", "idna", "uvicorn", "uvicorn-worker",
            "asgiref", "tzdata", "packaging", "python-magic")


def about(request):
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return {"shape": "{shape}", "settings": os.environ.get("DJANGO_SETTINGS_MODULE"),
            "settings_name": settings.SETTINGS_NAME,
            "python": "%d.%d" % sys.version_info[:2], "executable": sys.executable,
            "interface": "asgi" if hasattr(request, "scope") else "wsgi",
            "packages": found}


def index(request):
    return JsonResponse(about(request))


def healthz(request):
    return JsonResponse({"ok": True})
'''

ASYNC_VIEWS = VIEWS.replace('''def index(request):
    return JsonResponse(about(request))''', '''async def index(request):
    import asyncio

    await asyncio.sleep(0)
    data = about(request)
    data["async"] = True
    return JsonResponse(data)''')

URLS = '''from django.urls import path

from mysite import views

urlpatterns = [
    path("", views.index),
    path("healthz", views.healthz),
]
'''

WSGI = '''import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
application = get_wsgi_application()
'''

ASGI = '''import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
application = get_asgi_application()
'''

DJSHIP_TOML = '''[project]
name = "{name}"
settings = "{settings}"
{app}
dependencies = "{dependencies}"
{extra_project}
[sites.{name}]
domains = ["{name}.test"]
database = "sqlite"
workers = 1
health_timeout = {health_timeout}
{extra_site}
[sites.{name}.env]
SHAPE_MARKER = "{name}"
'''

GITIGNORE = "__pycache__/\n*.pyc\n.venv/\nstaticfiles/\n"


def django_files(shape: str, *, settings: str = "mysite.settings",
                 default_settings: str | None = None, asgi_only: bool = False
                 ) -> dict[str, str]:
    """The files of a minimal project whose settings module is ``settings``."""
    default = default_settings or settings
    files = {
        "manage.py": MANAGE.format(settings=default),
        "mysite/__init__.py": "",
        "mysite/urls.py": URLS,
        "mysite/views.py": (ASYNC_VIEWS if asgi_only else VIEWS).replace("{shape}", shape),
        "mysite/asgi.py": ASGI.format(settings=default),
        ".gitignore": GITIGNORE,
    }
    if not asgi_only:
        files["mysite/wsgi.py"] = WSGI.format(settings=default)
    if settings == "mysite.settings":
        files["mysite/settings.py"] = SETTINGS
    return files


def djship_toml(name: str, *, settings: str = "mysite.settings", asgi_only: bool = False,
                dependencies: str = "requirements", health_timeout: int = 120,
                extra_project: str = "", extra_site: str = "") -> str:
    """The project's djship.toml (hosts come from the test overlay)."""
    app = ('asgi = "mysite.asgi:application"' if asgi_only
           else 'wsgi = "mysite.wsgi:application"')
    return DJSHIP_TOML.format(name=name, settings=settings, app=app, dependencies=dependencies,
                              health_timeout=health_timeout, extra_project=extra_project,
                              extra_site=extra_site)


def make_shape(base: Path, name: str, files: Mapping[str, str], sandbox: SandboxInfo,
               roles: tuple[str, ...] = ("web",)) -> Project:
    """Write ``files`` into ``base``/``name``, aim it at ``sandbox``, commit it."""
    root = base / name
    project = Project(root)
    for rel, text in files.items():
        project.write(rel, textwrap.dedent(text) if rel.endswith(".toml") else text)
    (root / "manage.py").chmod(0o755)
    project.set_hosts([sandbox.host_entry(roles)])
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    project.git("config", "user.email", "tests@djship.invalid")
    project.git("config", "user.name", "djship tests")
    project.commit(f"{name}: a generated project")
    return project


def uv_lock(sandbox: SandboxInfo, name: str, pyproject: str) -> str:
    """uv.lock for ``pyproject``, made by the uv djship installed on the sandbox (it reaches
    the package index; this machine has no uv)."""
    folder = f"/root/uvlock-{name}"
    sandbox.run(f"rm -rf {folder} && mkdir -p {folder} && cat > {folder}/pyproject.toml",
                stdin=pyproject)
    sandbox.run(f"cd {folder} && env UV_NATIVE_TLS=1 UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 "
                "/opt/djship/venv/bin/uv lock --python /usr/bin/python3 -q", timeout=600)
    return sandbox.run(["cat", f"{folder}/uv.lock"]).stdout
