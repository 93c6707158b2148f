"""Subcommands; importing this package registers them on the `djship` group."""

from djship.commands import check_cmd, config_cmd, deploy_cmd, init_cmd, provision_cmd, sandbox_cmd  # noqa: F401
