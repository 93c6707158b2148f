"""Package sources the host uses (apt and pip), parsed from their config; pure functions."""

from __future__ import annotations

import configparser
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_PIP_INDEX = "https://pypi.org/simple"
# pypi.org serves index pages; the files themselves live on this host.
PYPI_FILES_HOST = "files.pythonhosted.org"


@dataclass(frozen=True, order=True)
class Endpoint:
    """A host name and TCP port a sandbox may connect to."""

    host: str
    port: int


def endpoint_of(url: str) -> Endpoint | None:
    """The host and port of an http(s) URL, or None for other schemes."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Endpoint(parts.hostname, port)


def parse_apt_list(text: str) -> list[str]:
    """URIs of the deb/deb-src lines in a one-line-style sources.list."""
    uris = []
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens or tokens[0] not in ("deb", "deb-src"):
            continue
        rest = tokens[1:]
        if rest and rest[0].startswith("["):
            # Options such as [arch=amd64 signed-by=...] may span several tokens.
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if rest:
            uris.append(rest[0])
    return uris


def parse_apt_deb822(text: str) -> list[str]:
    """URIs of the enabled stanzas in a deb822-style .sources file."""
    uris: list[str] = []
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        if not {"deb", "deb-src"} & set(stanza.get("types", "").split()):
            continue
        uris.extend(stanza.get("uris", "").split())
    return uris


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = [{}]
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanzas[-1]:
                stanzas.append({})
            continue
        if line[0] in " \t" and key:
            stanzas[-1][key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            stanzas[-1][key] = value.strip()
    return [s for s in stanzas if s]


def debian_mirrors(uris: Iterable[str]) -> tuple[str, str]:
    """The Debian archive and security mirror among the host's apt URIs, else defaults."""
    http = [u.rstrip("/") for u in uris if endpoint_of(u)]
    main = next((u for u in http if u.endswith("/debian")), DEFAULT_MIRROR)
    security = next((u for u in http if u.endswith("/debian-security")), main + "-security")
    return main, security


@dataclass(frozen=True)
class PipSettings:
    """The parts of a pip configuration that decide where packages come from."""

    index_url: str = DEFAULT_PIP_INDEX
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


_PIP_KEYS = {
    "index-url": "PIP_INDEX_URL",
    "extra-index-url": "PIP_EXTRA_INDEX_URL",
    "find-links": "PIP_FIND_LINKS",
    "trusted-host": "PIP_TRUSTED_HOST",
    "default-timeout": "PIP_DEFAULT_TIMEOUT",
}


def parse_pip_config(texts: Iterable[str], env: Mapping[str, str]) -> PipSettings:
    """Merge pip config files (later wins, [install] over [global]) and PIP_* variables."""
    values: dict[str, str] = {}
    for text in texts:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text)
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k: v for k, v in parser.items(section) if k in _PIP_KEYS})
    for key, var in _PIP_KEYS.items():
        if env.get(var):
            values[key] = env[var]
    split = {k: tuple(v.split()) for k, v in values.items()}
    return PipSettings(
        index_url=values.get("index-url", DEFAULT_PIP_INDEX).strip(),
        extra_index_urls=split.get("extra-index-url", ()),
        find_links=split.get("find-links", ()),
        trusted_hosts=split.get("trusted-host", ()),
        extra={k: values[k] for k in ("default-timeout",) if k in values},
    )


def pip_endpoints(settings: PipSettings) -> list[Endpoint]:
    """Hosts and ports pip contacts with these settings."""
    urls = [settings.index_url, *settings.extra_index_urls, *settings.find_links]
    found = {e for e in map(endpoint_of, urls) if e}
    if any(e.host == "pypi.org" for e in found):
        found.add(Endpoint(PYPI_FILES_HOST, 443))
    return sorted(found)


def _local_path(url: str) -> PurePosixPath | None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return PurePosixPath(parts.path)
    if not parts.scheme and url.startswith("/"):
        return PurePosixPath(url)
    return None


def pip_local_dirs(settings: PipSettings) -> list[PurePosixPath]:
    """Host directories the pip settings read from, to bind read-only into a sandbox."""
    dirs = {p for p in map(_local_path, settings.find_links) if p}
    for url in (settings.index_url, *settings.extra_index_urls):
        path = _local_path(url)
        if path:
            # Simple-index pages usually link to files beside the index ("../../files/").
            dirs.add(path.parent if path.name == "simple" else path)
    return sorted(dirs)


def render_pip_conf(settings: PipSettings, cert: str) -> str:
    """An /etc/pip.conf for a sandbox that reproduces the host's package sources."""
    lines = ["[global]", f"index-url = {settings.index_url}"]
    if settings.extra_index_urls:
        lines.append(f"extra-index-url = {' '.join(settings.extra_index_urls)}")
    if settings.find_links:
        lines.append(f"find-links = {' '.join(settings.find_links)}")
    if settings.trusted_hosts:
        lines.append(f"trusted-host = {' '.join(settings.trusted_hosts)}")
    lines.extend(f"{k} = {v}" for k, v in settings.extra.items())
    lines.append(f"cert = {cert}")
    return "\n".join(lines) + "\n"


def render_apt_sources(release: str, mirror: str, security: str) -> str:
    """A one-line-style sources.list for a sandbox of the given Debian release."""
    return (
        f"deb {mirror} {release} main\n"
        f"deb {mirror} {release}-updates main\n"
        f"deb {security} {release}-security main\n"
    )


def parse_getent_hosts(text: str) -> list[str]:
    """IPv4 addresses from `getent ahostsv4` output, in order, without repeats."""
    seen: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] not in seen:
            seen.append(fields[0])
    return seen

