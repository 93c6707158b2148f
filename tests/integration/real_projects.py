"""Seven projects shaped like real ones (issue 16), for test_real_projects.

Each has its own package, its own env names and its own quirks, as found in the wild:

- ``bakery``: a cookiecutter-django-like layout (config/settings/{base,local,production}.py,
  requirements/), django-environ reading DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and
  DJANGO_ADMIN_URL, ImproperlyConfigured at import when one is missing; never put in git, no
  .gitignore, with the developer's .venv, .env, db.sqlite3 and bytecode lying around.
- ``tokens``: a JWT issuer that loads a PEM private key from JWT_PRIVATE_KEY at import.
- ``pulse``: Celery worker and beat on Redis; a beat-scheduled task writes to the database.
- ``booksapi``: API only (Django REST framework), 404 on ``/``, ``/api/health/``.
- ``uvshop``: a uv project whose gunicorn and whitenoise live in a ``prod`` dependency group.
- ``inbox``: uploads inspected with python-magic (libmagic), imported when the app loads.
- ``notes``: what ``django-admin startproject`` writes: SQLite only, a hard-coded key.

A project is a mapping of file names to text; :func:`materialize` writes one, gives it the
developer's virtualenv (made with uv from the registry) and, unless it stays outside git,
commits it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MANAGE = '''#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
'''

WSGI = '''"""WSGI config: exposes the WSGI callable as ``application``."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{settings}")
application = get_wsgi_application()
'''

ASGI = WSGI.replace("WSGI", "ASGI").replace("wsgi", "asgi")

APPS = '''from django.apps import AppConfig


class {cls}Config(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "{name}"
'''

MIDDLEWARE = '''MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
'''

TEMPLATES_SETTING = '''TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [{dirs}],
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        }},
    }},
]
'''

CORE_APPS = '''    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
'''

GITIGNORE = "__pycache__/\n*.py[cod]\n.venv/\ndb.sqlite3\nstaticfiles/\nmedia/\n.env\n"


def _seed(model: str, field_names: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A data migration creating ``rows`` (as a real project seeds its first content)."""
    return f'''from django.db import migrations

ROWS = {rows!r}


def seed(apps, schema_editor):
    Model = apps.get_model("{model.split('.')[0]}", "{model.split('.')[1]}")
    for row in ROWS:
        Model.objects.create(**dict(zip({field_names!r}, row)))


class Migration(migrations.Migration):
    dependencies = [("{model.split('.')[0]}", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
'''


def _initial(model: str, fields: str) -> str:
    return f'''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="{model}",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
{fields}            ],
        ),
    ]
'''


@dataclass
class Spec:
    """A generated project: its files, the packages its developer has installed, how it is
    kept (git or not) and the strings its real pages show."""

    name: str
    files: dict[str, str]
    dev_packages: list[str]
    in_git: bool = True
    content: dict[str, str] = field(default_factory=dict)  # path -> text the page shows
    needs_lock: bool = False  # uv.lock made by uv from pyproject.toml
    notes: str = ""


# --- bakery: cookiecutter-django-like, django-environ, outside git --------------------------

BAKERY_BASE = '''"""Base settings to build other settings files upon."""
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve(strict=True).parent.parent.parent
# bakery/
APPS_DIR = BASE_DIR / "bakery"
env = environ.Env()

READ_DOT_ENV_FILE = env.bool("DJANGO_READ_DOT_ENV_FILE", default=False)
if READ_DOT_ENV_FILE:
    # OS environment variables take precedence over variables from .env
    env.read_env(str(BASE_DIR / ".env"))

# GENERAL
DEBUG = env.bool("DJANGO_DEBUG", False)
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
SITE_ID = 1
USE_I18N = True
USE_TZ = True

# DATABASES
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# URLS
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# APPS
DJANGO_APPS = [
''' + CORE_APPS + '''    "django.contrib.humanize",
]
LOCAL_APPS = [
    "bakery.breads",
]
INSTALLED_APPS = DJANGO_APPS + LOCAL_APPS

