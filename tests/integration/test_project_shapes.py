"""Real projects are messier than the example (issue 5): one generated project per shape,
each deployed as its own site, each page fetched through nginx with the site's domain.

Two warm sandboxes for the module, booted in parallel: Debian 12 (python3 3.11) serves most
shapes as separate sites; Debian 13 (python3 3.13) serves a project asking for Python >=3.12.
Every site is provisioned and then all are deployed at once (deploys of different sites to
one host may run in parallel). The refusal tests run afterwards against sites that are live,
and check that the old release keeps serving.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import TRACEBACK, Project, Run, request
from shapes import SETTINGS, django_files, djship_toml, make_shape, uv_lock

from djship.init import render_config
from djship.project import detect
from djship.sandbox.records import SandboxInfo
from djship.sandbox.testing import SandboxFactory
from djship.steps import packages as apt

# As in conftest: the main release (DJSHIP_SANDBOX_RELEASE) and the same warm package list.
RELEASE = os.environ.get("DJSHIP_SANDBOX_RELEASE", "bookworm")
SYSTEM_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}[RELEASE]
WARM_PACKAGES = list(dict.fromkeys([*apt.BASE, *apt.WEB, *apt.DB]))

SLOW_IMPORT = 35  # seconds the slow app's wsgi.py sleeps at import (> gunicorn's default 30)
DEPLOYS_AT_ONCE = 4


@dataclass
class Site:
    """A generated project, the sandbox it runs on, and its first deploy."""

    name: str
    project: Project
    sandbox: SandboxInfo
    first: Run | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        """The site's domain."""
        return f"{self.name}.test"

    def get(self, path: str = "/") -> tuple[int, str, dict[str, str]]:
        """(status, body, headers) of a request through nginx with the site's Host."""
        resp = request(self.sandbox.address, path, host=self.domain, timeout=30)
        return resp.status, resp.body, resp.headers

    def about(self) -> dict[str, object]:
        """The JSON the project's index view answers, served through nginx."""
        status, body, headers = self.get("/")
        assert status == 200, (self.name, status, body[:500])
        assert headers.get("server", "").startswith("nginx"), headers
        data: dict[str, object] = json.loads(body)
        assert data["shape"] == self.name
        return data

    def packages(self) -> dict[str, str]:
        """Distribution versions installed in the live release, as the app reports them."""
        found = self.about()["packages"]
        assert isinstance(found, dict)
        return found

    def live(self) -> str:
        """The release ``current`` points at."""
        return self.sandbox.run(f'basename "$(readlink /srv/{self.name}/current)"').stdout.strip()

    def releases(self) -> list[str]:
        """Release folders on the server."""
        out = self.sandbox.run(f"ls -1 /srv/{self.name}/releases").stdout
        return sorted(out.split())


# --- the projects ----------------------------------------------------------------------

DJANGO = "Django>=5.2,<5.3\n"


def split_settings() -> dict[str, str]:
    """Settings package; manage.py and wsgi.py default to the dev module."""
    files = django_files("split", settings="mysite.settings.production",
                         default_settings="mysite.settings.dev")
    files.update({
        "mysite/settings/__init__.py": "",
        "mysite/settings/base.py": SETTINGS.replace(".parent.parent", ".parent.parent.parent"),
        "mysite/settings/dev.py": ('from .base import *  # noqa: F403\n\nDEBUG = True\n'
                                  'SECRET_KEY = "dev-only"\nALLOWED_HOSTS = ["*"]\n'
                                  'SETTINGS_NAME = "dev"\n'),
        "mysite/settings/production.py": ('from .base import *  # noqa: F403\n\n'
                                          'SETTINGS_NAME = "production"\n'),
        "requirements.txt": DJANGO,
        "djship.toml": djship_toml("split", settings="mysite.settings.production"),
    })
    return files


NESTED_BASE = "Django>=5.2,<5.3\n-c ../constraints.txt\n"


def nested_requirements() -> dict[str, str]:
    """requirements.txt -> requirements/prod.txt -> deps/base.txt -c constraints.txt."""
    return {**django_files("nested"),
            "requirements.txt": "-r requirements/prod.txt\n",
            "requirements/prod.txt": "-r ../deps/base.txt\ngunicorn==22.0.0\n",
            "deps/base.txt": NESTED_BASE,
            "constraints.txt": "sqlparse==0.5.0\n",
            "djship.toml": djship_toml("nested")}


