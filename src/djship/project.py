"""Find the pieces of a Django project by reading its files (user code is never imported)."""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from djship.errors import UsageError

Dependencies = Literal["requirements", "uv", "poetry", "pyproject"]
SettingKind = Literal["literal", "environment", "expression"]
PRODUCTION_NAMES = ("production", "prod", "live", "deploy")
DEV_NAMES = ("dev", "development", "local", "test", "tests", "testing", "ci")
SETTINGS_OF_INTEREST = ("STATIC_ROOT", "STATIC_URL", "MEDIA_ROOT", "MEDIA_URL",
                        "WSGI_APPLICATION", "ASGI_APPLICATION")
_SKIP_DIRS = {"node_modules", "venv", "env", "site-packages", "__pycache__", "build", "dist"}
# In the order we prefer them; later patterns are globs, filtered of dev/test files.
_REQUIREMENTS = ("requirements.txt", "requirements/production.txt", "requirements/prod.txt",
                 "requirements-production.txt", "requirements-prod.txt", "requirements_prod*.txt",
                 "prod*.txt", "requirements/base.txt", "requirements/*.txt", "requirements*.txt")
_ENV_CALLS = {"getenv", "env", "config", "get_env", "environ"}


@dataclass(frozen=True)
class SettingValue:
    """A setting as written in the settings source: a literal, from the environment, or code."""

    kind: SettingKind
    text: str

    def describe(self) -> str:
        """Human text for messages and config comments."""
        return "from environment" if self.kind == "environment" else self.text


@dataclass
class ProjectInfo:
    """What detection found in a project, and what it could not find."""

    root: Path
    name: str
    manage: str
    settings: str | None = None
    settings_candidates: list[str] = field(default_factory=list)
    wsgi: str | None = None
    asgi: str | None = None
    dependencies: Dependencies | None = None
    requirements: str | None = None
    python: str | None = None  # the lowest "X.Y" the project runs on (for export)
    python_spec: str | None = None  # what it asks for, as project.python would say it
    settings_values: dict[str, SettingValue] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def app_dir(self) -> Path:
        """The folder holding manage.py, which is where the project's packages import from."""
        return (self.root / self.manage).parent


def detect(root: Path) -> ProjectInfo:
    """Inspect the Django project at ``root`` (manage.py there or one folder down)."""
    root = root.resolve()
    manage = find_manage(root)
    info = ProjectInfo(root=root, name=_slug(root.name), manage=manage.relative_to(root).as_posix())
    _detect_settings(info, manage)
    _detect_apps(info)
    _detect_dependencies(info)
    info.python = detect_python([root, info.app_dir])
    info.python_spec = python_spec([root, info.app_dir])
    if info.python is None:
        info.missing.append("Python version: no .python-version, runtime.txt or requires-python")
    return info


def find_manage(root: Path) -> Path:
    """The project's manage.py: in ``root``, else in exactly one of its subfolders."""
    if (root / "manage.py").is_file():
        return root / "manage.py"
    found = sorted(p for p in root.glob("*/manage.py") if not _skipped(p.parent))
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(p.relative_to(root).as_posix() for p in found)
        raise UsageError(f"several Django projects under {root}: {names}",
                         hint="run `djship init` inside the folder of the one to deploy")
    raise UsageError(f"no manage.py in {root} or its subfolders: is this a Django project?",
                     hint="run `djship init` in your project's root folder (where manage.py "
                          "is), or create a project with `django-admin startproject`")


def _skipped(folder: Path) -> bool:
    return folder.name.startswith(".") or folder.name in _SKIP_DIRS


def _detect_settings(info: ProjectInfo, manage: Path) -> None:
    """Choose the settings module, preferring a production module of split settings."""
    declared = settings_from_source(manage)
    if declared is None:
        info.missing.append(f"settings module: {info.manage} does not set DJANGO_SETTINGS_MODULE")
        found = sorted(info.app_dir.glob("*/settings.py")) + sorted(
            info.app_dir.glob("*/settings/__init__.py"))
        if not found:
            return
        declared = _module_of(info.app_dir, found[0])
    wsgi_declared = settings_from_source(info.app_dir / Path(*declared.split(".")[:1]) / "wsgi.py")
    candidates = _settings_modules(info.app_dir, declared)
    info.settings_candidates = candidates
    prod = [m for m in candidates if m.rsplit(".", 1)[-1] in PRODUCTION_NAMES]
    info.settings = prod[0] if prod else wsgi_declared if wsgi_declared in candidates else declared
    if info.settings != declared:
        info.notes.append(f"using settings {info.settings} ({info.manage} defaults to {declared})")
    path = module_file(info.app_dir, info.settings)
    if path is None:
        info.missing.append(f"settings module {info.settings}: no such file under {info.app_dir}")
        return
    info.settings_values = read_settings(info.app_dir, path)
    for key in ("STATIC_ROOT", "MEDIA_ROOT"):
        if key not in info.settings_values:
            info.missing.append(f"{key} is not set in {info.settings}; production needs it")


