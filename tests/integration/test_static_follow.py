"""Static files follow the release that serves (issue 15, correctness 3), precompressed.

nginx serves /static/ from the live release's own collected files (``current/.static``)
and only falls back to the merged ``shared/static`` for names the live release lacks. So:
after a deploy whose health check fails, the stylesheet is still the live release's; after
a good deploy it is the new one's; after ``djship rollback`` the old one's again; an old
hashed name a page in flight asks for is still found. Compressible files are gzipped once
at collectstatic and served from FILE.gz to clients that accept gzip, never compressed per
request; pages are still compressed.

One provisioned sandbox for the module; the tests run in file order (A, failed B, B, back
to A).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import re
from dataclasses import dataclass

import pytest
from helpers import (
    DOMAIN,
    SITE,
    TRACEBACK,
    Project,
    css_path,
    current_release,
    make_project,
    request,
)

from djship.sandbox.records import SandboxInfo

SHEET = "entries/static/entries/site.css"
PLAIN_CSS = "/static/entries/site.css"  # ManifestStaticFilesStorage keeps the plain name too
TINY = "entries/static/entries/tiny.css"
HEALTH_TIMEOUT = 8


@dataclass
class Raw:
    """An answer with its body as bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


def get(address: str, path: str, *, gzip_ok: bool = False) -> Raw:
    """GET with the site's Host header, optionally accepting gzip; the body undecoded."""
    conn = http.client.HTTPConnection(address, 80, timeout=10)
    try:
        headers = {"Host": DOMAIN, **({"Accept-Encoding": "gzip"} if gzip_ok else {})}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return Raw(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def sheet_text(marker: str) -> str:
    """A stylesheet well over the precompression threshold, naming its release."""
    rules = "".join(f".rule-{i} {{ margin: {i}px; padding: {i}px; color: #333; }}\n"
                    for i in range(30))
    return f"/* release {marker} */\nbody {{ font-family: sans-serif; }}\n{rules}"


def overlay(project: Project, extra: str = "") -> None:
    """djship.test.toml: the sandbox host, a short health timeout, and ``extra`` site keys."""
    project.write("djship.test.toml", "\n".join(project.hosts)
                  + f"\n[sites.{SITE}]\nhealth_timeout = {HEALTH_TIMEOUT}\n{extra}")


def release_marker(css: bytes) -> str:
    m = re.search(rb"/\* release (\w+) \*/", css)
    assert m, css[:200]
    return m.group(1).decode()


def served_marker(sandbox: SandboxInfo) -> tuple[str, str]:
    """(the plain site.css's release, the release of the sheet the page links to)."""
    plain = get(sandbox.address, PLAIN_CSS)
    assert plain.status == 200, plain
    page = request(sandbox.address, "/")
    assert page.status == 200, page
    linked = get(sandbox.address, css_path(page.body))
    assert linked.status == 200, linked
    return release_marker(plain.body), release_marker(linked.body)


@pytest.fixture(scope="module")
def sandbox(warm_sandbox: SandboxInfo) -> SandboxInfo:
    """Packages preinstalled: this module is not about installing them."""
    return warm_sandbox


@pytest.fixture(scope="module")
def project(sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example with stylesheet A, provisioned and deployed."""
    proj = make_project(tmp_path_factory.mktemp("static"), [sandbox])
    overlay(proj)
    proj.write(SHEET, sheet_text("A"))
    proj.write(TINY, "/* tiny */ p { margin: 0; }\n")
    proj.commit("release A")
    run = proj.provision()
    assert run.returncode == 0, str(run)
    run = proj.djship("deploy")
    assert run.returncode == 0, str(run)
    assert TRACEBACK not in run.output
    return proj


def test_release_a_serves_its_own_sheet_precompressed(project: Project,
                                                      sandbox: SandboxInfo) -> None:
    assert served_marker(sandbox) == ("A", "A")
    own = f"/srv/{SITE}/current/.static/entries"
    sandbox.run(["test", "-f", f"{own}/site.css.gz"])
    linked = css_path(request(sandbox.address, "/").body)
    for path in (PLAIN_CSS, linked):
        plain, packed = get(sandbox.address, path), get(sandbox.address, path, gzip_ok=True)
        assert "content-encoding" not in plain.headers, plain.headers
        assert packed.headers.get("content-encoding") == "gzip", packed.headers
        assert "Accept-Encoding" in packed.headers.get("vary", ""), packed.headers
        assert gzip.decompress(packed.body) == plain.body
    # Served from the .gz made at deploy: byte for byte (nginx compressing would differ).
    on_disk = sandbox.run(f"base64 -w0 {own}/site.css.gz").stdout
    assert get(sandbox.address, PLAIN_CSS, gzip_ok=True).body == base64.b64decode(on_disk)
    # A file too small to be worth a .gz is sent as it is, not compressed per request.
    tiny = get(sandbox.address, "/static/entries/tiny.css", gzip_ok=True)
    assert tiny.status == 200 and "content-encoding" not in tiny.headers, tiny.headers
    # Pages are still compressed on the way out.
    page = get(sandbox.address, "/", gzip_ok=True)
    assert page.headers.get("content-encoding") == "gzip", page.headers


def test_failed_deploy_leaves_the_live_sheet_served(project: Project,
                                                    sandbox: SandboxInfo) -> None:
    live = current_release(sandbox)
    project.write(SHEET, sheet_text("B"))
    overlay(project, 'health_path = "/boom/"\n')  # answers 500: the health gate fails
    project.commit("release B, with a failing health check")
    run = project.djship("deploy")
    assert run.returncode != 0, str(run)
    assert "step=health" in run.stderr, str(run)  # (the app's log shows /boom/'s traceback)
    assert current_release(sandbox) == live
    assert served_marker(sandbox) == ("A", "A")
    packed = get(sandbox.address, PLAIN_CSS, gzip_ok=True)
    assert release_marker(gzip.decompress(packed.body)) == "A"
    # What the shared folder holds does not matter any more (B's files may be merged there).
    merged = sandbox.run(f"head -1 /srv/{SITE}/shared/static/entries/site.css").stdout
    print(f"shared/static/entries/site.css after the failed deploy: {merged.strip()}")


def test_good_deploy_serves_the_new_sheet_and_keeps_old_hashed_names(
        project: Project, sandbox: SandboxInfo) -> None:
    old_linked = css_path(request(sandbox.address, "/").body)
    release_a = current_release(sandbox)
    overlay(project)
    project.commit("release B")
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    assert served_marker(sandbox) == ("B", "B")
    # Unchanged files reuse release A's compressed copy (a link), only the sheet is new.
    gz = ".static/admin/css/base.css.gz"
    inodes = sandbox.run(f"stat -c %i /srv/{SITE}/releases/{release_a}/{gz} "
                         f"/srv/{SITE}/current/{gz}").stdout.split()
    assert len(inodes) == 2 and inodes[0] == inodes[1], inodes
    packed = get(sandbox.address, PLAIN_CSS, gzip_ok=True)
    assert release_marker(gzip.decompress(packed.body)) == "B"
    # A page of release A still in flight finds its own hashed sheet (from shared/static).
    new_linked = css_path(request(sandbox.address, "/").body)
    assert new_linked != old_linked
    old = get(sandbox.address, old_linked)
    assert old.status == 200 and release_marker(old.body) == "A"


def test_rollback_serves_the_old_sheet_again(project: Project, sandbox: SandboxInfo) -> None:
    run = project.djship("rollback")
    assert run.returncode == 0, str(run)
    assert served_marker(sandbox) == ("A", "A")
    packed = get(sandbox.address, PLAIN_CSS, gzip_ok=True)
    assert release_marker(gzip.decompress(packed.body)) == "A"
