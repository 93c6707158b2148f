"""The production module's own override hook (``try: from .local import *``), used instead of
rewriting a hand-written production module that reads nothing from the environment."""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

from djship.settings.source import (
    SettingsFile,
    SettingsSource,
    assignments_of,
    parse_file,
    reads_env,
)

_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class Hook:
    """A module the production settings star-import last, when it exists."""

    path: Path  # where the module is, or would be
    module: str  # its dotted name


def find_hook(app_dir: Path, source: SettingsSource) -> Hook | None:
    """The target's override hook, when the target reads nothing from the environment itself,
    assigns nothing after the hook, and no other settings module imports the hook's file."""
    body = source.target.tree.body
    for i, stmt in enumerate(body):
        star = _hook_import(stmt)
        if star is None:
            continue
        hook = _resolve(app_dir, source.target.path, star)
        if hook is None or hook.path == source.target.path:
            return None
        after = SettingsFile(source.target.path, "", ast.Module(body[i + 1:], []))
        if assignments_of(after) or any(reads_env(s) for s in body if s is not stmt):
            return None
        return None if _imported_elsewhere(app_dir, source.target.path, hook) else hook
    return None


def _hook_import(stmt: ast.stmt) -> ast.ImportFrom | None:
    """``from X import *`` guarded so that it runs only when X exists (try/except, if)."""
    if isinstance(stmt, ast.Try):
        caught = {n.id for h in stmt.handlers if h.type is not None
                  for n in ast.walk(h.type) if isinstance(n, ast.Name)}
        if not (caught & _IMPORT_ERRORS or any(h.type is None for h in stmt.handlers)):
            return None
    elif not isinstance(stmt, ast.If):
        return None
    stars = [s for s in stmt.body if isinstance(s, ast.ImportFrom)
             and any(a.name == "*" for a in s.names)]
    return stars[0] if len(stars) == 1 else None


def _resolve(app_dir: Path, importer: Path, stmt: ast.ImportFrom) -> Hook | None:
    """Where the star-imported module lives under ``app_dir`` (it need not exist yet)."""
    if stmt.level:
        folder = importer.parent
        for _ in range(stmt.level - 1):
            folder = folder.parent
        try:
            prefix = list(folder.relative_to(app_dir).parts)
        except ValueError:
            return None
    else:
        prefix = []
    parts = [*prefix, *(stmt.module or "").split(".")]
    if not all(p.isidentifier() for p in parts):
        return None
    base = app_dir.joinpath(*parts)
    path = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
    return Hook(path, ".".join(parts))


def _imported_elsewhere(app_dir: Path, target: Path, hook: Hook) -> bool:
    """True when a sibling settings module (dev.py, say) imports the hook's module too."""
    for path in sorted(target.parent.glob("*.py")):
        if path in (target, hook.path):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                found = _resolve(app_dir, path, node)
                if found is not None and found.module == hook.module:
                    return True
            elif isinstance(node, ast.Import) and any(a.name == hook.module for a in node.names):
                return True
    return False


def ignored_by_git(root: Path, path: Path) -> bool:
    """True when git ignores ``path`` (so a release, built from git's files, would lack it)."""
    try:
        proc = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "--", str(path)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def hooked_source(source: SettingsSource, hook: Hook, production: str) -> SettingsSource:
    """The settings as production runs them with the hook file present, that file the target.

    The hook file starts from the production module's settings (a star import of it; the
    production module is complete by then, as it imports the hook last), so the added code
    can refer to BASE_DIR or DATABASES as in the production module itself.
    """
    star = f"from {production} import *  # noqa: F403 - the settings this file overrides"
    if hook.path.is_file():
        f = parse_file(hook.path)
        if not _star_imports(f.tree, production):
            lines = f.text.splitlines(keepends=True)
            at = _after_docstring(f.tree)
            text = "".join([*lines[:at], f"{star}\n", *lines[at:]])
            f = SettingsFile(f.path, text, ast.parse(text))
    else:
        text = (f'"""Production settings from the environment, added by djship.\n\n'
                f'{production} imports this module last, when it exists.\n"""\n\n{star}\n')
        f = SettingsFile(hook.path, text, ast.parse(text))
    return SettingsSource(target=f, files=[*source.files, f],
                          assignments=[*source.assignments, *assignments_of(f)])


def _star_imports(tree: ast.Module, module: str) -> bool:
    return any(isinstance(s, ast.ImportFrom) and s.module == module and not s.level
               and any(a.name == "*" for a in s.names) for s in tree.body)


def _after_docstring(tree: ast.Module) -> int:
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return first.end_lineno or 0
    return 0
