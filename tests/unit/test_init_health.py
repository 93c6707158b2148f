"""`djship init` finds a health path that answers 200 by asking the project's own routes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from djship.init import run_init
from djship.settings.health import Answer, Route, candidates, conclude

SETTINGS = '''import os
SECRET_KEY = os.environ.get("SECRET_KEY", "dev")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "").split(",")
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "django.contrib.sessions", "django.contrib.admin", "django.contrib.messages"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.middleware.locale.LocaleMiddleware",
              "django.middleware.common.CommonMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": [
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages",
                  "django.template.context_processors.request"]}}]
ROOT_URLCONF = "api.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DATABASE_URL", "x")[10:]}}
STATIC_ROOT = os.environ.get("STATIC_ROOT")
MEDIA_ROOT = os.environ.get("MEDIA_ROOT")
LANGUAGES = [("en", "English"), ("de", "German")]
'''
API = '''from django.contrib import admin
from django.http import JsonResponse
from django.urls import path, re_path
from django.contrib.auth.models import User

def health(request):
    User.objects.count()  # needs the database: answers only once it is migrated
    return JsonResponse({"ok": True})

def items(request, pk):
    return JsonResponse({"pk": pk})

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/items/<int:pk>/", items),
    re_path(r"^api/v1/healthz/$", health, name="healthz"),
]
'''
LANGUAGE = '''from django.conf.urls.i18n import i18n_patterns
from django.http import HttpResponse
from django.urls import path

def home(request):
    return HttpResponse("home")

urlpatterns = i18n_patterns(path("", home, name="home"))
'''
ROOT_OK = '''from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("hi")),
               path("ping/", lambda request: HttpResponse("pong"))]
'''
NOTHING = '''from django.http import HttpResponse
from django.urls import path

def boom(request):
    raise RuntimeError("needs a service")

urlpatterns = [path("about/<slug:page>/", boom), path("contact/", boom)]
'''


def project(root: Path, urls: str) -> Path:
    """A small project ``api`` whose settings read DATABASE_URL, with ``urls``."""
    files = {"manage.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", '
                          '"api.settings")\n',
             "api/__init__.py": "", "api/settings.py": SETTINGS, "api/urls.py": urls,
             "api/wsgi.py": "application = None\n", "requirements.txt": "django\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def health_of(root: Path) -> tuple[str, list[str]]:
    result = run_init(root, force=False)
    site = tomllib.loads(result.path.read_text())["sites"]["api"]
    return site["health_path"], [n for n in result.notes if "health_path" in n]


def test_api_only_project_gets_its_health_route(tmp_path: Path) -> None:
    root = project(tmp_path / "api", API)
    path, notes = health_of(root)
    assert path == "/api/v1/healthz/"
    assert len(notes) == 1 and "/ answers 404" in notes[0] and "answers 200" in notes[0], notes
    assert not (root / "db.sqlite3").exists() and not (root / "x").exists()


def test_language_redirect_leads_to_the_prefixed_page(tmp_path: Path) -> None:
    path, notes = health_of(project(tmp_path / "api", LANGUAGE))
    assert path == "/en/"
    assert "/ answers 302 (to /en/)" in notes[0], notes


def test_root_that_answers_200_stays(tmp_path: Path) -> None:
    assert health_of(project(tmp_path / "api", ROOT_OK)) == ("/", [])


def test_nothing_answering_keeps_root_and_says_what_to_set(tmp_path: Path) -> None:
    path, notes = health_of(project(tmp_path / "api", NOTHING))
    assert path == "/"
    assert "kept \"/\"" in notes[0] and "/contact/ 500" in notes[0], notes
    assert "sites.api.health_path in djship.toml" in notes[0]


def test_settings_that_do_not_import_keep_root_and_say_why(tmp_path: Path) -> None:
    root = project(tmp_path / "api", ROOT_OK)
    (root / "api/settings.py").write_text('import os\nKEY = os.environ["NOT_SET_ANYWHERE"]\n')
    path, notes = health_of(root)
    assert path == "/"
    assert "KeyError" in notes[0] and "sites.api.health_path" in notes[0], notes


def test_candidates_put_health_routes_first_then_the_redirect_then_the_rest() -> None:
    routes = [Route("/admin/"), Route("/about/"), Route("/status/"), Route("/x/", "up"),
              Route("/check/", view="health_check.views.MainView"), Route("/")]
    root = Answer("/", 302, "/accounts/login/?next=/")
    assert candidates(routes, root) == ["/status/", "/x/", "/check/", "/accounts/login/",
                                        "/about/"]


@pytest.mark.parametrize(("tried", "path"), [
    ([Answer("/health/", 500), Answer("/about/", 200)], "/about/"),  # a 200 wins
    ([Answer("/health/", 500), Answer("/about/", 404)], "/health/"),  # else the health view
    ([Answer("/health/", 404), Answer("/about/", 500)], None),
])
def test_conclude_prefers_200_then_a_health_route(tried: list[Answer], path: str | None) -> None:
    found = conclude(Answer("/", 404), tried, {"/health/"}, "blog")
    assert found.path == path
    assert found.note and "sites.blog.health_path" in found.note
