"""Parsing the host's apt and pip config into the sandbox's package sources."""

from __future__ import annotations

from pathlib import PurePosixPath

from djship.sandbox.guest import render_hosts, render_known_hosts, render_network
from djship.sandbox.host import HostSources, read_apt_uris
from djship.sandbox.sources import (
    Endpoint,
    PipSettings,
    debian_mirrors,
    endpoint_of,
    parse_apt_deb822,
    parse_apt_list,
    parse_getent_hosts,
    parse_pip_config,
    pip_endpoints,
    pip_local_dirs,
    render_pip_conf,
)

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
 https://second.example:8443/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: https://disabled.example/apt
Suites: x
"""

ONE_LINE = """\
# comment
deb [arch=amd64 signed-by=/k.gpg] https://repo.example/apt stable main
deb-src http://src.example/debian bookworm main # trailing
deb cdrom:[Debian]/ bookworm main
"""


def test_deb822_skips_disabled_and_joins_continuations() -> None:
    assert parse_apt_deb822(DEB822) == [
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
        "https://second.example:8443/debian-security",
    ]


def test_one_line_format_with_options() -> None:
    assert parse_apt_list(ONE_LINE) == [
        "https://repo.example/apt", "http://src.example/debian", "cdrom:[Debian]/"]


def test_endpoints_keep_explicit_ports_and_skip_non_http() -> None:
    assert endpoint_of("https://second.example:8443/x") == Endpoint("second.example", 8443)
    assert endpoint_of("http://a.example/debian") == Endpoint("a.example", 80)
    assert endpoint_of("cdrom:[Debian]/") is None
    assert endpoint_of("file:///opt/pypi/simple") is None


def test_mirrors_from_host_or_default() -> None:
    uris = parse_apt_deb822(DEB822)
    assert debian_mirrors(uris) == (
        "http://mirror.example/debian", "http://mirror.example/debian-security")
    assert debian_mirrors([]) == (
        "http://deb.debian.org/debian", "http://deb.debian.org/debian-security")


def test_read_apt_uris_ignores_renamed_files(tmp_path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(DEB822)
    (d / "cloud.list.disabled-by-farm").write_text("deb https://nope.example/apt x main\n")
    (d / "nodesource.sources.disabled").write_text("Types: deb\nURIs: https://nope.example\n")
    uris = read_apt_uris(tmp_path)
    assert not any("nope" in u for u in uris)
    assert len(uris) == 3


PIP_GLOBAL = """\
[global]
cert = /etc/ssl/certs/ca-certificates.crt
find-links = /opt/wheels
extra-index-url = file:///opt/pypi/simple
    file:///opt/pypi-more/simple
"""


def test_pip_config_files_then_env() -> None:
    user = "[install]\nindex-url = https://idx.example:8080/simple\n"
    settings = parse_pip_config([PIP_GLOBAL, user], {"PIP_DEFAULT_TIMEOUT": "180"})
    assert settings.index_url == "https://idx.example:8080/simple"
    assert settings.extra_index_urls == ("file:///opt/pypi/simple", "file:///opt/pypi-more/simple")
    assert settings.find_links == ("/opt/wheels",)
    assert dict(settings.extra) == {"default-timeout": "180"}
    env = parse_pip_config([PIP_GLOBAL], {"PIP_FIND_LINKS": "/a /b"})
    assert env.find_links == ("/a", "/b")


def test_pip_defaults_to_pypi_and_its_file_host() -> None:
    settings = parse_pip_config([PIP_GLOBAL], {})
    assert pip_endpoints(settings) == [
        Endpoint("files.pythonhosted.org", 443), Endpoint("pypi.org", 443)]
    mirror = PipSettings(index_url="http://devpi.example:3141/root/pypi/+simple/")
    assert pip_endpoints(mirror) == [Endpoint("devpi.example", 3141)]


def test_pip_local_dirs_bind_the_parent_of_simple() -> None:
    settings = parse_pip_config([PIP_GLOBAL], {})
    assert pip_local_dirs(settings) == [
        PurePosixPath("/opt/pypi"), PurePosixPath("/opt/pypi-more"), PurePosixPath("/opt/wheels")]


def test_guest_pip_conf_reproduces_the_sources() -> None:
    settings = parse_pip_config([PIP_GLOBAL], {"PIP_DEFAULT_TIMEOUT": "180"})
    assert render_pip_conf(settings, "/etc/ssl/certs/ca-certificates.crt") == (
        "[global]\nindex-url = https://pypi.org/simple\n"
        "extra-index-url = file:///opt/pypi/simple file:///opt/pypi-more/simple\n"
        "find-links = /opt/wheels\ndefault-timeout = 180\n"
        "cert = /etc/ssl/certs/ca-certificates.crt\n")


def test_host_sources_endpoints_union() -> None:
    host = HostSources(("http://mirror.example/debian",), PipSettings())
    assert [e.host for e in host.endpoints()] == [
        "files.pythonhosted.org", "mirror.example", "pypi.org"]


def test_getent_output() -> None:
    out = ("203.0.113.80    STREAM deb.debian.org\n203.0.113.80    DGRAM  \n"
           "203.0.113.81    STREAM \n")
    assert parse_getent_hosts(out) == ["203.0.113.80", "203.0.113.81"]


def test_guest_files() -> None:
    from ipaddress import IPv4Address, IPv4Network
    net = IPv4Network("10.213.77.0/24")
    assert "Address=10.213.77.5/24\nGateway=10.213.77.1\n" in render_network(
        IPv4Address("10.213.77.5"), net)
    hosts = render_hosts("s1", {"pypi.org": ["203.0.113.80", "203.0.113.81"], "none": []})
    assert hosts.splitlines()[1:] == ["127.0.1.1\ts1", "::1\tlocalhost ip6-localhost",
                                      "203.0.113.80\tpypi.org"]
    assert render_known_hosts(IPv4Address("10.213.77.5"), "ssh-ed25519 AAAA root@s1\n") == (
        "10.213.77.5 ssh-ed25519 AAAA\n")