UV_PYPROJECT = '''[project]
name = "{name}"
version = "0.1.0"
requires-python = "{python}"
dependencies = ["django>=5.2,<5.3"]
'''


def uv_project(name: str, python: str) -> dict[str, str]:
    """pyproject.toml without [build-system]; uv.lock is added once a server made it."""
    return {**django_files(name), "pyproject.toml": UV_PYPROJECT.format(name=name, python=python),
            "djship.toml": djship_toml(name, dependencies="uv")}


POETRY_PYPROJECT = '''[tool.poetry]
name = "poetryshape"
version = "0.1.0"
description = "a poetry 1.x project"
authors = ["djship tests <tests@djship.invalid>"]
package-mode = false

[tool.poetry.dependencies]
python = "^3.11"
django = ">=5.2,<5.3"
six = "^1.15"

[tool.poetry.group.dev.dependencies]
idna = "^3.0"
'''


def _locked(name: str, version: str, wheel: str, digest: str, python: str,
            deps: str = "") -> str:
    return (f'[[package]]\nname = "{name}"\nversion = "{version}"\ndescription = ""\n'
            f'optional = false\npython-versions = "{python}"\nfiles = [\n'
            f'    {{file = "{wheel}", hash = "sha256:{digest}"}},\n]\n{deps}\n')


# A poetry 1.8 lock (lock-version 2.0: no groups or markers per package). six is pinned at
# 1.15.0 although pyproject.toml allows ^1.15 (newer exist); idna is dev-only; tzdata only on
# Windows. The hashes are those of the wheels on the package index.
POETRY_LOCK = (
    "# This file is automatically @generated by Poetry 1.8.3 and should not be changed by hand."
    "\n\n"
    + _locked("asgiref", "3.13.0", "asgiref-3.13.0-py3-none-any.whl",
              "f9596a2434512686473d50f96ff6207fbba49ae1a785dfac614df4aeb085674d", ">=3.11")
    + _locked("django", "5.2.19", "django-5.2.19-py3-none-any.whl",
              "5965d974a5218a2b68a11dd1276434707f23886525c23f0598eccedaf4f4ca00", ">=3.10",
              '\n[package.dependencies]\nasgiref = ">=3.8.1"\nsqlparse = ">=0.3.1"\n'
              'tzdata = {version = "*", markers = "sys_platform == \\"win32\\""}\n\n'
              '[package.extras]\nargon2 = ["argon2-cffi (>=19.1.0)"]\nbcrypt = ["bcrypt"]\n')
    + _locked("idna", "3.20", "idna-3.20-py3-none-any.whl",
              "ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c", ">=3.8")
    + _locked("six", "1.15.0", "six-1.15.0-py2.py3-none-any.whl",
              "8b74bedcbbbaca38ff6d7491d76f2b06b3592611af620f8426e82dddb04a5ced",
              ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*")
    + _locked("sqlparse", "0.6.1", "sqlparse-0.6.1-py3-none-any.whl",
              "3be5a72d04c873d690d7c6dedd33d6fae2ef82759881ceec02fc2efd0cba564f", ">=3.8")
    + _locked("tzdata", "2026.6", "tzdata-2026.6-py2.py3-none-any.whl",
              "0a10eec6e13ef16b627fabed9a5f2ba61a62b1c67f327305f4e7e412a70b4aec", ">=2")
    + '[metadata]\nlock-version = "2.0"\npython-versions = "^3.11"\n'
      'content-hash = "5d1f0c7c2b0b8c3f9f1f3d1b0f6c5a8e4b2d7c9a1e3f5b7d9c1a3e5f7b9d1c3e"\n'
)


def poetry_project() -> dict[str, str]:
    """A poetry 1.x project (dependencies in [tool.poetry]) with poetry.lock."""
    return {**django_files("poetry"), "pyproject.toml": POETRY_PYPROJECT,
            "poetry.lock": POETRY_LOCK, "djship.toml": djship_toml("poetry",
                                                                    dependencies="poetry")}


def asgi_only() -> dict[str, str]:
    """No wsgi.py; an async view; project.asgi only."""
    return {**django_files("asgi", asgi_only=True), "requirements.txt": DJANGO,
            "djship.toml": djship_toml("asgi", asgi_only=True)}


def no_gunicorn() -> dict[str, str]:
    """requirements.txt lists Django and nothing else."""
    return {**django_files("nogunicorn"), "requirements.txt": DJANGO,
            "djship.toml": djship_toml("nogunicorn")}


def slow_start() -> dict[str, str]:
    """wsgi.py sleeps at import, as apps that warm caches do; health_timeout = 60."""
    files = django_files("slow")
    files["mysite/wsgi.py"] = files["mysite/wsgi.py"].replace(
        "import os\n", f"import os\nimport time\n\ntime.sleep({SLOW_IMPORT})\n", 1)
    return {**files, "requirements.txt": DJANGO,
            "djship.toml": djship_toml("slow", health_timeout=60)}


def health_path() -> dict[str, str]:
    """404 on / (no index route), 200 on /healthz; health_path = "/healthz"."""
    files = django_files("healthz")
    files["mysite/urls.py"] = files["mysite/urls.py"].replace('    path("", views.index),\n', "")
    return {**files, "requirements.txt": DJANGO,
            "djship.toml": djship_toml("healthz", extra_site='health_path = "/healthz"\n')}


UV_GROUPS = '''[project]
name = "uvgroup"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["django>=5.2,<5.3"]

[dependency-groups]
prod = ["packaging>=24"]
dev = ["idna>=3"]
'''


def uv_groups() -> dict[str, str]:
    """The settings import packaging, which pyproject.toml lists only in the "prod"
    dependency group (`uv sync --no-dev` alone leaves it out; installed here, as in the
    developer's own venv); groups = ["prod"] as init proposes."""
    files = django_files("uvgroup")
    files["mysite/settings.py"] += ("\nimport packaging  # noqa: E402\n\n"
                                    "PACKAGING = packaging.__version__\n")
    return {**files, "pyproject.toml": UV_GROUPS,
            "djship.toml": djship_toml("uvgroup", dependencies="uv",
                                       extra_project='groups = ["prod"]\n')}


def python_magic() -> dict[str, str]:
    """The settings import python-magic, which loads libmagic at import: present here (the
    project's own .venv, as a developer has), not on a server until system_packages says so.
    SETTINGS_NAME is what libmagic makes of a PDF's first bytes."""
    files = django_files("magic")
    files["mysite/settings.py"] = files["mysite/settings.py"].replace(
        'SETTINGS_NAME = "single"\n', "import magic  # noqa: E402\n\n"
        'SETTINGS_NAME = magic.from_buffer(b"%PDF-1.4\\n", mime=True)\n')
    return {**files, "requirements.txt": DJANGO + "python-magic==0.4.27\n",
            "djship.toml": djship_toml("magic")}


def local_venv(root: Path, *packages: str) -> None:
    """The project's own .venv (djship's check runs with it): the packages of the Python
    running these tests, plus ``packages``."""
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    (site_packages / "djship-tests.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", *packages], check=True, timeout=300)


