"""The local check environment: the project's dependencies in a virtualenv djship builds.

On a fresh clone nothing is installed, so the settings cannot be imported and `djship check`
could only say "No module named ...". When the project has no virtualenv of its own
(``.venv``/``venv`` in the project, or an active one), djship builds one with uv from the
same dependency files (and project.groups/extras) the servers install from, under
$XDG_CACHE_HOME/djship/envs/<hash>: keyed by those files' content and the Python, so an
unchanged project reuses it and a changed lock builds a new one. The user's project stays
untouched (its git status clean).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

from djship.config.schema import Config, Project
from djship.errors import DjshipError
from djship.release import poetry
from djship.release import python as pyreq
from djship.release.build import requirement_includes
from djship.settings import deps
from djship.settings.djangopy import django_requirement
from djship.settings.probe import DjangoNotImportable, SettingsImportError

T = TypeVar("T")
# "build": build the environment when needed; "reuse": use one already built, never build
# (a deploy); "off": never build, say how (`check --no-env`).
EnvUse = Literal["build", "reuse", "off"]
Progress = Callable[[str], None]
FORMAT = "1"  # bumped when the way environments are built changes
DONE = ".djship-complete"
EXPORTED = "requirements-from-poetry.txt"
_TIMEOUT = 1800
_MISSING = re.compile(r"No module named '([A-Za-z0-9_.]+)'")
# Import names whose distribution is named otherwise (beyond deps.IMPORTS and the django-
# and python- prefixes).
_DISTS = {"rest_framework": "djangorestframework", "corsheaders": "django-cors-headers",
          "PIL": "pillow", "yaml": "pyyaml", "dotenv": "python-dotenv",
          "sentry_sdk": "sentry-sdk", "crispy_forms": "django-crispy-forms",
          "debug_toolbar": "django-debug-toolbar", "dateutil": "python-dateutil",
          "jwt": "pyjwt", "bs4": "beautifulsoup4", "magic": "python-magic"}


def cache_root() -> Path:
    """Where check environments live: $XDG_CACHE_HOME/djship/envs (~/.cache/djship/envs)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "djship" / "envs"


@dataclass(frozen=True)
class EnvPlan:
    """How to build the check environment of a project, and the command that does it by hand."""

    folder: Path
    python: str  # what `uv venv --python` gets
    version: str  # its version, for messages
    installs: tuple[tuple[str, ...], ...]  # uv arguments, one install command each
    manual: str  # one shell command, run in the project, that makes `djship check` work
    what: str  # the dependency files, in words
    needs: str = ""  # why not djship's own Python (PythonChoice.needs)
    files: dict[str, str] = field(default_factory=dict)  # written into the folder first

    @property
    def interpreter(self) -> Path:
        """The environment's Python."""
        return self.folder / "bin" / "python"

    def ready(self) -> bool:
        """Built completely (an interrupted build has no completion mark)."""
        return (self.folder / DONE).is_file() and self.interpreter.is_file()


def own_env(root: Path) -> str | None:
    """The project's own interpreter: .venv/venv in the project or the active virtualenv."""
    for folder in (root / ".venv", root / "venv"):
        if (folder / "bin" / "python").is_file():
            return str(folder / "bin" / "python")
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and (Path(venv) / "bin" / "python").is_file():
        return str(Path(venv) / "bin" / "python")
    return None


def check_python(root: Path, config: Config) -> str:
    """The Python the local checks run: the project's own environment, else a check
    environment djship built for these dependencies, else the one djship runs on."""
    own = own_env(root)
    if own:
        return own
    try:
        plan = plan_env(root, config)
    except DjshipError:
        return sys.executable
    return str(plan.interpreter) if plan.ready() else sys.executable


def dependency_files(root: Path, proj: Project) -> list[str]:
    """The files the project's dependencies are read from (relative to root)."""
    if proj.dependencies == "requirements":
        return requirement_includes(root, proj.requirements)
    lock = {"uv": ["uv.lock"], "poetry": ["poetry.lock"]}.get(proj.dependencies, [])
    return ["pyproject.toml", *lock]


