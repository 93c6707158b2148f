"""Does each domain point at the site's servers? The pure verdicts (records in, verdict and
fix out: :func:`judge`); the lookups that feed them are in :mod:`djship.tls.lookup`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from djship.errors import UsageError

Verdict = Literal["ok", "wrong", "missing", "skipped"]
NAMESERVER_ENV = "DJSHIP_NAMESERVER"
MAX_CNAME_HOPS = 8


@dataclass(frozen=True)
class Records:
    """What DNS answered for one name (a CNAME's addresses are its target's)."""

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    cname: str | None = None
    error: str = ""

    def describe(self) -> str:
        """'CNAME example.com., A 198.51.100.10' style text, or what went wrong."""
        parts = [f"CNAME {self.cname}."] if self.cname else []
        parts += [f"A {a}" for a in self.a] + [f"AAAA {a}" for a in self.aaaa]
        return ", ".join(parts) or (self.error or "none")


@dataclass(frozen=True)
class Expected:
    """The addresses a site's domains must resolve to (its lb hosts, else its web hosts)."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()

    def describe(self) -> str:
        """'A 198.51.100.10' style text."""
        return ", ".join([*(f"A {a}" for a in self.v4), *(f"AAAA {a}" for a in self.v6)])


@dataclass(frozen=True)
class Check:
    """The verdict on one domain, with the records to add (or remove) when it is not ok."""

    domain: str
    found: str
    expected: str
    verdict: Verdict
    note: str = ""
    add: tuple[str, ...] = field(default_factory=tuple)
    remove: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when nothing needs doing in DNS for this domain."""
        return self.verdict in ("ok", "skipped")


def is_ip(value: str) -> bool:
    """True for an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def dns_names(domains: Iterable[str]) -> list[str]:
    """The domains that are DNS names (IP addresses get no DNS record and no certificate)."""
    return [d for d in domains if not is_ip(d) and d != "_"]


def record(kind: str, name: str, value: str) -> str:
    """One record as a DNS provider takes it: 'A  example.com  198.51.100.10'."""
    return f"{kind}  {name}  {value}"


def apex_of(domain: str, domains: Sequence[str]) -> str | None:
    """The site domain a ``www.`` name belongs under, when the site has both."""
    if domain.startswith("www.") and domain[4:] in domains:
        return domain[4:]
    return None


def addresses(name: str, records: Mapping[str, Records]) -> tuple[set[str], set[str]]:
    """IPv4 and IPv6 addresses of ``name``, following CNAMEs through ``records``."""
    seen: set[str] = set()
    current: str | None = name
    while current is not None and current not in seen and len(seen) < MAX_CNAME_HOPS:
        seen.add(current)
        rec = records.get(current, Records())
        if rec.a or rec.aaaa or rec.cname is None:
            return set(rec.a), set(rec.aaaa)
        current = rec.cname
    return set(), set()


def wanted_records(domain: str, expected: Expected, domains: Sequence[str]) -> list[str]:
    """What to add for a domain: a CNAME to the apex for www.<apex>, else A/AAAA records."""
    apex = apex_of(domain, domains)
    if apex:
        return [record("CNAME", domain, apex + ".")]
    return ([record("A", domain, a) for a in expected.v4]
            + [record("AAAA", domain, a) for a in expected.v6])


def judge(domain: str, records: Mapping[str, Records], expected: Expected,
          domains: Sequence[str]) -> Check:
    """The verdict on one domain of a site, given every lookup made."""
    want = expected.describe()
    if is_ip(domain):
        return Check(domain, "-", want, "skipped", "an IP address: no DNS, no certificate")
    rec = records.get(domain, Records())
    v4, v6 = addresses(domain, records)
    if not v4 and not v6:
        return missing(domain, rec, want, wanted_records(domain, expected, domains))
    stray = sorted(v4 - set(expected.v4)) + sorted(v6 - set(expected.v6))
    lacking = sorted(set(expected.v4) - v4) + sorted(set(expected.v6) - v6)
    via = f" via CNAME {rec.cname}." if rec.cname else ""
    if not stray and not lacking:
        return Check(domain, rec.describe(), want, "ok", f"points at the site's hosts{via}")
    adds, removes = fixes_for(domain, rec, stray, expected, domains)
    return Check(domain, rec.describe(), want, "wrong", wrong_note(stray, lacking, via),
                 tuple(adds), tuple(removes))


def missing(domain: str, rec: Records, want: str, adds: list[str]) -> Check:
    """A domain without addresses; a CNAME already right waits for its target's records."""
    if rec.cname and [record("CNAME", domain, rec.cname + ".")] == adds:
        return Check(domain, rec.describe(), want, "missing",
                     f"CNAME to {rec.cname}., which has no address yet (add its record)")
    note = f"no address ({rec.error})" if rec.error else "no address record"
    removes: tuple[str, ...] = ()
    if rec.cname:
        note = f"CNAME to {rec.cname}., which has no address"
        removes = (record("CNAME", domain, rec.cname + "."),)
    return Check(domain, rec.describe() if rec.cname else "none", want, "missing", note,
                 tuple(adds), removes)


def wrong_note(stray: Sequence[str], lacking: Sequence[str], via: str) -> str:
    """Why a domain's records are wrong."""
    parts = [f"points elsewhere ({', '.join(stray)}){via}"] if stray else []
    if lacking:
        parts.append(f"lacks {', '.join(lacking)}")
    return "; ".join(parts)


def fixes_for(domain: str, rec: Records, stray: Sequence[str], expected: Expected,
              domains: Sequence[str]) -> tuple[list[str], list[str]]:
    """Records to add, and those to remove, to make a wrong domain right."""
    if rec.cname:
        removes = [record("CNAME", domain, rec.cname + ".")]
    else:
        removes = [record("AAAA" if ":" in a else "A", domain, a) for a in stray]
    adds = wanted_records(domain, expected, domains)
    if not rec.cname:  # keep the correct ones; only add what is absent
        have = {record("A", domain, a) for a in rec.a} | {record("AAAA", domain, a)
                                                           for a in rec.aaaa}
        adds = [r for r in adds if r not in have]
    return adds, removes


def parse_nameserver(value: str) -> tuple[str, int]:
    """'10.0.0.1:8053' → ('10.0.0.1', 8053); '[::1]:53', '::1' and '10.0.0.1' work too."""
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not is_ip(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"nameserver {value!r} is not IP[:PORT]",
                         hint="e.g. --nameserver 192.0.2.53 or --nameserver 10.0.0.1:8053")
    return host, int(port)