BOOKWORM_SHAPES: dict[str, Callable[[], dict[str, str]]] = {
    "split": split_settings, "nested": nested_requirements,
    "uvlock": lambda: uv_project("uvlock", ">=3.11"), "poetry": poetry_project,
    "asgi": asgi_only, "nogunicorn": no_gunicorn, "slow": slow_start, "healthz": health_path,
    "uvgroup": uv_groups, "magic": python_magic,
}


# --- the servers and the first deploys ---------------------------------------------------

def _destroy(factory: SandboxFactory) -> str | None:
    try:
        factory.destroy_all()
    except Exception as exc:  # take the other one down all the same
        return str(exc)
    return None


@pytest.fixture(scope="module")
def servers(warm_image: Path) -> Iterator[tuple[SandboxInfo, SandboxInfo]]:
    """A Debian 12 and a Debian 13 warm sandbox, booted in parallel, taken down in parallel."""
    factories = [SandboxFactory(RELEASE, preinstall=WARM_PACKAGES),
                 SandboxFactory("trixie", preinstall=WARM_PACKAGES)]
    try:
        with ThreadPoolExecutor(2) as pool:
            bookworm, trixie = pool.map(lambda f: f(), factories)
        yield bookworm, trixie
    finally:
        with ThreadPoolExecutor(2) as pool:
            errors = [e for e in pool.map(_destroy, factories) if e]
        if errors:
            raise RuntimeError("sandbox teardown failed: " + "; ".join(errors))


def _provision(site: Site) -> None:
    run = site.project.provision()
    assert run.returncode == 0, str(run)


