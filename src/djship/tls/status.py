"""`djship tls status`: the certificate nginx serves for each domain, read on the server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from djship.shell import Script, cmd, raw
from djship.tls.dns import dns_names

WARN_DAYS = 14
MARK = "djship-tls:"


def probe(domains: Sequence[str]) -> Script:
    """For each DNS name: the served certificate's expiry and issuer (SNI, on 127.0.0.1)."""
    lines = []
    for d in dns_names(domains):
        lines.append(cmd(raw("echo"), f"{MARK}{d}", raw(";"),
                         raw("timeout 10 openssl s_client -connect 127.0.0.1:443 -servername"),
                         d, raw("</dev/null 2>/dev/null | openssl x509 -noout -enddate -issuer"
                                " -checkend 0 -ext subjectAltName 2>/dev/null || true")))
    return Script.of(lines)


@dataclass(frozen=True)
class CertRow:
    """One domain's served certificate on one host."""

    host: str
    domain: str
    not_after: datetime | None = None
    issuer: str = ""
    covers: bool = False
    now: datetime | None = None

    @property
    def days_left(self) -> int | None:
        """Whole days until expiry."""
        if self.not_after is None:
            return None
        return (self.not_after - (self.now or datetime.now(UTC))).days

    @property
    def healthy(self) -> bool:
        """A certificate naming the domain, valid for at least WARN_DAYS more days."""
        left = self.days_left
        return self.covers and left is not None and left >= WARN_DAYS


def parse(host: str, domains: Sequence[str], stdout: str,
          now: datetime | None = None) -> list[CertRow]:
    """Rows from :func:`probe`'s output (a domain with nothing served has an empty row)."""
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            current = line.removeprefix(MARK).strip()
            blocks[current] = []
        elif current:
            blocks[current].append(line.strip())
    return [row(host, d, blocks.get(d, []), now) for d in dns_names(domains)]


def row(host: str, domain: str, lines: list[str], now: datetime | None) -> CertRow:
    """One domain's row from its openssl lines."""
    not_after, issuer, names = None, "", set()
    for ln in lines:
        if ln.startswith("notAfter="):
            not_after = datetime.strptime(ln.removeprefix("notAfter="), "%b %d %H:%M:%S %Y %Z"
                                          ).replace(tzinfo=UTC)
        elif ln.startswith("issuer="):
            issuer = ln.removeprefix("issuer=").strip()
        elif ln.startswith("DNS:"):
            names |= {p.strip().removeprefix("DNS:").lower() for p in ln.split(",")}
    covers = domain.lower() in names or f"*.{domain.lower().partition('.')[2]}" in names
    return CertRow(host, domain, not_after, issuer, covers, now)


def table(rows: Sequence[CertRow]) -> list[str]:
    """Aligned lines: host, domain, expiry, days left, issuer, verdict."""
    out = [("HOST", "DOMAIN", "EXPIRES", "DAYS", "ISSUER", "VERDICT")]
    for r in rows:
        verdict = ("ok" if r.healthy else "no certificate" if r.not_after is None
                   else "wrong name" if not r.covers else "expiring")
        out.append((r.host, r.domain,
                    r.not_after.strftime("%Y-%m-%d %H:%M UTC") if r.not_after else "-",
                    str(r.days_left) if r.days_left is not None else "-", r.issuer or "-",
                    verdict))
    widths = [max(len(r[i]) for r in out) for i in range(5)]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[5]
            for r in out]
