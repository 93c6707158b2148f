"""Subcommands, one module per command family; djship.cli loads each on first use."""
