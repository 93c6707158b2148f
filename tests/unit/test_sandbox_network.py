"""Address allocation, range validation and the nftables rules, without touching the host."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from djship.errors import DjshipError, UsageError
from djship.sandbox.network import allocate, gateway, nft_elements, nft_table, sandbox_net
from djship.sandbox.records import SandboxInfo
from djship.sandbox.state import check_name

NET = IPv4Network("10.213.77.0/24")


def test_default_and_env_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJSHIP_SANDBOX_NET", raising=False)
    assert sandbox_net() == NET
    monkeypatch.setenv("DJSHIP_SANDBOX_NET", "10.9.0.0/28")
    assert sandbox_net() == IPv4Network("10.9.0.0/28")
    for bad in ("8.8.8.0/24", "10.0.0.0/30", "nonsense", "10.0.0.1/24"):
        with pytest.raises(UsageError):
            sandbox_net(bad)


def test_allocation_skips_gateway_and_used() -> None:
    assert gateway(NET) == IPv4Address("10.213.77.1")
    assert allocate(NET, []) == IPv4Address("10.213.77.2")
    used = [IPv4Address("10.213.77.2"), IPv4Address("10.213.77.4")]
    assert allocate(NET, used) == IPv4Address("10.213.77.3")
    small = IPv4Network("10.9.0.0/29")
    with pytest.raises(DjshipError):
        allocate(small, [IPv4Address(f"10.9.0.{i}") for i in range(2, 7)])


def test_table_rejects_everything_but_listed_egress() -> None:
    lines = nft_table(NET).splitlines()
    assert 'add rule inet djship input iifname "djship0" ip daddr 10.213.77.1 accept' in lines
    forward = [ln.removeprefix("add rule inet djship forward ") for ln in lines
               if ln.startswith("add rule inet djship forward ")]
    assert forward == [
        'iifname "djship0" meta nfproto ipv6 drop',
        'iifname "djship0" oifname "djship0" accept',
        'oifname "djship0" ct state established,related accept',
        'oifname "djship0" drop',
        'iifname "djship0" ip saddr . ip daddr . tcp dport @egress accept',
        'iifname "djship0" ip saddr @internet accept',
        # The final verdict for sandbox traffic that matched nothing is a local reject.
        'iifname "djship0" reject with icmpx type admin-prohibited',
    ]
    assert ('add rule inet djship postrouting ip saddr 10.213.77.0/24 '
            'oifname != "djship0" masquerade') in lines
    # Chains are rewritten in place, sets (the live sandboxes' entries) are kept.
    assert "flush chain inet djship forward" in lines
    assert not any(ln.startswith(("flush set", "delete")) for ln in lines)


def test_elements_for_one_sandbox() -> None:
    addr = IPv4Address("10.213.77.2")
    egress = [("203.0.113.80", 443), ("203.0.113.80", 80), ("203.0.113.80", 80)]
    assert nft_elements("add", addr, egress, False) == (
        "add element inet djship egress { 10.213.77.2 . 203.0.113.80 . 80, "
        "10.213.77.2 . 203.0.113.80 . 443 }\n")
    assert nft_elements("delete", addr, [], True) == (
        "delete element inet djship internet { 10.213.77.2 }\n")


@pytest.mark.parametrize("name", ["s1", "web-1", "abcdefghijkl"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "1s", "S1", "abcdefghijklm", "a_b", "../x", "a b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError):
        check_name(name)


def test_host_entry_is_valid_toml() -> None:
    info = SandboxInfo("s1", "10.213.77.2", "bookworm", Path("/var/tmp/djship-sandbox/id_ed25519"),
                       Path("/var/tmp/djship-sandbox/machines/s1/known_hosts"))
    entry = tomllib.loads(info.host_entry())["hosts"][0]
    assert entry == {
        "name": "s1", "address": "10.213.77.2", "user": "root",
        "identity_file": "/var/tmp/djship-sandbox/id_ed25519",
        "known_hosts_file": "/var/tmp/djship-sandbox/machines/s1/known_hosts",
        "roles": ["web", "db"],
    }


def test_ssh_argv_pins_host_key_and_quotes_lists() -> None:
    info = SandboxInfo("s1", "10.213.77.2", "bookworm", Path("/k"), Path("/kh"))
    argv = info.ssh_argv(["echo", "a b"])
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/kh" in argv
    assert argv[-3:] == ["root@10.213.77.2", "--", "echo 'a b'"]
    assert info.ssh_argv()[-1] == "root@10.213.77.2"
