"""DNS lookups (dnspython) for the verdicts in :mod:`djship.tls.dns`.

They run on the machine running djship, which sees the public DNS the way a certificate
authority will. Apart from the pure verdicts, so that commands that never look a name up
(a deploy) do not import dnspython (about 0.04 s).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import dns.exception
import dns.rdatatype
import dns.resolver

from djship.config import Config
from djship.tls.dns import (
    Check,
    Expected,
    Records,
    addresses,
    dns_names,
    is_ip,
    judge,
    parse_nameserver,
)


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
