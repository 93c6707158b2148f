"""Settings changes an export needs: production settings plus WhiteNoise, as a diff."""

from __future__ import annotations

import ast
from pathlib import Path

from djship.export.files import Planned
from djship.export.target import Target
from djship.settings.analysis import Edit, plan_edits
from djship.settings.fix import style_for
from djship.settings.patch import patched_text
from djship.settings.snippets import Snippet, Style
from djship.settings.source import SettingsFile, SettingsSource, load_source

SECURITY = "django.middleware.security.SecurityMiddleware"
WHITENOISE = "whitenoise.middleware.WhiteNoiseMiddleware"
STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def settings_file(target: Target) -> tuple[Planned | None, list[str]]:
    """The patched settings file (None when it needs nothing) and the reasons for each edit."""
    app_dir = target.root / Path(target.manage).parent
    source = load_source(app_dir, target.settings)
    style = style_for(source, list(target.domains), names=target.env_names)
    edits = [*plan_edits(source, style), *whitenoise_edits(source, style)]
    if not edits:
        return None, []
    text = patched_text(source.target, edits)
    rel = source.target.path.relative_to(target.root).as_posix()
    return Planned(rel, text, "merged", "production settings and WhiteNoise"), [
        e.reason for e in edits]


def whitenoise_edits(source: SettingsSource, style: Style) -> list[Edit]:
    """WhiteNoiseMiddleware right after SecurityMiddleware, and WhiteNoise's storage."""
    edits: list[Edit] = []
    if not source.mentions(WHITENOISE) and source.last("MIDDLEWARE") is not None:
        edits.append(_middleware(source, style))
    if not source.mentions(STORAGE):
        edits.append(_storages(source, style))
    return edits


def _middleware(source: SettingsSource, style: Style) -> Edit:
    reason = "WhiteNoise must serve the static files (no nginx in front on a platform)"
    a = source.last("MIDDLEWARE")
    if (a is not None and not a.nested and a.path == source.target.path
            and isinstance(a.value, ast.List)):
        code = _inserted(source.target, a.stmt, a.value, style)
        if code is not None:
            return Edit(Snippet("MIDDLEWARE", code, imports=()), reason, "replace", a)
    code = style.q(f'''\
# WhiteNoise serves static files, right after SecurityMiddleware.
MIDDLEWARE = list(MIDDLEWARE)
MIDDLEWARE.insert(
    MIDDLEWARE.index("{SECURITY}") + 1 if "{SECURITY}" in MIDDLEWARE else 0,
    "{WHITENOISE}",
)''')
    return Edit(Snippet("MIDDLEWARE", code, imports=()), reason)


def _inserted(f: SettingsFile, stmt: ast.stmt, value: ast.List, style: Style) -> str | None:
    """The MIDDLEWARE statement's text with WhiteNoise added after SecurityMiddleware."""
    found = [e for e in value.elts if isinstance(e, ast.Constant) and e.value == SECURITY]
    if not found or stmt.end_lineno is None:
        return None
    elt = found[0]
    lines = f.text.splitlines(keepends=True)
    first, last = stmt.lineno - 1, stmt.end_lineno
    body = lines[first:last]
    row = (elt.end_lineno or elt.lineno) - 1 - first
    item = f"{style.quote}{WHITENOISE}{style.quote}"
    line = body[row]
    rest = line.encode()[elt.end_col_offset or 0:].decode().strip()
    if elt.lineno != stmt.lineno and rest == ",":
        indent = line[:len(line) - len(line.lstrip())]
        body.insert(row + 1, f"{indent}{item},\n")
    else:
        cut = len(line.encode()[:elt.end_col_offset or 0].decode())
        body[row] = line[:cut] + f", {item}" + line[cut:]
    return "".join(body).rstrip("\n")


def _storages(source: SettingsSource, style: Style) -> Edit:
    reason = "static files need WhiteNoise's compressed, hashed storage"
    staticfiles = f'"staticfiles": {{"BACKEND": "{STORAGE}"}},'
    a = source.last("STORAGES")
    if a is None:
        code = f'''\
# WhiteNoise serves compressed static files with hashed names, cached forever.
STORAGES = {{
    "default": {{"BACKEND": "django.core.files.storage.FileSystemStorage"}},
    {staticfiles}
}}'''
        return Edit(Snippet("STORAGES", style.q(code), imports=()), reason)
    code = f'''\
# WhiteNoise serves compressed static files with hashed names, cached forever.
STORAGES = {{
    **STORAGES,
    {staticfiles}
}}'''
    in_place = not a.nested and a.path == source.target.path
    return Edit(Snippet("STORAGES", style.q(code), imports=()), reason,
                "after" if in_place else "append", a if in_place else None)
