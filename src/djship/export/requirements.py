"""requirements.txt for platforms and images, with the packages the export relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from djship.errors import DjshipError, UsageError
from djship.export.files import Planned
from djship.export.target import Target
from djship.project import module_file
from djship.settings.deps import POSTGRES_DRIVERS, normalize, requirement_names

# What the generated Procfile, Dockerfile and settings import or run.
NEEDED = {"gunicorn": "gunicorn>=22", "whitenoise": "whitenoise>=6.6",
          "dj-database-url": "dj-database-url>=2.1", "psycopg": "psycopg[binary]>=3.2"}
ADDED = "# Added by djship export: the platform files run these."
UV_EXPORT = ("uv", "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project",
             "--format", "requirements-txt")
POETRY_EXPORT = ("poetry", "export", "--without-hashes", "--only", "main",
                 "--format", "requirements.txt")
Runner = Callable[[Sequence[str], Path], str]


def run_tool(argv: Sequence[str], cwd: Path) -> str:
    """Run a lock-file exporter and return its output."""
    if shutil.which(argv[0]) is None:
        raise UsageError(f"{argv[0]} is not installed, and it is needed to export "
                         f"{'uv.lock' if argv[0] == 'uv' else 'poetry.lock'}",
                         hint=f"install {argv[0]}, or list the dependencies in requirements.txt")
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DjshipError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): "
                          f"{proc.stderr.strip()[-500:]}",
                          hint="run it yourself to see why; is the lock file up to date?")
    return proc.stdout


def requirements_file(target: Target, run: Runner = run_tool) -> Planned:
    """requirements.txt at the root: the project's own, or exported from its lock file."""
    root = target.root
    if target.dependencies == "requirements":
        if target.requirements == "requirements.txt" and (root / "requirements.txt").is_file():
            old = (root / "requirements.txt").read_text(encoding="utf-8")
            return Planned("requirements.txt", with_needed(old, old), "merged",
                           "the platform's dependencies")
        if not (root / target.requirements).is_file():
            base = f"{django_spec(target)}\n"
            return Planned("requirements.txt", with_needed(base, base))
        included = (root / target.requirements).read_text(encoding="utf-8")
        base = f"-r {target.requirements}\n"
        return Planned("requirements.txt", with_needed(base, base + included))
    if target.dependencies == "uv":
        base = run(UV_EXPORT, root)
    elif target.dependencies == "poetry":
        base = run(POETRY_EXPORT, root)
    else:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        base = "".join(f"{d}\n" for d in data.get("project", {}).get("dependencies", []))
    return Planned("requirements.txt", with_needed(base, base))


def django_spec(target: Target) -> str:
    """Django pinned to the minor version `startproject` names in the settings, if it does."""
    path = module_file(target.root / Path(target.manage).parent, target.settings)
    text = path.read_text(encoding="utf-8") if path else ""
    m = re.search(r"using Django (\d+)\.(\d+)", text)
    if not m:
        return "Django"
    major, minor = int(m.group(1)), int(m.group(2))
    return f"Django>={major}.{minor},<{major}.{minor + 1}"


def with_needed(text: str, scanned: str) -> str:
    """``text`` with the needed packages that ``scanned`` does not list added at the end."""
    have = requirement_names(scanned)
    missing = [spec for name, spec in NEEDED.items() if normalize(name) not in have
               and not (name == "psycopg" and have & POSTGRES_DRIVERS)]
    if not missing:
        return text
    sep = "" if not text or text.endswith("\n") else "\n"
    head = "" if ADDED in text else f"{ADDED}\n"
    return text + sep + head + "".join(f"{m}\n" for m in missing)
