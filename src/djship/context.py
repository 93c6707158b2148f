"""What every command needs: the loaded config, the chosen site, the hosts and transports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from djship.config import Config, Host, Source, load
from djship.errors import UsageError
from djship.shell import Script
from djship.transport.base import Result, Transport
from djship.transport.ssh import SshTransport
from djship.ui import UI


class OfflineTransport:
    """Stands in for a host during --dry-run; any attempt to reach it is a bug."""

    def __init__(self, name: str) -> None:
        self.name = name

    def connect(self) -> None:
        """Refuse: dry runs never connect."""
        raise AssertionError("dry run tried to connect")

    def run(self, script: Script, *, stdin: bytes | None = None,
            timeout: float | None = None) -> Result:
        """Refuse: dry runs never connect."""
        raise AssertionError("dry run tried to run a command")

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root",
            group: str = "root") -> None:
        """Refuse: dry runs never connect."""
        raise AssertionError("dry run tried to write a file")

    def get(self, path: str) -> bytes:
        """Refuse: dry runs never connect."""
        raise AssertionError("dry run tried to read a file")

    def sync(self, source: str, files: Sequence[str], dest: str, link_dest: str | None
             ) -> Result:
        """Refuse: dry runs never connect."""
        raise AssertionError("dry run tried to upload")

    def cancel(self) -> None:
        """Nothing runs."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class Context:
    """Config, project root and output shared by the commands."""

    config: Config
    source: Source
    ui: UI
    dry_run: bool = False
    _transports: dict[str, Transport] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The project root (folder of the config file)."""
        return self.source.path.parent

    def site_name(self, wanted: str | None) -> str:
        """The site a command acts on: the one given, or the only one configured."""
        if wanted:
            if wanted not in self.config.sites:
                raise UsageError(f"no site {wanted!r} in the config",
                                 hint=f"sites are: {', '.join(self.config.sites)}")
            return wanted
        if len(self.config.sites) == 1:
            return next(iter(self.config.sites))
        raise UsageError("several sites are configured; choose one with --site",
                         hint=f"sites are: {', '.join(self.config.sites)}")

    def hosts(self, site: str, only: str | None = None, role: str | None = None) -> list[Host]:
        """The site's hosts, optionally one by name or those with a role."""
        hosts = self.config.site_hosts(site)
        if only:
            hosts = [h for h in hosts if h.name == only]
            if not hosts:
                raise UsageError(f"no host {only!r} for site {site!r}")
        if role:
            hosts = [h for h in hosts if role in h.roles]
        return hosts

    def transport(self, host: Host) -> Transport:
        """The (cached) transport for a host; offline during a dry run."""
        if host.name not in self._transports:
            self._transports[host.name] = (OfflineTransport(host.name) if self.dry_run
                                           else SshTransport(host))
        return self._transports[host.name]

    def close(self) -> None:
        """Close every connection opened."""
        for t in self._transports.values():
            t.close()


def make_context(project_dir: Path, environment: str | None, ui: UI,
                 dry_run: bool = False) -> Context:
    """Load the config from ``project_dir`` (or above) and build a Context."""
    config, source = load(project_dir.resolve(), environment)
    return Context(config, source, ui, dry_run)