# MIDDLEWARE
''' + MIDDLEWARE + '''
# STATIC
STATIC_ROOT = str(BASE_DIR / "staticfiles")
STATIC_URL = "/static/"
STATICFILES_DIRS = [str(APPS_DIR / "static")]

# MEDIA
MEDIA_ROOT = str(APPS_DIR / "media")
MEDIA_URL = "/media/"

# TEMPLATES
''' + TEMPLATES_SETTING.format(dirs='str(APPS_DIR / "templates")') + '''
# SECURITY
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# ADMIN
ADMIN_URL = "admin/"

# LOGGING
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"verbose": {"format": "%(levelname)s %(asctime)s %(module)s %(message)s"}},
    "handlers": {"console": {"level": "DEBUG", "class": "logging.StreamHandler",
                             "formatter": "verbose"}},
    "root": {"level": "INFO", "handlers": ["console"]},
}
'''

BAKERY_LOCAL = '''from .base import *  # noqa: F403
from .base import env

DEBUG = True
SECRET_KEY = env("DJANGO_SECRET_KEY", default="3sGq0kH2hYtqkVn5J1lW0hF7zJ9Gm2yQ4cLrB8pXu6aTdN1e")
ALLOWED_HOSTS = ["localhost", "0.0.0.0", "127.0.0.1"]
'''

BAKERY_PRODUCTION = '''from .base import *  # noqa: F403
from .base import DATABASES
from .base import env

# GENERAL
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["bakery.example.com"])

# DATABASES
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

# SECURITY
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 60
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = env.bool("DJANGO_SECURE_CONTENT_TYPE_NOSNIFF", default=True)

# ADMIN
ADMIN_URL = env("DJANGO_ADMIN_URL")
'''

BAKERY_URLS = '''from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("bakery.breads.urls")),
]
'''

BAKERY_VIEWS = '''from django.shortcuts import render

from bakery.breads.models import Bread


def index(request):
    return render(request, "breads/index.html", {"breads": Bread.objects.order_by("name")})
'''

BAKERY_MODELS = '''from django.db import models


class Bread(models.Model):
    name = models.CharField(max_length=80)
    flour = models.CharField(max_length=80)

    def __str__(self):
        return self.name
