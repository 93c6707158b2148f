"""`djship config`: print the effective configuration."""

from __future__ import annotations

import json

import click
import tomlkit

from djship.commands.base import State, pass_state

SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "DATABASE_URL", "EMAIL_URL", "DSN")


def masked(value: object, key: str = "") -> object:
    """The config with values of secret-looking keys replaced by ***."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str) and any(w in key.upper() for w in SECRET_WORDS) \
            and key not in ("key",):
        return "***"
    return value


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@pass_state
def config_command(state: State, as_json: bool) -> None:
    """Check and print the effective configuration (secrets masked)."""
    ctx = state.context()
    data = masked(ctx.config.model_dump(mode="json", exclude_none=True))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    src = ctx.source
    click.echo(f"# from {src.path}" + (f" + {src.overlay}" if src.overlay else ""))
    click.echo(tomlkit.dumps(data))  # type: ignore[arg-type]
