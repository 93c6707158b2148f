"""Redis and Celery (issue 16 item 8): `djship init` finds a Celery app with a beat schedule,
writes the worker and beat processes and the site's Redis; provision puts Redis on the db
host; a deploy runs both processes. Beat sends a task every second; the worker runs it and
it counts in Redis; the app's page shows the count.

Two warm sandboxes for the module: ``web`` (web + worker) and ``db`` (Redis only; the site
uses SQLite). A third address, the machine running the tests, stands for everyone else.
"""

from __future__ import annotations

import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import DJSHIP, TRACEBACK, Project, Run, request, run_djship

from djship.sandbox.records import SandboxInfo
from djship.sandbox.testing import SandboxFactory

NAME = "beatshop"  # the folder, hence the project and site name `djship init` picks
DOMAIN = "beatshop.test"

FILES = {
    "manage.py": '''import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beatshop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
''',
    # kombu's Redis transport imports packaging without declaring it.
    "requirements.txt": "django>=4.2,<6\ncelery>=5.3\nredis>=5\npackaging\ngunicorn\n",
    "beatshop/__init__.py": "",
    "beatshop/settings.py": '''import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h]
INSTALLED_APPS = ["django.contrib.staticfiles"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "beatshop.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DATABASE_URL", "sqlite:///x")[10:]}}
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT")
MEDIA_ROOT = os.environ.get("MEDIA_ROOT")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_TZ = True
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
''',
    "beatshop/celery.py": '''from celery import Celery

app = Celery("beatshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {"tick": {"task": "beatshop.tasks.tick", "schedule": 1.0}}
app.autodiscover_tasks(["beatshop"])
''',
    "beatshop/tasks.py": '''import os

from celery import shared_task


@shared_task
def tick():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"]).incr("beatshop:ticks")
''',
    "beatshop/urls.py": '''import os

from django.http import HttpResponse
from django.urls import path


def ticks(request):
    import redis

    count = redis.Redis.from_url(os.environ["REDIS_URL"]).get("beatshop:ticks") or b"0"
    return HttpResponse(f"ticks={int(count)}")


urlpatterns = [path("", ticks)]
''',
    "beatshop/wsgi.py": '''import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beatshop.settings")
application = get_wsgi_application()
''',
}


@dataclass(frozen=True)
class Deployed:
    """The module's sandboxes, the project and what djship said."""

    web: SandboxInfo
    db: SandboxInfo
    project: Project
    init: Run
    provision: Run
    deploy: Run


def make(base: Path) -> Project:
    root = base / NAME
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    p = Project(root)
    p.git("config", "user.email", "tests@djship.invalid")
    p.git("config", "user.name", "djship tests")
    return p


@pytest.fixture(scope="module")
def deployed(warm_factory: SandboxFactory, tmp_path_factory: pytest.TempPathFactory
             ) -> Deployed:
    """init, the domain and hosts as init's notes ask, provision, deploy."""
    web, db = warm_factory(), warm_factory()
    p = make(tmp_path_factory.mktemp("redis"))
    init = run_djship([DJSHIP, "-C", str(p.root), "init"])
    assert init.returncode == 0, str(init)
    p.write("djship.toml", p.read("djship.toml").replace('"example.com"', f'"{DOMAIN}"'))
    p.write("djship.test.toml", "\n".join([
        web.host_entry(["web", "worker"]), db.host_entry(["db"]),
        f'[sites.{NAME}]\ndatabase = "sqlite"\n']))
    p.commit("beatshop")
    provision = p.provision()
    assert provision.returncode == 0, str(provision)
    deploy = p.djship("deploy")
    assert deploy.returncode == 0, str(deploy)
    return Deployed(web, db, p, init, provision, deploy)


def test_init_writes_worker_beat_and_redis(deployed: Deployed) -> None:
    site = tomllib.loads(deployed.project.read("djship.toml"))["sites"][NAME]
    assert site["processes"]["celery"]["command"] == "celery -A beatshop worker --loglevel info"
    assert site["processes"]["beat"]["command"].startswith("celery -A beatshop beat ")
    assert site["redis"] == {"enabled": True, "env": ["CELERY_BROKER_URL", "REDIS_URL"]}
    assert "beatshop/celery.py" in deployed.init.output