'''

BAKERY_INDEX = '''{% load static %}<!doctype html>
<html><head><title>The Bakery</title>
<link rel="stylesheet" href="{% static 'css/project.css' %}"></head>
<body><h1>Fresh from the oven</h1>
<ul>{% for bread in breads %}<li>{{ bread.name }} ({{ bread.flour }})</li>{% endfor %}</ul>
</body></html>
'''


def bakery() -> Spec:
    """cookiecutter-django's shape: split settings, django-environ, no .gitignore, no git."""
    files = {
        "manage.py": MANAGE.format(settings="config.settings.local"),
        "config/__init__.py": "",
        "config/settings/__init__.py": "",
        "config/settings/base.py": BAKERY_BASE,
        "config/settings/local.py": BAKERY_LOCAL,
        "config/settings/production.py": BAKERY_PRODUCTION,
        "config/urls.py": BAKERY_URLS,
        "config/wsgi.py": WSGI.format(settings="config.settings.production"),
        "bakery/__init__.py": '__version__ = "0.1.0"\n',
        "bakery/breads/__init__.py": "",
        "bakery/breads/apps.py": APPS.format(cls="Breads", name="bakery.breads"),
        "bakery/breads/models.py": BAKERY_MODELS,
        "bakery/breads/views.py": BAKERY_VIEWS,
        "bakery/breads/urls.py": ('from django.urls import path\n\nfrom bakery.breads import views'
                                  '\n\nurlpatterns = [path("", views.index, name="index")]\n'),
        "bakery/breads/migrations/__init__.py": "",
        "bakery/breads/migrations/0001_initial.py": _initial("Bread", (
            '                ("name", models.CharField(max_length=80)),\n'
            '                ("flour", models.CharField(max_length=80)),\n')),
        "bakery/breads/migrations/0002_seed.py": _seed("breads.Bread", ("name", "flour"), [
            ("Sourdough", "rye and wheat"), ("Baguette", "wheat"),
            ("Pumpernickel", "coarse rye")]),
        "bakery/templates/breads/index.html": BAKERY_INDEX,
        "bakery/static/css/project.css": "body { font-family: serif; }\n",
        "requirements.txt": "# This file is expected by Heroku.\n\n-r requirements/production.txt\n",
        "requirements/base.txt": "django>=5.2,<5.3\ndjango-environ>=0.11\n",
        "requirements/local.txt": "-r base.txt\n\nWerkzeug[watchdog]\n",
        "requirements/production.txt": "-r base.txt\n\ngunicorn>=22\npsycopg[binary]>=3.1\n",
        # The developer's own files, which must not ship.
        ".env": ("DJANGO_READ_DOT_ENV_FILE=True\nDATABASE_URL=sqlite:///db.sqlite3\n"
                 "DJANGO_SECRET_KEY=the-developers-own-key-never-to-ship\n"),
        "README.md": "# Bakery\n\nBehold My Awesome Project!\n",
    }
    return Spec("bakery", files, ["django>=5.2,<5.3", "django-environ>=0.11",
                                  "psycopg[binary]>=3.1"], in_git=False,
                content={"/": "Pumpernickel (coarse rye)"})


# --- tokens: a required multi-line PEM secret ---------------------------------------------

TOKENS_SETTINGS = '''import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = os.environ.get("DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")

# The key that signs the tokens this service issues (PEM, several lines).
JWT_PRIVATE_KEY = os.environ["JWT_PRIVATE_KEY"]
JWT_SIGNING_KEY = serialization.load_pem_private_key(JWT_PRIVATE_KEY.encode(), password=None)
JWT_ISSUER = "tokens"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "issuer",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tokens.urls"
WSGI_APPLICATION = "tokens.wsgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": BASE_DIR / "db.sqlite3"}}
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_TZ = True
'''

TOKENS_VIEWS = '''import hashlib
import time

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.http import HttpResponse, JsonResponse


def index(request):
    token = jwt.encode({"iss": settings.JWT_ISSUER, "sub": "demo", "iat": int(time.time())},
                       settings.JWT_PRIVATE_KEY, algorithm="RS256")
    public = settings.JWT_SIGNING_KEY.public_key()
    claims = jwt.decode(token, public, algorithms=["RS256"], issuer=settings.JWT_ISSUER)
    digest = hashlib.sha256(settings.JWT_PRIVATE_KEY.encode()).hexdigest()
    return HttpResponse(
        "<h1>Token issuer</h1>"
        f"<p>signed and verified a token for {claims['sub']}</p>"
        f"<p>key sha256 {digest} ({len(settings.JWT_PRIVATE_KEY)} characters)</p>")


def public_key(request):
    pem = settings.JWT_SIGNING_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return JsonResponse({"alg": "RS256", "pem": pem.decode()})
'''


def tokens() -> Spec:
    """A JWT issuer: JWT_PRIVATE_KEY (PEM) is loaded at import; no key, no start."""
    files = {
        "manage.py": MANAGE.format(settings="tokens.settings"),
        "tokens/__init__.py": "",
        "tokens/settings.py": TOKENS_SETTINGS,
        "tokens/urls.py": ('from django.urls import path\n\nfrom issuer import views\n\n'
                           'urlpatterns = [\n    path("", views.index),\n'
                           '    path("public-key", views.public_key),\n]\n'),
        "tokens/wsgi.py": WSGI.format(settings="tokens.settings"),
        "issuer/__init__.py": "",
        "issuer/apps.py": APPS.format(cls="Issuer", name="issuer"),
        "issuer/views.py": TOKENS_VIEWS,
        "requirements.txt": "Django==5.2.*\nPyJWT>=2.8\ncryptography>=42\n",
        ".gitignore": GITIGNORE + "*.pem\n",
    }
    return Spec("tokens", files, ["Django==5.2.*", "PyJWT>=2.8", "cryptography>=42"],
                content={"/": "signed and verified a token for demo"})


# --- pulse: Celery worker and beat on Redis -----------------------------------------------

PULSE_SETTINGS = '''import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]

