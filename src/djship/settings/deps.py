"""Read and extend the project's dependency file (requirements.txt or pyproject.toml)."""

from __future__ import annotations

import contextlib
import re
import tomllib
from pathlib import Path
from typing import Any

import tomlkit

from djship.config.schema import Project
from djship.release.build import requirement_includes

# What djship adds when the settings or the site need it.
SPECS = {"dj-database-url": "dj-database-url>=2.1", "psycopg": "psycopg[binary]>=3.2",
         "gunicorn": "gunicorn>=22", "django-environ": "django-environ>=0.11"}
# Import name in settings -> the distribution that provides it.
IMPORTS = {"dj_database_url": "dj-database-url", "environ": "django-environ",
           "decouple": "python-decouple", "environs": "environs", "whitenoise": "whitenoise",
           "psycopg": "psycopg", "psycopg2": "psycopg2"}
POSTGRES_DRIVERS = {"psycopg", "psycopg2", "psycopg2-binary", "psycopg-binary"}


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_file(root: Path, project: Project) -> Path:
    """The file listing the project's dependencies (it may not exist yet)."""
    if project.dependencies == "requirements":
        return root / project.requirements
    return root / "pyproject.toml"


def requirement_names(text: str) -> set[str]:
    """Distribution names in requirements text (extras and versions dropped)."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if m:
            names.add(normalize(m.group(1)))
    return names


def declared(root: Path, project: Project) -> set[str] | None:
    """Names the project declares as dependencies; None when the file is missing."""
    path = dependency_file(root, project)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if project.dependencies == "requirements":
        names = requirement_names(text)
        for inc in requirement_includes(root, project.requirements, constraints=False)[1:]:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                names |= requirement_names((root / inc).read_text(encoding="utf-8"))
        return names
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    listed = data.get("project", {}).get("dependencies", [])
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return requirement_names("\n".join(listed)) | {normalize(k) for k in poetry}


def with_packages(root: Path, project: Project, packages: list[str],
                  django_version: str | None) -> tuple[str | None, str | None, list[str]]:
    """(old text, new text, notes) of the dependency file with ``packages`` added."""
    path = dependency_file(root, project)
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    have = declared(root, project) or set()
    missing = [p for p in packages if normalize(p) not in have]
    if old is None and project.dependencies == "requirements":
        django = _django_spec(django_version)
        return None, "".join(f"{line}\n" for line in [django, *map(SPECS.get, missing)]
                             if line), [f"created {project.requirements}: check the pins"]
    if not missing or old is None:
        return old, old, []
    if project.dependencies == "requirements":
        sep = "" if old.endswith("\n") or not old else "\n"
        return old, old + sep + "".join(f"{SPECS[p]}\n" for p in missing), []
    return _pyproject_add(old, project, [SPECS[p] for p in missing])


def _pyproject_add(old: str, project: Project, specs: list[str]
                   ) -> tuple[str | None, str | None, list[str]]:
    if project.dependencies == "poetry":
        return old, old, [f"add to pyproject.toml: poetry add {' '.join(specs)}"]
    doc = tomlkit.parse(old)
    table = doc.get("project")
    deps = table.get("dependencies") if table is not None else None
    if deps is None:
        return old, old, [f"add to [project].dependencies: {', '.join(specs)}"]
    for spec in specs:
        deps.append(spec)
    notes = ["run `uv lock` to update uv.lock"] if project.dependencies == "uv" else []
    return old, tomlkit.dumps(doc), notes


def _django_spec(version: str | None) -> str:
    m = re.match(r"(\d+)\.(\d+)", version or "")
    if not m:
        return "Django"
    major, minor = int(m.group(1)), int(m.group(2))
    return f"Django>={major}.{minor},<{major}.{minor + 1}"
