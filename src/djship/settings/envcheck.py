"""Import the settings as the servers would: under the project's own variable names, with
stand-ins for what only the servers have, and say which variables are missing where."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from djship.config.schema import Config
from djship.settings.envnames import project_names, standin
from djship.settings.probe import SettingsImportError, import_settings, import_with_standins
from djship.settings.source import SettingsSource


@dataclass(frozen=True)
class ServerEnv:
    """What the servers' environment file holds, as stand-ins of the same shape (values
    never leave the servers), or why it could not be read."""

    shapes: dict[str, str] | None
    reason: str = ""
    provisioned: bool | None = None  # None: the servers could not be asked


ServerLookup = Callable[[], ServerEnv]


@dataclass
class Probed:
    """The settings as imported, and the environment they were imported with."""

    data: dict[str, Any]
    env: dict[str, str]
    secret_var: str
    renamed: dict[str, str] = field(default_factory=dict)  # setting -> the project's variable
    missing: list[str] = field(default_factory=list)  # needed, set nowhere djship knows
    server_reason: str = ""  # why the servers' variables are unknown
    provisioned: bool | None = None  # whether the site's servers have an environment file
    python: str = ""  # the Python that imported them


def probe_settings(python: str, app_dir: Path, config: Config, site: str, module: str,
                   env: dict[str, str], source: SettingsSource | None,
                   server: ServerLookup | None = None) -> Probed:
    """Import the settings with ``env`` plus a stand-in for each variable they need and lack:
    the servers' (same shape) when set there, else one made from the name.

    Raises SettingsImportError when the settings fail for another reason."""
    s = config.sites[site]
    asked: list[ServerEnv] = []

    def on_servers() -> ServerEnv:
        if not asked:
            asked.append(server() if server else ServerEnv(None, ""))
        return asked[0]

    def give(var: str) -> str:
        shapes = on_servers().shapes or {}
        return shapes.get(var, standin(var, s.domains))

    secret_var = s.env_name("SECRET_KEY")
    try:
        data, used = import_with_standins(python, app_dir, module, env, give, secret_var)
    except SettingsImportError as exc:
        exc.from_servers = set(exc.standins) & set(on_servers().shapes or {})
        raise
    env = {**env, **used}
    renamed = project_names(data, source, s)
    if renamed:
        # djship's value (secret, domains) under the name the project reads, as it will be
        # once [sites.X.env_names] records it.
        for setting, var in renamed.items():
            env[var] = env.get(s.env_name(setting), "")
        secret_var = renamed.get("SECRET_KEY", secret_var)
        data = import_settings(python, app_dir, module, env, secret_var)
    shapes = on_servers().shapes if used else {}
    missing = [v for v in used if v not in renamed.values() and v not in (shapes or {})]
    return Probed(data, env, secret_var, renamed, missing,
                  on_servers().reason if missing else "",
                  on_servers().provisioned if missing else None, python)
