"""`djship status`: one probe per host, parsed into a report (table or JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from djship.paths import SitePaths
from djship.shell import Script, cmd, raw
from djship.transport.base import Result


@dataclass
class HostStatus:
    """What status reports for one host and site."""

    host: str
    release: str = ""
    commit: str = ""
    released_at: float = 0.0
    slot: str = ""
    service: str = "unknown"
    since: str = ""
    http_status: int = 0
    latency_ms: float = 0.0
    disk_free: str = ""
    disk_used_pct: int = 0
    postgres: str = "n/a"
    cert_expiry: str = ""
    drift: list[str] | None = None

    @property
    def healthy(self) -> bool:
        """True when the app runs and answers through nginx."""
        return self.service == "active" and 200 <= self.http_status < 400

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {**asdict(self), "healthy": self.healthy}


def probe(p: SitePaths, host_header: str, health_path: str, web: bool) -> Script:
    """Gather release, service, HTTP, disk, PostgreSQL and certificate facts in one go."""
    slot = f"$(cat {p.live_slot} 2>/dev/null || echo none)"
    unit = f"djship-{p.site}@{slot}"
    lines = [
        f'echo "release:$(basename "$(readlink {p.current} 2>/dev/null)" 2>/dev/null)"',
        f'echo "meta:$(tr -d "\\n" < {p.current}/.djship-release.json 2>/dev/null)"',
        f'echo "slot:{slot}"',
        f'echo "service:$(systemctl is-active {unit} 2>/dev/null || true)"',
        f'echo "since:$(systemctl show -p ActiveEnterTimestamp --value {unit} 2>/dev/null)"',
        f'echo "disk:$(df -P -h {p.root} 2>/dev/null | tail -1 | tr -s " " | cut -d" " -f4,5)"',
        'echo "postgres:$(systemctl is-active postgresql 2>/dev/null || true)"',
        f'echo "cert:$(openssl x509 -noout -enddate -in /etc/letsencrypt/live/{p.site}/cert.pem'
        ' 2>/dev/null | cut -d= -f2)"',
    ]
    if web:
        lines.append(f"echo \"http:$(curl -s -o /dev/null -w '%{{http_code}} %{{time_total}}' "
                     f"--max-time 10 -H 'Host: {host_header}' 'http://127.0.0.1{health_path}' "
                     "|| true)\"")
    return Script.of([cmd(raw(line)) for line in lines])


def parse(host: str, result: Result) -> HostStatus:
    """Parse the probe's KEY:VALUE lines."""
    st = HostStatus(host)
    for line in result.stdout.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "release":
            st.release = value
        elif key == "meta" and value:
            meta = json.loads(value)
            st.commit, st.released_at = meta.get("commit", ""), meta.get("created", 0.0)
        elif key == "slot":
            st.slot = value
        elif key == "service":
            st.service = value or "unknown"
        elif key == "since":
            st.since = value
        elif key == "disk" and value:
            free, _, pct = value.partition(" ")
            st.disk_free, st.disk_used_pct = free, int(pct.rstrip("%") or 0)
        elif key == "postgres":
            st.postgres = value or "n/a"
        elif key == "cert":
            st.cert_expiry = value
        elif key == "http" and value:
            code, _, secs = value.partition(" ")
            st.http_status = int(code) if code.isdigit() else 0
            st.latency_ms = round(float(secs or 0) * 1000, 1)
    return st
