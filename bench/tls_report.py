"""testssl.sh against a sandbox's HTTPS server: a summary of its findings by severity.

    python bench/tls_report.py --ip 10.213.77.6 --name shop.test --ca pebble-root.pem

Runs ``testssl --fast --quiet`` (Debian package ``testssl.sh``) with a timeout, only against
an address of the sandbox network (10.213.77.0/24 unless $DJSHIP_SANDBOX_NET says
otherwise), with no DNS lookups and no OCSP/CRL fetches. Prints the findings of LOW and
above and exits 1 when any is HIGH or CRITICAL.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
BAD = {"HIGH", "CRITICAL"}


def testssl_argv(ip: str, name: str, ca: str | None, json_out: Path) -> list[str]:
    """The testssl command line: fast, quiet, no DNS, no phoning out, bounded waits."""
    binary = shutil.which("testssl") or shutil.which("testssl.sh") or "testssl"
    argv = [binary, "--fast", "--quiet", "--warnings", "off", "--color", "0",
            "--nodns", "none", "--ip", ip, "--connect-timeout", "10", "--openssl-timeout", "10",
            "--severity", "LOW", "--jsonfile-pretty", str(json_out)]
    if ca:
        argv += ["--add-ca", ca]
    return [*argv, f"{name}:443"]


def findings(report: dict[str, object]) -> list[tuple[str, str, str]]:
    """(severity, id, finding) of every finding of LOW and above in testssl's pretty JSON."""
    out = []
    for target in report.get("scanResult", []):  # type: ignore[attr-defined]
        for section in target.values():
            if not isinstance(section, list):
                continue
            for item in section:
                if isinstance(item, dict) and item.get("severity") in SEVERITIES:
                    out.append((str(item["severity"]), str(item.get("id", "")),
                                str(item.get("finding", ""))))
    return out


def in_sandbox_net(ip: str) -> bool:
    """Only sandbox addresses are scanned."""
    net = ipaddress.ip_network(os.environ.get("DJSHIP_SANDBOX_NET", "10.213.77.0/24"))
    return ipaddress.ip_address(ip) in net


def run(ip: str, name: str, ca: str | None, timeout: float) -> tuple[list[tuple[str, str, str]],
                                                                     float]:
    """Run testssl; return its findings and how long it took."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "testssl.json"
        began = time.monotonic()
        subprocess.run(testssl_argv(ip, name, ca, out), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=timeout, check=False)
        took = time.monotonic() - began
        if not out.exists():
            raise SystemExit(f"testssl wrote no report (took {took:.0f}s)")
        return findings(json.loads(out.read_text())), took


def main(argv: list[str] | None = None) -> int:
    """Scan, print the summary, exit 1 on HIGH or CRITICAL findings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ip", required=True, help="the sandbox's address")
    ap.add_argument("--name", required=True, help="the site's domain (sent as SNI)")
    ap.add_argument("--ca", help="extra CA file to trust (e.g. pebble's root)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds (default 300)")
    args = ap.parse_args(argv)
    if not in_sandbox_net(args.ip):
        ap.error(f"{args.ip} is not a sandbox address; this script scans only sandboxes")
    found, took = run(args.ip, args.name, args.ca, args.timeout)
    counts = {s: sum(f[0] == s for f in found) for s in SEVERITIES}
    print(f"testssl {args.name} at {args.ip}:443 in {took:.0f}s: "
          + ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES)))
    for sev, ident, text in sorted(found, key=lambda f: -SEVERITIES.index(f[0])):
        print(f"  {sev:<8} {ident:<24} {text}")
    return 1 if any(f[0] in BAD for f in found) else 0


if __name__ == "__main__":
    sys.exit(main())
