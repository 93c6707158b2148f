"""Socket-activated slots and static files that follow the serving release (issue 15).

The rendered app unit and its socket template, the provisioning step that writes them, the
slot scripts that start, switch, retire and discard a slot's socket and app together, the
nginx static locations, and the precompression run at collectstatic.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from djship.config import validate
from djship.errors import ConfigError
from djship.facts.files import FileState
from djship.ops import db, site
from djship.paths import SitePaths
from djship.plan import Put, Run
from djship.release import scripts
from djship.steps import nginx, tools, web
from djship.steps.files import plan_files
from djship.steps.provision import provision_steps
from djship.tls import nginx as tls_nginx

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application"},
    "sites": {"blog": {"domains": ["example.com"], "processes": {"worker": {"command": "python w.py"}}}},
    "hosts": [{"name": "web1", "address": "192.0.2.10", "roles": ["web", "db"]},
              {"name": "work1", "address": "192.0.2.11", "roles": ["worker"]}],
})
P = SitePaths("blog")
RID = "20261122T010203-abcdef12"


def directives(text: str) -> dict[str, list[str]]:
    """KEY=VALUE lines of a unit file (repeated keys in order)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


# --- the units ----------------------------------------------------------------------------

def test_socket_unit_listens_where_nginx_connects_for_nginx_only() -> None:
    f = web.socket_file("blog", None)
    assert f.path == "/etc/systemd/system/djship-blog@.socket"
    assert (f.mode, f.owner, f.group) == (0o644, "root", "root")
    d = directives(f.content.decode())
    # the upstream nginx proxies to names this very path, per slot
    assert d["ListenStream"] == [P.socket("%i")] == ["/run/djship-blog/%i/app.sock"]
    assert scripts.upstream_conf(P, "blue").decode().count(P.socket("blue")) == 1
    # www-data is in the site's group (site.user_step): it connects, others may not
    assert d["SocketUser"] == d["SocketGroup"] == ["djship-blog"]
    assert d["SocketMode"] == ["0660"]
    # the folders systemd creates are root's; 0755 lets nginx reach the socket
    assert d["DirectoryMode"] == ["0755"]
    assert int(d["Backlog"][0]) >= 1024
    assert d["WantedBy"] == ["sockets.target"]
    # site removal finds the site's units by this prefix
    assert d["Description"][0].startswith("djship blog: ")


