"""Try proposed settings edits on a copy of the project before they are shown: an edit that
makes the settings fail to import, or adds an error to the check, is not proposed."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from djship.config.schema import Config
from djship.settings import deps
from djship.settings.analysis import Edit
from djship.settings.djangocheck import deploy_findings
from djship.settings.envcheck import Probed
from djship.settings.evaluated import settings_findings
from djship.settings.patch import patched_text
from djship.settings.probe import (
    SettingsImportError,
    import_settings,
    manage_check_deploy,
    production_env,
)
from djship.settings.source import SettingsFile

# Fresh per trial: the probe's own temporary folder is gone by now.
_TMP_VARS = ("DATABASE_URL", "STATIC_ROOT", "MEDIA_ROOT", "DJSHIP_DATA_DIR")


@dataclass(frozen=True)
class Trial:
    """What a trial needs: the project, its settings as probed, and where the change goes."""

    root: Path
    config: Config
    site: str
    module: str
    probed: Probed
    target: SettingsFile


@dataclass(frozen=True)
class Outcome:
    """Errors (code -> message) with one set of edits; ``unverifiable`` when the import
    needs a package the edits add and the local Python lacks."""

    errors: dict[str, str]
    unverifiable: str = ""


@dataclass
class Verdict:
    """The edits that passed, those dropped with why, and notes for the user."""

    kept: list[Edit]
    dropped: list[tuple[Edit, str]]
    notes: list[str]


def verify_edits(trial: Trial, edits: list[Edit]) -> Verdict:
    """Keep the edits that, applied together to a copy, neither break the settings' import
    nor add an error finding; on failure, bisect to find the culprit(s)."""
    if not edits:
        return Verdict([], [], [])
    with tempfile.TemporaryDirectory(prefix="djship-proof-") as tmp:
        copy = shadow_tree(trial.root, trial.target.path, Path(tmp) / "project")
        env = _fresh_env(trial, Path(tmp))
        try_edits = _trier(trial, copy, env)
        before = functools.cache(lambda: _baseline(trial, env))
        all_edits = try_edits(edits)
        if all_edits.unverifiable:
            return Verdict(edits, [], [all_edits.unverifiable])
        if not _worse(all_edits, before):
            return Verdict(edits, [], [])
        dropped: list[tuple[Edit, str]] = []
        kept = _bisect([], edits, lambda es: _worse(try_edits(es), before), dropped)
    return Verdict(kept, dropped, [])


def _worse(after: Outcome, before: Callable[[], Outcome]) -> str:
    """The first error ``after`` has that the settings had not before ("" if none); the
    check of the original runs only when there is an error to compare."""
    if not after.errors or after.unverifiable:
        return ""
    new = [m for code, m in after.errors.items() if code not in before().errors]
    return new[0] if new else ""


def _bisect(base: list[Edit], todo: list[Edit], fails: Callable[[list[Edit]], str],
            dropped: list[tuple[Edit, str]]) -> list[Edit]:
    """``base`` (known good) plus as many of ``todo``, in order, as still pass."""
    if not todo:
        return base
    why = fails(base + todo)
    if not why:
        return base + todo
    if len(todo) == 1:
        dropped.append((todo[0], why))
        return base
    half = len(todo) // 2
    return _bisect(_bisect(base, todo[:half], fails, dropped), todo[half:], fails, dropped)


def _trier(trial: Trial, copy: Path, env: dict[str, str]) -> Callable[[list[Edit]], Outcome]:
    target = copy / trial.target.path.relative_to(trial.root)
    manage = copy / trial.config.project.manage

    def attempt(edits: list[Edit]) -> Outcome:
        target.unlink(missing_ok=True)  # may be the original file, linked: never write through
        target.write_text(patched_text(trial.target, edits), encoding="utf-8")
        wanted = {p for e in edits if (p := e.snippet.package)}
        return _outcome(trial, manage, env, wanted)
    return attempt


def _baseline(trial: Trial, env: dict[str, str]) -> Outcome:
    """The errors the settings have now (their import is known to work)."""
    probed = trial.probed
    found = settings_findings(probed, probed.data, trial.config, trial.site)
    manage = trial.root / trial.config.project.manage
    found += deploy_findings(manage_check_deploy(probed.python, manage, env))
    return Outcome({f.code: f.message for f in found if f.level == "error"})


def _outcome(trial: Trial, manage: Path, env: dict[str, str], wanted: set[str]) -> Outcome:
    # Two independent Python processes: side by side (the check is wasted if the import fails).
    with ThreadPoolExecutor(max_workers=2) as pool:
        deploy = pool.submit(manage_check_deploy, trial.probed.python, manage, env)
        data = _import(trial, manage, env, wanted)
        deploy_out = deploy.result()
    return data if isinstance(data, Outcome) else _judged(trial, data, env, deploy_out)


def _import(trial: Trial, manage: Path, env: dict[str, str], wanted: set[str]
            ) -> dict[str, Any] | Outcome:
    probed = trial.probed
    try:
        return import_settings(probed.python, manage.parent, trial.module, env,
                               probed.secret_var)
    except SettingsImportError as exc:
        missing = {deps.IMPORTS.get(m) for m in re.findall(r"No module named '(\w+)", exc.detail)}
        if exc.type_name == "ModuleNotFoundError" and missing & wanted:
            names = " ".join(sorted(p for p in wanted if p in missing))
            return Outcome({}, f"the changed settings were not tried here: they import {names}, "
                               f"which this Python lacks (pip install {names})")
        return Outcome({"settings.import": f"the settings no longer import: {exc.message}"})


def _judged(trial: Trial, data: dict[str, Any], env: dict[str, str],
            deploy_out: subprocess.CompletedProcess[str]) -> Outcome:
    tried = replace(trial.probed, data=data, env=env)
    found = settings_findings(tried, data, trial.config, trial.site) + deploy_findings(deploy_out)
    return Outcome({f.code: f.message for f in found if f.level == "error"})


def _fresh_env(trial: Trial, tmp: Path) -> dict[str, str]:
    fresh = production_env(trial.config, trial.site, tmp).values
    env = {**trial.probed.env, **{k: fresh[k] for k in _TMP_VARS if k in fresh}}
    env["DJANGO_SETTINGS_MODULE"] = trial.module
    return env


def shadow_tree(root: Path, target: Path, dest: Path) -> Path:
    """A copy of ``root`` cheap to make: the folders down to ``target`` are real, with their
    files copied (Python resolves a linked script's folder to the original); everything
    else is a link to the original. Returns ``dest``."""
    chain = {root / p for p in target.relative_to(root).parents} | {root}
    for folder in sorted(chain, key=lambda p: len(p.parts)):
        here = dest / folder.relative_to(root)
        here.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(folder):
            src, out = Path(entry.path), here / entry.name
            if src in chain or entry.name == "__pycache__":
                continue
            if entry.is_file(follow_symlinks=False):
                shutil.copy2(src, out)
            else:
                out.symlink_to(src)
    return dest
