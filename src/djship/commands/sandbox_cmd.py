"""`djship sandbox`: local practice servers (the group lives in djship.sandbox.cli)."""

from __future__ import annotations

from djship.cli import cli
from djship.sandbox.cli import sandbox

cli.add_command(sandbox)
