"""`python -m djship.sandbox`: the sandbox commands without the rest of the CLI."""

from __future__ import annotations

import sys

import click

from djship.errors import DjshipError
from djship.sandbox.cli import sandbox


def main() -> None:
    """Run the sandbox group, printing DjshipErrors as `error:`/`hint:` lines."""
    try:
        code = sandbox.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.Abort:
        sys.exit(130)
    except DjshipError as e:
        click.echo(f"error: {e.message}", err=True)
        for line in e.details():
            click.echo(line, err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        sys.exit(e.exit_code)
    # Without standalone mode click returns ctx.exit()'s status instead of exiting.
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
