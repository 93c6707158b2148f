"""Turn edits into new settings source text, keeping every line of the user's code."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from djship.settings.analysis import Edit
from djship.settings.snippets import HELPERS
from djship.settings.source import SettingsFile, top_level_names

BLOCK_HEADER = """# Production settings added by djship: each reads an environment variable and
# falls back to a safe production default (see `djship check`)."""


@dataclass(frozen=True)
class _Splice:
    """Replace lines[start:end] (0-based, end exclusive) with ``text``."""

    start: int
    end: int
    text: str


def patched_text(f: SettingsFile, edits: list[Edit]) -> str:
    """The settings file's text with ``edits`` applied (imports and helpers added on top)."""
    if not edits:
        return f.text
    lines = f.text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    splices = [_splice(e) for e in edits if e.mode != "append"]
    appended = [e.snippet.code for e in edits if e.mode == "append"]
    if appended:
        tail = "\n" + BLOCK_HEADER + "\n" + "\n".join(appended) + "\n"
        splices.append(_Splice(len(lines), len(lines), tail))
    header = _header(f, edits)
    if header:
        at = _header_line(f.tree)
        splices.append(_Splice(at, at, header))
    # Bottom-up, so earlier line numbers stay valid.
    for sp in sorted(splices, key=lambda x: (x.start, x.end), reverse=True):
        lines[sp.start:sp.end] = [sp.text]
    text = "".join(lines)
    ast.parse(text)  # a bug here must never reach the user's file
    return text


def _splice(edit: Edit) -> _Splice:
    stmt = edit.anchor.stmt if edit.anchor else None
    assert stmt is not None and stmt.end_lineno is not None
    code = edit.snippet.code + "\n"
    if edit.mode == "replace":
        return _Splice(stmt.lineno - 1, stmt.end_lineno, code)
    return _Splice(stmt.end_lineno, stmt.end_lineno, code)


def _header(f: SettingsFile, edits: list[Edit]) -> str:
    """Import lines and helper functions the edits need and the file does not have yet."""
    names = top_level_names(f.tree)
    # An import further down (after the code djship adds above it) binds its name too late.
    at = _header_line(f.tree)
    early = top_level_names(ast.Module([s for s in f.tree.body if (s.end_lineno or 0) <= at], []))
    imports: list[str] = []
    helpers: list[str] = []
    for e in edits:
        for line in e.snippet.imports:
            wanted = line.split(" import ")[-1].split(", ") if line.startswith("from ") \
                else [line.split()[-1]]
            if not set(wanted) <= early and line not in imports:
                imports.append(line)
        helpers += [h for h in e.snippet.helpers if h not in names and h not in helpers]
    text = "".join(f"{line}\n" for line in imports)
    if helpers:
        text += "\n\n" + "\n\n\n".join(HELPERS[h] for h in sorted(helpers)) + "\n\n"
    return text


def _header_line(tree: ast.Module) -> int:
    """The line after the module's leading docstring and imports (0-based)."""
    end = 0
    for i, stmt in enumerate(tree.body):
        is_doc = i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        if not (is_doc or isinstance(stmt, ast.Import | ast.ImportFrom)):
            break
        end = stmt.end_lineno or end
    return end
