"""`djship sandbox`: disposable local Debian servers for rehearsals and tests."""

from __future__ import annotations

import subprocess
import sys

import click

from djship.sandbox import machine
from djship.sandbox.state import RELEASES

STATE_DIR_OPTION = click.option(
    "--state-dir", envvar="DJSHIP_SANDBOX_DIR", type=click.Path(file_okay=False),
    default=None, help="Where images, the SSH key and machines live "
    "[default: /var/tmp/djship-sandbox; env DJSHIP_SANDBOX_DIR].")


@click.group()
def sandbox() -> None:
    """Boot disposable Debian servers on this machine (root, systemd-nspawn).

    Each sandbox is a real Debian with systemd and sshd on a private bridge
    (default 10.213.77.0/24, env DJSHIP_SANDBOX_NET). It can reach only the
    package sources this host uses, unless started with --internet.
    """


@sandbox.command()
@click.argument("name")
@click.option("--release", type=click.Choice(RELEASES), default="bookworm", show_default=True)
@click.option("--internet", is_flag=True, help="Allow all outbound traffic (NAT), not only "
              "the host's package sources.")
@click.option("--timeout", type=float, default=machine.BOOT_TIMEOUT, show_default=True,
              help="Seconds to wait for SSH.")
@click.option("--preinstall", multiple=True, metavar="PACKAGE",
              help="Boot from a cached image with these Debian packages already installed "
              "(repeatable): faster rehearsals, e.g. --preinstall nginx --preinstall postgresql.")
@STATE_DIR_OPTION
def up(name: str, release: str, internet: bool, timeout: float, preinstall: tuple[str, ...],
       state_dir: str | None) -> None:
    """Boot sandbox NAME and print how to reach it."""
    info = machine.up(name, release, state_dir=state_dir, internet=internet, timeout=timeout,
                      preinstall=list(preinstall) or None)
    click.echo(f"sandbox {info.name} is up at {info.address} "
               f"(SSH ready after {info.boot_seconds:.1f}s)")
    click.echo(f"  djship sandbox ssh {info.name}")
    click.echo(f"  ssh -i {info.identity_file} -o UserKnownHostsFile={info.known_hosts_file}"
               f" root@{info.address}")
    click.echo("\nAdd it to djship.toml:\n")
    click.echo(info.host_entry(), nl=False)


@sandbox.command()
@click.argument("name", required=False)
@click.option("--all", "all_", is_flag=True, help="Take down every sandbox.")
@STATE_DIR_OPTION
def down(name: str | None, all_: bool, state_dir: str | None) -> None:
    """Power off sandbox NAME (or --all) and remove its files and network state."""
    if all_ == bool(name):
        raise click.UsageError("give either a NAME or --all")
    names = machine.down_all(state_dir=state_dir) if all_ else [name or ""]
    if not all_:
        machine.down(names[0], state_dir=state_dir)
    for gone in names:
        click.echo(f"sandbox {gone} is down")
    if all_ and not names:
        click.echo("no sandboxes")


@sandbox.command("ls")
@STATE_DIR_OPTION
def ls(state_dir: str | None) -> None:
    """List sandboxes: name, address, state, release."""
    rows = [(m.name, m.address, m.state, m.release + (" +internet" if m.internet else ""))
            for m in machine.list_machines(state_dir=state_dir)]
    if not rows:
        click.echo("no sandboxes")
        return
    header = ("NAME", "ADDRESS", "STATE", "RELEASE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@sandbox.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@STATE_DIR_OPTION
@click.pass_context
def ssh(ctx: click.Context, name: str, command: tuple[str, ...], state_dir: str | None) -> None:
    """Open a root shell on sandbox NAME, or run COMMAND there; exits with its status."""
    found = [m for m in machine.list_machines(state_dir=state_dir) if m.name == name]
    if not found:
        raise click.UsageError(f"no sandbox named {name}; `djship sandbox ls` lists them")
    # Arguments go to the remote shell joined by spaces, as with plain ssh.
    argv = found[0].ssh_argv(" ".join(command))
    if not command and sys.stdin.isatty():
        argv.insert(1, "-t")
    ctx.exit(subprocess.run(argv, check=False).returncode)
