"""Python packages that need Debian libraries on the servers, and how their absence shows.

A data table: which distributions load a C library at import (python-magic, WeasyPrint,
GeoDjango's GDAL/GEOS) or compile against one when built from source (psycopg2,
mysqlclient, Pillow and lxml without a wheel), with the Debian packages that provide it.
`init` proposes project.system_packages from it; a check that fails on a server (and not
here) is explained with it. Package names hold on Debian 12 and 13 alike: where a library
was renamed by the 64-bit time transition (libmagic1 is libmagic1t64 on Debian 13), the
table names a package whose name did not change and that pulls in the right one.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from djship.release.build import requirement_includes

When = Literal["always", "source"]


@dataclass(frozen=True)
class Need:
    """A distribution's Debian packages: always, or only when pip builds it from source."""

    dist: str  # normalized distribution name
    packages: tuple[str, ...]
    why: str
    when: When = "always"


NEEDS = (
    # libmagic1 on Debian 12 is libmagic1t64 on 13: libmagic-dev is one name on both.
    Need("python-magic", ("libmagic-dev",), "loads libmagic at import"),
    Need("weasyprint", ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"),
         "loads Pango and HarfBuzz at import"),
    Need("cairocffi", ("libcairo2",), "loads cairo at import"),
    Need("cairosvg", ("libcairo2",), "loads cairo (through cairocffi) at import"),
    Need("pdf2image", ("poppler-utils",), "runs poppler's pdftoppm"),
    Need("psycopg2", ("libpq-dev", "build-essential"),
         "has no wheels: it compiles against libpq"),
    Need("mysqlclient", ("default-libmysqlclient-dev", "pkg-config", "build-essential"),
         "has no Linux wheels: it compiles against the MySQL/MariaDB client library"),
    Need("python-ldap", ("libldap-dev", "libsasl2-dev", "build-essential"),
         "has no wheels: it compiles against OpenLDAP and SASL"),
    Need("pillow", ("libjpeg-dev", "zlib1g-dev", "libfreetype-dev"),
         "is built from source here: it compiles against the image libraries", "source"),
    Need("lxml", ("libxml2-dev", "libxslt1-dev"),
         "is built from source here: it compiles against libxml2 and libxslt", "source"),
    Need("xmlsec", ("libxmlsec1-dev", "pkg-config"),
         "is built from source here: it compiles against xmlsec1", "source"),
    Need("pycurl", ("libcurl4-openssl-dev", "libssl-dev"),
         "is built from source here: it compiles against libcurl", "source"),
    Need("pylibmc", ("libmemcached-dev", "zlib1g-dev"),
         "is built from source here: it compiles against libmemcached", "source"),
)
# GeoDjango (django.contrib.gis in INSTALLED_APPS, or a spatial database ENGINE) loads GDAL
# and GEOS with ctypes; gdal-bin pulls in both libraries under their release's names.
GEODJANGO = Need("django.contrib.gis", ("gdal-bin",), "GeoDjango loads GDAL and GEOS")

# Shared libraries (as a failed import names them) and the Debian package providing them.
LIBRARIES = {
    "magic": "libmagic-dev", "pango-1.0": "libpango-1.0-0", "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz-subset": "libharfbuzz-subset0", "cairo": "libcairo2", "gdal": "gdal-bin",
    "geos_c": "gdal-bin", "pq": "libpq5", "mariadb": "libmariadb3", "mysqlclient": "libmariadb3",
    "xmlsec1": "libxmlsec1-dev", "ldap": "libldap-dev", "sasl2": "libsasl2-2",
    # GLib is libglib2.0-0t64 on Debian 13: Pango depends on it under either name.
    "gobject-2.0": "libpango-1.0-0", "jpeg": "libjpeg62-turbo", "xml2": "libxml2",
    "xslt": "libxslt1.1", "memcached": "libmemcached-dev",
}
_SO = re.compile(r"\b(lib[\w.+-]+?)\.so(?:\.[\d.]+)?: cannot open shared object file")
_CFFI = re.compile(r"cannot load library '([^']+)'")
_NAMED = (
    (re.compile(r"failed to find libmagic"), "libmagic"),
    (re.compile(r"Could not find the GDAL library"), "libgdal"),
    (re.compile(r"Could not find the GEOS library"), "libgeos_c"),
)


@dataclass(frozen=True)
class Missing:
    """A shared library an import could not load, and the Debian package providing it."""

    library: str  # "libmagic"
    package: str | None


def _package(library: str) -> str | None:
    stem = library.removeprefix("lib")
    for name in (stem, re.sub(r"-\d+$", "", stem), re.sub(r"[-\d.]+$", "", stem)):
        if name in LIBRARIES:
            return LIBRARIES[name]
    return None


def missing_library(output: str) -> Missing | None:
    """The shared library a failed import names (libmagic, pango-1.0-0, libgdal...)."""
    for pattern, library in _NAMED:
        if pattern.search(output):
            return Missing(library, _package(library))
    for pattern in (_SO, _CFFI):
        if m := pattern.search(output):
            library = m.group(1).split("/")[-1]
            library = library if library.startswith("lib") else f"lib{library}"
            return Missing(library, _package(library))
    return None


def needs_for(names: set[str], from_source: set[str], geodjango: bool) -> list[Need]:
    """The table's entries for these (normalized) dependency names."""
    found = [n for n in NEEDS if n.dist in names and (n.when == "always"
                                                       or n.dist in from_source)]
    return [*found, *([GEODJANGO] if geodjango else [])]


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_names(root: Path, kind: str, requirements: str) -> tuple[set[str], set[str]]:
    """(every distribution the project installs as far as its files say, those of them pip
    would build from source): lock files list the whole tree, requirements files and
    pyproject.toml the direct dependencies."""
    if kind in ("uv", "poetry"):
        try:
            lock = tomllib.loads((root / f"{kind}.lock").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return set(), set()
        packages = [p for p in lock.get("package", []) if isinstance(p.get("name"), str)]
        return ({normalize(p["name"]) for p in packages},
                {normalize(p["name"]) for p in packages if _sdist_only(p)})
    if kind == "pyproject":
        try:
            data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return set(), set()
        lines = data.get("project", {}).get("dependencies", [])
        return {normalize(m.group(1)) for x in lines if (m := _REQ.match(x))}, set()
    return _requirements(root, requirements)


def _sdist_only(pkg: dict[str, Any]) -> bool:
    if "sdist" in pkg or "wheels" in pkg:  # uv.lock
        return not pkg.get("wheels")
    files = [f.get("file", "") for f in pkg.get("files", [])]  # poetry.lock
    return bool(files) and not any(f.endswith(".whl") for f in files)


def _requirements(root: Path, main: str) -> tuple[set[str], set[str]]:
    names: set[str] = set()
    source: set[str] = set()
    for rel in requirement_includes(root, main, constraints=False):
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if m := re.match(r"^--no-binary(?:=|\s+)(\S+)", line):
                source |= {normalize(n) for n in m.group(1).split(",")}
            elif not line.startswith("-") and (m := _REQ.match(line)):
                names.add(normalize(m.group(1)))
    if ":all:" in source:
        source = set(names)
    return names, source
