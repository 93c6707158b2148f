"""The two contenders of bench/deploy.py: djship and the hand-written baseline procedure.

Each deploys its own copy of /work/shared/bench/sample-site to its own sandbox. A site knows
the command lines of a cold deploy and of a redeploy, how to make the one-line and CSS-only
changes in its copy, and how to ask its server (through nginx, with the Host header its nginx
answers to) whether a change is visible. HTTP goes only to the sandbox's address.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from djship.sandbox.records import SandboxInfo

SHARED = Path(os.environ.get("DJSHIP_BENCH_SHARED", "/work/shared/bench"))
SAMPLE = SHARED / "sample-site"
BASELINE_SCRIPT = SHARED / "baseline-deploy.sh"
DJSHIP = str(Path(sys.executable).with_name("djship"))
VIEWS = "notes/views.py"
CSS = "notes/static/notes/site.css"
CSS_URL = "/static/notes/site.css"
DOMAIN = "mysite.test"
VERSION_LINE = re.compile(r'^SITE_VERSION = ".*"$', re.M)

DJSHIP_TOML = f"""\
# Written by bench/deploy.py: the sample site as a djship project.
[project]
name = "mysite"
settings = "mysite.settings"
wsgi = "mysite.wsgi:application"
dependencies = "requirements"
requirements = "requirements.txt"

[sites.mysite]
domains = ["{DOMAIN}"]
database = "postgres"

[sites.mysite.env]
DEBUG = "0"

"""


def fetch(address: str, host: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of GET http://address/path with this Host header; (0, '') on errors."""
    conn = http.client.HTTPConnection(address, 80, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""
    finally:
        conn.close()


def copy_sample(dest: Path) -> Path:
    """A writable copy of the sample site (the shared one is read-only)."""
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "db.sqlite3"))
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return dest


class Site:
    """One contender: a copy of the sample site aimed at one sandbox."""

    label = "?"

    def __init__(self, root: Path, box: SandboxInfo, host_header: str) -> None:
        self.root, self.box, self.host_header = root, box, host_header

    def cold(self) -> list[list[str]]:
        """The command lines that take a bare server to the first page, in order."""
        raise NotImplementedError

    def redeploy(self) -> list[str]:
        """The command line of a redeploy."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The environment its commands run with."""
        return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}

    def changed(self, message: str) -> None:
        """Called after each edit (djship commits it)."""

    def set_version(self, version: int) -> None:
        """The one-line change: SITE_VERSION in notes/views.py."""
        path = self.root / VIEWS
        text = VERSION_LINE.sub(f'SITE_VERSION = "{version}"', path.read_text())
        path.write_text(text)
        self.changed(f"site version {version}")

    def set_css(self, marker: str) -> None:
        """The CSS-only change: the stylesheet's last rule carries ``marker``."""
        path = self.root / CSS
        lines = [x for x in path.read_text().splitlines() if not x.startswith(".bench ")]
        path.write_text("\n".join([*lines, f".bench {{ --change: {marker}; }}"]) + "\n")
        self.changed(f"css {marker}")

    def serve_a_while(self, requests: int = 30) -> None:
        """Ask for the page a few times, so that every gunicorn worker has imported the code
        it serves, as on a live site (an idle worker would import the new code on its first
        request, before any restart)."""
        for _ in range(requests):
            fetch(self.box.address, self.host_header, "/")

    def serves_version(self, version: int) -> bool:
        """Whether its page shows "site version N"."""
        status, body = fetch(self.box.address, self.host_header, "/")
        return status == 200 and f"site version {version}<" in body

    def serves_css(self, marker: str) -> bool:
        """Whether its nginx serves the stylesheet with ``marker``."""
        status, body = fetch(self.box.address, self.host_header, CSS_URL)
        return status == 200 and f"--change: {marker};" in body


class DjshipSite(Site):
    """The sample site in a git repository with a djship.toml, deployed by ``djship``."""

    label = "djship"

    def __init__(self, base: Path, box: SandboxInfo, djship: str = DJSHIP) -> None:
        root = copy_sample(base / "djship-site")
        (root / "djship.toml").write_text(DJSHIP_TOML + box.host_entry(("web", "db")))
        super().__init__(root, box, DOMAIN)
        self.executable = djship
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "bench@djship.invalid")
        self.git("config", "user.name", "djship bench")
        self.changed("the sample site")

    def git(self, *args: str) -> None:
        """Run git in the project."""
        subprocess.run(["git", "-C", str(self.root), *args], check=True, capture_output=True)

    def changed(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def env(self) -> dict[str, str]:
        """As installed: pip compiles a package's bytecode at install, so djship runs from
        its .pyc files (a shell with PYTHONDONTWRITEBYTECODE would compile every module on
        every run, 0.1-0.2 s that no user pays)."""
        env = super().env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def djship(self, *args: str) -> list[str]:
        """A djship command line for this project."""
        return [self.executable, "-C", str(self.root), *args]

    def cold(self) -> list[list[str]]:
        return [self.djship("provision"), self.djship("deploy")]

    def redeploy(self) -> list[str]:
        return self.djship("deploy")


class BaselineSite(Site):
    """The sample site in a plain folder, deployed by ../shared/bench/baseline-deploy.sh."""

    label = "baseline"

    def __init__(self, base: Path, box: SandboxInfo) -> None:
        # The script's nginx answers to the server's address (server_name $HOST).
        super().__init__(copy_sample(base / "baseline-site"), box, box.address)

    def env(self) -> dict[str, str]:
        return {**super().env(), "SSH_KEY": str(self.box.identity_file), "PROJECT": "mysite"}

    def script(self, mode: str) -> list[str]:
        """A baseline-deploy.sh command line."""
        return ["bash", str(BASELINE_SCRIPT), mode, self.box.address, str(self.root)]

    def cold(self) -> list[list[str]]:
        return [self.script("first")]

    def redeploy(self) -> list[str]:
        return self.script("redeploy")
