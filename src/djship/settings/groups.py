"""Runtime packages that pyproject.toml lists only in a dependency group or an extra.

djship installs a project's main dependencies (plus project.groups and project.extras).
A package the site imports at start (an INSTALLED_APPS entry, an import in the settings or
the WSGI/ASGI module) that pyproject.toml lists only in, say, the "dev" group is installed
on the developer's machine and missing on the servers. These pure readers find such
packages from the files (no import of user code), for `init` to propose the group and for
`check` to name it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from djship.config.schema import Config
from djship.project import module_file
from djship.settings.deps import IMPORTS, normalize, requirement_names

# Import name -> distribution, where the two differ beyond "-"/"_" and a "django-" prefix.
KNOWN = {**IMPORTS, "rest_framework": "djangorestframework", "corsheaders": "django-cors-headers",
         "debug_toolbar": "django-debug-toolbar", "storages": "django-storages",
         "magic": "python-magic", "PIL": "pillow", "MySQLdb": "mysqlclient", "yaml": "pyyaml",
         "sentry_sdk": "sentry-sdk", "crispy_forms": "django-crispy-forms",
         "allauth": "django-allauth", "taggit": "django-taggit",
         "import_export": "django-import-export", "django_filters": "django-filter",
         "dotenv": "python-dotenv", "redis": "redis", "django_celery_beat": "django-celery-beat",
         "django_celery_results": "django-celery-results", "health_check": "django-health-check",
         "osgeo": "gdal", "weasyprint": "weasyprint", "knox": "django-rest-knox",
         "rest_framework_simplejwt": "djangorestframework-simplejwt", "guardian":
         "django-guardian", "mptt": "django-mptt", "polymorphic": "django-polymorphic"}


@dataclass
class Layout:
    """Which distributions pyproject.toml lists where (normalized names)."""

    main: set[str] = field(default_factory=set)
    groups: dict[str, set[str]] = field(default_factory=dict)
    extras: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Misplaced:
    """A runtime import whose distribution is only in groups or extras djship leaves out."""

    module: str  # the top-level import name ("rest_framework")
    where: str  # "INSTALLED_APPS in mysite.settings", "an import in mysite/wsgi.py"
    dist: str
    groups: tuple[str, ...]
    extras: tuple[str, ...]

    def setting(self) -> str:
        """What to add to djship.toml: one group (not "dev" when another holds it too), or
        else one extra."""
        if self.groups:
            group = next((g for g in self.groups if g != "dev"), self.groups[0])
            return f'"{group}" to project.groups'
        return f'"{self.extras[0]}" to project.extras'

    def describe(self) -> str:
        """Where pyproject.toml lists the distribution, in words."""
        places = [f'dependency group "{g}"' for g in self.groups]
        places += [f'extra "{e}"' for e in self.extras]
        return " and ".join(places)


def read_layout(pyproject: dict[str, Any]) -> Layout:
    """The main dependencies, dependency groups and extras of a parsed pyproject.toml."""
    project = pyproject.get("project", {})
    poetry = pyproject.get("tool", {}).get("poetry", {})
    uv_dev = pyproject.get("tool", {}).get("uv", {}).get("dev-dependencies", [])
    out = Layout(main=_names(project.get("dependencies", [])))
    out.main |= {normalize(n) for n, spec in poetry.get("dependencies", {}).items()
                 if n.lower() != "python" and not _optional(spec)}
    for name, lines in pyproject.get("dependency-groups", {}).items():
        out.groups.setdefault(name, set()).update(_names(lines))
    if uv_dev:
        out.groups.setdefault("dev", set()).update(_names(uv_dev))
    for name, table in poetry.get("group", {}).items():
        deps = table.get("dependencies", {}) if isinstance(table, dict) else {}
        out.groups.setdefault(name, set()).update(normalize(n) for n in deps)
    for name, lines in project.get("optional-dependencies", {}).items():
        out.extras.setdefault(name, set()).update(_names(lines))
    for name, names in poetry.get("extras", {}).items():
        out.extras.setdefault(name, set()).update(normalize(n) for n in names)
    return out


def _names(lines: Any) -> set[str]:
    # Group entries may be {include-group = "..."} tables: only the strings name packages.
    return requirement_names("\n".join(x for x in lines if isinstance(x, str))) \
        if isinstance(lines, list) else set()


def _optional(spec: Any) -> bool:
    specs = spec if isinstance(spec, list) else [spec]
    return all(isinstance(s, dict) and s.get("optional") for s in specs)


def runtime_imports(app_dir: Path, settings: str, apps: list[str]) -> Iterator[tuple[str, str]]:
    """(top-level import name, where) for what the site imports at start."""
    path = module_file(app_dir, settings)
    for file, module in _settings_files(app_dir, path, settings):
        tree = _parse(file)
        for name in _installed_apps(tree):
            yield name.split(".")[0], f"INSTALLED_APPS in {module}"
        for setting, dotted in _dotted_paths(tree):
            yield dotted.split(".")[0], f"{setting} in {module}"
        for name in _imports(tree):
            yield name, f"an import in {file.relative_to(app_dir).as_posix()}"
    for ref in apps:
        app = module_file(app_dir, ref.partition(":")[0])
        if app is not None:
            for name in _imports(_parse(app)):
                yield name, f"an import in {app.relative_to(app_dir).as_posix()}"


def _settings_files(app_dir: Path, path: Path | None, module: str, depth: int = 0
                    ) -> Iterator[tuple[Path, str]]:
    """The settings file and those it star-imports from the project (base.py, ...)."""
    if path is None or depth > 4:
        return
    yield path, module
    for stmt in (_parse(path) or ast.Module([], [])).body:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            parts = package.split(".")
            if stmt.level:
                parts = parts[:len(parts) - stmt.level + 1]
                target = ".".join([*parts, *(stmt.module or "").split(".")]).strip(".")
            else:
                target = stmt.module or ""
            yield from _settings_files(app_dir, module_file(app_dir, target), target, depth + 1)


def installed_apps(app_dir: Path, settings: str) -> list[str]:
    """INSTALLED_APPS entries written as literals in the settings (and their star imports)."""
    return [name for file, _ in _settings_files(app_dir, module_file(app_dir, settings),
                                                settings)
            for name in _installed_apps(_parse(file))]


def uses_geodjango(app_dir: Path, settings: str) -> bool:
    """django.contrib.gis in INSTALLED_APPS, or a spatial database backend in the settings."""
    if any(a.startswith("django.contrib.gis") for a in installed_apps(app_dir, settings)):
        return True
    for file, _ in _settings_files(app_dir, module_file(app_dir, settings), settings):
        try:
            if "django.contrib.gis.db.backends" in file.read_text(encoding="utf-8"):
                return True
        except (OSError, UnicodeDecodeError):
            continue
    return False


def _parse(path: Path | None) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8")) if path else None
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _string_settings(tree: ast.Module | None, names: frozenset[str]
                     ) -> Iterator[tuple[str, str]]:
    """(setting, string) for every string literal assigned (=, +=, annotated) to one of
    ``names`` at the top of a settings module."""
    for stmt in tree.body if tree else []:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            for node in ast.walk(value):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    yield target.id, node.value


def _installed_apps(tree: ast.Module | None) -> Iterator[str]:
    return (text for _, text in _string_settings(tree, frozenset({"INSTALLED_APPS"})))


# Settings whose dotted paths Django imports when it starts or serves its first request
# (a middleware, a storage backend, a cache...): their packages are needed at run time.
DOTTED_SETTINGS = frozenset({
    "MIDDLEWARE", "STORAGES", "CACHES", "DATABASES", "TEMPLATES", "AUTHENTICATION_BACKENDS",
    "STATICFILES_STORAGE", "DEFAULT_FILE_STORAGE", "STATICFILES_FINDERS", "SESSION_ENGINE",
    "EMAIL_BACKEND", "PASSWORD_HASHERS", "ASGI_APPLICATION", "WSGI_APPLICATION"})
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def _dotted_paths(tree: ast.Module | None) -> Iterator[tuple[str, str]]:
    """(setting, dotted path) for each module path written in DOTTED_SETTINGS."""
    return ((name, text) for name, text in _string_settings(tree, DOTTED_SETTINGS)
            if _DOTTED.match(text))


def _imports(tree: ast.Module | None) -> Iterator[str]:
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.split(".")[0]


def dist_of(module: str, known: set[str]) -> str | None:
    """The distribution among ``known`` that provides ``module``, if one plausibly does."""
    if module in KNOWN:
        return normalize(KNOWN[module]) if normalize(KNOWN[module]) in known else None
    name = normalize(module)
    for candidate in (name, f"django-{name.removeprefix('django-')}", f"python-{name}"):
        if candidate in known:
            return candidate
    return None


def misplaced(root: Path, config: Config, site: str) -> list[Misplaced]:
    """Runtime imports whose distribution pyproject.toml lists only in groups or extras
    that project.groups and project.extras leave out (uv, poetry and pyproject projects)."""
    proj = config.project
    if proj.dependencies == "requirements":
        return []
    return find(root, (root / proj.manage).parent, config.settings_module(site),
                [a for a in (proj.wsgi, proj.asgi) if a], proj.groups, proj.extras)


def find(root: Path, app_dir: Path, settings: str, apps: list[str], chosen_groups: list[str],
         chosen_extras: list[str]) -> list[Misplaced]:
    """misplaced() for a project described by its parts (`init` has no config yet)."""
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    layout = read_layout(data)
    installed = set(layout.main)
    for g in chosen_groups:
        installed |= layout.groups.get(g, set())
    for e in chosen_extras:
        installed |= layout.extras.get(e, set())
    elsewhere = {n for names in [*layout.groups.values(), *layout.extras.values()]
                 for n in names} - installed
    found: dict[str, Misplaced] = {}
    for module, where in runtime_imports(app_dir, settings, apps):
        dist = dist_of(module, elsewhere)
        if dist is None or dist in found:
            continue
        found[dist] = Misplaced(
            module, where, dist,
            tuple(sorted(g for g, names in layout.groups.items() if dist in names)),
            tuple(sorted(e for e, names in layout.extras.items() if dist in names)))
    return list(found.values())


def proposal(found: list[Misplaced]) -> tuple[list[str], list[str], list[str]]:
    """(groups, extras, reasons) that install every runtime package in ``found``."""
    groups: list[str] = []
    extras: list[str] = []
    reasons = []
    for m in found:
        chosen = m.setting().split('"')[1]
        (groups if m.groups else extras).append(chosen)
        reasons.append(f"{m.module} ({m.where}) is only in {m.describe()}")
    return list(dict.fromkeys(groups)), list(dict.fromkeys(extras)), reasons