def env_key(root: Path, proj: Project, python: str) -> str:
    """What the environment depends on: the dependency files' content, how they are read
    (kind, groups, extras), and the Python."""
    parts: list[object] = [FORMAT, proj.dependencies, proj.requirements, sorted(proj.groups),
             sorted(proj.extras), python]
    for rel in dependency_files(root, proj):
        try:
            parts.append([rel, hashlib.sha256((root / rel).read_bytes()).hexdigest()])
        except OSError:
            parts.append([rel, None])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class PythonChoice(NamedTuple):
    """The environment's interpreter, its version, and why not djship's own Python."""

    python: str  # what `uv venv --python` gets
    version: str
    needs: str = ""  # "the project needs Python >=3.12 (Django 6.0 in ...); djship runs on 3.11"


def choose_python(root: Path, config: Config) -> PythonChoice:
    """The interpreter for the environment: the one djship runs on when the project's Python
    requirement and its pinned Django accept it, else an installed python3.X they accept,
    else the version for uv to find."""
    app_dir = (root / config.project.manage).parent
    reqs = pyreq.read_requirements(root, app_dir, config.project.python)
    django = django_requirement(root, config.project)
    if django is not None:
        reqs.append(django)
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if pyreq.allows(reqs, sys.version_info[:2]):
        return PythonChoice(sys.executable, mine)
    needs = f"the project needs Python {pyreq.describe(reqs)}; djship runs on {mine}"
    for major, minor in reversed(pyreq.KNOWN_MINORS):
        found = shutil.which(f"python{major}.{minor}")
        if found and pyreq.allows(reqs, (major, minor)):
            return PythonChoice(found, f"{major}.{minor}", needs)
    request = pyreq.uv_request(reqs)
    return PythonChoice(request, request, needs)


def plan_env(root: Path, config: Config) -> EnvPlan:
    """The check environment for the project's dependencies (raises when they are unreadable)."""
    proj = config.project
    python, shown, needs = choose_python(root, config)
    folder = cache_root() / env_key(root, proj, python)[:16]
    interp = str(folder / "bin" / "python")
    chosen = [*(w for g in proj.groups for w in ("--group", g)),
              *(w for e in proj.extras for w in ("--extra", e))]
    venv = f"uv venv --python {shown} .venv && uv pip install --python .venv/bin/python"
    files: dict[str, str] = {}
    if proj.dependencies == "uv":
        dev = [] if "dev" in proj.groups else ["--no-dev"]
        sync = ("sync", "--frozen", *dev, "--no-install-project", *chosen)
        installs: tuple[tuple[str, ...], ...] = ((*sync, "--python", interp),)
        manual = " ".join([*("uv", *sync), "--python", shown])
        what = "uv.lock"
    elif proj.dependencies == "poetry":
        files[EXPORTED] = poetry.export(root, proj.groups, proj.extras)
        installs = (("pip", "install", "--python", interp, "-r", str(folder / EXPORTED)),)
        only = ",".join(["main", *proj.groups])
        extras = f" --extras {' '.join(proj.extras)!r}" if proj.extras else ""
        manual = ("POETRY_VIRTUALENVS_IN_PROJECT=true poetry install --no-root "
                  f"--only {only}{extras}")
        what = "poetry.lock"
    elif proj.dependencies == "pyproject":
        installs = (("pip", "install", "--python", interp, "-r", "pyproject.toml", *chosen),)
        manual = " ".join([venv, "-r", "pyproject.toml", *chosen])
        what = "pyproject.toml"
    else:
        installs = (("pip", "install", "--python", interp, "-r", proj.requirements),)
        manual = f"{venv} -r {proj.requirements}"
        what = proj.requirements
    return EnvPlan(folder, python, shown, installs, manual, what, needs, files)


