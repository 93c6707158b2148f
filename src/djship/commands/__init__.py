"""Subcommands; importing this package registers them on the `djship` group."""

from djship.commands import (  # noqa: F401
    check_cmd,
    config_cmd,
    db_cmd,
    deploy_cmd,
    env_cmd,
    export_cmd,
    init_cmd,
    ops_cmd,
    provision_cmd,
    sandbox_cmd,
    site_cmd,
    status_cmd,
    tls_cmd,
)
