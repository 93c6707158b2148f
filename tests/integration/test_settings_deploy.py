"""A `django-admin startproject` made production-ready by `djship init --settings`, deployed
to a sandbox (issue 9, Done-when 3): its pages over the site's domain, static files from
nginx, a POST form through CSRF, and an unhandled exception mailed to ADMINS through SMTP
settings from the environment, caught by an SMTP sink this module runs on the host's side of
the sandbox bridge.

One warm sandbox for the module: provisioned and deployed once, then only read.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_string, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiosmtpd.controller import Controller
from helpers import DJSHIP, TRACEBACK, Project, Run, djship_env, request, run_djship

from djship.sandbox.records import SandboxInfo

NAME = "shipdemo"  # the folder, hence the project and site name `djship init` picks
DOMAIN = "shipdemo.test"
GATEWAY = "10.213.77.1"  # the host's address on the sandbox bridge; sandboxes reach it
ADMIN = "ops@shipdemo.test"
SENDER = "errors@shipdemo.test"
CSS_MARKER = "djship-settings-test-css"
BOOM = "unhandled error raised by the djship settings test"
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")

VIEWS = f'''from django.http import HttpResponse
from django.shortcuts import render


def index(request):
    """The page: a stylesheet and a POST form."""
    if request.method == "POST":
        return HttpResponse("thanks, " + request.POST.get("name", "?"), content_type="text/plain")
    return render(request, "pages/index.html")


def boom(request):
    """A bug: an unhandled exception."""
    raise RuntimeError("{BOOM}")
'''
URLS = '''from django.urls import path

from . import views

urlpatterns = [path("", views.index), path("boom/", views.boom)]
'''
TEMPLATE = '''{% load static %}<!doctype html>
<html><head><title>shipdemo</title>
<link rel="stylesheet" href="{% static 'pages/site.css' %}"></head>
<body><h1>shipdemo works</h1>
<form method="post">{% csrf_token %}<input name="name"><button>Send</button></form>
</body></html>
'''
CSS = f"/* {CSS_MARKER} */\nbody {{ font-family: sans-serif; }}\n"


class Sink:
    """An SMTP server (aiosmtpd handler) keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message."""
        content = envelope.content.decode("utf-8", "replace")
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), content))
        return "250 OK"


@dataclass
class Smtp:
    """The running sink and where it listens."""

    sink: Sink
    port: int

    @property
    def url(self) -> str:
        return f"smtp://{GATEWAY}:{self.port}"


@pytest.fixture(scope="module")
def sandbox(warm_sandbox: SandboxInfo) -> SandboxInfo:
    """Packages preinstalled: this module is about settings, not installing packages."""
    return warm_sandbox


@pytest.fixture(scope="module")
def smtp(sandbox: SandboxInfo) -> Iterator[Smtp]:
    """An SMTP sink on the bridge address (it exists once a sandbox is up)."""
    with socket.socket() as s:
        s.bind((GATEWAY, 0))
        port = int(s.getsockname()[1])
    sink = Sink()
    controller = Controller(sink, hostname=GATEWAY, port=port)
    controller.start()
    try:
        yield Smtp(sink, port)
    finally:
        controller.stop()


def djship(project: Project, *args: str, stdin: str | None = None) -> Run:
    """``djship -C ROOT -e test ARGS``, with ``stdin`` when given."""
    if stdin is None:
        return project.djship(*args)
    argv = [DJSHIP, "-C", str(project.root), "-e", "test", *args]
    began = time.monotonic()
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=600,
                          env=djship_env())
    return Run(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - began)


def startproject(base: Path) -> Project:
    """`django-admin startproject` plus a tiny app, in its own git repository."""
    root = base / NAME
    root.mkdir()
    subprocess.run([str(DJANGO_ADMIN), "startproject", "mysite", str(root)], check=True,
                   capture_output=True)
    p = Project(root)
    p.write("pages/__init__.py", "")
    p.write("pages/views.py", VIEWS)
    p.write("pages/urls.py", URLS)
    p.write("pages/templates/pages/index.html", TEMPLATE)
    p.write("pages/static/pages/site.css", CSS)
    settings = p.read("mysite/settings.py")
    assert "'django.contrib.staticfiles',\n" in settings
    p.write("mysite/settings.py", settings.replace(
        "'django.contrib.staticfiles',\n", "'django.contrib.staticfiles',\n    'pages',\n", 1))
    urls = p.read("mysite/urls.py")
    p.write("mysite/urls.py", urls.replace("from django.urls import path",
                                           "from django.urls import include, path").replace(
        "    path('admin/', admin.site.urls),\n",
        "    path('admin/', admin.site.urls),\n    path('', include('pages.urls')),\n"))
    assert "include('pages.urls')" in p.read("mysite/urls.py")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    p.git("config", "user.email", "tests@djship.invalid")
    p.git("config", "user.name", "djship tests")
    p.commit("startproject and a page")
    return p


@dataclass
class Deployed:
    """The patched, provisioned and deployed project, and what the commands printed."""

    project: Project
    init: Run
    check: Run
    deploy: Run


@pytest.fixture(scope="module")
def deployed(sandbox: SandboxInfo, smtp: Smtp, tmp_path_factory: pytest.TempPathFactory
             ) -> Deployed:
    """init, init --settings --yes, an overlay aimed at the sandbox, provision, deploy."""
    p = startproject(tmp_path_factory.mktemp("settings"))
    init = run_djship([DJSHIP, "-C", str(p.root), "init"])
    assert init.returncode == 0, str(init)
    # What `djship init` asks the user to do: put the real domain in place of the placeholder.
    p.write("djship.toml", p.read("djship.toml").replace('"example.com"', f'"{DOMAIN}"'))
    # The overlay: the sandbox as the only host; plain HTTP (no certificate for .test);
    # who gets error mails. The SMTP URL is set with `djship env set`, as secrets are.
    p.write("djship.test.toml", sandbox.host_entry(["web", "worker", "db"]) + f"""
