"""Render djship's Jinja templates; a project may override any of them.

Copy a template from djship/templates/ into ``<project>/djship/templates/`` with the same
name and djship uses yours. Undefined variables are errors, never silently empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

OVERRIDE_DIR = Path("djship") / "templates"


def environment(project_root: Path | None = None) -> Environment:
    """A Jinja environment looking in the project's override folder first."""
    # Imported here: a deploy that writes no file (most redeploys) renders nothing.
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

    loaders: list[Any] = []
    if project_root is not None:
        loaders.append(FileSystemLoader(str(project_root / OVERRIDE_DIR)))
    loaders.append(PackageLoader("djship", "templates"))
    return Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined,
                       keep_trailing_newline=True, autoescape=False)  # noqa: S701 - not HTML


def render(template: str, project_root: Path | None = None, **values: Any) -> str:
    """Render one template by file name."""
    return environment(project_root).get_template(template).render(**values)
