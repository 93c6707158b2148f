"""Build a release locally: the files git would ship, their content hash, and a release id."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from djship.config import Config
from djship.errors import UsageError
from djship.release import exclude, poetry
from djship.release import python as pyreq

# Tool caches and djship's own folder: never part of a release, left out without a word.
SKIP_DIRS = {".git", ".djship", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox",
             "staticfiles"}
DEPENDENCY_FILES = ("requirements", "uv.lock", "poetry.lock", "pyproject.toml", ".python-version")
# Python files that can change what collectstatic collects: settings (INSTALLED_APPS,
# STATICFILES_DIRS, STORAGES), app configs, custom storages and finders. Every other file
# that is not Python (CSS, JS, images, templates...) counts too.
_STATIC_PY = re.compile(r"(^|/)(settings[^/]*|apps\.py|[^/]*(storage|finder|static)[^/]*)(/|$)")
# Static assets: what collectstatic copies and no Django check reads (a folder named
# ``static`` anywhere, a file type no Python code is): their bytes change no check's answer.
_ASSET = re.compile(r"(^|/)static/(.+/)?[^/]+\.(css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|"
                    r"woff2?|ttf|otf|eot|scss|less)$", re.I)
_INCLUDE = re.compile(r"^\s*(-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(\S+)")


@dataclass(frozen=True)
class Build:
    """A release ready to upload."""

    root: Path
    files: tuple[str, ...]
    content_hash: str
    deps_hash: str
    commit: str
    dirty: bool
    release_id: str
    warnings: tuple[str, ...] = field(default=())
    # Files djship writes into the release beside the project's (path, content).
    generated: tuple[tuple[str, bytes], ...] = field(default=())
    python: tuple[pyreq.Requirement, ...] = field(default=())
    # Hash of what collectstatic's output depends on (see static_input()); "" = always collect.
    static_hash: str = ""
    # Hash of the migrations and settings (see check_input()); "" = always check.
    checks_hash: str = ""
    # Hash of every file but static assets (see asset()): what the local checks read.
    checked_hash: str = ""

    def fingerprint(self, config_json: str) -> str:
        """Identity of what would run: code plus the site's config."""
        return hashlib.sha256((self.content_hash + config_json).encode()).hexdigest()


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        return None
    return proc.stdout if proc.returncode == 0 else None


DJSHIP_CONFIG = re.compile(r"djship(\.[A-Za-z0-9_-]+)?\.toml")


class Listing(NamedTuple):
    """The files a release ships, where they come from, and what was left out."""

    files: list[str]
    commit: str
    dirty: bool
    warnings: list[str]


def list_files(root: Path, include: Iterable[str] = ()) -> Listing:
    """Files to ship: git's tracked files plus the untracked ones it does not ignore (or a
    walk outside git), less what djship leaves out by default unless ``include`` names it."""
    excluder = exclude.Excluder(root, include)
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is not None:
        tracked = _git_files(root, "--cached")
        # What the user has not committed yet nor ignored: no .gitignore yet, say.
        untracked = [f for f in _git_files(root, "--others", "--exclude-standard")
                     if excluder.keep(f)]
        files = [f for f in {*tracked, *untracked}
                 if not f.startswith(".djship/") and (root / f).is_file()]
        commit = (_git(root, "rev-parse", "--short=8", "HEAD") or "").strip()
        status = (_git(root, "status", "--porcelain", "--", ".") or "").splitlines()
        # Changes to tracked files, or new files that ship (not a new .venv left out); an
        # uncommitted djship.<env>.toml is not part of the release (it never ships).
        changed = [line[3:].strip('"') for line in status
                   if line.strip() and not line.startswith("??")] + untracked
        dirty = any(not DJSHIP_CONFIG.fullmatch(Path(f).name) for f in changed)
        return Listing(sorted(files), commit, dirty, excluder.warnings(in_git=True))
    files = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder).relative_to(root)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS
                         and not excluder.skip_folder((here / d).as_posix()))
        files += [rel for rel in ((here / n).as_posix() for n in names) if excluder.keep(rel)]
    return Listing(sorted(files), "", False, excluder.warnings(in_git=False))


def _git_files(root: Path, *which: str) -> list[str]:
    listed = _git(root, "ls-files", "-z", *which, "--", ".") or ""
    return [f for f in listed.split("\0") if f]


def requirement_includes(root: Path, main: str, *, constraints: bool = True) -> list[str]:
    """``main`` and every file it pulls in with -r (and -c), recursively (relative to root)."""
    found: list[str] = []
    todo = [main]
    while todo:
        rel = todo.pop()
        if rel in found:
            continue
        found.append(rel)
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            m = _INCLUDE.match(line)
            if m and "://" not in m.group(2) and (constraints or m.group(1) in ("-r",
                                                                               "--requirement")):
                path = os.path.normpath((Path(rel).parent / m.group(2)).as_posix())
                todo.append(Path(path).as_posix())
    return found


