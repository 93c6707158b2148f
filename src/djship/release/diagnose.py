"""Turn a failed dependency install into an error that names the cause.

uv's output for a source build that failed is long, and the line that matters (the C
compiler's missing header, pg_config not found) sits in the middle of it. These pure
functions read that output and name the package and the Debian package that provides
what was missing, so the message says what to add to ``project.system_packages``.
"""

from __future__ import annotations

import platform
import re
import sys
from dataclasses import dataclass

from djship.errors import DjshipError, RemoteFailure
from djship.release import syslibs
from djship.release.scripts import PYTHON_MISSING

# C headers (as #include'd) and the Debian packages that provide them.
HEADERS = {
    "lber.h": "libldap-dev", "ldap.h": "libldap-dev", "sasl/sasl.h": "libsasl2-dev",
    "libpq-fe.h": "libpq-dev", "pg_config.h": "libpq-dev",
    "libxml/xmlversion.h": "libxml2-dev", "libxml/parser.h": "libxml2-dev",
    "libxslt/xsltconfig.h": "libxslt1-dev", "libxslt/xslt.h": "libxslt1-dev",
    "ffi.h": "libffi-dev", "openssl/ssl.h": "libssl-dev", "openssl/opensslv.h": "libssl-dev",
    "openssl/crypto.h": "libssl-dev", "mysql.h": "default-libmysqlclient-dev",
    "mysql/mysql.h": "default-libmysqlclient-dev", "jpeglib.h": "libjpeg-dev",
    "zlib.h": "zlib1g-dev", "png.h": "libpng-dev", "ft2build.h": "libfreetype-dev",
    "Python.h": "python3-dev", "cairo.h": "libcairo2-dev", "gdal.h": "libgdal-dev",
    "geos_c.h": "libgeos-dev", "krb5.h": "libkrb5-dev", "gssapi/gssapi.h": "libkrb5-dev",
    "sqlite3.h": "libsqlite3-dev", "yaml.h": "libyaml-dev", "magic.h": "libmagic-dev",
    "xmlsec/xmlsec.h": "libxmlsec1-dev", "libmemcached/memcached.h": "libmemcached-dev",
    "curl/curl.h": "libcurl4-openssl-dev", "uuid/uuid.h": "uuid-dev", "bzlib.h": "libbz2-dev",
    "lzma.h": "liblzma-dev", "sodium.h": "libsodium-dev", "tiffio.h": "libtiff-dev",
    "webp/decode.h": "libwebp-dev", "hiredis/hiredis.h": "libhiredis-dev",
    "sql.h": "unixodbc-dev", "libmemcached-1.0/memcached.h": "libmemcached-dev",
}
# pkg-config module names and their Debian packages.
PKG_CONFIG = {
    "libxml-2.0": "libxml2-dev", "libxslt": "libxslt1-dev", "cairo": "libcairo2-dev",
    "mysqlclient": "default-libmysqlclient-dev", "mariadb": "libmariadb-dev",
    "libffi": "libffi-dev", "openssl": "libssl-dev", "libpq": "libpq-dev",
    "xmlsec1": "libxmlsec1-dev", "libsystemd": "libsystemd-dev", "krb5": "libkrb5-dev",
    "krb5-gssapi": "libkrb5-dev", "libzstd": "libzstd-dev", "icu-uc": "libicu-dev",
}
_BUILD = re.compile(r"Failed to (?:download and )?build:? `([A-Za-z0-9][A-Za-z0-9._-]*)"
                    r"(?:(?:==| @ )([^`\s]+))?")
_HEADER = re.compile(r"fatal error: ([\w./+-]+\.h): No such file or directory")
_PC = re.compile(r"Package '?([\w.+-]+)'?,? (?:was not found|required by '[^']*', not found)")


@dataclass(frozen=True)
class Cause:
    """What a failed install was missing, in words, and the Debian package to add if known."""

    missing: str
    package: str | None


def failed_package(output: str) -> str | None:
    """'python-ldap 3.4.8' from uv's "Failed to build `python-ldap==3.4.8`"."""
    m = _BUILD.search(output)
    if not m:
        return None
    version = m.group(2)
    return f"{m.group(1)} {version}" if version and "/" not in version else m.group(1)


