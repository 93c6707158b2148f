"""DNS verdicts: fake answers in, verdict and the exact records to add out."""

from __future__ import annotations

import pytest

from djship.config import validate
from djship.errors import UsageError
from djship.tls import dns, lookup
from djship.tls.dns import Expected, Records, judge

EXP = Expected(("198.51.100.10",))
SITE = ["example.com", "www.example.com"]


def test_correct_a_record() -> None:
    c = judge("example.com", {"example.com": Records(a=("198.51.100.10",))}, EXP, SITE)
    assert (c.verdict, c.ok, c.add, c.remove) == ("ok", True, (), ())
    assert c.found == "A 198.51.100.10" and c.expected == "A 198.51.100.10"


def test_a_record_pointing_elsewhere() -> None:
    c = judge("example.com", {"example.com": Records(a=("203.0.113.9",))}, EXP, SITE)
    assert c.verdict == "wrong" and not c.ok
    assert c.add == ("A  example.com  198.51.100.10",)
    assert c.remove == ("A  example.com  203.0.113.9",)


def test_missing_record() -> None:
    c = judge("example.com", {"example.com": Records(error="NXDOMAIN")}, EXP, SITE)
    assert c.verdict == "missing" and "NXDOMAIN" in c.note
    assert c.add == ("A  example.com  198.51.100.10",)


def test_missing_www_suggests_cname_to_apex() -> None:
    c = judge("www.example.com", {"www.example.com": Records()}, EXP, SITE)
    assert c.verdict == "missing"
    assert c.add == ("CNAME  www.example.com  example.com.",)


def test_www_cname_to_apex_is_correct() -> None:
    records = {"www.example.com": Records(a=("198.51.100.10",), cname="example.com"),
               "example.com": Records(a=("198.51.100.10",))}
    c = judge("www.example.com", records, EXP, SITE)
    assert c.verdict == "ok" and "CNAME example.com." in c.note


def test_www_cname_when_apex_has_no_address_waits_for_the_apex() -> None:
    records = {"www.example.com": Records(cname="example.com"), "example.com": Records()}
    c = judge("www.example.com", records, EXP, SITE)
    assert c.verdict == "missing" and c.add == () and "example.com." in c.note


def test_cname_elsewhere_is_replaced() -> None:
    records = {"www.example.com": Records(cname="other.net"),
               "other.net": Records(a=("203.0.113.9",))}
    c = judge("www.example.com", records, EXP, SITE)
    assert c.verdict == "wrong"
    assert c.add == ("CNAME  www.example.com  example.com.",)
    assert c.remove == ("CNAME  www.example.com  other.net.",)


def test_partial_round_robin_adds_only_what_lacks() -> None:
    two = Expected(("198.51.100.10", "198.51.100.11"))
    c = judge("example.com", {"example.com": Records(a=("198.51.100.10",))}, two, SITE)
    assert c.verdict == "wrong" and c.add == ("A  example.com  198.51.100.11",)
    assert c.remove == ()


def test_stray_aaaa_is_wrong() -> None:
    rec = Records(a=("198.51.100.10",), aaaa=("2001:db8::1",))
    c = judge("example.com", {"example.com": rec}, EXP, SITE)
    assert c.verdict == "wrong" and c.remove == ("AAAA  example.com  2001:db8::1",)


def test_ip_address_domain_is_skipped() -> None:
    c = judge("192.0.2.10", {}, EXP, ["192.0.2.10"])
    assert c.verdict == "skipped" and c.ok


def test_cname_loop_has_no_address() -> None:
    records = {"a.example": Records(cname="b.example"), "b.example": Records(cname="a.example")}
    assert dns.addresses("a.example", records) == (set(), set())


@pytest.mark.parametrize(("value", "expected"), [
    ("10.213.77.1:8053", ("10.213.77.1", 8053)), ("192.0.2.53", ("192.0.2.53", 53)),
    ("[::1]:5353", ("::1", 5353)), ("::1", ("::1", 53))])
def test_parse_nameserver(value: str, expected: tuple[str, int]) -> None:
    assert dns.parse_nameserver(value) == expected


@pytest.mark.parametrize("value", ["ns.example.com", "10.0.0.1:99999", "10.0.0.1:x"])
def test_parse_nameserver_rejects(value: str) -> None:
    with pytest.raises(UsageError):
        dns.parse_nameserver(value)


def test_check_site_expected_from_lb_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    config = validate({
        "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:app"},
        "sites": {"blog": {"domains": ["example.com", "192.0.2.99"]}},
        "hosts": [{"name": "lb1", "address": "198.51.100.1", "roles": ["lb"]},
                  {"name": "web1", "address": "198.51.100.10", "roles": ["web"]}]})
    table = {"example.com": Records(a=("198.51.100.1",))}
    monkeypatch.setattr(lookup, "lookup", lambda _res, name: table.get(name, Records()))
    checks = lookup.check_site(config, "blog", lookup.make_resolver("127.0.0.1:53"))
    assert [(c.domain, c.verdict) for c in checks] == [("example.com", "ok"),
                                                        ("192.0.2.99", "skipped")]
