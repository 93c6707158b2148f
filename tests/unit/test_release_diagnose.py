"""A failed dependency install named: which package, what was missing, which Debian package."""

from __future__ import annotations

import pytest

from djship.errors import RemoteFailure
from djship.release.diagnose import explain, failed_package, missing_library

LDAP = """Using Python 3.11.2 environment at: /srv/nested/releases/20261122T033715-1bcf9f0a/.venv
Resolved 6 packages in 412ms
  × Failed to build `python-ldap==3.4.8`
  ├─▶ The build backend returned an error
  ╰─▶ Call to `setuptools.build_meta.build_wheel` failed (exit status: 1)

      [stdout]
      running bdist_wheel
      running build_ext
      building '_ldap' extension
      x86_64-linux-gnu-gcc -Wsign-compare -DNDEBUG -g -fwrapv -O2 -Wall -fPIC
      -DHAVE_SASL -DHAVE_TLS -IModules -c Modules/LDAPObject.c -o
      build/temp.linux-x86_64-cpython-311/Modules/LDAPObject.o

      [stderr]
      In file included from Modules/LDAPObject.c:3:
      Modules/common.h:15:10: fatal error: lber.h: No such file or directory
         15 | #include <lber.h>
            |          ^~~~~~~~
      compilation terminated.
      error: command '/usr/bin/x86_64-linux-gnu-gcc' failed with exit code 1

      hint: This usually indicates a problem with the package or the build environment.
"""

PSYCOPG2 = """  × Failed to download and build `psycopg2==2.9.9`
  ╰─▶ Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)
      [stderr]
      Error: pg_config executable not found.

      pg_config is required to build psycopg2 from source.  Please add the directory
      containing pg_config to the $PATH or specify the full executable path with the
"""

LXML_PKGCONFIG = """  × Failed to build `xmlsec==1.3.14`
      Package xmlsec1 was not found in the pkg-config search path.
      Perhaps you should add the directory containing `xmlsec1.pc'
"""

UNKNOWN_HEADER = """  × Failed to build `weird==1.0`
      src/weird.c:1:10: fatal error: weird/thing.h: No such file or directory
"""


def failure(stderr: str) -> RemoteFailure:
    return RemoteFailure("web1", "venv", "env ... uv pip install -r requirements.txt", 1,
                         stderr, site="blog", hint_text="a dependency failed to install")


@pytest.mark.parametrize(("output", "package", "missing", "debian"), [
    (LDAP, "python-ldap 3.4.8", "the C header lber.h", "libldap-dev"),
    (PSYCOPG2, "psycopg2 2.9.9", "pg_config (PostgreSQL's client library)", "libpq-dev"),
    (LXML_PKGCONFIG, "xmlsec 1.3.14", "the library xmlsec1 (pkg-config)", "libxmlsec1-dev"),
    (UNKNOWN_HEADER, "weird 1.0", "the C header weird/thing.h", None),
])
def test_build_output_names_package_and_library(output: str, package: str, missing: str,
                                                debian: str | None) -> None:
    assert failed_package(output) == package
    cause = missing_library(output)
    assert cause is not None and cause.missing == missing and cause.package == debian


def test_explained_failure_keeps_where_and_output_and_advises() -> None:
    better = explain(failure(LDAP))
    assert better.message == ("python-ldap 3.4.8 could not be built from source on web1: the C "
                              "header lber.h is missing (Debian package libldap-dev)")
    assert better.hint == ('add "libldap-dev" to project.system_packages in djship.toml, run '
                           "`djship provision`, then deploy again")
    assert better.where() == {"host": "web1", "site": "blog", "step": "venv"}
    assert any("lber.h" in line for line in better.details())


def test_unknown_header_points_at_apt_file() -> None:
    better = explain(failure(UNKNOWN_HEADER))
    assert "weird/thing.h is missing" in better.message
    assert better.hint and "apt-file search" in better.hint


def test_a_failure_that_is_not_a_build_stays_as_it_was() -> None:
    plain = failure("error: Failed to fetch: `https://pypi.org/simple/django/`\n"
                    "  Caused by: dns error")
    assert explain(plain) is plain
    assert failed_package("  × No solution found when resolving dependencies") is None
    assert missing_library("error: command '/usr/bin/gcc' failed with exit code 1") is None