def missing_library(output: str) -> Cause | None:
    """The first missing header, pkg-config module or tool the build output names."""
    if m := _HEADER.search(output):
        header = m.group(1)
        return Cause(f"the C header {header}", HEADERS.get(header))
    if "pg_config executable not found" in output or "pg_config: not found" in output:
        return Cause("pg_config (PostgreSQL's client library)", "libpq-dev")
    if m := _PC.search(output):
        return Cause(f"the library {m.group(1)} (pkg-config)", PKG_CONFIG.get(m.group(1)))
    if "Can not find valid pkg-config name" in output:  # mysqlclient
        return Cause("the MySQL client library", "default-libmysqlclient-dev pkg-config")
    if "libxml2 and libxslt development packages" in output:  # lxml
        return Cause("libxml2 and libxslt", "libxml2-dev libxslt1-dev")
    if re.search(r"pkg-config(?: executable)?: (?:not found|No such file)", output):
        return Cause("the pkg-config tool", "pkg-config")
    if re.search(r"(?:gcc|cc)' failed: No such file or directory|"
                 r"unable to execute '[^']*(?:gcc|cc)': No such file", output):
        return Cause("a C compiler", "build-essential")
    if re.search(r"can't find Rust compiler|cargo: not found|rustc: not found", output):
        return Cause("a Rust compiler", None)
    return None


@dataclass
class InstallFailure(RemoteFailure):
    """A dependency install that failed for a reason djship could name."""

    headline: str = ""

    def __post_init__(self) -> None:
        DjshipError.__init__(self, self.headline, hint=self.hint_text)


def explain(exc: RemoteFailure) -> RemoteFailure:
    """A clearer error for a failed venv step, or ``exc`` itself when the cause is unknown."""
    output = f"{exc.stderr}\n{exc.stdout}"
    for line in output.splitlines():
        if line.startswith(PYTHON_MISSING):
            return _replace(exc, line.removeprefix(PYTHON_MISSING).strip(),
                            "set the Python the project needs in requires-python, "
                            ".python-version or project.python, or install it on the server")
    package, cause = failed_package(output), missing_library(output)
    if package is None and cause is None:
        return exc
    what = package or "a dependency"
    if cause is None:
        return _replace(exc, f"{what} could not be built from source on {exc.host}",
                        "see the build output above; a version with a wheel for this server "
                        "avoids building")
    headline = f"{what} could not be built from source on {exc.host}: {cause.missing} is missing"
    if cause.package:
        names = cause.package.split()
        headline += f" (Debian package {' '.join(names)})"
        listed = ", ".join(f'"{n}"' for n in names)
        hint = (f"add {listed} to project.system_packages in djship.toml, run "
                "`djship provision`, then deploy again")
    else:
        hint = ("install what it needs on the server (`apt-file search` names the Debian "
                "package), or use a version of it with a wheel for this server")
    return _replace(exc, headline, hint)


def _replace(exc: RemoteFailure, headline: str, hint: str) -> InstallFailure:
    return InstallFailure(exc.host, exc.step, exc.command, exc.exit_status, exc.stderr,
                          exc.stdout, exc.site, hint, exc.tail_lines, headline=headline)


@dataclass
class ServerOnlyFailure(RemoteFailure):
    """The server's check failed where the same check passed on this machine."""

    headline: str = ""
    differences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        DjshipError.__init__(self, self.headline, hint=self.hint_text)

    def details(self) -> list[str]:
        return [*(f"  {line}" for line in self.differences), *super().details()]


def local_platform() -> str:
    """This machine's Python and OS, in words."""
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        name = ""
    name = name or f"{platform.system()} {platform.release()}".strip()
    return f"Python {sys.version_info[0]}.{sys.version_info[1]} on {name}"


def server_only(exc: RemoteFailure, python: tuple[int, int], os_name: str,
                here: str) -> RemoteFailure:
    """A clearer error for a server check that failed after the local one passed: the
    missing shared library and its Debian package when the output names one, and in any
    case what differs between the two machines (``here``: local_platform())."""
    there = f"Python {python[0]}.{python[1]} on {os_name or 'its OS'}"
    differences = (f"this machine: {here}", f"{exc.host}: {there}")
    missing = syslibs.missing_library(f"{exc.stderr}\n{exc.stdout}")
    if missing is None:
        headline = (f"the release's check failed on {exc.host} but passed on this machine: "
                    "something the app needs differs between the two")
        hint = ("read the server's output above: a missing Debian package goes in "
                "project.system_packages (then `djship provision`), a variable only the "
                "server lacks is set with `djship env set`")
        return ServerOnlyFailure(exc.host, exc.step, exc.command, exc.exit_status, exc.stderr,
                                 exc.stdout, exc.site, hint, exc.tail_lines,
                                 headline=headline, differences=differences)
    headline = (f"the app fails to import on {exc.host} but not on this machine: the shared "
                f"library {missing.library} is missing there")
    if missing.package:
        headline += f" (Debian package {missing.package})"
        hint = (f'add "{missing.package}" to project.system_packages in djship.toml, run '
                "`djship provision`, then deploy again")
    else:
        hint = (f"install the Debian package that provides {missing.library} on the server "
                "(`apt-file search` names it) through project.system_packages")
    return ServerOnlyFailure(exc.host, exc.step, exc.command, exc.exit_status, exc.stderr,
                             exc.stdout, exc.site, hint, exc.tail_lines, headline=headline,
                             differences=differences)