@pytest.fixture(scope="module")
def sites(servers: tuple[SandboxInfo, SandboxInfo],
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Site]:
    """Every shape provisioned as its own site and deployed, the deploys run side by side."""
    bookworm, trixie = servers
    base = tmp_path_factory.mktemp("shapes")
    made = {name: Site(name, make_shape(base, name, files(), bookworm), bookworm)
            for name, files in BOOKWORM_SHAPES.items()}
    made["py312"] = Site("py312", make_shape(base, "py312", uv_project("py312", ">=3.12"),
                                             trixie), trixie)
    local_venv(made["magic"].project.root, "python-magic==0.4.27")
    firsts = [made["split"], made["py312"]]
    with ThreadPoolExecutor(DEPLOYS_AT_ONCE) as pool:
        list(pool.map(_provision, firsts))  # one per server: these may run side by side
        locks = {name: pool.submit(uv_lock, made[name].sandbox, name,
                                   made[name].project.read("pyproject.toml"))
                 for name in ("uvlock", "py312", "uvgroup")}  # the servers' uv (none here)
        for site in made.values():  # one at a time: provisions of one host share nginx
            if site not in firsts:
                _provision(site)
        for name, lock in locks.items():
            made[name].project.write("uv.lock", lock.result())
            made[name].project.commit("uv.lock")
        started = time.monotonic()
        # The other server's deploy and the slow one first: they take longest.
        order = sorted(made.values(), key=lambda s: s.name not in ("py312", "slow"))
        runs = pool.map(lambda s: s.project.djship("deploy"), order)
        for site, run in zip(order, runs, strict=True):
            site.first = run
    made["split"].notes["deploy_seconds"] = f"{time.monotonic() - started:.0f}"
    return made


def server_log(site: Site) -> str:
    """The end of the server's journal, to explain a failure."""
    try:
        return site.sandbox.run("journalctl -n 60 --no-pager", check=False, timeout=30).stdout
    except Exception as exc:  # the server may be what failed
        return f"(no journal: {exc})"


def deployed(site: Site) -> Site:
    """The site after its first deploy, which must have succeeded."""
    assert site.first is not None
    assert site.first.returncode == 0, f"{site.first}\n--- server journal\n{server_log(site)}"
    assert TRACEBACK not in site.first.output
    return site


def refused(run: Run, step: str) -> str:
    """The error block of a failed deploy (asserting it failed at ``step``, no traceback)."""
    assert run.returncode != 0, str(run)
    assert TRACEBACK not in run.output, str(run)
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert errors and f"step={step}" in errors[0], str(run)
    return run.stderr


def refused_change(site: Site, step: str, message: str, change: Callable[[Project], None]
                   ) -> str:
    """Commit ``change``, deploy it, undo the commit: the deploy is refused at ``step`` and the
    live release and the kept ones are what they were. Returns the deploy's stderr."""
    live, kept = site.live(), site.releases()
    change(site.project)
    site.project.commit(message)
    try:
        run = site.project.djship("deploy")
    finally:
        site.project.git("reset", "-q", "--hard", "HEAD~1")
    text = refused(run, step)
    assert site.live() == live and site.releases() == kept
    return text


def venv_python(site: Site) -> str:
    """The interpreter the live release's venv links to, resolved on the server."""
    return site.sandbox.run(f"readlink -f /srv/{site.name}/current/.venv/bin/python").stdout.strip()


# --- one test per shape ----------------------------------------------------------------

def test_split_settings_run_the_configured_production_module(sites: dict[str, Site]) -> None:
    site = deployed(sites["split"])
    about = site.about()
    assert about["settings"] == "mysite.settings.production"
    assert about["settings_name"] == "production"  # not the dev module manage.py names
    unit = site.sandbox.run(["systemctl", "cat", "djship-split@blue"]).stdout
    assert "DJANGO_SETTINGS_MODULE=mysite.settings.production" in unit


def test_nested_requirements_are_followed(sites: dict[str, Site]) -> None:
    site = deployed(sites["nested"])
    packages = site.packages()
    assert packages["sqlparse"] == "0.5.0"  # from constraints.txt, two includes down
    assert packages["gunicorn"] == "22.0.0"  # the project's own pin wins over djship's
    assert packages["django"].startswith("5.2.")


def test_uv_lock_without_build_system(sites: dict[str, Site]) -> None:
    site = deployed(sites["uvlock"])
    lock = site.project.read("uv.lock")
    assert "[build-system]" not in site.project.read("pyproject.toml")
    packages = site.packages()
    locked = lock.split('name = "django"\nversion = "', 1)[1].split('"', 1)[0]
    assert packages["django"] == locked
    assert "gunicorn" in packages
    assert site.about()["python"] == SYSTEM_PYTHON


