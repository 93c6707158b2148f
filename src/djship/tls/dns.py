"""Does each domain point at the site's servers? Lookups (dnspython) and pure verdicts.

The lookups run on the machine running djship, which sees the public DNS the way a
certificate authority will. :func:`judge` is pure: records in, verdict and fix out.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.rdatatype
import dns.resolver

from djship.config import Config
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


# --- lookups (I/O) ------------------------------------------------------------------------

def make_resolver(nameserver: str | None, timeout: float = 5.0) -> dns.resolver.Resolver:
    """The system resolver, or one asking only ``IP[:PORT]`` (``[v6]:PORT`` for IPv6)."""
    if not nameserver:
        res = dns.resolver.Resolver()
    else:
        host, port = parse_nameserver(nameserver)
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [host]
        res.port = port
    res.lifetime = timeout
    res.timeout = min(timeout, 2.0)
    return res


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


def query(res: dns.resolver.Resolver, name: str, kind: str) -> tuple[list[str], str]:
    """Answers of one type for a name, and the error when there is none."""
    try:
        answer = res.resolve(name, kind, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return [], "NXDOMAIN"
    except dns.resolver.NoNameservers:
        return [], "SERVFAIL"
    except dns.exception.Timeout:
        return [], "timeout"
    wanted = dns.rdatatype.from_text(kind)
    values = [rr.to_text() for rrset in answer.response.answer if rrset.rdtype == wanted
              and rrset.name.to_text().rstrip(".").lower() == name.lower() for rr in rrset]
    if kind != "CNAME" and not values and answer.rrset is not None:
        values = [rr.to_text() for rr in answer.rrset]  # the end of a CNAME chain
    return values, ""


def lookup(res: dns.resolver.Resolver, name: str) -> Records:
    """CNAME, A and AAAA records of one name."""
    cnames, _ = query(res, name, "CNAME")
    a, err_a = query(res, name, "A")
    aaaa, err_aaaa = query(res, name, "AAAA")
    error = "" if a or aaaa or cnames else (err_a or err_aaaa)
    cname = cnames[0].rstrip(".").lower() if cnames else None
    return Records(tuple(sorted(a)), tuple(sorted(aaaa)), cname, error)


def lookup_all(res: dns.resolver.Resolver, names: Iterable[str]) -> dict[str, Records]:
    """Records of each name and of every CNAME target they lead to."""
    found: dict[str, Records] = {}
    todo = [n.lower() for n in names]
    while todo and len(found) < 64:
        name = todo.pop(0)
        if name in found:
            continue
        found[name] = lookup(res, name)
        target = found[name].cname
        if target and target not in found:
            todo.append(target)
    return found


def expected_addresses(config: Config, site: str, res: dns.resolver.Resolver) -> Expected:
    """Addresses of the site's lb hosts (else web hosts); host names are resolved."""
    hosts = config.site_hosts(site)
    front = [h for h in hosts if "lb" in h.roles] or [h for h in hosts if "web" in h.roles]
    v4: set[str] = set()
    v6: set[str] = set()
    for h in front:
        if is_ip(h.address):
            (v6 if ":" in h.address else v4).add(h.address)
            continue
        rec = lookup_all(res, [h.address])
        a, aaaa = addresses(h.address.lower(), rec)
        if not a and not aaaa:
            a, aaaa = system_addresses(h.address)
        v4 |= a
        v6 |= aaaa
    return Expected(tuple(sorted(v4)), tuple(sorted(v6)))


def system_addresses(name: str) -> tuple[set[str], set[str]]:
    """Addresses the system resolver gives (covers /etc/hosts), or none."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return set(), set()
    found = {str(info[4][0]) for info in infos}
    return {a for a in found if ":" not in a}, {a for a in found if ":" in a}


def check_site(config: Config, site: str, res: dns.resolver.Resolver) -> list[Check]:
    """Look up and judge every domain of a site."""
    domains = config.sites[site].domains
    expected = expected_addresses(config, site, res)
    records = lookup_all(res, dns_names(domains))
    return [judge(d.lower() if not is_ip(d) else d, records, expected,
                  [x.lower() for x in domains]) for d in domains]