INSTALLED_APPS = [
''' + CORE_APPS + '''    "monitor",
]
''' + MIDDLEWARE + '''ROOT_URLCONF = "pulse.urls"
WSGI_APPLICATION = "pulse.wsgi.application"
''' + TEMPLATES_SETTING.format(dirs="") + '''
DATABASES = {"default": dj_database_url.config(conn_max_age=60)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_TZ = True

# Celery: the broker is Redis.
CELERY_BROKER_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "monitor.tasks.heartbeat", "schedule": 2.0},
}
'''

PULSE_CELERY = '''import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulse.settings")

app = Celery("pulse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
'''

PULSE_TASKS = '''import socket

from celery import shared_task

from monitor.models import Beat


@shared_task
def heartbeat():
    Beat.objects.create(source="beat", host=socket.gethostname())


@shared_task
def echo(word):
    Beat.objects.create(source=f"echo:{word}", host=socket.gethostname())
    return word.upper()
'''

PULSE_VIEWS = '''from django.http import HttpResponse, JsonResponse

from monitor.models import Beat
from monitor.tasks import echo


def index(request):
    beats = Beat.objects.filter(source="beat")
    echoes = Beat.objects.filter(source__startswith="echo:").order_by("id")
    return HttpResponse(
        "<h1>Pulse</h1>"
        f"<p>heartbeats: {beats.count()}</p>"
        f"<p>echoes: {' '.join(e.source[5:] for e in echoes)}</p>")


def ping(request, word):
    result = echo.delay(word)
    return JsonResponse({"task": result.id, "answer": result.get(timeout=20)})
'''


def pulse() -> Spec:
    """A Celery app (pulse/celery.py) with a beat schedule; Redis is the broker (REDIS_URL)."""
    files = {
        "manage.py": MANAGE.format(settings="pulse.settings"),
        "pulse/__init__.py": ('from .celery import app as celery_app\n\n'
                              '__all__ = ("celery_app",)\n'),
        "pulse/celery.py": PULSE_CELERY,
        "pulse/settings.py": PULSE_SETTINGS,
        "pulse/urls.py": ('from django.urls import path\n\nfrom monitor import views\n\n'
                          'urlpatterns = [\n    path("", views.index),\n'
                          '    path("ping/<slug:word>", views.ping),\n]\n'),
        "pulse/wsgi.py": WSGI.format(settings="pulse.settings"),
        "monitor/__init__.py": "",
        "monitor/apps.py": APPS.format(cls="Monitor", name="monitor"),
        "monitor/models.py": ('from django.db import models\n\n\nclass Beat(models.Model):\n'
                              '    source = models.CharField(max_length=80)\n'
                              '    host = models.CharField(max_length=80)\n'
                              '    at = models.DateTimeField(auto_now_add=True)\n'),
        "monitor/tasks.py": PULSE_TASKS,
        "monitor/views.py": PULSE_VIEWS,
        "monitor/migrations/__init__.py": "",
        "monitor/migrations/0001_initial.py": _initial("Beat", (
            '                ("source", models.CharField(max_length=80)),\n'
            '                ("host", models.CharField(max_length=80)),\n'
            '                ("at", models.DateTimeField(auto_now_add=True)),\n')),
        "requirements.txt": ("django>=5.2,<5.3\ncelery[redis]>=5.3\ndj-database-url>=2\n"
                             "psycopg[binary]>=3.1\ngunicorn>=22\n"),
        ".gitignore": GITIGNORE + "celerybeat-schedule*\n",
    }
    return Spec("pulse", files, ["django>=5.2,<5.3", "celery[redis]>=5.3", "dj-database-url>=2",
                                 "psycopg[binary]>=3.1"],
                content={"/": "<h1>Pulse</h1>"})


# --- booksapi: API only, a health view ---------------------------------------------------

BOOKS_SETTINGS = '''import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.getenv("SECRET_KEY")
DEBUG = os.getenv("DEBUG", "false").lower() == "true"
ALLOWED_HOSTS = os.getenv("ALLOWED_HOSTS", "").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "library",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "booksapi.urls"
WSGI_APPLICATION = "booksapi.wsgi.application"
''' + TEMPLATES_SETTING.format(dirs="") + '''
DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
STATIC_ROOT = os.getenv("STATIC_ROOT", BASE_DIR / "staticfiles")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}
'''

BOOKS_API = '''from django.db import connection
from rest_framework import serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from library.models import Book


class BookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "title", "author"]


class BookViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Book.objects.order_by("id")
    serializer_class = BookSerializer


@api_view(["GET"])
def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Response({"status": "ok"})
'''

BOOKS_URLS = '''from django.urls import include, path
from rest_framework.routers import DefaultRouter

from library.api import BookViewSet, health

router = DefaultRouter()
router.register("books", BookViewSet)

urlpatterns = [
    path("api/health/", health, name="health"),
    path("api/", include(router.urls)),
]
'''


def booksapi() -> Spec:
    """Django REST framework only: nothing on /, a health view at /api/health/."""
    files = {
        "manage.py": MANAGE.format(settings="booksapi.settings"),
        "booksapi/__init__.py": "",
        "booksapi/settings.py": BOOKS_SETTINGS,
        "booksapi/urls.py": BOOKS_URLS,
        "booksapi/wsgi.py": WSGI.format(settings="booksapi.settings"),
        "library/__init__.py": "",
        "library/apps.py": APPS.format(cls="Library", name="library"),
        "library/models.py": ('from django.db import models\n\n\nclass Book(models.Model):\n'
                              '    title = models.CharField(max_length=200)\n'
                              '    author = models.CharField(max_length=200)\n'),
        "library/api.py": BOOKS_API,
        "library/migrations/__init__.py": "",
        "library/migrations/0001_initial.py": _initial("Book", (
            '                ("title", models.CharField(max_length=200)),\n'
            '                ("author", models.CharField(max_length=200)),\n')),
        "library/migrations/0002_seed.py": _seed("library.Book", ("title", "author"), [
            ("Two Scoops of Django", "Greenfeld"), ("The Pragmatic Programmer", "Hunt")]),
        "requirements.txt": ("Django>=5.2,<5.3\ndjangorestframework>=3.15\n"
                             "dj-database-url>=2\npsycopg[binary]>=3.1\n"),
        ".gitignore": GITIGNORE,
    }
    return Spec("booksapi", files, ["Django>=5.2,<5.3", "djangorestframework>=3.15",
                                    "dj-database-url>=2", "psycopg[binary]>=3.1"],
                content={"/api/health/": '"status":"ok"', "/api/books/": "Two Scoops of Django"})


# --- uvshop: runtime packages in a uv dependency group -------------------------------------

UVSHOP_PYPROJECT = '''[project]
name = "uvshop"
version = "0.3.0"
description = "A small shop front"
requires-python = ">=3.11"
dependencies = [
    "django>=5.2,<5.3",
    "dj-database-url>=2",
    "psycopg[binary]>=3.1",
]

[dependency-groups]
dev = [
    "django-debug-toolbar>=4",
]
prod = [
    "gunicorn>=22",
    "whitenoise>=6.6",
]
'''

UVSHOP_SETTINGS = '''import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",  # the auth context processor in TEMPLATES needs its models
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "catalog",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
''' + TEMPLATES_SETTING.format(dirs="") + '''
DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_TZ = True
'''

UVSHOP_VIEWS = '''from importlib.metadata import version

