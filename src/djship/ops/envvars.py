"""`djship env`: edit the site's environment file on every host, values only on stdin."""

from __future__ import annotations

import json
from dataclasses import dataclass

from djship.errors import UsageError
from djship.paths import SitePaths
from djship.shell import MASK, Script, cmd
from djship.steps.tools import ENVTOOL

PROTECTED = ("DATABASE_URL", "SECRET_KEY")


@dataclass(frozen=True)
class EnvChange:
    """What to set and unset."""

    set: dict[str, str]
    unset: list[str]


def parse_assignments(items: tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE arguments to a dict, refusing malformed ones."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"expected KEY=VALUE, got {item.split('=')[0]!r}",
                             hint="e.g. djship env set DEBUG=0 EMAIL_HOST=smtp.example.com")
        out[key] = value
    return out


def check_unset(keys: tuple[str, ...], force: bool) -> list[str]:
    """Refuse to drop the database URL or secret key unless forced."""
    risky = [k for k in keys if k in PROTECTED]
    if risky and not force:
        raise UsageError(f"refusing to unset {', '.join(risky)}: the site cannot run without it",
                         hint="add --force if you really mean it")
    return list(keys)


def apply_request(p: SitePaths, change: EnvChange) -> tuple[Script, bytes]:
    """The helper call and its stdin for a change (values never on the command line)."""
    body = {"file": p.env_file, "set": change.set, "unset": change.unset}
    return Script.of([cmd("python3", ENVTOOL)]), json.dumps(body).encode()


def get_request(p: SitePaths, keys: list[str] | None) -> tuple[Script, bytes]:
    """The helper call that prints the env file's values as JSON."""
    body: dict[str, object] = {"op": "get", "file": p.env_file}
    if keys:
        body["keys"] = keys
    return Script.of([cmd("python3", ENVTOOL)]), json.dumps(body).encode()


def render_list(values: dict[str, str], reveal: bool) -> list[str]:
    """KEY=VALUE lines, values masked unless revealed."""
    return [f"{k}={v if reveal else MASK}" for k, v in sorted(values.items())]