def test_app_unit_takes_its_socket_from_systemd_and_keeps_its_hardening() -> None:
    text = web.unit_file(CONFIG, "blog", None, local_db=True).content.decode()
    d = directives(text)
    assert d["Requires"] == ["djship-blog@%i.socket"]
    assert "djship-blog@%i.socket" in d["After"]
    # The app's runtime folder (gunicorn 25+'s control socket, through XDG_RUNTIME_DIR) is
    # its own: systemd deletes it whenever the app stops, and the socket's must outlive that.
    assert d["RuntimeDirectory"] == ["djship-blog-%i"]
    assert "XDG_RUNTIME_DIR=/run/djship-blog-%i" in d["Environment"]
    assert not P.socket("%i").startswith("/run/djship-blog-%i/")
    assert f"--bind unix:{P.socket('%i')} " in d["ExecStart"][0]
    for key, value in [("Type", "notify"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                       ("PrivateDevices", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("RestrictSUIDSGID", "yes"),
                       ("Restart", "on-failure"), ("KillMode", "mixed"),
                       ("User", "djship-blog"), ("WantedBy", "multi-user.target")]:
        assert d[key] == [value], key
    assert d["ReadWritePaths"] == [f"{P.media} {P.data}"]


def test_provision_writes_both_units_and_the_gunicorn_conf_then_reloads_systemd_once() -> None:
    step = next(s for s in provision_steps(CONFIG, "blog", CONFIG.hosts[0], None)
                if s.name == "app unit")
    plan = step.plan({})
    puts = [a for a in plan.actions if isinstance(a, Put)]
    assert [a.path for a in puts] == [P.unit_file, P.socket_unit_file, tools.GUNICORN_CONF]
    runs = [a.script.render() for a in plan.actions if isinstance(a, Run)]
    assert len(runs) == 1 and runs[0].rstrip().endswith("systemctl daemon-reload")


def test_provision_leaves_units_that_are_current_alone() -> None:
    files = [web.unit_file(CONFIG, "blog", None, local_db=True), web.socket_file("blog", None)]
    same = {f.path: FileState(f.sha256, f.mode, f.owner, f.group) for f in files}
    assert not plan_files(files, same).changes
    only_service = {k: v for k, v in same.items() if k == P.unit_file}
    changed = plan_files(files, only_service)
    assert [a.path for a in changed.actions if isinstance(a, Put)] == [P.socket_unit_file]


def test_a_worker_only_host_gets_no_app_slot() -> None:
    names = [s.name for s in provision_steps(CONFIG, "blog", CONFIG.hosts[1], None)]
    assert "app unit" not in names and "nginx" not in names


# --- the slot scripts ---------------------------------------------------------------------

def lines(script: str) -> list[str]:
    return script.splitlines()


def test_start_slot_stops_and_starts_socket_and_app_together() -> None:
    text = scripts.start_slot(P, "green", RID, 30).render()
    both = "djship-blog@green.socket djship-blog@green.service"
    assert f"systemctl stop {both}\n" in text
    assert f"systemctl reset-failed {both} 2>/dev/null || true" in text
    assert f"timeout 30 systemctl start {both} " in text
    assert text.index(f"stop {both}") < text.index(f"start {both}")
    # a server provisioned before sockets existed is told what to do, before anything stops
    guard = "if [ ! -e /etc/systemd/system/djship-blog@.socket ]; then"
    assert text.index(guard) < text.index("systemctl stop") and "run `djship provision`" in text
    # never the app alone: its socket would start it again, or it would have no socket
    assert not re.search(r"systemctl (stop|start) djship-blog@green\.service", text)


def test_switch_enables_only_the_live_slot_for_boot() -> None:
    text = scripts.switch(P, "green", RID).render()
    assert ("systemctl enable --quiet --no-reload djship-blog@green.socket "
            "djship-blog@green.service") in text
    assert ("systemctl disable --quiet --no-reload djship-blog@blue.socket "
            "djship-blog@blue.service") in text
    # enabling comes after traffic and `current` moved
    assert text.index("mv -Tf /srv/blog/current.new") < text.index("systemctl enable")


def test_retire_stops_socket_and_app_after_the_drain() -> None:
    text = scripts.retire(P, "blue").render()
    both = "djship-blog@blue.socket djship-blog@blue.service"
    assert f"systemctl disable --quiet --no-reload {both}" in text
    assert text.rstrip().endswith(f"--property=CollectMode=inactive-or-failed systemctl stop {both}")


def test_discard_stops_socket_and_app_and_never_touches_the_live_slot() -> None:
    text = scripts.discard(P, "green", RID).render()
    both = "djship-blog@green.socket djship-blog@green.service"
    assert f"systemctl stop {both} || true" in text
    assert f"systemctl disable --quiet --no-reload {both} || true" in text
    assert "blue" not in text
    assert "systemctl" not in scripts.discard(P, None, RID).render()


def test_restore_stops_the_sockets_too_and_start_brings_them_back() -> None:
    stop = db.stop_app(P).render().splitlines()[-1]
    assert "'djship-blog@*.socket' 'djship-blog@*.service'" in stop
    # the app unit Requires= its socket: starting the app starts the socket
    assert "systemctl start djship-blog@blue.service" in db.start_app(P, "blue").render()


def test_site_removal_finds_stops_and_unlinks_the_socket_units() -> None:
    text = site.remove_site(P, purge=False).render()
    assert "/etc/systemd/system/djship-*.socket" in text
    assert 'systemctl stop "${u%.socket}*.socket"' in text
    assert 'rm -f -- /etc/systemd/system/*.wants/"${u%.socket}"*.socket' in text


# --- static files -------------------------------------------------------------------------

def location(conf: str, head: str) -> str:
    """The body of the location block starting with ``head``."""
    start = conf.index(head)
    return conf[start:conf.index("\n    }", start)]


HASHED = 'location ~ "^/static/(.+\\.[0-9a-f]{12}\\.[A-Za-z0-9]+)$" {'


@pytest.mark.parametrize("kind", ["plain", "tls"])
def test_nginx_serves_the_live_release_static_first_precompressed(kind: str) -> None:
    if kind == "plain":
        conf = nginx.nginx_files(CONFIG, "blog", None)[0].content.decode()
    else:
        cfg = validate({**CONFIG.model_dump(exclude_none=True), "sites": {"blog": {
            "domains": ["example.com"], "tls": {"enabled": True, "hsts_max_age": 300}}}})
        conf = tls_nginx.site_conf(cfg, "blog", None, cert_ready=True)
    hashed = location(conf, HASHED)
    plain = location(conf, "location /static/ {")
    # the live release's own files, through `current`; a miss goes to the merged folder
    assert "alias /srv/blog/current/.static/$1;" in hashed
    assert "alias /srv/blog/current/.static/;" in plain
    assert "error_page 404 = @djship_blog_static_hashed;" in hashed
    assert "error_page 404 = @djship_blog_static;" in plain
    fallback_hashed = location(conf, "location @djship_blog_static_hashed {")
    fallback = location(conf, "location @djship_blog_static {")
    for block in (fallback_hashed, fallback):
        assert "root /srv/blog/shared;" in block  # + /static/NAME = shared/static/NAME
    # precompressed files only, nothing compressed per request
    for block in (hashed, plain, fallback_hashed, fallback):
        assert "gzip_static on;" in block and "gzip off;" in block, block
    for block in (hashed, fallback_hashed):
        assert "expires max;" in block and 'Cache-Control "public, immutable"' in block
        assert "open_file_cache max=" in block  # a hashed name is the same bytes anywhere
        if kind == "tls":  # add_header here repeats HSTS
            assert "Strict-Transport-Security" in block
    for block in (plain, fallback):
        assert "expires 1h;" in block
    for block in (hashed, plain, fallback_hashed, fallback):
        # kept open, misses (no .gz) remembered: safe because a switch reloads nginx
        # after moving `current` (test_switch_moves_current_before_nginx_reloads)
        assert "open_file_cache max=" in block and "open_file_cache_errors on;" in block
    # pages (proxied) are still compressed on the fly
    server_level = conf[:conf.index(HASHED)]
    assert "gzip on;" in server_level and "gzip_proxied any;" in server_level


def test_the_paths_nginx_serves_are_the_releases_own_then_the_merged_folder() -> None:
    assert P.live_static == f"{P.current}/{scripts.RELEASE_STATIC}"
    assert scripts.release_static(P.release(RID)) == f"{P.release(RID)}/.static"
    # the fallback's `root shared` + the URL's /static/NAME must be shared/static/NAME
    assert P.static == f"{P.shared}/static"


def test_docker_export_keeps_its_single_static_folder() -> None:
    from djship.export.docker import ContainerPaths
    from djship.render import render

    conf = render("nginx-site.conf.j2", None, site="blog", site_id="blog",
                  paths=ContainerPaths(), server_names="_")
    assert "alias /srv/static/;" in conf and "current" not in conf


def test_collectstatic_precompresses_before_the_merge() -> None:
    text = scripts.collect_static(CONFIG, "blog", P.release(RID)).render()
    own = f"{P.release(RID)}/.static"
    assert text.index("collectstatic") < text.index("import gzip") < text.index("rsync")
    assert "runuser -u djship-blog -- python3 -c" in text
    assert f"' {own} 256 '" in text


def test_reused_static_files_get_the_compressed_copies_they_lack() -> None:
    old = "20261121T010203-0123abcd"
    text = scripts.reuse_static(P, old, RID).render()
    assert text.index("cp -al") < text.index("import gzip")
    assert f"' {P.release(RID)}/.static 256 '" in text


def run_precompress(folder: Path, reference: Path | None = None) -> None:
    argv = scripts.precompress(P, str(folder), str(reference or "")).argv
    code = argv[argv.index("-c") + 1]
    subprocess.run([sys.executable, "-c", code, *argv[argv.index("-c") + 2:]], check=True)


def test_precompress_writes_gz_beside_compressible_files(tmp_path: Path) -> None:
    css = tmp_path / "app" / "site.css"
    css.parent.mkdir()
    css.write_text("body { color: #333; margin: 0 auto; }\n" * 20)
    (tmp_path / "tiny.js").write_text("let a = 1;\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG" + b"\0" * 2000)
    noise = tmp_path / "noise.svg"
    noise.write_bytes(os.urandom(4000))
    run_precompress(tmp_path)
    gz = Path(f"{css}.gz")
    assert gzip.decompress(gz.read_bytes()) == css.read_bytes()
    assert gz.stat().st_mtime_ns == css.stat().st_mtime_ns
    assert not (tmp_path / "tiny.js.gz").exists()  # under the size worth it
    assert not (tmp_path / "logo.png.gz").exists()  # not a text format
    assert not (tmp_path / "noise.svg.gz").exists()  # would not be smaller
    assert not list(tmp_path.rglob("*.djship-tmp"))


def test_precompress_is_idempotent_and_never_writes_through_hard_links(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "a.css").write_text("a { b: c }\n" * 50)
    run_precompress(old)
    inode = (old / "a.css.gz").stat().st_ino
    subprocess.run(["cp", "-al", str(old), str(new)], check=True)
    (new / "b.js").write_text("console.log('b');\n" * 30)
    run_precompress(new)
    assert (new / "a.css.gz").stat().st_ino == inode  # kept, not rewritten
    assert (new / "b.js.gz").exists() and not (old / "b.js.gz").exists()
    # a file changed after its .gz was made gets a new one, as a new file
    (new / "a.css").unlink()
    (new / "a.css").write_text("x { y: z }\n" * 60)
    os.utime(new / "a.css", ns=(1, (old / "a.css.gz").stat().st_mtime_ns + 10**9))
    run_precompress(new)
    assert gzip.decompress((new / "a.css.gz").read_bytes()) == (new / "a.css").read_bytes()
    assert gzip.decompress((old / "a.css.gz").read_bytes()) == (old / "a.css").read_bytes()


def test_precompress_skips_a_release_whose_static_is_the_shared_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "a.css").write_text("a { b: c }\n" * 50)
    (tmp_path / "link").symlink_to(shared)
    run_precompress(tmp_path / "link")
    assert not (shared / "a.css.gz").exists()


def test_stop_slot_stops_socket_and_app() -> None:
    assert scripts.stop_slot(P, "green").render().splitlines()[-1] == (
        "systemctl stop djship-blog@green.socket djship-blog@green.service")


def test_precompress_links_the_live_release_gz_for_unchanged_files(tmp_path: Path) -> None:
    live, new = tmp_path / "live", tmp_path / "new"
    for d in (live, new):
        (d / "admin").mkdir(parents=True)
    same = "/* admin */ .a { b: c }\n" * 40
    (live / "admin" / "base.css").write_text(same)
    (live / "site.css").write_text("/* A */ body { x: y }\n" * 40)
    run_precompress(live)
    (new / "admin" / "base.css").write_text(same)  # collected again: same bytes, new time
    (new / "site.css").write_text("/* B */ body { x: y }\n" * 40)
    # a leftover temporary file linked to the live .gz must not be written through
    os.link(live / "site.css.gz", new / "site.css.gz.djship-tmp")
    before = (live / "site.css.gz").read_bytes()
    run_precompress(new, live)
    old_gz, new_gz = live / "admin" / "base.css.gz", new / "admin" / "base.css.gz"
    assert new_gz.stat().st_ino == old_gz.stat().st_ino  # linked, not compressed again
    assert (new / "admin" / "base.css").stat().st_mtime_ns == old_gz.stat().st_mtime_ns
    assert gzip.decompress((new / "site.css.gz").read_bytes()).startswith(b"/* B */")
    assert (live / "site.css.gz").read_bytes() == before
    assert not list(new.rglob("*.djship-tmp"))
    # a second run finds everything fresh and changes nothing
    inodes = {f: f.stat().st_ino for f in new.rglob("*.gz")}
    run_precompress(new, live)
    assert {f: f.stat().st_ino for f in new.rglob("*.gz")} == inodes


def test_switch_moves_current_before_nginx_reloads() -> None:
    # nginx workers keep static files open through `current`: only workers started by the
    # reload, after `current` moved, may open the new release's files.
    text = scripts.switch(P, "green", RID).render()
    assert text.index(f"mv -Tf {P.current}.new {P.current}") < text.index("systemctl reload nginx")


def test_a_deploy_brings_worker_units_in_line_with_the_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from djship import paths
    from djship.shell import Script
    from djship.steps import workers

    systemd = tmp_path / "systemd"
    systemd.mkdir()
    monkeypatch.setattr(paths, "SYSTEMD", str(systemd))
    config = validate({**CONFIG.model_dump(exclude_none=True), "sites": {"blog": {
        "processes": {"queue": {"command": "manage.py qcluster", "instances": 1},
                      "mail": {"command": "manage.py send_mail"}}}}})
    files = workers.deploy_units(config, "blog", None, ["worker"])
    assert workers.deploy_units(config, "blog", None, ["web"]) == []
    queue, mail = (next(f for f in files if name in f.path) for name in ("queue", "mail"))
    Path(queue.path).write_bytes(queue.content)  # unchanged: stays, no reload for it
    Path(mail.path).write_bytes(b"old text")  # changed: replaced
    for f in files:
        Path(f.path + workers.STAGED).write_bytes(f.content)
    dropped = systemd / "djship-blog-old@.service"  # a process the config no longer has
    dropped.write_text("[Unit]\nDescription=djship blog: old worker %i\n")
    other = systemd / "djship-blog-staging-x@.service"  # another site's: never touched
    other.write_text("[Unit]\nDescription=djship blog-staging: x worker %i\n")
    calls = tmp_path / "calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "systemctl").write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        'case "$*" in *djship-blog-queue@*) printf "djship-blog-queue@1.service x\\n'
        'djship-blog-queue@2.service x\\n";; *djship-blog-old@*) '
        'printf "djship-blog-old@1.service x\\n";; esac\n')
    (fake / "systemctl").chmod(0o755)
    script = Script.of(workers.sync_units(config, "blog", files)).render()
    subprocess.run(["bash", "-c", script], env={"PATH": f"{fake}:/usr/bin:/bin"}, check=True)
    assert Path(mail.path).read_bytes() == mail.content
    assert Path(queue.path).read_bytes() == queue.content
    assert not list(systemd.glob("*.djship-new"))
    assert not dropped.exists() and other.exists()
    said = calls.read_text().splitlines()
    assert "disable --now --quiet djship-blog-old@1.service" in said
    assert "disable --now --quiet djship-blog-queue@2.service" in said  # beyond instances
    assert not any("queue@1" in line and "disable" in line for line in said)
    assert said[-1] == "daemon-reload" and said.count("daemon-reload") == 1
    # The next deploy with the same config changes nothing and reloads nothing.
    for f in files:
        Path(f.path + workers.STAGED).write_bytes(f.content)
    calls.write_text("")
    subprocess.run(["bash", "-c", script], env={"PATH": f"{fake}:/usr/bin:/bin"}, check=True)
    assert "daemon-reload" not in calls.read_text()