[sites.{NAME}.env]
DJANGO_SECURE_SSL = "0"
ADMINS = "Site Ops <{ADMIN}>"
SERVER_EMAIL = "{SENDER}"
""")
    fix = run_djship([DJSHIP, "-C", str(p.root), "init", "--settings", "--yes"])
    assert fix.returncode == 0, str(fix)
    assert "+SECRET_KEY = os.environ.get('SECRET_KEY', '')" in fix.stdout, str(fix)
    p.commit("djship init --settings")
    assert not [f for f in p.git("ls-files").split() if f.startswith(".djship/")]  # backups
    check = djship(p, "check")
    provision = p.provision()
    assert provision.returncode == 0, str(provision)
    env = djship(p, "env", "set", "--no-restart", "EMAIL_URL=-", stdin=smtp.url + "\n")
    assert env.returncode == 0, str(env)
    deploy = djship(p, "deploy")
    assert deploy.returncode == 0, str(deploy)
    return Deployed(p, fix, check, deploy)


def test_patched_startproject_passes_the_checks_deploy_runs(deployed: Deployed) -> None:
    check = deployed.check
    assert check.returncode == 0, str(check)
    assert "0 error(s)" in check.stderr
    assert TRACEBACK not in check.output + deployed.deploy.output
    line = next((ln for ln in deployed.deploy.stderr.splitlines()
                 if re.match(r"local\s+check\s", ln)), "")
    assert re.search(r"\sok\s.*0 error\(s\)", line), str(deployed.deploy)
    assert "django-insecure-" not in deployed.deploy.output + check.output


def test_page_is_served_over_the_site_domain(deployed: Deployed, sandbox: SandboxInfo) -> None:
    page = request(sandbox.address, "/", host=DOMAIN)
    assert page.status == 200, page
    assert "<h1>shipdemo works</h1>" in page.body
    # DEBUG is off: a missing page is a plain 404, not Django's debug page.
    missing = request(sandbox.address, "/no-such-page/", host=DOMAIN)
    assert missing.status == 404 and "URLconf" not in missing.body, missing.body[:300]


def test_static_file_resolves_through_nginx(deployed: Deployed, sandbox: SandboxInfo) -> None:
    page = request(sandbox.address, "/", host=DOMAIN)
    m = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.body)
    assert m, page.body[:500]
    assert m.group(1) == "/static/pages/site.css"
    css = request(sandbox.address, m.group(1), host=DOMAIN)
    assert css.status == 200, css
    assert CSS_MARKER in css.body
    assert css.headers.get("server", "").startswith("nginx"), css.headers
    # nginx answers from STATIC_ROOT, the folder djship gave the settings through the env.
    on_disk = sandbox.run(["cat", f"/srv/{NAME}/shared/static/pages/site.css"]).stdout
    assert CSS_MARKER in on_disk


def test_post_form_passes_csrf_and_is_refused_without_token(
        deployed: Deployed, sandbox: SandboxInfo) -> None:
    page = request(sandbox.address, "/", host=DOMAIN)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    cookie = page.cookies.get("csrftoken")
    assert token and cookie, (page.headers, page.body[:500])
    headers = {"Cookie": f"csrftoken={cookie}", "Origin": f"http://{DOMAIN}",
               "Referer": f"http://{DOMAIN}/",
               "Content-Type": "application/x-www-form-urlencoded"}
    ok = request(sandbox.address, "/", method="POST", host=DOMAIN, headers=headers,
                 body=urlencode({"csrfmiddlewaretoken": token.group(1), "name": "Ada"}))
    assert ok.status == 200 and ok.body == "thanks, Ada", (ok.status, ok.body[:500])
    refused = request(sandbox.address, "/", method="POST", host=DOMAIN, headers=headers,
                      body=urlencode({"name": "Mallory"}))
    assert refused.status == 403, (refused.status, refused.body[:300])
    assert "thanks" not in refused.body


def test_unhandled_exception_is_mailed_to_admins(deployed: Deployed, sandbox: SandboxInfo,
                                                 smtp: Smtp) -> None:
    before = len(smtp.sink.messages)
    resp = request(sandbox.address, "/boom/", host=DOMAIN)
    assert resp.status == 500, resp
    assert BOOM not in resp.body  # DEBUG is off: no traceback for the visitor
    deadline = time.monotonic() + 60
    while len(smtp.sink.messages) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(smtp.sink.messages) > before, "no mail reached the SMTP sink within 60 s"
    time.sleep(3)  # a second copy (two mail handlers) would arrive by now
    mails = smtp.sink.messages[before:]
    assert len(mails) == 1, [m[2][:200] for m in mails]
    sender, recipients, content = mails[0]
    assert recipients == [ADMIN] and sender == SENDER
    mail = message_from_string(content, policy=policy.default)
    assert "Internal Server Error: /boom/" in str(mail["Subject"])
    body = mail.get_body(("plain",))
    text = body.get_content() if body is not None else content
    assert "RuntimeError" in text and BOOM in text
    # Django's report masks the settings: the site's secret key is not in the mail.
    secret = sandbox.run(["sed", "-n", "s/^SECRET_KEY=//p", f"/etc/djship/{NAME}.env"]).stdout
    secret = secret.strip().strip('"')
    assert len(secret) >= 40 and secret not in content