def _settings_modules(app_dir: Path, declared: str) -> list[str]:
    """``declared`` plus its siblings when it lives in (or is) a split settings package."""
    path = module_file(app_dir, declared)
    if path is None:
        return [declared]
    if path.name == "__init__.py":
        package, folder = declared, path.parent
    elif (path.parent / "__init__.py").is_file() and path.parent.name == "settings":
        package, folder = declared.rsplit(".", 1)[0], path.parent
    else:
        return [declared]
    siblings = [f"{package}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.stem != "__init__"]
    return [declared, *[m for m in siblings if m != declared]]


def module_file(app_dir: Path, module: str) -> Path | None:
    """The source file of a dotted module under ``app_dir``, if it exists."""
    base = app_dir.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_of(app_dir: Path, path: Path) -> str:
    parts = path.relative_to(app_dir).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def settings_from_source(path: Path) -> str | None:
    """The module in ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`` (or ``[...] =``)."""
    tree = _parse(path) if path.is_file() else None
    for node in ast.walk(tree) if tree else ():
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setdefault" and len(node.args) == 2
                and _const(node.args[0]) == "DJANGO_SETTINGS_MODULE"):
            value = _const(node.args[1])
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Subscript)
              and _const(node.targets[0].slice) == "DJANGO_SETTINGS_MODULE"):
            value = _const(node.value)
        else:
            continue
        if isinstance(value, str):
            return value
    return None


def _const(node: ast.AST) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def read_settings(app_dir: Path, path: Path, depth: int = 0) -> dict[str, SettingValue]:
    """Top-level assignments of interest, following ``from .base import *`` within the project."""
    tree = _parse(path)
    out: dict[str, SettingValue] = {}
    for stmt in tree.body if tree and depth < 5 else []:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            source = _star_target(app_dir, path, stmt)
            if source is not None:
                out.update(read_settings(app_dir, source, depth + 1))
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in SETTINGS_OF_INTEREST:
                    out[target.id] = classify(stmt.value)
    return out


def _star_target(app_dir: Path, path: Path, stmt: ast.ImportFrom) -> Path | None:
    if stmt.level:
        folder = path.parent
        for _ in range(stmt.level - 1):
            folder = folder.parent
        module = folder.relative_to(app_dir).parts + tuple((stmt.module or "").split("."))
        return module_file(app_dir, ".".join(p for p in module if p))
    return module_file(app_dir, stmt.module or "")


def classify(node: ast.expr) -> SettingValue:
    """Say whether a settings value is a literal, read from the environment, or computed."""
    if isinstance(node, ast.Constant):
        return SettingValue("literal", node.value if isinstance(node.value, str) else
                            repr(node.value))
    for sub in ast.walk(node):
        name = (sub.attr if isinstance(sub, ast.Attribute) else
                sub.id if isinstance(sub, ast.Name) else None)
        if name in _ENV_CALLS:
            return SettingValue("environment", ast.unparse(node))
    return SettingValue("expression", ast.unparse(node))


def _detect_apps(info: ProjectInfo) -> None:
    """The WSGI and ASGI applications, from settings or ``<package>/wsgi.py``/``asgi.py``."""
    package = (info.settings or "").split(".")[0]
    for kind in ("wsgi", "asgi"):
        ref = _app_ref(info, f"{kind.upper()}_APPLICATION")
        if ref is None and package:
            ref = _app_in_file(info.app_dir, f"{package}.{kind}")
        if ref is None:
            files = sorted(info.app_dir.glob(f"*/{kind}.py"))
            ref = next((r for f in files if (r := _app_in_file(
                info.app_dir, _module_of(info.app_dir, f))) is not None), None)
        setattr(info, kind, ref)
    if info.wsgi is None and info.asgi is None:
        info.missing.append("WSGI/ASGI application: no wsgi.py or asgi.py defining `application`")
    elif info.wsgi is None:
        info.notes.append(f"ASGI only: serving {info.asgi} (needs uvicorn or daphne)")


