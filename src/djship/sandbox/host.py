"""Read the host's package sources and resolve their names (the I/O around sources.py)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from djship.errors import DjshipError
from djship.sandbox import sources
from djship.sandbox.sources import Endpoint, PipSettings

APT_DIR = Path("/etc/apt")
CA_DIR = Path("/usr/local/share/ca-certificates")


@dataclass(frozen=True)
class HostSources:
    """The host's apt URIs and pip settings."""

    apt_uris: tuple[str, ...]
    pip: PipSettings

    def endpoints(self) -> list[Endpoint]:
        """Every host and port of the package sources, for the egress allow-list."""
        urls = [*self.apt_uris, *self.mirrors()]
        found = {e for e in map(sources.endpoint_of, urls) if e}
        found.update(sources.pip_endpoints(self.pip))
        return sorted(found)

    def mirrors(self) -> tuple[str, str]:
        """Debian archive and security mirror URLs for the base image."""
        override = os.environ.get("DJSHIP_SANDBOX_MIRROR")
        if override:
            return override.rstrip("/"), sources.debian_mirrors(self.apt_uris)[1]
        return sources.debian_mirrors(self.apt_uris)


def read_apt_uris(apt_dir: Path = APT_DIR) -> list[str]:
    """URIs from sources.list and the active files of sources.list.d."""
    uris: list[str] = []
    main = apt_dir / "sources.list"
    if main.is_file():
        uris += sources.parse_apt_list(main.read_text())
    parts = apt_dir / "sources.list.d"
    # apt reads only these two suffixes; files renamed to *.disabled are ignored, as here.
    for path in sorted(parts.glob("*.list")) if parts.is_dir() else []:
        uris += sources.parse_apt_list(path.read_text())
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        uris += sources.parse_apt_deb822(path.read_text())
    return uris


def pip_config_files() -> list[Path]:
    """pip's config files in pip's own order of precedence (lowest first)."""
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path.home()
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs)]
    files += [Path("/etc/pip.conf"), home / ".pip" / "pip.conf"]
    files.append(Path(os.environ.get("XDG_CONFIG_HOME", home / ".config")) / "pip" / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return [f for f in files if f.is_file()]


def read_host_sources() -> HostSources:
    """The package sources this host uses right now."""
    texts = [f.read_text() for f in pip_config_files()]
    pip = sources.parse_pip_config(texts, os.environ)
    return HostSources(tuple(read_apt_uris()), pip)


def resolve(host: str) -> list[str]:
    """IPv4 addresses of host as the host itself resolves it (getent: /etc/hosts, DNS...)."""
    proc = subprocess.run(["getent", "ahostsv4", host], capture_output=True, text=True,
                          check=False)
    addresses = sources.parse_getent_hosts(proc.stdout)
    if proc.returncode != 0 or not addresses:
        raise DjshipError(
            f"cannot resolve package source {host} on this host",
            hint="check the host's DNS; sandboxes reuse the host's view of package sources",
        )
    return addresses


def ca_certificates() -> list[Path]:
    """Extra CA certificates the host trusts, to copy into the image."""
    if not CA_DIR.is_dir():
        return []
    return sorted(p for p in CA_DIR.rglob("*.crt") if p.is_file())