from django.shortcuts import render

PRODUCTS = [("Teapot", "18.00"), ("Kettle", "32.50"), ("Mug", "6.00")]


def index(request):
    return render(request, "catalog/index.html", {
        "products": PRODUCTS, "whitenoise": version("whitenoise"),
        "gunicorn": version("gunicorn")})
'''

UVSHOP_INDEX = '''{% load static %}<!doctype html>
<html><head><title>uvshop</title><link rel="stylesheet" href="{% static 'catalog/shop.css' %}">
</head><body><h1>The shop</h1>
<ul>{% for name, price in products %}<li>{{ name }}: {{ price }} EUR</li>{% endfor %}</ul>
<footer>whitenoise {{ whitenoise }}, gunicorn {{ gunicorn }}</footer>
</body></html>
'''


def uvshop() -> Spec:
    """uv: gunicorn and whitenoise only in the "prod" dependency group (uv sync --no-dev
    alone leaves them out); the middleware imports whitenoise at start."""
    files = {
        "manage.py": MANAGE.format(settings="shop.settings"),
        "pyproject.toml": UVSHOP_PYPROJECT,
        ".python-version": "3.11\n",
        "shop/__init__.py": "",
        "shop/settings.py": UVSHOP_SETTINGS,
        "shop/urls.py": ('from django.urls import path\n\nfrom catalog import views\n\n'
                         'urlpatterns = [path("", views.index)]\n'),
        "shop/wsgi.py": WSGI.format(settings="shop.settings"),
        "catalog/__init__.py": "",
        "catalog/apps.py": APPS.format(cls="Catalog", name="catalog"),
        "catalog/views.py": UVSHOP_VIEWS,
        "catalog/templates/catalog/index.html": UVSHOP_INDEX,
        "catalog/static/catalog/shop.css": "h1 { color: teal; }\n",
        ".gitignore": GITIGNORE,
    }
    return Spec("uvshop", files, ["django>=5.2,<5.3", "dj-database-url>=2", "psycopg[binary]>=3.1",
                                  "gunicorn>=22", "whitenoise>=6.6",
                                  "django-debug-toolbar>=4"],
                needs_lock=True, content={"/": "Kettle: 32.50 EUR"})


# --- inbox: python-magic -----------------------------------------------------------------

INBOX_SETTINGS = '''import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "").split(",")