def test_beat_schedules_the_worker_runs_and_the_task_counts_in_redis(
        deployed: Deployed) -> None:
    deadline, page = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        page = request(deployed.web.address, "/", host=DOMAIN)
        if page.status == 200 and page.body.startswith("ticks=") and int(page.body[6:]) >= 2:
            break
        time.sleep(1)
    if page is None or page.status != 200 or int(page.body[6:]) < 2:
        logs = deployed.web.run(f"journalctl -u 'djship-{NAME}-*' -n 60 --no-pager -o cat",
                                check=False).stdout
        pytest.fail(f"{page}\n--- worker and beat logs\n{logs}")
    assert TRACEBACK not in deployed.deploy.output + deployed.provision.output


def test_each_name_gets_the_url_of_the_sites_own_user_and_database(deployed: Deployed) -> None:
    env = deployed.web.run(["cat", f"/etc/djship/{NAME}.env"]).stdout
    urls = {line.split("=", 1)[1].strip('"') for line in env.splitlines()
            if line.startswith(("REDIS_URL=", "CELERY_BROKER_URL="))}
    assert len(urls) == 1, env
    url = urls.pop()
    assert url.startswith(f"redis://djship-{NAME}:") and url.endswith(
        f"@{deployed.db.address}:6379/0"), "unexpected URL shape"
    password = url.split(":")[2].split("@")[0]
    acl = deployed.db.run(["cat", f"/etc/redis/djship.d/{NAME}.conf"]).stdout
    assert password not in acl and f"user djship-{NAME} on #" in acl
    mode = deployed.db.run(["stat", "-c", "%a %U", f"/etc/djship/{NAME}.redis.env"]).stdout
    assert mode.split() == ["600", "root"]


def _redis_says(box: SandboxInfo, host: str, words: str) -> str:
    """What Redis at ``host`` answers ``words`` (one inline command) from ``box``."""
    line = (words + "\r\n").encode()
    script = (f"import socket; s = socket.create_connection(({host!r}, 6379), timeout=5); "
              f"s.sendall({line!r}); print(s.recv(200).decode().strip())")
    return box.run(["python3", "-c", script]).stdout.strip()


def test_redis_wants_the_password_and_answers_only_the_sites_hosts(deployed: Deployed) -> None:
    db = deployed.db.address
    assert _redis_says(deployed.web, db, "PING").startswith("-NOAUTH"), "no password needed"
    assert _redis_says(deployed.web, db, "AUTH default nothing").startswith(("-WRONGPASS",
                                                                             "-ERR"))
    # Anyone else (this machine) gets nothing through the db host's firewall.
    with pytest.raises(OSError):
        socket.create_connection((db, 6379), timeout=3).close()


def test_provision_again_changes_nothing(deployed: Deployed) -> None:
    again = deployed.project.provision()
    assert again.returncode == 0, str(again)
    assert "no change" in again.output, str(again)


def test_websocket_upgrade_headers_pass_nginx_t(deployed: Deployed) -> None:
    from djship.config.loader import load
    from djship.steps.nginx import nginx_files

    config = load(deployed.project.root, "test")[0]
    asgi = config.project.model_copy(update={"wsgi": None, "asgi": "beatshop.asgi:app"})
    config = config.model_copy(update={"project": asgi})
    conf = nginx_files(config, NAME, None)[0].content.decode()
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    main = "events {}\nhttp {\n    include /tmp/djship-ws-site.conf;\n}\n"
    web = deployed.web
    web.run(["sh", "-c", "cat > /tmp/djship-ws-site.conf"], stdin=conf)
    web.run(["sh", "-c", "cat > /tmp/djship-ws-main.conf"], stdin=main)
    tested = web.run(["nginx", "-t", "-c", "/tmp/djship-ws-main.conf"], check=False)
    web.run(["rm", "-f", "/tmp/djship-ws-site.conf", "/tmp/djship-ws-main.conf"])
    assert tested.returncode == 0, tested.stderr


def test_removing_the_site_removes_its_redis_user(deployed: Deployed) -> None:
    """Last: the site goes. Its Redis user goes with it; its password stays root-only."""
    url = deployed.web.run(["grep", "^REDIS_URL=", f"/etc/djship/{NAME}.env"]).stdout
    password = url.strip().split(":")[2].split("@")[0]
    removed = deployed.project.djship("site", "remove", NAME, "--yes")
    assert removed.returncode == 0, str(removed)
    db = deployed.db
    assert db.run(["test", "-e", f"/etc/redis/djship.d/{NAME}.conf"], check=False).returncode
    assert db.run(["test", "-e", f"/etc/djship/{NAME}.redis.env"]).returncode == 0
    said = _redis_says(db, "127.0.0.1", f"AUTH djship-{NAME} {password}")
    assert said.startswith("-WRONGPASS"), "the removed site's user still logs in"
