"""`djship sandbox`: local practice servers (the group lives in djship.sandbox.cli; this
module adds `host-entry`, which knows djship.toml, and is what `djship sandbox` loads)."""

from __future__ import annotations

import click

from djship.errors import UsageError
from djship.sandbox import machine
from djship.sandbox.cli import sandbox


@sandbox.command("host-entry")
@click.argument("name")
@click.option("--roles", default="web,worker,db", show_default=True,
              help="Comma-separated roles for the entry.")
def host_entry(name: str, roles: str) -> None:
    """Print the djship.toml [[hosts]] entry for sandbox NAME."""
    found = [m for m in machine.list_machines() if m.name == name]
    if not found:
        raise UsageError(f"no sandbox named {name!r}", hint="see `djship sandbox ls`")
    click.echo(found[0].host_entry([r.strip() for r in roles.split(",") if r.strip()]))


__all__ = ["sandbox"]
