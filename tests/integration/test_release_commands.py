"""A project whose release needs its own commands deploys on djship's advice alone (issue 23,
item 1 and done-when 1): django-compressor with COMPRESS_OFFLINE (a ``{% compress css %}``
block: without `manage.py compress` every page answers 500) and a DatabaseCache (without
`manage.py createcachetable` every cache read fails). ``djship init`` proposes both; then only
what djship's messages say (hints.py), ``provision``, ``deploy``, no hand edit: the page
answers 200, the compressed CSS it links answers 200 through nginx, and the cache table exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import request
from hints import Follower
from real_projects import (
    APPS,
    ASGI,
    GITIGNORE,
    MANAGE,
    NOTES_SETTINGS,
    WSGI,
    git_init,
    make_venv,
    write_files,
)

from djship.sandbox.records import SandboxInfo

NAME = "pressed"
DOMAIN = f"{NAME}.test"
CACHE_TABLE = "pressed_cache"
REQUIREMENTS = "Django==5.2.*\ndjango-compressor==4.*\n"

# startproject's settings (as the notes project: SQLite, DEBUG on, a key in the source; init
# --settings proposes what production needs), with django-compressor compressing offline and
# a database cache.
SETTINGS = (NOTES_SETTINGS.replace("notes", NAME)
            .replace("'board',", "'board',\n    'compressor',") + '''
STATICFILES_FINDERS = [
    'django.contrib.staticfiles.finders.FileSystemFinder',
    'django.contrib.staticfiles.finders.AppDirectoriesFinder',
    'compressor.finders.CompressorFinder',
]
COMPRESS_OFFLINE = True

CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.db.DatabaseCache',
        'LOCATION': 'CACHE_TABLE',
    }
}
'''.replace("CACHE_TABLE", CACHE_TABLE))

VIEWS = '''from django.core.cache import cache
from django.shortcuts import render


def index(request):
    cache.get_or_set('visits', 0)
    visits = cache.incr('visits')
    return render(request, 'board/index.html', {'visits': visits})
'''

INDEX = '''{% load static compress %}<!doctype html><html><head><title>Pressed</title>
{% compress css %}<link rel="stylesheet" href="{% static 'board/site.css' %}">
<style>h1 { letter-spacing: 2px; }</style>{% endcompress %}
</head><body><h1>Pressed board</h1><p>visits: {{ visits }}</p></body></html>
'''

CSS = "body { color: #123456; }\nh1 { font-weight: bold; }\n"


def pressed_files() -> dict[str, str]:
    """The project: one app, one template with a compress block, one stylesheet."""
    return {
        "manage.py": MANAGE.format(settings=f"{NAME}.settings"),
        f"{NAME}/__init__.py": "",
        f"{NAME}/settings.py": SETTINGS,
        f"{NAME}/urls.py": ("from django.urls import path\n\nfrom board import views\n\n"
                            "urlpatterns = [path('', views.index)]\n"),
        f"{NAME}/wsgi.py": WSGI.format(settings=f"{NAME}.settings"),
        f"{NAME}/asgi.py": ASGI.format(settings=f"{NAME}.settings"),
        "board/__init__.py": "",
        "board/apps.py": APPS.format(cls="Board", name="board"),
        "board/views.py": VIEWS,
        "board/templates/board/index.html": INDEX,
        "board/static/board/site.css": CSS,
        "requirements.txt": REQUIREMENTS,
        ".gitignore": GITIGNORE,
    }


@pytest.fixture(scope="module")
def uv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """uv, from the package registry, as the project's developer uses it."""
    tools = tmp_path_factory.mktemp("tools")
    subprocess.run([sys.executable, "-m", "venv", str(tools / "venv")], check=True)
    done = subprocess.run([str(tools / "venv/bin/pip"), "install", "-q", "uv"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return str(tools / "venv/bin/uv")


def get(sandbox: SandboxInfo, path: str) -> tuple[int, str]:
    resp = request(sandbox.address, path, host=DOMAIN, timeout=30)
    return resp.status, resp.body


def test_compressor_and_database_cache_on_djships_advice(
        warm_sandbox: SandboxInfo, uv: str, tmp_path: Path) -> None:
    root = tmp_path / NAME
    write_files(root, pressed_files())
    make_venv(uv, root, REQUIREMENTS.split())
    git_init(root, "pressed: first version")
    f = Follower(root, {})
    first = f.init()
    release = tomllib.loads((root / "djship.toml").read_text())["sites"][NAME].get("release")
    assert release == ["manage.py createcachetable", "manage.py compress"], first.output
    assert f"proposed sites.{NAME}.release: manage.py compress" in first.output
    # init's notes ask to replace the placeholder domain and host: the overlay does.
    (root / "djship.test.toml").write_text(
        warm_sandbox.host_entry(("web", "worker", "db"))
        + f'\n[sites.{NAME}]\ndomains = ["{DOMAIN}"]\n')
    f.follow_notes(first)
    f.settle(["check"])
    f.ensure_provisioned()
    deployed = f.settle(["deploy"])
    assert "compress" in deployed.output, f.transcript()

    status, page = get(warm_sandbox, "/")
    assert status == 200, (page[:2000], f.transcript())
    assert "Pressed board" in page, page
    visits = int(re.findall(r"visits: (\d+)", page)[0])
    # The compressed stylesheet the page links, written by `compress` into the release's
    # STATIC_ROOT, is served by nginx.
    links = re.findall(r'href="(/static/CACHE/css/[^"]+\.css)"', page)
    assert len(links) == 1, page
    status, css = get(warm_sandbox, links[0])
    assert status == 200, (links[0], css[:500])
    assert "#123456" in css and "letter-spacing" in css, css
    # ... and merged into shared/static, where a page still in flight at the next switch
    # finds it.
    cached = f"/srv/{NAME}/shared/static/{links[0].removeprefix('/static/')}"
    assert warm_sandbox.run(["cat", cached]).stdout == css
    # The database cache: its table exists and keeps what the page counts.
    assert f"visits: {visits + 1}" in get(warm_sandbox, "/")[1]
    shown = f.djship(["run", "--", "manage.py", "shell", "-c",
                      "from django.db import connection; "
                      "print('TABLES', sorted(connection.introspection.table_names()))"],
                     "look at the database")
    assert shown.returncode == 0, shown.output
    assert f"'{CACHE_TABLE}'" in shown.output, shown.output
