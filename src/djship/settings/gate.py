"""Remember which releases passed the production checks, so an unchanged redeploy skips them.

The checks start three Python processes (about a second); a deploy of the same files with
the same config, djship and local Python would get the same answer. The record lives in the
user's cache folder, not in the project, whose git status must stay clean.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from djship import __version__
from djship.config.schema import Config
from djship.release.build import Build, config_fingerprint
from djship.settings.check import ENV_ONLY_ON_SERVERS, Finding
from djship.settings.fix import write_atomic
from djship.settings.localenv import check_python


def passed_file() -> Path:
    """Where passes are recorded: $XDG_CACHE_HOME/djship (~/.cache/djship)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "djship" / "checks-passed.json"


def check_key(b: Build, config: Config, site: str) -> str:
    """What the checks' answer depends on: shipped files (but static assets: a changed
    stylesheet changes no check's answer), site config, djship, the Python."""
    parts = [__version__, b.checked_hash or b.content_hash, config_fingerprint(config, site),
             check_python(b.root, config)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def settings_key(b: Build, config: Config, site: str) -> str:
    """What the settings part of the checks depends on: settings and migrations
    (Build.checks_hash), dependencies, site config, djship, the Python."""
    parts = [__version__, "settings", b.checks_hash, b.deps_hash,
             config_fingerprint(config, site), check_python(b.root, config)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def passed_before(root: Path, site: str, key: str) -> bool:
    """True when the checks passed for exactly this key (the last pass per site is kept)."""
    try:
        data = json.loads(passed_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get(_slot(root, site)) == key


def _slot(root: Path, site: str) -> str:
    return f"{root.resolve()}::{site}"


def remember(root: Path, site: str, key: str, findings: list[Finding]) -> None:
    """Record a pass: no errors, and the settings were really checked."""
    # A variable only the servers have (or nobody) was stood in for: not a real pass.
    if any(f.level == "error" or f.code in ("check.skipped", ENV_ONLY_ON_SERVERS)
           for f in findings):
        return
    path = passed_file()
    data: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    data[_slot(root, site)] = key
    with contextlib.suppress(OSError):  # an unwritable cache only loses the shortcut
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