def find_uv() -> str | None:
    """uv: beside djship's Python (it is a dependency of djship), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


class EnvBuildFailed(DjshipError):
    """uv could not build the check environment."""


def build_env(plan: EnvPlan, root: Path, progress: Progress) -> str:
    """Build the environment (a half-built one is removed first); return its Python."""
    uv = find_uv()
    hint = f"build an environment by hand, in {root}: {plan.manual}"
    if plan.needs:
        hint = (f"{plan.needs}: install Python {plan.version} (`uv python install "
                f"{plan.version}`) and run `djship check` again, or {hint}")
    if uv is None:
        raise EnvBuildFailed("cannot build the check environment: uv is not installed",
                             hint=f"install uv (pip install uv), or {hint}")
    locks = plan.folder.parent.parent / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    # Two checks at once (two sites, two terminals) build it once: the second waits.
    with (locks / f"env-{plan.folder.name}").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not plan.ready():
            _build(plan, root, uv, hint, progress)
    return str(plan.interpreter)


def _build(plan: EnvPlan, root: Path, uv: str, hint: str, progress: Progress) -> None:
    if plan.folder.exists():
        shutil.rmtree(plan.folder)
    began = time.monotonic()
    why = f" ({plan.needs})" if plan.needs else ""
    progress(f"check environment: installing the project's dependencies ({plan.what}, "
             f"Python {plan.version}{why}) with uv into {plan.folder}; first time only, it "
             "is reused while they are unchanged")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(UV_PROJECT_ENVIRONMENT=str(plan.folder), UV_NO_PROGRESS="1")
    _run(uv, ("venv", "--quiet", "--python", plan.python, str(plan.folder)), root, env, hint)
    for name, text in plan.files.items():
        (plan.folder / name).write_text(text, encoding="utf-8")
    for args in plan.installs:
        _run(uv, args, root, env, hint)
    (plan.folder / DONE).touch()
    progress(f"check environment: ready in {time.monotonic() - began:.0f}s")


def _run(uv: str, args: tuple[str, ...], root: Path, env: dict[str, str], hint: str) -> None:
    try:
        proc = subprocess.run([uv, *args], cwd=root, env=env, capture_output=True, text=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvBuildFailed(f"cannot build the check environment: uv {args[0]}: {exc}",
                             hint=hint) from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise EnvBuildFailed(f"building the check environment failed: `uv {' '.join(args)}` "
                             f"exited {proc.returncode}:\n{tail}", hint=hint)


def missing_dependency(exc: DjshipError, root: Path, proj: Project) -> str | None:
    """What is missing when the failure is one a check environment can cure: Django, or a
    module the settings import that comes from a package the project declares."""
    declared = deps.declared(root, proj)
    if declared is None:
        return None  # no dependency file: nothing to build from
    if isinstance(exc, DjangoNotImportable):
        return "django" if "django" in declared else None
    if not isinstance(exc, SettingsImportError) or exc.type_name != "ModuleNotFoundError":
        return None
    m = _MISSING.search(exc.detail)
    top = m.group(1).split(".")[0] if m else ""
    if m is None or (root / proj.manage).parent.joinpath(top).exists() \
            or (root / proj.manage).parent.joinpath(f"{top}.py").exists():
        return None  # the project's own module (a gitignored local_settings.py, say)
    name = deps.normalize(top)
    dists = {deps.normalize(deps.IMPORTS.get(top, top)), name, f"django-{name}",
             f"python-{name}", deps.normalize(_DISTS.get(top, top))}
    return m.group(1) if dists & declared else None


class EnvNotBuilt(DjangoNotImportable):
    """The check needs the project's dependencies and djship was told not to build them."""


def with_check_env(root: Path, config: Config, attempt: Callable[[str], T], *,
                   use: EnvUse = "build", progress: Progress | None = None) -> T:
    """``attempt(python)`` with the Python of check_python(); when it fails for lack of the
    project's dependencies and the project has no environment of its own, build the check
    environment and try again (``use`` "build"), or raise EnvNotBuilt naming the command."""
    python = check_python(root, config)
    try:
        return attempt(python)
    except (DjangoNotImportable, SettingsImportError) as exc:
        missing = missing_dependency(exc, root, config.project)
        if missing is None or own_env(root) is not None or python != sys.executable:
            raise
        plan = plan_env(root, config)
        if use != "build":
            later = ("`djship check` builds it (cached, then deploys use it)" if use == "reuse"
                     else "`djship check` without --no-env builds it (cached)")
            raise EnvNotBuilt(
                f"the local Python cannot import {missing}: the project's dependencies are "
                "not installed here", hint=f"{later}, or in {root}: {plan.manual}") from exc
        return attempt(build_env(plan, root, progress or _stderr))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
