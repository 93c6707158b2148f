"""Read a settings module's source: its assignments (following ``from .base import *``), style."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from djship.errors import DjshipError
from djship.project import module_file

# Names whose use means "this value comes from the environment".
ENV_NAMES = {"environ", "getenv", "env", "config", "get_env", "_env_bool", "_env_list",
             "env_bool", "env_list", "dj_database_url"}


class SettingsSourceError(DjshipError):
    """A settings file cannot be read or parsed."""

    exit_code = 2


@dataclass(frozen=True)
class Assignment:
    """One assignment to an upper-case name in a settings file."""

    name: str
    path: Path
    stmt: ast.stmt
    value: ast.expr | None
    nested: bool  # inside a top-level if/try/with: its effect depends on the run

    def env_driven(self) -> bool:
        """True when the assigned value reads the environment."""
        return self.value is not None and reads_env(self.value)


@dataclass
class SettingsFile:
    """One parsed settings file."""

    path: Path
    text: str
    tree: ast.Module

    def segment(self, node: ast.AST) -> str:
        """The exact source text of ``node``."""
        return ast.get_source_segment(self.text, node) or ast.unparse(node)


@dataclass
class SettingsSource:
    """A settings module and the project files it star-imports, in execution order."""

    target: SettingsFile
    files: list[SettingsFile]
    assignments: list[Assignment] = field(default_factory=list)

    def last(self, name: str) -> Assignment | None:
        """The assignment that decides ``name`` (the last one executed), if any."""
        found = [a for a in self.assignments if a.name == name]
        return found[-1] if found else None

    def mentions(self, *words: str) -> bool:
        """True when a string constant or name in any file equals one of ``words``."""
        for f in self.files:
            for node in ast.walk(f.tree):
                if (isinstance(node, ast.Constant) and node.value in words) or (
                        isinstance(node, ast.Name) and node.id in words) or (
                        isinstance(node, ast.Attribute) and node.attr in words):
                    return True
        return False

    def defines(self, name: str) -> bool:
        """True when the target file defines or imports ``name`` at top level."""
        return name in top_level_names(self.target.tree)

    def quote(self) -> str:
        """The quote character the project's string literals mostly use."""
        return prefer_quote("\n".join(f.text for f in self.files))


def reads_env(node: ast.AST) -> bool:
    """True when an expression reads an environment variable (os.environ, getenv, env(...))."""
    for sub in ast.walk(node):
        name = (sub.attr if isinstance(sub, ast.Attribute) else
                sub.id if isinstance(sub, ast.Name) else None)
        if name in ENV_NAMES:
            return True
    return False


def parse_file(path: Path) -> SettingsFile:
    """Parse one settings file, or raise an error naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsSourceError(f"cannot read settings file {path}: {exc}") from exc
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise SettingsSourceError(
            f"cannot parse settings file {path}:{exc.lineno}: SyntaxError: {exc.msg}",
            hint="fix the syntax error; djship changed nothing") from exc
    return SettingsFile(path, text, tree)


def load_source(app_dir: Path, module: str) -> SettingsSource:
    """Parse ``module`` (a dotted name under ``app_dir``) and what it star-imports."""
    path = module_file(app_dir, module)
    if path is None:
        raise SettingsSourceError(f"settings module {module} not found under {app_dir}",
                                  hint="set project.settings in djship.toml to your "
                                       "settings module")
    target = parse_file(path)
    source = SettingsSource(target=target, files=[])
    _collect(app_dir, target, source, depth=0)
    return source


def _collect(app_dir: Path, f: SettingsFile, source: SettingsSource, depth: int) -> None:
    source.files.append(f)
    for stmt in f.tree.body:
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            star = _star_target(app_dir, f.path, stmt)
            if star is not None and depth < 5 and star not in [x.path for x in source.files]:
                _collect(app_dir, parse_file(star), source, depth + 1)
            continue
        _assignments(f.path, stmt, source.assignments, nested=False)


def assignments_of(f: SettingsFile) -> list[Assignment]:
    """The assignments in one file, without following its star imports."""
    out: list[Assignment] = []
    for stmt in f.tree.body:
        _assignments(f.path, stmt, out, nested=False)
    return out


def _assignments(path: Path, stmt: ast.stmt, out: list[Assignment], nested: bool) -> None:
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            for name in _names(target):
                if name.isupper():
                    out.append(Assignment(name, path, stmt, stmt.value, nested))
    elif isinstance(stmt, ast.If | ast.Try | ast.With | ast.For):
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                _assignments(path, child, out, nested=True)
            elif isinstance(child, ast.ExceptHandler):
                for sub in child.body:
                    _assignments(path, sub, out, nested=True)


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _names(elt)]
    return []


def _star_target(app_dir: Path, path: Path, stmt: ast.ImportFrom) -> Path | None:
    if not stmt.level:
        return module_file(app_dir, stmt.module or "")
    folder = path.parent
    for _ in range(stmt.level - 1):
        folder = folder.parent
    try:
        parts = folder.relative_to(app_dir).parts
    except ValueError:
        return None
    return module_file(app_dir, ".".join([*parts, *(stmt.module or "").split(".")]).strip("."))


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at top level: imports, functions, classes, assignments."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, ast.FunctionDef | ast.ClassDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n for t in targets for n in _names(t))
    return names


def prefer_quote(text: str) -> str:
    """``'`` when single-quoted strings outnumber double-quoted ones, else ``"``."""
    single = double = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING and not tok.string.lstrip("rbuRBUfF").startswith(
                    ('"""', "'''")):
                body = tok.string.lstrip("rbuRBUfF")
                single += body.startswith("'")
                double += body.startswith('"')
    except (tokenize.TokenError, SyntaxError):
        pass
    return "'" if single > double else '"'
