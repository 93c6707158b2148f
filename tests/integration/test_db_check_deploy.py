"""A project whose app registers a system check that queries the database (issue 23 item 2),
tagged as a third-party API-schema check is: its first deploy, by `djship init`, what
djship's own messages say, `provision` and `deploy` (no --skip-checks), serves the page.

Locally the check meets djship's empty stand-in database: a warning, handed to the server.
On the server nothing is live and the database has no migration applied, so the release is
migrated before its `check --deploy`, which then sees the real tables (and the content types
migrate created). One warm sandbox for the module.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import DJSHIP, TRACEBACK, Project, Run, request, run_djship

from djship.sandbox.records import SandboxInfo

NAME = "schemashop"  # the folder, hence the project and site name `djship init` picks
DOMAIN = "schemashop.test"
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")

# As an API-schema package's check does: it reads content types. With no table it raises;
# with the table but no rows (a check run before migrate created them) it reports an error.
CHECKS = '''from django.core import checks


@checks.register("api_schema", deploy=True)
def schema_reads_content_types(app_configs, **kwargs):
    from django.contrib.contenttypes.models import ContentType
    if not ContentType.objects.exists():
        return [checks.Error("the API schema found no content types", id="api.E001")]
    return []
'''
APPS = '''from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self):
        from . import checks  # noqa: F401
'''
VIEWS = '''from django.contrib.contenttypes.models import ContentType
from django.http import HttpResponse


def index(request):
    return HttpResponse(f"schemashop: {ContentType.objects.count()} content types",
                        content_type="text/plain")
'''
URLS = '''from django.urls import path

from . import views

urlpatterns = [path("", views.index)]
'''


def startproject(base: Path, name: str = NAME, checks: str = CHECKS) -> Project:
    """`django-admin startproject` plus the app with the check, in its own git repository."""
    root = base / name
    root.mkdir()
    subprocess.run([str(DJANGO_ADMIN), "startproject", "mysite", str(root)], check=True,
                   capture_output=True)
    p = Project(root)
    for rel, text in {"api/__init__.py": "", "api/apps.py": APPS, "api/checks.py": checks,
                      "api/views.py": VIEWS.replace("schemashop", name),
                      "api/urls.py": URLS}.items():
        p.write(rel, text)
    settings = p.read("mysite/settings.py")
    p.write("mysite/settings.py", settings.replace(
        "'django.contrib.staticfiles',\n", "'django.contrib.staticfiles',\n    'api',\n", 1))
    urls = p.read("mysite/urls.py")
    p.write("mysite/urls.py", urls.replace("from django.urls import path",
                                           "from django.urls import include, path").replace(
        "    path('admin/', admin.site.urls),\n",
        "    path('admin/', admin.site.urls),\n    path('', include('api.urls')),\n"))
    assert "include('api.urls')" in p.read("mysite/urls.py")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    p.git("config", "user.email", "tests@djship.invalid")
    p.git("config", "user.name", "djship tests")
    p.commit("startproject and an app with a check that queries the database")
    return p


# A check that still fails on the migrated database: the late check must refuse the release.
FAILING = '''from django.core import checks


@checks.register("api_schema", deploy=True)
def schema_needs_an_app_it_lacks(app_configs, **kwargs):
    from django.contrib.contenttypes.models import ContentType
    if not ContentType.objects.filter(app_label="billing").exists():
        return [checks.Error("the API schema needs billing's content types", id="api.E002")]
    return []
'''
BAD = "schemabad"


def shipped(p: Project, sandbox: SandboxInfo, name: str, domain: str) -> None:
    """`djship init`, the domain and host as init asks, `init --settings --yes`, committed."""
    init = run_djship([DJSHIP, "-C", str(p.root), "init"])
    assert init.returncode == 0, str(init)
    p.write("djship.toml", p.read("djship.toml").replace('"example.com"', f'"{domain}"'))
    # The sandbox as the only host; plain HTTP (no certificate for .test).
    p.write("djship.test.toml", sandbox.host_entry(["web", "worker", "db"]) + f"""
[sites.{name}.env]
DJANGO_SECURE_SSL = "0"
""")
    fix = run_djship([DJSHIP, "-C", str(p.root), "init", "--settings", "--yes"])
    assert fix.returncode == 0, str(fix)
    p.commit("djship init --settings")


@dataclass
class Deployed:
    """The project and what its commands printed."""

    project: Project
    check: Run
    deploy: Run


@pytest.fixture(scope="module")
def deployed(warm_sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory
             ) -> Deployed:
    """init, the domain and host as init asks, init --settings --yes, provision, deploy."""
    p = startproject(tmp_path_factory.mktemp("dbcheck"))
    shipped(p, warm_sandbox, NAME, DOMAIN)
    check = p.djship("check")
    provision = p.provision()
    assert provision.returncode == 0, str(provision)
    deploy = p.djship("deploy")
    assert deploy.returncode == 0, str(deploy)
    return Deployed(p, check, deploy)


def test_local_check_hands_the_database_check_to_the_server(deployed: Deployed) -> None:
    check = deployed.check
    assert check.returncode == 0, str(check)  # a warning, not an error
    said = " ".join(check.stderr.split())
    assert ("api.checks.schema_reads_content_types needs the real database: checked on the "
            "server after migrate") in said, said
    assert TRACEBACK not in check.output


def test_first_deploy_migrates_before_the_check_and_serves(deployed: Deployed,
                                                           warm_sandbox: SandboxInfo) -> None:
    out = " ".join(deployed.deploy.stderr.split())
    assert "check --deploy after migrate: the database has no migration applied yet" in out, out
    assert "check --deploy after the first migrate" in out, out
    assert "--skip-checks" not in " ".join(deployed.deploy.argv)
    assert TRACEBACK not in deployed.deploy.output
    page = request(warm_sandbox.address, "/", host=DOMAIN)
    assert page.status == 200, (page.status, page.body[:500])
    m = re.fullmatch(r"schemashop: (\d+) content types", page.body.strip())
    assert m and int(m[1]) > 0, page.body[:500]  # the rows migrate created


def test_a_late_check_that_fails_refuses_and_its_hint_leads_to_a_served_site(
        deployed: Deployed, warm_sandbox: SandboxInfo,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    domain = f"{BAD}.test"
    p = startproject(tmp_path_factory.mktemp("dbbad"), BAD, FAILING)
    shipped(p, warm_sandbox, BAD, domain)
    provision = p.provision()
    assert provision.returncode == 0, str(provision)
    refused = p.djship("deploy")
    assert refused.returncode == 1, str(refused)
    said = " ".join(refused.stderr.split())
    assert "check failed on" in said and "step=check" in said, said
    assert "api.E002" in said, said  # the check's own error, not the program's text
    assert "SILENCED_SYSTEM_CHECKS" in said and "`djship deploy` again" in said, said
    assert "traffic →" not in said  # never switched
    assert request(warm_sandbox.address, "/", host=domain).status != 200
    # The way forward the hint gives: silence it (deliberate here), deploy again. The
    # database was migrated: the check now runs before migrate, and passes.
    settings = p.read("mysite/settings.py")
    p.write("mysite/settings.py", settings + '\nSILENCED_SYSTEM_CHECKS = ["api.E002"]\n')
    p.commit("silence api.E002")
    again = p.djship("deploy")
    assert again.returncode == 0, str(again)
    assert "check --deploy after migrate" not in again.stderr
    page = request(warm_sandbox.address, "/", host=domain)
    assert page.status == 200, (page.status, page.body[:500])
    assert page.body.startswith(f"{BAD}: ")
