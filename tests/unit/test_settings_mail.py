"""Patched settings mail server errors to ADMINS through the SMTP settings from the environment."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from test_settings_support import production_environ, startproject, with_config

from djship.settings import apply_plan, plan_settings

BOOM_VIEW = '''

def boom(request):
    raise RuntimeError("boom from the djship mail test")


urlpatterns.append(path("boom/", boom))
'''
# Runs inside the patched project: a request that raises, through Django's test client.
CLIENT = r"""
import django, json
django.setup()
from django.test import Client
r = Client(raise_request_exception=False).get("/boom/", secure=True, HTTP_HOST="example.com")
print(json.dumps({"status": r.status_code}))
"""


class Sink:
    """An SMTP server that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (aiosmtpd handler hook)."""
        content = envelope.content.decode("utf-8", "replace")
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), content))
        return "250 OK"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    """A running SMTP sink on 127.0.0.1 and its port."""
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def test_server_error_is_mailed_to_admins(tmp_path: Path, smtp: tuple[Sink, int]) -> None:
    sink, port = smtp
    root = startproject(tmp_path / "site")
    apply_plan(root, plan_settings(root, with_config(root), "site"))
    with (root / "mysite" / "urls.py").open("a") as urls:
        urls.write(BOOM_VIEW)
    env = production_environ(root, tmp_path, DJANGO_SETTINGS_MODULE="mysite.settings",
                             ADMINS="Ops Team <ops@example.com>", EMAIL_HOST="127.0.0.1",
                             EMAIL_PORT=str(port), SERVER_EMAIL="site@example.com")
    proc = subprocess.run([sys.executable, "-c", CLIENT], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"status": 500}
    # The console handler logged the error to stderr (the journal, under systemd).
    assert "ERROR django.request: Internal Server Error: /boom/" in proc.stderr
    assert len(sink.messages) == 1
    sender, recipients, content = sink.messages[0]
    assert recipients == ["ops@example.com"] and sender == "site@example.com"
    assert "boom from the djship mail test" in content


def test_email_url_configures_smtp(tmp_path: Path) -> None:
    root = startproject(tmp_path / "site")
    apply_plan(root, plan_settings(root, with_config(root), "site"))
    env = production_environ(root, tmp_path, DJANGO_SETTINGS_MODULE="mysite.settings",
                             EMAIL_URL="smtp+tls://mailer:p%40ss@smtp.example.net:587")
    script = ("from django.conf import settings as s; print(s.EMAIL_HOST, s.EMAIL_PORT, "
              "s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["smtp.example.net", "587", "mailer", "p@ss", "True", "False"]
