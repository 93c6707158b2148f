"""System libraries (issue 16 item 6): init proposes the Debian packages dependencies need,
and a check that fails only on the server names the missing library and the difference."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_release_engine import context, hosts, project

from djship.config import validate
from djship.errors import DjshipError
from djship.init import render_config
from djship.project import detect
from djship.release import check, syslibs
from djship.release.deploy import Deploy
from djship.release.diagnose import ServerOnlyFailure
from djship.steps import packages as apt
from djship.steps.packages import wanted_packages
from djship.transport.base import Result

MAGIC = ("Traceback (most recent call last):\n  File \"/srv/blog/releases/x/blog/settings.py\""
         ", line 3, in <module>\n    import magic\nImportError: failed to find libmagic.  "
         "Check your installation\n")


@pytest.mark.parametrize(("output", "library", "package"), [
    (MAGIC, "libmagic", "libmagic-dev"),
    ("OSError: cannot load library 'pango-1.0-0': pango-1.0-0: cannot open shared object "
     "file: No such file or directory", "libpango-1.0-0", "libpango-1.0-0"),
    ("OSError: libgdal.so.32: cannot open shared object file: No such file or directory",
     "libgdal", "gdal-bin"),
    ("django.core.exceptions.ImproperlyConfigured: Could not find the GDAL library (tried "
     '"gdal", "GDAL"). Is GDAL installed?', "libgdal", "gdal-bin"),
    ("ImportError: libmariadb.so.3: cannot open shared object file", "libmariadb",
     "libmariadb3"),
    ("ImportError: libfoo.so.1: cannot open shared object file", "libfoo", None),
])
def test_missing_library_is_read_from_the_failure(output: str, library: str,
                                                  package: str | None) -> None:
    assert syslibs.missing_library(output) == syslibs.Missing(library, package)
    assert syslibs.missing_library("KeyError: 'SECRET_KEY'") is None


def test_every_table_package_is_one_name_on_debian_12_and_13() -> None:
    # Names checked against both releases' package lists; renamed libraries (libmagic1 ->
    # libmagic1t64) are reached through a package whose name stayed.
    names = {p for n in (*syslibs.NEEDS, syslibs.GEODJANGO) for p in n.packages}
    names |= set(syslibs.LIBRARIES.values())
    assert not any(name.endswith("t64") for name in names)
    assert "libmagic1" not in names


def files(root: Path, tree: dict[str, str]) -> Path:
    base = {"manage.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", '
                         '"shop.settings")\n', "shop/__init__.py": "",
            "shop/settings.py": 'INSTALLED_APPS = ["django.contrib.staticfiles"]\n',
            "shop/wsgi.py": "application = None\n"}
    for name, text in {**base, **tree}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def proposed(root: Path) -> tuple[list[str], str]:
    text = render_config(detect(root))
    return tomllib.loads(text)["project"].get("system_packages", []), text


def test_init_proposes_libmagic_for_python_magic_and_says_why(tmp_path: Path) -> None:
    packages, text = proposed(files(tmp_path, {
        "requirements.txt": "Django>=5.2\npython-magic==0.4.27\npsycopg2==2.9.9\n"}))
    assert packages == ["libmagic-dev"]  # psycopg2's libpq-dev and compiler: always there
    assert ("# proposed by djship init: python-magic loads libmagic at import (libmagic-dev)"
            in text)
    config = validate(tomllib.loads(text))
    assert "libmagic-dev" in wanted_packages(config, config.hosts[0], local_db=True)


@pytest.mark.parametrize(("requirements", "expected"), [
    ("mysqlclient==2.2.4\n", ["default-libmysqlclient-dev", "pkg-config"]),
    ("weasyprint>=62\n", ["libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"]),
    ("python-ldap\n", ["libldap-dev", "libsasl2-dev"]),
    ("Pillow\nlxml\n", []),  # wheels
    ("--no-binary pillow,lxml\nPillow\nlxml\n",
     ["libjpeg-dev", "zlib1g-dev", "libfreetype-dev", "libxml2-dev", "libxslt1-dev"]),
    ("-r base.txt\n--no-binary=:all:\n", ["libjpeg-dev", "zlib1g-dev", "libfreetype-dev"]),
])
def test_init_proposals_for_requirements(tmp_path: Path, requirements: str,
                                         expected: list[str]) -> None:
    tree = {"requirements.txt": "Django\n" + requirements, "base.txt": "Pillow\n"}
    assert proposed(files(tmp_path, tree))[0] == expected


def test_init_reads_lock_files_for_source_builds_and_geodjango(tmp_path: Path) -> None:
    lock = ('version = 1\n[[package]]\nname = "django"\nversion = "5.2"\n'
            'sdist = { url = "x" }\nwheels = [{ url = "y" }]\n'
            '[[package]]\nname = "pillow"\nversion = "11.0"\nsdist = { url = "x" }\n')
    packages, text = proposed(files(tmp_path, {
        "pyproject.toml": '[project]\nname = "shop"\ndependencies = ["django", "pillow"]\n',
        "uv.lock": lock,
        "shop/settings.py": 'INSTALLED_APPS = ["django.contrib.gis"]\n'}))
    assert packages == ["libjpeg-dev", "zlib1g-dev", "libfreetype-dev", "gdal-bin"]
    assert "django.contrib.gis GeoDjango loads GDAL and GEOS (gdal-bin)" in text


def test_nothing_proposed_for_a_plain_project(tmp_path: Path) -> None:
    packages, text = proposed(files(tmp_path, {"requirements.txt": "Django\n"}))
    assert packages == [] and '# system_packages = ["libjpeg-dev", "gettext"]' in text
    assert not set(apt.BASE) & {"libmagic-dev", "gdal-bin"}


# --- a failure only the server has -------------------------------------------------------

def test_check_failing_only_on_the_server_names_library_and_difference(tmp_path: Path
                                                                       ) -> None:
    t = hosts(live=False)
    for host in t.values():
        host.responses[check.SEPARATOR] = Result(1, "", MAGIC)
        facts = host.responses["current:$(basename"]
        host.responses["current:$(basename"] = Result(
            0, facts.stdout + "os:Debian GNU/Linux 12 (bookworm)\n", "")
    deploy = Deploy(context(t), "blog", project(tmp_path), checks=lambda: None)
    with pytest.raises(ServerOnlyFailure) as caught:
        deploy.execute()
    exc = caught.value
    assert exc.message == ("the app fails to import on web1 but not on this machine: the "
                           "shared library libmagic is missing there (Debian package "
                           "libmagic-dev)")
    assert exc.hint == ('add "libmagic-dev" to project.system_packages in djship.toml, run '
                        "`djship provision`, then deploy again")
    lines = exc.details()
    assert lines[0].startswith("  this machine: Python ")
    assert lines[1] == "  web1: Python 3.11 on Debian GNU/Linux 12 (bookworm)"
    assert exc.where() == {"host": "web1", "site": "blog", "step": "check"}


def test_local_check_errors_come_first_and_skip_checks_keeps_the_plain_failure(
        tmp_path: Path) -> None:
    def local() -> None:
        raise DjshipError("local check failed")

    t = hosts(live=False)
    t["web1"].responses[check.SEPARATOR] = Result(1, "", MAGIC)
    with pytest.raises(DjshipError, match="local check failed"):
        Deploy(context(t), "blog", project(tmp_path), checks=local).execute()
    t = hosts(live=False)
    t["web1"].responses[check.SEPARATOR] = Result(1, "", MAGIC)
    with pytest.raises(DjshipError) as caught:
        Deploy(context(t), "blog", project(tmp_path)).execute()
    assert not isinstance(caught.value, ServerOnlyFailure)
    assert caught.value.hint == "`djship check` runs the same checks locally"