def test_runtime_packages_in_a_uv_dependency_group(sites: dict[str, Site]) -> None:
    site = deployed(sites["uvgroup"])
    packages = site.packages()
    assert "packaging" in packages and "idna" not in packages  # prod group in, dev out
    # What init proposes for this project, and why.
    text = render_config(detect(site.project.root))
    assert tomllib.loads(text)["project"]["groups"] == ["prod"]
    assert ('packaging (an import in mysite/settings.py) is only in dependency group "prod"'
            in text)
    # Without the setting, check names the group and the setting before anything ships.
    toml = site.project.read("djship.toml")
    site.project.write("djship.toml", toml.replace('groups = ["prod"]\n', ""))
    try:
        run = site.project.djship("check")
    finally:
        site.project.write("djship.toml", toml)
    assert run.returncode == 1 and TRACEBACK not in run.output, str(run)
    assert ("packaging (an import in mysite/settings.py) comes from packaging, which "
            'pyproject.toml lists only in dependency group "prod"') in run.stderr, str(run)
    assert 'add "prod" to project.groups in djship.toml' in run.stderr, str(run)


def test_system_library_init_proposes_then_deploys(sites: dict[str, Site]) -> None:
    """python-magic passed every check here and failed on the server: the failure says it
    is the server's, names the library and the package, and following it deploys."""
    site = sites["magic"]
    assert site.first is not None
    text = refused(site.first, "check")
    headline = next(ln for ln in text.splitlines() if ln.startswith("error:"))
    assert ("the app fails to import on" in headline and "but not on this machine: the shared "
            "library libmagic is missing there (Debian package libmagic-dev)" in headline), text
    assert "this machine: Python " in text and f": Python {SYSTEM_PYTHON} on Debian" in text
    hint = next(ln for ln in text.splitlines() if ln.startswith("hint:"))
    assert '"libmagic-dev" to project.system_packages' in hint and "provision" in hint
    # What init proposes for the project, and why.
    proposed = render_config(detect(site.project.root))
    assert tomllib.loads(proposed)["project"]["system_packages"] == ["libmagic-dev"]
    assert "python-magic loads libmagic at import (libmagic-dev)" in proposed
    # Follow the hint as given: add it, provision, deploy.
    toml = site.project.read("djship.toml")
    site.project.write("djship.toml", toml.replace(
        "[project]\n", '[project]\nsystem_packages = ["libmagic-dev"]\n', 1))
    site.project.commit("system_packages: libmagic-dev")
    _provision(site)
    run = site.project.djship("deploy")
    assert run.returncode == 0, f"{run}\n--- server journal\n{server_log(site)}"
    about = site.about()
    assert about["settings_name"] == "application/pdf"  # libmagic at work on the server
    assert "python-magic" in site.packages()


def test_poetry_lock_pins_are_installed(sites: dict[str, Site]) -> None:
    site = deployed(sites["poetry"])
    packages = site.packages()
    assert packages["six"] == "1.15.0"  # pyproject allows ^1.15; the lock pins 1.15.0
    assert packages["django"] == "5.2.19" and packages["sqlparse"] == "0.6.1"
    assert "idna" not in packages  # dev group
    assert "gunicorn" in packages
    assert "tzdata" not in packages  # Django needs it on Windows only (a marker in the lock)


def test_asgi_only_project_runs_on_uvicorn_workers(sites: dict[str, Site]) -> None:
    site = deployed(sites["asgi"])
    about = site.about()
    assert about["interface"] == "asgi" and about["async"] is True
    packages = about["packages"]
    assert isinstance(packages, dict) and "uvicorn-worker" in packages and "uvicorn" in packages
    assert not (site.project.root / "mysite/wsgi.py").exists()
    unit = site.sandbox.run(["systemctl", "cat", "djship-asgi@blue"]).stdout
    assert "uvicorn_worker.UvicornWorker mysite.asgi:application" in unit


def test_project_without_gunicorn_gets_it(sites: dict[str, Site]) -> None:
    site = deployed(sites["nogunicorn"])
    assert "gunicorn" not in site.project.read("requirements.txt").lower()
    assert "gunicorn" in site.packages()
    procs = site.sandbox.run("ps -u djship-nogunicorn -o args=").stdout
    assert "/.venv/bin/gunicorn --config /opt/djship/lib/gunicorn_conf.py --preload mysite.wsgi:application" \
        in procs, procs


