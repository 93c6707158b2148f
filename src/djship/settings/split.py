"""`--split`: settings.py becomes settings/{base,dev,production}.py; djship uses production."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tomlkit

from djship.config.schema import Config
from djship.errors import UsageError
from djship.project import module_file
from djship.settings import deps
from djship.settings.analysis import plan_edits
from djship.settings.fix import (
    FileChange,
    SettingsPlan,
    check_imports,
    plan_dependencies,
    style_for,
)
from djship.settings.patch import patched_text
from djship.settings.source import SettingsFile, SettingsSource, assignments_of, parse_file

PRODUCTION = '''"""Production settings: the base, with values from the environment djship sets."""

from .base import *  # noqa: F403
'''
DEV = '''"""Development settings (the default of manage.py): the base as it was."""

from .base import *  # noqa: F403
'''
# BASE_DIR moves one folder deeper with the settings; these are the ways projects compute it.
_BASE_DIR = [(re.compile(r"(Path\(__file__\)(?:\.resolve\(\))?(?:\.parent)+)"), r"\1.parent"),
             (re.compile(r"os\.path\.dirname\((os\.path\.dirname\(os\.path\.abspath\(__file__\)\))"
                         r"\)"), r"os.path.dirname(os.path.dirname(\1))")]


def is_split(app_dir: Path, module: str) -> bool:
    """True when ``module`` already lives in a settings package."""
    path = module_file(app_dir, module)
    return path is not None and (path.name == "__init__.py" or path.parent.name == "settings")


def plan_split(root: Path, config: Config, site: str, config_path: Path) -> SettingsPlan:
    """Move settings.py into a package with base, dev and production modules."""
    root = root.resolve()
    app_dir = (root / config.project.manage).parent
    module = config.settings_module(site)
    old = module_file(app_dir, module)
    if old is None or is_split(app_dir, module):
        raise UsageError(f"{module} is already split (or missing)",
                         hint="run `djship init --settings` without --split")
    probed = check_imports(root, config, site)  # never move settings that do not import
    package = old.with_suffix("")
    base = SettingsFile(package / "base.py", *_moved(parse_file(old)))
    prod = SettingsFile(package / "production.py", PRODUCTION, ast.parse(PRODUCTION))
    source = SettingsSource(prod, [prod, base], assignments_of(base))
    declared = deps.declared(root, config.project) or set()
    s = config.sites[site]
    edits = plan_edits(source, style_for(source, s.domains, declared, s.env_names))
    plan = SettingsPlan(f"{module}.production", reasons=[e.reason for e in edits])
    plan.changes += [FileChange(package / "__init__.py", None, ""),
                     FileChange(base.path, None, base.text),
                     FileChange(package / "dev.py", None, DEV),
                     FileChange(prod.path, None, patched_text(prod, edits)),
                     FileChange(old, old.read_text(encoding="utf-8"), None)]
    plan.changes += _entry_points(app_dir, module, f"{module}.dev")
    plan.changes.append(_config_change(config_path, site, plan.module))
    plan_dependencies(root, config, site, edits, str(probed.data.get("django") or ""), plan)
    plan.notes.append(f"manage.py now uses {module}.dev; djship uses {plan.module}")
    return plan


def _moved(f: SettingsFile) -> tuple[str, ast.Module]:
    text = f.text
    for pattern, repl in _BASE_DIR:
        text = pattern.sub(repl, text, count=1)
    return text, ast.parse(text)


def _entry_points(app_dir: Path, old: str, new: str) -> list[FileChange]:
    """manage.py, wsgi.py and asgi.py default to the dev module instead of ``old``."""
    package = old.split(".")[0]
    changes = []
    for path in (app_dir / "manage.py", app_dir / package / "wsgi.py",
                 app_dir / package / "asgi.py"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new_text = text.replace(f"'{old}'", f"'{new}'").replace(f'"{old}"', f'"{new}"')
        if new_text != text:
            changes.append(FileChange(path, text, new_text))
    return changes


def _config_change(config_path: Path, site: str, module: str) -> FileChange:
    """Record the production module in djship.toml (the site's key if it sets one)."""
    text = config_path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    site_table = doc.get("sites", {}).get(site, {})
    table = site_table if "settings" in site_table else doc["project"]
    table["settings"] = module
    return FileChange(config_path, text, tomlkit.dumps(doc))