INSTALLED_APPS = [
''' + CORE_APPS + '''    "documents",
]
''' + MIDDLEWARE + '''ROOT_URLCONF = "inbox.urls"
WSGI_APPLICATION = "inbox.wsgi.application"
''' + TEMPLATES_SETTING.format(dirs="") + '''
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DB_NAME", "inbox"),
        "USER": os.environ.get("DB_USER", "inbox"),
        "PASSWORD": os.environ.get("DB_PASSWORD", ""),
        "HOST": os.environ.get("DB_HOST", "localhost"),
    }
}
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES["default"] = dj_database_url.parse(os.environ["DATABASE_URL"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles")
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", BASE_DIR / "media")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
USE_TZ = True
'''

INBOX_VALIDATORS = '''import magic
from django.core.exceptions import ValidationError

ALLOWED = {"application/pdf", "image/png", "image/jpeg", "text/plain"}


def sniff(data):
    """The MIME type libmagic reads from the file's first bytes."""
    return magic.from_buffer(data[:2048], mime=True)


def validate_document(upload):
    kind = sniff(upload.read(2048))
    upload.seek(0)
    if kind not in ALLOWED:
        raise ValidationError(f"{kind} files are not accepted")
'''

INBOX_VIEWS = '''from django import forms
from django.shortcuts import render

from documents.models import Document
from documents.validators import sniff, validate_document


class UploadForm(forms.Form):
    file = forms.FileField(validators=[validate_document])


def index(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        Document.objects.create(name=upload.name, mime=sniff(upload.read()), size=upload.size)
        form = UploadForm()
    return render(request, "documents/index.html",
                  {"form": form, "documents": Document.objects.order_by("-id")})
'''

INBOX_INDEX = '''<!doctype html><html><head><title>Inbox</title></head><body>
<h1>Document inbox</h1>
<form method="post" enctype="multipart/form-data">{% csrf_token %}{{ form.as_p }}
<button>Upload</button></form>
<ul>{% for d in documents %}<li>{{ d.name }}: {{ d.mime }}, {{ d.size }} bytes</li>
{% empty %}<li>nothing received yet</li>{% endfor %}</ul>
</body></html>
'''


def inbox() -> Spec:
    """Uploads whose type libmagic reads (python-magic, imported when URLs load)."""
    files = {
        "manage.py": MANAGE.format(settings="inbox.settings"),
        "inbox/__init__.py": "",
        "inbox/settings.py": INBOX_SETTINGS,
        "inbox/urls.py": ('from django.urls import path\n\nfrom documents import views\n\n'
                          'urlpatterns = [path("", views.index)]\n'),
        "inbox/wsgi.py": WSGI.format(settings="inbox.settings"),
        "documents/__init__.py": "",
        "documents/apps.py": APPS.format(cls="Documents", name="documents"),
        "documents/models.py": ('from django.db import models\n\n\nclass Document(models.Model):\n'
                                '    name = models.CharField(max_length=200)\n'
                                '    mime = models.CharField(max_length=100)\n'
                                '    size = models.PositiveIntegerField()\n'),
        "documents/validators.py": INBOX_VALIDATORS,
        "documents/views.py": INBOX_VIEWS,
        "documents/templates/documents/index.html": INBOX_INDEX,
        "documents/migrations/__init__.py": "",
        "documents/migrations/0001_initial.py": _initial("Document", (
            '                ("name", models.CharField(max_length=200)),\n'
            '                ("mime", models.CharField(max_length=100)),\n'
            '                ("size", models.PositiveIntegerField()),\n')),
        "requirements.txt": ("Django>=5.2,<5.3\npython-magic==0.4.27\npsycopg[binary]>=3.1\n"
                             "dj-database-url>=2\n"),
        ".gitignore": GITIGNORE,
    }
    return Spec("inbox", files, ["Django>=5.2,<5.3", "python-magic==0.4.27",
                                 "psycopg[binary]>=3.1", "dj-database-url>=2"],
                content={"/": "Document inbox"})


# --- notes: what startproject writes, SQLite only ------------------------------------------

NOTES_SETTINGS = '''"""
Django settings for notes project.

Generated by 'django-admin startproject' using Django 5.2.
"""

from pathlib import Path

# Build paths inside the project like this: BASE_DIR / 'subdir'.
BASE_DIR = Path(__file__).resolve().parent.parent


# Quick-start development settings - unsuitable for production
# See https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/

# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = 'django-insecure-7#x2$l!v9q@k0m3n&w8^r5t1y6u4i(o)p_z+a=s-d*f%g~h'

# SECURITY WARNING: don't run with debug turned on in production!
DEBUG = True

ALLOWED_HOSTS = []


# Application definition

INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'board',
]

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'notes.urls'

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [],
        'APP_DIRS': True,
        'OPTIONS': {
            'context_processors': [
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
            ],
        },
    },
]

WSGI_APPLICATION = 'notes.wsgi.application'


# Database
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': BASE_DIR / 'db.sqlite3',
    }
}


# Internationalization
# https://docs.djangoproject.com/en/5.2/topics/i18n/

LANGUAGE_CODE = 'en-us'

TIME_ZONE = 'UTC'

USE_I18N = True

USE_TZ = True