def test_health_path_is_configurable(sites: dict[str, Site]) -> None:
    site = deployed(sites["healthz"])
    status, _, headers = site.get("/")
    assert status == 404 and headers.get("server", "").startswith("nginx")
    status, body, _ = site.get("/healthz")
    assert status == 200 and json.loads(body) == {"ok": True}


def test_slow_start_within_health_timeout(sites: dict[str, Site]) -> None:
    site = deployed(sites["slow"])
    assert site.first is not None and site.first.seconds > SLOW_IMPORT
    assert site.about()["shape"] == "slow"


def test_slow_start_beyond_health_timeout_is_refused(sites: dict[str, Site]) -> None:
    site = deployed(sites["slow"])
    overlay = site.project.read("djship.test.toml")
    # gunicorn --preload imports the app before it tells systemd it is ready: the start
    # itself runs out of the 5 s.
    text = refused_change(site, "start", "health_timeout 5", lambda p: p.write(
        "djship.test.toml", overlay + "\n[sites.slow]\nhealth_timeout = 5\n"))
    assert "did not become ready within 5s" in text, text
    assert "raise sites.slow.health_timeout" in text, text
    assert site.about()["shape"] == "slow"


def test_compiled_dependency_missing_library_is_named(sites: dict[str, Site]) -> None:
    """python-ldap has no wheels: it compiles against libldap's headers, not installed."""
    site = deployed(sites["nested"])
    text = refused_change(site, "venv", "python-ldap", lambda p: p.write(
        "deps/base.txt", NESTED_BASE + "python-ldap==3.4.8\n"))
    headline = next(ln for ln in text.splitlines() if ln.startswith("error:"))
    assert "python-ldap 3.4.8 could not be built from source" in headline, text
    assert "lber.h is missing (Debian package libldap-dev)" in headline, text
    assert any(ln.startswith("hint:") and '"libldap-dev"' in ln and "system_packages" in ln
               for ln in text.splitlines()), text
    assert site.packages()["sqlparse"] == "0.5.0"


def test_python_from_requires_python_uses_trixie_system_python(sites: dict[str, Site]) -> None:
    site = deployed(sites["py312"])
    about = site.about()
    assert about["python"] == "3.13"  # >=3.12: the system's 3.13
    assert venv_python(site).startswith("/usr/bin/python3")
    assert site.sandbox.run("cat /etc/debian_version").stdout.startswith("13")


@pytest.mark.parametrize(("path", "text", "needs"), [
    ("pyproject.toml", '[project]\nname = "split"\nversion = "1"\nrequires-python = "==3.10.*"\n',
     "==3.10.* (requires-python in pyproject.toml)"),
    # The issue: "3.12" was read as "3.12 or newer", and uv was asked to download 3.14.
    (".python-version", "3.12\n", "3.12 (.python-version)"),
])
def test_python_the_server_lacks_is_refused_clearly(sites: dict[str, Site], path: str,
                                                    text: str, needs: str) -> None:
    site = deployed(sites["split"])
    stderr = refused_change(site, "python", f"needs Python {needs}",
                            lambda p: p.write(path, text))
    headline = next(ln for ln in stderr.splitlines() if ln.startswith("error:"))
    assert f"needs Python {needs}" in headline, stderr
    assert f"the server has Python {SYSTEM_PYTHON}" in headline, stderr
    assert "nothing was installed" in headline and "3.14" not in stderr, stderr
    assert "ways out" in stderr and 'python_source = "uv"' in stderr, stderr
    assert f"relax the requirement so that Python {SYSTEM_PYTHON} satisfies it" in stderr
    # No download was tried: uv has no interpreter of its own on the server.
    assert site.sandbox.run("ls /opt/djship/python 2>/dev/null | wc -l").stdout.strip() == "0"
    assert site.about()["settings_name"] == "production"
    # provision asks first, before its packages step.
    site.project.write(path, text)
    site.project.commit(f"needs Python {needs}")
    try:
        run = site.project.provision()
    finally:
        site.project.git("reset", "-q", "--hard", "HEAD~1")
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert run.returncode != 0 and errors and "step=python" in errors[0], str(run)
    assert f"needs Python {needs}" in errors[0] and "ways out" in run.stderr, str(run)