def static_input(rel: str) -> bool:
    """Can this file change what collectstatic collects? (Only plain Python code cannot.)"""
    return not rel.endswith(".py") or bool(_STATIC_PY.search(rel))


def asset(rel: str) -> bool:
    """Is this a static asset (CSS, JS, an image or font under a ``static`` folder)?"""
    return bool(_ASSET.search(rel))


class Hashes(NamedTuple):
    """Content hashes of a release's files."""

    content: str  # every file
    deps: str  # the dependency files
    static: str  # the files static_input() keeps
    checks: str  # the files check_input() keeps
    checked: str  # every file but static assets


def hash_files(root: Path, files: list[str], extra_deps: frozenset[str] = frozenset()
               ) -> Hashes:
    """Hash every file once, feeding the content, dependency and static-input hashes."""
    total, deps, static, checks, checked = (hashlib.sha256() for _ in range(5))
    for rel in files:
        path = root / rel
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        line = f"{rel}\0{digest}\0{os.access(path, os.X_OK)}\n".encode()
        total.update(line)
        if Path(rel).name.startswith(DEPENDENCY_FILES) or "requirements" in rel \
                or rel in extra_deps:
            deps.update(line)
        if static_input(rel):
            static.update(line)
        if check_input(rel):
            checks.update(line)
        if not asset(rel):
            checked.update(line)
    return Hashes(total.hexdigest(), deps.hexdigest(), static.hexdigest(), checks.hexdigest(),
                  checked.hexdigest())


def check_input(rel: str) -> bool:
    """Can this file change what the server's `check --deploy` and `migrate --plan` say,
    beyond what the local check of the new code sees? Migrations and settings can."""
    return "migrations/" in rel or "settings" in rel or rel.endswith("manage.py")


def generated_files(root: Path, config: Config) -> tuple[tuple[str, bytes], ...]:
    """Files djship adds to the release: poetry.lock's pins as a requirements file."""
    if config.project.dependencies == "poetry":
        text = poetry.export(root, config.project.groups, config.project.extras)
        return ((poetry.REQUIREMENTS_FILE, text.encode()),)
    return ()


def build(root: Path, config: Config, *, clean: bool = False, now: float | None = None) -> Build:
    """Collect the release: refuse uncommitted changes with ``clean``, else warn about them."""
    include = config.project.include
    files, commit, dirty, left_out = list_files(root, include)
    # djship's own config is not the app's: it stays on the deploying machine.
    files = [f for f in files if not DJSHIP_CONFIG.fullmatch(f)]
    if not files:
        raise UsageError(f"no files to deploy under {root}")
    if dirty and clean:
        raise UsageError("the work tree has uncommitted changes and --clean was given",
                         hint="commit or stash them, or deploy without --clean")
    if config.project.manage not in files:
        raise UsageError(f"{config.project.manage} is not among the files to deploy",
                         hint="check project.manage in djship.toml and that it is not ignored")
    if config.project.dependencies == "requirements" and (config.project.groups
                                                          or config.project.extras):
        raise UsageError("project.groups and project.extras name parts of pyproject.toml, but "
                         'project.dependencies is "requirements"',
                         hint='set dependencies = "uv", "poetry" or "pyproject" in djship.toml, '
                              f"or list those packages in {config.project.requirements}")
    includes = frozenset(requirement_includes(root, config.project.requirements)
                         if config.project.dependencies == "requirements" else ())
    content, deps, static, checks, checked = hash_files(root, files, includes)
    app_dir = (root / config.project.manage).parent
    python = tuple(pyreq.read_requirements(root, app_dir, config.project.python))
    generated = generated_files(root, config)
    extra = "".join(f"{name}\0{hashlib.sha256(data).hexdigest()}" for name, data in generated)
    deps = hashlib.sha256(f"{deps}\0{pyreq.key(list(python))}\0{extra}".encode()).hexdigest()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    # Uncommitted changes make another release of the same commit: named by content.
    release_id = f"{stamp}-{content[:12] if dirty or not commit else commit}"
    warnings = (*(["uncommitted changes are included in this release"] if dirty else []),
                *left_out, *exclude.secret_warning(exclude.secret_looking(files, include)))
    # The venv's packages (the admin's static files, say) are static inputs too.
    static = hashlib.sha256(f"{static}\0{deps}".encode()).hexdigest()
    return Build(root, tuple(files), content, deps, commit, dirty, release_id, warnings,
                 generated, python, static, checks, checked)


def config_fingerprint(config: Config, site: str) -> str:
    """The parts of the config that change what runs, as stable JSON."""
    return json.dumps({"project": config.project.model_dump(mode="json"),
                       "site": config.sites[site].model_dump(mode="json")}, sort_keys=True)