# --- the sandbox of the units that run the app's code (issue 17) ---------------------------

SANDBOX = {"CapabilityBoundingSet": [""], "PrivateUsers": ["yes"], "ProtectProc": ["invisible"],
           "MemoryDenyWriteExecute": ["yes"], "RestrictNamespaces": ["yes"],
           "SystemCallFilter": ["@system-service", "~@privileged"],
           "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"], "UMask": ["0027"]}


def unit_texts(config: object) -> list[str]:
    from djship.steps import workers
    assert isinstance(config, type(CONFIG))
    return [web.unit_file(config, "blog", None, local_db=True).content.decode(),
            *(f.content.decode() for f in workers.worker_files(config, "blog", None, True))]


def test_app_and_worker_units_run_sandboxed() -> None:
    for text in unit_texts(CONFIG):
        d = directives(text)
        for key, values in SANDBOX.items():
            assert d.get(key) == values, (key, d.get(key))
        assert d["ReadWritePaths"] == [f"{P.media} {P.data}"]


def test_systemd_overrides_come_last_in_both_units_and_are_escaped() -> None:
    raw = {"project": {"name": "blog", "settings": "blog.settings",
                       "wsgi": "blog.wsgi:application"},
           "sites": {"blog": {"processes": {"worker": {"command": "python w.py"}},
                              "systemd": {"MemoryDenyWriteExecute": "no",
                                          "Environment": "RATE=5%"}}},
           "hosts": [{"name": "web1", "address": "192.0.2.10", "roles": ["web", "worker", "db"]}]}
    for text in unit_texts(validate(raw)):
        d = directives(text)
        assert d["MemoryDenyWriteExecute"] == ["yes", "no"]  # systemd takes the last one
        assert d["Environment"][-1] == "RATE=5%%"
        service = text.split("[Install]")[0]
        assert service.rstrip().endswith(
            "# [sites.blog.systemd] in djship.toml\nEnvironment=RATE=5%%\n"
            "MemoryDenyWriteExecute=no")


@pytest.mark.parametrize(("systemd", "says"), [
    ({"ExecStart": "/bin/sh"}, "djship's to set"),
    ({"User": "root"}, "djship's to set"),
    ({"memory-deny": "no"}, "not a systemd directive name"),
    ({"Nice": "5\nExecStartPre=/bin/sh -c id"}, "one line"),
])
def test_systemd_overrides_cannot_take_over_the_unit(systemd: dict[str, str], says: str) -> None:
    raw = {"project": {"name": "blog", "settings": "blog.settings",
                       "wsgi": "blog.wsgi:application"},
           "sites": {"blog": {"systemd": systemd}},
           "hosts": [{"name": "web1", "address": "192.0.2.10", "roles": ["web", "db"]}]}
    with pytest.raises(ConfigError) as refused:
        validate(raw)
    assert [i.path for i in refused.value.issues] == ["sites.blog.systemd"]
    assert says in refused.value.issues[0].message