def _app_ref(info: ProjectInfo, key: str) -> str | None:
    value = info.settings_values.get(key)
    if value is None or value.kind != "literal" or "." not in value.text:
        return None
    module, attr = value.text.rsplit(".", 1)
    return f"{module}:{attr}" if module_file(info.app_dir, module) else None


def _app_in_file(app_dir: Path, module: str) -> str | None:
    path = module_file(app_dir, module)
    tree = _parse(path) if path else None
    for stmt in tree.body if tree else []:
        targets = (stmt.targets if isinstance(stmt, ast.Assign) else
                   [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == "application" for t in targets):
            return f"{module}:application"
    return None


def _detect_dependencies(info: ProjectInfo) -> None:
    """How to install dependencies: uv or poetry lock files, requirements files, pyproject."""
    for folder in dict.fromkeys([info.root, info.app_dir]):
        pyproject = _read_pyproject(folder)
        if pyproject is not None and (folder / "uv.lock").is_file():
            info.dependencies = "uv"
        elif pyproject is not None and (folder / "poetry.lock").is_file():
            info.dependencies = "poetry"
        elif (req := find_requirements(folder)) is not None:
            info.dependencies, info.requirements = "requirements", req.relative_to(
                info.root).as_posix()
        elif pyproject is not None and pyproject.get("project", {}).get("dependencies"):
            info.dependencies = "pyproject"
            info.notes.append("pyproject.toml has no lock file; versions are resolved at deploy")
        if info.dependencies:
            return
    info.missing.append("dependencies: no requirements.txt, uv.lock, poetry.lock or "
                        "[project].dependencies in pyproject.toml")


def _read_pyproject(folder: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def find_requirements(folder: Path) -> Path | None:
    """The requirements file to deploy with, preferring production ones over dev or test."""
    for pattern in _REQUIREMENTS:
        for path in sorted(folder.glob(pattern)):
            words = set(re.split(r"[^a-z]+", path.stem.lower()))
            if path.is_file() and not words & {*DEV_NAMES, "docs", "lint"}:
                return path
    return None


def detect_python(folders: list[Path]) -> str | None:
    """Minimum Python as "3.11": .python-version, runtime.txt, then requires-python."""
    for folder in dict.fromkeys(folders):
        for name in (".python-version", "runtime.txt"):
            try:
                text = (folder / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if m := re.search(r"(\d+)\.(\d+)", text):
                return f"{m.group(1)}.{m.group(2)}"
        pyproject = _read_pyproject(folder) or {}
        spec = pyproject.get("project", {}).get("requires-python") or (
            pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python"))
        if isinstance(spec, str) and (version := minimum_python(spec)):
            return version
    return None


def python_spec(folders: list[Path]) -> str | None:
    """The project's Python as written: "3.12" from .python-version or runtime.txt (3.12.x),
    else requires-python (or poetry's python) verbatim."""
    for folder in dict.fromkeys(folders):
        for name in (".python-version", "runtime.txt"):
            try:
                text = (folder / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if m := re.search(r"(\d+)\.(\d+)", text):
                return f"{m.group(1)}.{m.group(2)}"
        pyproject = _read_pyproject(folder) or {}
        spec = pyproject.get("project", {}).get("requires-python") or (
            pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python"))
        if isinstance(spec, str) and spec.strip():
            return spec.strip()
    return None


def minimum_python(spec: str) -> str | None:
    """The lowest "X.Y" a version specifier allows (">=3.10,<4" gives "3.10")."""
    for clause in re.split(r"[,|]", spec):
        m = re.match(r"^\s*(>=|~=|==|\^|~|>)?\s*(\d+)\.(\d+)", clause)
        if m:
            return f"{m.group(2)}.{m.group(3)}"
    return None


def _slug(text: str) -> str:
    """A site-safe name: lower case letters, digits, '-' and '_', starting with a letter."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    slug = re.sub(r"^[^a-z]+", "", slug)[:31].rstrip("-_")
    return slug or "site"
