"""`djship status`: one probe per host, parsed into a report (table or JSON)."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from djship.paths import SitePaths
from djship.shell import Script, cmd, raw
from djship.tls.nginx import redirects
from djship.transport.base import Result

CERT_WARN_DAYS = 14  # certbot renews 30 days ahead: this close means renewal is failing


@dataclass
class HostStatus:
    """What status reports for one host and site."""

    host: str
    roles: list[str] = field(default_factory=list)
    release: str = ""
    commit: str = ""
    released_at: float = 0.0
    slot: str = ""
    service: str = "unknown"
    since: str = ""
    uptime_s: int = 0
    http_status: int = 0
    latency_ms: float = 0.0
    disk_free: str = ""
    disk_used_pct: int = 0
    postgres: str = "n/a"
    cert_expiry: str = ""
    cert_days_left: int | None = None
    drift: list[str] | None = None

    @property
    def problems(self) -> list[str]:
        """What is wrong on this host, for its roles (empty when healthy)."""
        if self.service.startswith("unreachable"):
            return [self.service]
        out = []
        if "web" in self.roles and self.service != "active":  # worker-only hosts have none
            out.append(f"app {self.service}")
        if "web" in self.roles and not 200 <= self.http_status < 400:
            out.append(f"HTTP {self.http_status or 'no answer'}")
        if "db" in self.roles and self.postgres != "active":
            out.append(f"postgres {self.postgres}")
        if self.cert_days_left is not None and self.cert_days_left < CERT_WARN_DAYS:
            out.append(f"certificate expires in {self.cert_days_left} days")
        return out

    @property
    def healthy(self) -> bool:
        """True when nothing is wrong for this host's roles."""
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {**asdict(self), "healthy": self.healthy, "problems": self.problems}


@dataclass(frozen=True)
class Target:
    """What to probe: the Host header and path of the health check, TLS, the certificate."""

    host_header: str
    health_path: str
    web: bool
    https: bool = False
    cert: str | None = None


def health_host(domains: Sequence[str], canonical: str) -> str:
    """The name nginx serves the app under (not one it only redirects from)."""
    sources = {src for src, _ in redirects(domains, canonical)}
    return next((d for d in domains if d.lower() not in sources), "localhost")


def http_probe(target: Target) -> str:
    """curl through the local nginx with the site's name: HTTPS when the site has TLS
    (its plain-HTTP server only redirects, which says nothing about the app)."""
    host, path = target.host_header, target.health_path
    if target.https:  # the certificate's validity is reported apart (expiry)
        where = f"-k --resolve {host}:443:127.0.0.1 'https://{host}{path}'"
    else:
        where = f"-H 'Host: {host}' 'http://127.0.0.1{path}'"
    return (f"echo \"http:$(curl -s -o /dev/null -w '%{{http_code}} %{{time_total}}' "
            f"--max-time 10 {where} || true)\"")


def probe(p: SitePaths, target: Target) -> Script:
    """Gather release, service, HTTP, disk, PostgreSQL and certificate facts in one go."""
    slot = f"$(cat {p.live_slot} 2>/dev/null || echo none)"
    unit = f"djship-{p.site}@{slot}"
    lines = [
        f'echo "release:$(basename "$(readlink {p.current} 2>/dev/null)" 2>/dev/null)"',
        f'echo "meta:$(tr -d "\\n" < {p.current}/.djship-release.json 2>/dev/null)"',
        f'echo "slot:{slot}"',
        f'echo "service:$(systemctl is-active {unit} 2>/dev/null || true)"',
        f'ts=$(systemctl show -p ActiveEnterTimestamp --value {unit} 2>/dev/null || true); '
        'echo "since:$ts"; if [ -n "$ts" ]; then '
        'echo "uptime:$(( $(date +%s) - $(date -d "$ts" +%s 2>/dev/null || date +%s) ))"; fi',
        f'echo "disk:$(df -P -h {p.root} 2>/dev/null | tail -1 | tr -s " " | cut -d" " -f4,5)"',
        # postgresql.service is an umbrella that stays active when the cluster is down.
        'echo "postgres:$(pg_isready -q -t 5 >/dev/null 2>&1 && echo active || echo down)"',
    ]
    if target.cert:
        lines.append(f'echo "cert:$(openssl x509 -noout -enddate -in {target.cert}'
                     ' 2>/dev/null | cut -d= -f2)"')
    if target.web:
        lines.append(http_probe(target))
    return Script.of([cmd(raw(line)) for line in lines])


def days_left(openssl_date: str, now: float) -> int | None:
    """Whole days until an ``openssl x509 -enddate`` date ('Feb 20 10:00:00 2027 GMT')."""
    try:
        end = calendar.timegm(time.strptime(" ".join(openssl_date.split()),
                                            "%b %d %H:%M:%S %Y GMT"))
    except ValueError:
        return None
    return int((end - now) // 86400)


def parse(host: str, roles: Sequence[str], result: Result, now: float | None = None
          ) -> HostStatus:
    """Parse the probe's KEY:VALUE lines."""
    st = HostStatus(host, list(roles))
    values = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        values[key] = value.strip()
    st.release, st.slot, st.since = values.get("release", ""), values.get("slot", ""), \
        values.get("since", "")
    st.service = values.get("service") or "unknown"
    uptime = values.get("uptime", "")
    st.uptime_s = int(uptime) if st.service == "active" and uptime.isdigit() else 0
    st.postgres = values.get("postgres") or "n/a"
    if meta := values.get("meta"):
        data = json.loads(meta)
        st.commit, st.released_at = data.get("commit", ""), data.get("created", 0.0)
    if disk := values.get("disk"):
        free, _, pct = disk.partition(" ")
        st.disk_free, st.disk_used_pct = free, int(pct.rstrip("%") or 0)
    if cert := values.get("cert"):
        st.cert_expiry = cert
        st.cert_days_left = days_left(cert, time.time() if now is None else now)
    if http := values.get("http"):
        code, _, secs = http.partition(" ")
        st.http_status = int(code) if code.isdigit() else 0
        st.latency_ms = round(float(secs or 0) * 1000, 1)
    return st