# Static files (CSS, JavaScript, Images)
# https://docs.djangoproject.com/en/5.2/howto/static-files/

STATIC_URL = 'static/'

# Default primary key field type
# https://docs.djangoproject.com/en/5.2/ref/settings/#default-auto-field

DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'
'''

NOTES_VIEWS = '''from django.shortcuts import render

from .models import Note


def index(request):
    return render(request, 'board/index.html', {'notes': Note.objects.order_by('id')})
'''

NOTES_INDEX = '''<!doctype html><html><head><title>Notice board</title></head><body>
<h1>Notice board</h1>
{% for note in notes %}<article><h2>{{ note.title }}</h2><p>{{ note.body }}</p></article>
{% endfor %}</body></html>
'''


def notes() -> Spec:
    """`django-admin startproject notes` plus one app: SQLite, a hard-coded insecure key,
    DEBUG = True, ALLOWED_HOSTS = [] (init --settings proposes what production needs)."""
    files = {
        "manage.py": MANAGE.format(settings="notes.settings"),
        "notes/__init__.py": "",
        "notes/settings.py": NOTES_SETTINGS,
        "notes/urls.py": ('from django.contrib import admin\nfrom django.urls import path\n\n'
                          'from board import views\n\nurlpatterns = [\n'
                          "    path('admin/', admin.site.urls),\n    path('', views.index),\n]\n"),
        "notes/wsgi.py": WSGI.format(settings="notes.settings"),
        "notes/asgi.py": ASGI.format(settings="notes.settings"),
        "board/__init__.py": "",
        "board/apps.py": APPS.format(cls="Board", name="board"),
        "board/models.py": ("from django.db import models\n\n\nclass Note(models.Model):\n"
                            "    title = models.CharField(max_length=120)\n"
                            "    body = models.TextField()\n"),
        "board/views.py": NOTES_VIEWS,
        "board/templates/board/index.html": NOTES_INDEX,
        "board/migrations/__init__.py": "",
        "board/migrations/0001_initial.py": _initial("Note", (
            '                ("title", models.CharField(max_length=120)),\n'
            '                ("body", models.TextField()),\n')),
        "board/migrations/0002_seed.py": _seed("board.Note", ("title", "body"), [
            ("Bake sale", "Friday at noon in the hall."),
            ("Lost umbrella", "A green one, by the door.")]),
        "requirements.txt": "Django==5.2.*\n",
        ".gitignore": GITIGNORE,
    }
    return Spec("notes", files, ["Django==5.2.*"], content={"/": "Lost umbrella"})


PROJECTS: dict[str, Callable[[], Spec]] = {
    "bakery": bakery, "tokens": tokens, "pulse": pulse, "booksapi": booksapi,
    "uvshop": uvshop, "inbox": inbox, "notes": notes,
}


# --- writing one out ---------------------------------------------------------------------

def write_files(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``root`` (folders made; manage.py executable)."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if (root / "manage.py").exists():
        (root / "manage.py").chmod(0o755)


def make_venv(uv: str, root: Path, packages: list[str]) -> None:
    """The developer's .venv in the project, with the packages they installed."""
    subprocess.run([uv, "venv", "-q", "--python", "python3", str(root / ".venv")], check=True,
                   capture_output=True, text=True)
    done = subprocess.run([uv, "pip", "install", "-q", "--python", str(root / ".venv/bin/python"),
                           *packages], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def git_init(root: Path, message: str) -> None:
    """A git repository with everything the project has committed."""
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "dev@example.invalid")
    git("config", "user.name", "A Developer")
    git("add", "-A")
    git("commit", "-q", "-m", message)


def lived_in(root: Path) -> None:
    """What a developer's runs leave behind: a local SQLite database and bytecode."""
    (root / "db.sqlite3").write_bytes(b"SQLite format 3\0" + bytes(4080))
    cache = root / "config" / "__pycache__"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "urls.cpython-311.pyc").write_bytes(b"\x00" * 64)
