"""Release building, the deploy pipeline's scripts, and the guarded deletions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from djship.config import Config, validate
from djship.errors import ConfigError, UsageError
from djship.paths import SitePaths, other_slot
from djship.release import python as pyreq
from djship.release import scripts, state
from djship.release.build import (
    Build,
    asset,
    build,
    hash_files,
    requirement_includes,
    static_input,
)
from djship.release.check import pending_migrations, risky_operations
from djship.transport.base import Result

CONFIG = validate({
    "project": {"name": "blog", "settings": "blog.settings", "wsgi": "blog.wsgi:application",
                "python": "3.11"},
    "sites": {"blog": {"domains": ["example.com"]}},
    "hosts": [{"name": "web1", "address": "192.0.2.10"}],
})
P = SitePaths("blog")
RID = "20261122T010203-abcdef12"


def project(tmp_path: Path) -> Path:
    (tmp_path / "manage.py").write_text("print('hi')\n")
    (tmp_path / "requirements.txt").write_text("django\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    return tmp_path


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


def test_build_respects_gitignore_and_warns_on_dirty(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / ".gitignore").write_text("secret.txt\n")
    (root / "secret.txt").write_text("x")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    b = build(root, CONFIG)
    assert "secret.txt" not in b.files and "manage.py" in b.files
    assert not b.dirty and b.release_id.endswith(b.commit)
    (root / "app.py").write_text("x = 2\n")
    dirty = build(root, CONFIG)
    assert dirty.dirty and dirty.warnings and dirty.content_hash != b.content_hash
    assert dirty.deps_hash == b.deps_hash
    with pytest.raises(UsageError, match="--clean"):
        build(root, CONFIG, clean=True)


def test_build_without_git_skips_junk(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "db.sqlite3").write_bytes(b"\0")
    b = build(root, CONFIG)
    assert set(b.files) == {"app.py", "manage.py", "requirements.txt"}


def test_deps_hash_changes_only_with_dependency_files(tmp_path: Path) -> None:
    root = project(tmp_path)
    files = ["app.py", "manage.py", "requirements.txt"]
    deps1 = hash_files(root, files).deps
    (root / "app.py").write_text("x = 3\n")
    deps2 = hash_files(root, files).deps
    (root / "requirements.txt").write_text("django\ngunicorn\n")
    deps3 = hash_files(root, files).deps
    assert deps1 == deps2 != deps3


@pytest.mark.parametrize(("path", "counts"), [
    ("entries/views.py", False), ("entries/models.py", False), ("manage.py", False),
    ("entries/static/entries/site.css", True), ("entries/templates/base.html", True),
    ("guestbook/settings.py", True), ("guestbook/settings/production.py", True),
    ("entries/apps.py", True), ("core/storages.py", True), ("core/finders.py", True),
    ("requirements.txt", True), ("locale/de/LC_MESSAGES/django.po", True),
])
def test_static_inputs(path: str, counts: bool) -> None:
    assert static_input(path) is counts


def test_static_hash_ignores_plain_code_but_not_assets_or_deps(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "style.css").write_text("body {}\n")
    files = ["app.py", "manage.py", "requirements.txt", "style.css"]
    first = build(root, CONFIG).static_hash
    (root / "app.py").write_text("x = 3\n")
    assert build(root, CONFIG).static_hash == first
    (root / "style.css").write_text("body { color: red }\n")
    second = build(root, CONFIG).static_hash
    (root / "requirements.txt").write_text("django\ngunicorn\n")
    third = build(root, CONFIG).static_hash
    assert len({first, second, third}) == 3
    assert hash_files(root, files).static != hash_files(root, files[:3]).static


@pytest.mark.parametrize("bad", ["", "/", "..", "../../etc", "2026-x", "20261122T010203-abc/../x",
                                 "20261122T010203-"])
def test_release_ids_are_checked_before_any_path_is_built(bad: str) -> None:
    with pytest.raises(UsageError):
        scripts.remove_release(P, bad)


def test_remove_release_guard_refuses_outside_root(tmp_path: Path) -> None:
    # The shell guard itself: run the generated command with a forged path.
    line = scripts.remove_release(P, RID).render()
    assert f"rm -rf -- /srv/blog/releases/{RID}" in line
    forged = line.replace(f"/srv/blog/releases/{RID}", str(tmp_path / "victim"), 1)
    (tmp_path / "victim").mkdir()
    proc = subprocess.run(["bash", "-c", forged], capture_output=True, text=True)
    assert proc.returncode == 1 and "refusing" in proc.stderr
    assert (tmp_path / "victim").exists()


def test_prune_keeps_newest_and_protected() -> None:
    ids = [f"2026112{i}T000000-aaaa" for i in range(8)]
    script = scripts.prune(P, ids, 5, protect={ids[0]})
    assert script is not None
    text = script.render()
    assert ids[1] in text and ids[2] in text and ids[0] not in text and ids[3] not in text
    assert scripts.prune(P, ids[:3], 5, set()) is None
    # Moved out of releases/ at once; deleted in the background.
    assert f"mv -T -- /srv/blog/releases/{ids[1]} /srv/blog/.trash/{ids[1]}" in text
    assert "systemd-run --quiet --collect" in text and "-exec rm -rf --" in text
    # Shared virtualenvs no kept release links to go to the trash too, guarded by a case.
    assert "/srv/blog/venvs/?*) mv -T --" in text


def test_prune_removes_only_venvs_no_release_links(tmp_path: Path) -> None:
    # The venv sweep itself, run on a fake site root: the linked venv stays.
    root = tmp_path / "srv"
    for name in ("used", "unused"):
        (root / "venvs" / name).mkdir(parents=True)
    (root / "releases" / RID).mkdir(parents=True)
    (root / "releases" / RID / ".venv").symlink_to(root / "venvs" / "used")
    text = scripts.prune(P, [RID, "20261101T000000-aaaa"], 1, {RID})
    assert text is not None
    sweep = next(c.render() for c in text.commands if "for v in" in c.render())
    sweep = sweep.replace("/srv/blog", str(root))
    (root / ".trash").mkdir()
    subprocess.run(["bash", "-c", sweep], check=True)
    assert (root / "venvs" / "used").is_dir()
    assert not (root / "venvs" / "unused").exists() and (root / ".trash" / "venv-unused").is_dir()


def test_lock_script_is_atomic_mkdir() -> None:
    text = scripts.lock(P, "me@laptop").render()
    assert "mkdir /srv/blog/.lock" in text and f"exit {scripts.LOCKED}" in text


VENV = "/srv/blog/venvs/0123456789abcdef"


def test_venv_is_shared_per_dependency_hash_by_a_link() -> None:
    assert scripts.venv_path(P, "0123456789abcdef", RID) == VENV
    assert scripts.venv_path(P, "0123456789abcdef", RID, fresh=True) == f"{VENV}-{RID}"
    text = scripts.link_venv(P, VENV, RID).render()
    assert f"ln -sfn -- {VENV} /srv/blog/releases/{RID}/.venv" in text
    with pytest.raises(UsageError):
        scripts.venv_path(P, "../../etc", RID)
    build = scripts.build_venv(CONFIG, P, RID, VENV).render()
    # A half-built venv is removed first (guarded), the mark is written last, then the link.
    assert build.index(f"case {VENV} in /srv/blog/venvs/?*)") < build.index("venv --quiet")
    assert build.index(f"touch {VENV}/.djship-complete") < build.index("ln -sfn")


@pytest.mark.parametrize(("source", "expected"), [
    ("requirements", "pip install --python /srv/blog/venvs/0123456789abcdef/bin/python -r requirements.txt gunicorn"),
    ("uv", "sync --frozen --no-dev --no-install-project"),
    ("pyproject", "-r pyproject.toml gunicorn"),
])
def test_dependency_sources(source: str, expected: str) -> None:
    cfg = CONFIG.model_copy(update={"project": CONFIG.project.model_copy(
        update={"dependencies": source})})
    text = scripts.build_venv(cfg, P, RID, VENV).render()
    assert expected.format(rid=RID) in text
    assert "UV_CACHE_DIR=/srv/blog/shared/uv-cache" in text


def test_python_version_system_or_uv_install() -> None:
    reqs = [pyreq.parse(">=3.11", "project.python in djship.toml")]
    assert scripts.plan_python(reqs, (3, 11)).interpreter == "/usr/bin/python3"
    assert scripts.plan_python(reqs, (3, 13)).setup == ()
    plan = scripts.plan_python(reqs, (3, 9), source="uv")
    assert plan.interpreter == "3.14"
    text = plan.setup[0].render()
    assert "uv python install 3.14" in text and "the server has Python 3.9" in text


def test_health_failure_says_which_knob_to_turn() -> None:
    text = scripts.health(P, "blue", "example.com", "/healthz", 5).render()
    assert "--unix-socket /run/djship-blog/blue/app.sock" in text
    assert "no HTTP answer on /healthz within 5s" in text
    assert "raise sites.blog.health_timeout" in text
    assert "set sites.blog.health_path in djship.toml to a URL that does" in text
    # The explanation comes after the journal, so it ends the error's output.
    assert text.index("journalctl") < text.index("no HTTP answer")
    assert "X-Forwarded-Proto" not in text


def test_health_of_a_tls_site_says_https_like_nginx_would() -> None:
    text = scripts.health(P, "blue", "example.com", "/", 5, https=True).render()
    assert "-H 'Host: example.com' -H 'X-Forwarded-Proto: https' 'http://localhost/'" in text


def test_nested_requirement_files_count_as_dependencies(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "requirements.txt").write_text("-r requirements/prod.txt\n")
    (root / "requirements").mkdir()
    (root / "requirements/prod.txt").write_text("--requirement=../deps/base.txt\ngunicorn\n")
    (root / "deps").mkdir()
    (root / "deps/base.txt").write_text("django\n-c ../pins.txt\n-r https://x.test/r.txt\n")
    (root / "pins.txt").write_text("sqlparse==0.5.0\n")
    assert sorted(requirement_includes(root, "requirements.txt")) == [
        "deps/base.txt", "pins.txt", "requirements.txt", "requirements/prod.txt"]
    before = build(root, CONFIG)
    (root / "pins.txt").write_text("sqlparse==0.5.1\n")
    after = build(root, CONFIG)
    assert after.deps_hash != before.deps_hash  # so the venv is rebuilt, not hard-linked


def test_python_requirement_is_part_of_the_build(tmp_path: Path) -> None:
    root = project(tmp_path)
    before = build(root, CONFIG)
    assert [r.spec for r in before.python] == ["3.11"]
    (root / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.12"\n')
    after = build(root, CONFIG)
    assert [r.spec for r in after.python] == ["3.11", ">=3.12"]
    assert after.deps_hash != before.deps_hash


def test_asgi_only_uses_uvicorn_worker() -> None:
    cfg = CONFIG.model_copy(update={"project": CONFIG.project.model_copy(
        update={"wsgi": None, "asgi": "blog.asgi:application"})})
    assert "uvicorn-worker" in scripts.build_venv(cfg, P, RID, None).render()


def test_manage_runs_as_site_user_with_settings() -> None:
    line = scripts.manage(CONFIG, "blog", P.release(RID), "migrate").render()
    assert "envtool.py exec /etc/djship/blog.env djship-blog" in line
    assert "DJANGO_SETTINGS_MODULE=blog.settings" in line and line.endswith("manage.py migrate")


def test_health_uses_host_header_and_path() -> None:
    text = scripts.health(P, "blue", "example.com", "/healthz", 12).render()
    assert "-H 'Host: example.com'" in text and "http://localhost/healthz" in text
    assert "--unix-socket /run/djship-blog/blue/app.sock" in text


def test_switch_tests_nginx_before_reload_and_moves_symlink_atomically() -> None:
    text = scripts.switch(P, "green", RID).render()
    assert text.index("nginx -t") < text.index("systemctl reload nginx")
    assert "mv -Tf /srv/blog/current.new /srv/blog/current" in text
    assert other_slot("blue") == "green" and other_slot("green") == "blue"


def test_retire_drains_on_the_server_and_start_cancels_it() -> None:
    retire = scripts.retire(P, "blue").render()
    assert "sleep" not in retire
    assert "systemd-run --quiet --unit=djship-blog-retire-blue --on-active=3s" in retire
    assert retire.rstrip().endswith("systemctl stop djship-blog@blue.socket djship-blog@blue.service")
    start = scripts.start_slot(P, "blue", RID, 30).render()
    cancel = start.index("systemctl stop djship-blog-retire-blue.timer")
    assert cancel < start.index("systemctl start djship-blog@blue.socket djship-blog@blue.service")


def test_state_parse() -> None:
    out = (f"current:{RID}\nslot:blue\n"
           f'release:{{"id": "{RID}", "commit": "abc", "fingerprint": "f", "static": "s1", '
           '"x": 1}\n'
           "env:1234\npython:3 11\nactive:active\n")
    st = state.parse(Result(0, out, ""))
    assert st.current == RID and st.live_slot == "blue" and st.slot_active
    meta = st.release(RID)
    assert meta is not None and meta.static == "s1"
    assert st.python == (3, 11) and st.release(RID) is not None
    assert state.parse(Result(0, "current:\nslot:\npython:3 11\n", "")).current is None
    assert not st.static_plain and state.parse(Result(0, "static:plain\n", "")).static_plain


def test_migration_plan_parsing() -> None:
    none = "Planned operations:\n  No planned migration operations.\n"
    assert pending_migrations(none) == []
    plan = ("Planned operations:\nentries.0002_x\n    Remove field note from entry\n"
            "    Add field title to entry\n")
    assert len(pending_migrations(plan)) == 3
    assert risky_operations(plan) == ["Remove field"]


def test_collectstatic_collects_into_the_release_and_merges_without_deleting() -> None:
    rel = P.release(RID)
    text = scripts.collect_static(CONFIG, "blog", rel).render()
    own = f"{rel}/.static"
    assert f"install -d -m 755 -o djship-blog -g djship-blog {own}" in text
    assert f"STATIC_ROOT={own} " in text and "STATIC_ROOT=/srv/blog/shared/static " not in text
    assert f"rsync -a --chown djship-blog:djship-blog {own}/ /srv/blog/shared/static/" in text
    assert "--delete" not in text and "rm " not in text
    assert text.index("collectstatic") < text.index("rsync")


def test_reused_static_files_are_hard_links_of_the_live_release() -> None:
    old = "20261121T010203-0123abcd"
    text = scripts.reuse_static(P, old, RID).render()
    assert f"cp -al -- {P.release(old)}/.static {P.release(RID)}/.static\n" in text
    with pytest.raises(UsageError):
        scripts.reuse_static(P, "../../etc", RID)


def test_every_process_reads_its_own_release_static_root() -> None:
    env = scripts.django_env(CONFIG, "blog", "/srv/blog/slots/%i")
    assert "STATIC_ROOT=/srv/blog/slots/%i/.static" in env
    start = scripts.start_slot(P, "blue", RID, 30).render()
    assert "timeout 30 systemctl start djship-blog@blue.socket djship-blog@blue.service" in start
    assert "did not become ready within 30s" in start
    assert "raise sites.blog.health_timeout" in start
    # a release from before per-release static files falls back to the shared folder
    assert f"[ -e {P.release(RID)}/.static ] || ln -s /srv/blog/shared/static" in start


def test_check_sees_packages_in_nested_requirement_files(tmp_path: Path) -> None:
    from djship.settings.deps import declared

    (tmp_path / "requirements.txt").write_text("-r requirements/prod.txt\n")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/prod.txt").write_text("-r ../deps/base.txt\ngunicorn\n")
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps/base.txt").write_text("Django>=5.2\n-c ../pins.txt\n")
    (tmp_path / "pins.txt").write_text("sqlparse==0.5.0\n")
    assert declared(tmp_path, CONFIG.project) == {"gunicorn", "django"}  # pins are not deps


@pytest.mark.parametrize(("answer", "https", "status", "says"), [
    ("200 ", False, 0, ""),
    ("301 https://example.com/health/", False, 1, "SECURE_SSL_REDIRECT"),
    ("302 http://example.com/accounts/login/", False, 1, "a redirect to http://example.com/acc"),
    ("301 https://www.example.com/health/", True, 1, "a redirect to https://www.example.com"),
    ("500 ", False, 1, "answered HTTP 500 (wanted 2xx)"),
])
def test_health_gate_wants_2xx_and_explains_redirects(tmp_path: Path, answer: str, https: bool,
                                                      status: int, says: str) -> None:
    # The gate's shell loop itself, with curl and journalctl stubbed on PATH.
    (tmp_path / "curl").write_text(f"#!/bin/sh\nprintf '%s' '{answer}'\n")
    (tmp_path / "journalctl").write_text("#!/bin/sh\necho app log\n")
    for stub in ("curl", "journalctl"):
        (tmp_path / stub).chmod(0o755)
    text = scripts.health(P, "blue", "example.com", "/health/", 2, https=https).render()
    proc = subprocess.run(["bash", "-c", text], capture_output=True, text=True, timeout=20,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert proc.returncode == status, proc.stderr
    assert says in proc.stderr


def with_include(*globs: str) -> Config:
    """CONFIG with project.include set."""
    return validate({**CONFIG.model_dump(mode="json", exclude_defaults=True),
                     "project": {**CONFIG.project.model_dump(mode="json"),
                                 "include": list(globs)}})


def junk(root: Path) -> Path:
    """A project as a newcomer has it: a virtualenv or two, node_modules, bytecode, the
    dev database, a .env and its template, a key, all beside the code."""
    for folder in (".venv/lib/site-packages/django", "tools/py/bin", "node_modules/left-pad",
                   "app/__pycache__", "env/bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    files = {".venv/pyvenv.cfg": "home = /usr/bin\n", ".venv/lib/site-packages/django/x.py": "",
             "tools/py/pyvenv.cfg": "home = /usr/bin\n", "tools/py/bin/python": "",
             "tools/keep.py": "", "env/bin/activate": "", "node_modules/left-pad/i.js": "",
             "app/__init__.py": "", "app/__pycache__/x.cpython-311.pyc": "", "stray.pyc": "",
             "db.sqlite3": "", "data.db-journal": "", ".env": "SECRET_KEY=dev\n",
             ".env.production": "X=1\n", ".env.example": "SECRET_KEY=\n"}
    for rel, text in files.items():
        (root / rel).write_text(text)
    (root / "notes.db").write_bytes(b"SQLite format 3\0" + b"\0" * 84)
    (root / "cache.db").write_bytes(b"not sqlite")
    return root


SHIPPED = {"app.py", "manage.py", "requirements.txt", "app/__init__.py", "tools/keep.py",
           ".env.example", "cache.db"}


def warning_for(b: Build, label: str) -> str:
    """The one warning line that mentions ``label``."""
    (line,) = [w for w in b.warnings if label in w]
    return line


def test_outside_git_the_newcomers_junk_stays_home_and_each_kind_is_named_once(
        tmp_path: Path) -> None:
    b = build(junk(project(tmp_path)), CONFIG)
    assert set(b.files) == SHIPPED
    assert warning_for(b, "virtualenvs").startswith(
        "not shipped: virtualenvs .venv/, env/, tools/py/ ")
    assert "node_modules/" in warning_for(b, "node_modules folders")
    assert "app/__pycache__/, stray.pyc" in warning_for(b, "bytecode")
    sqlite = warning_for(b, "SQLite")
    assert "data.db-journal, db.sqlite3, notes.db" in sqlite and "cache.db" not in sqlite
    dotenv = warning_for(b, ".env files")
    assert ".env, .env.production" in dotenv and ".env.example" not in dotenv
    assert 'include = [".env"]' in dotenv and ".gitignore" not in dotenv
    assert len(b.warnings) == 5  # one line per kind, no secret-looking file ships


def test_in_git_untracked_junk_is_left_out_committed_files_ship(tmp_path: Path) -> None:
    root = junk(project(tmp_path))
    git(root, "init", "-q")
    git(root, "add", "manage.py", "requirements.txt", "app.py", "app/__init__.py")
    git(root, "add", "-f", "db.sqlite3", ".env")  # committed on purpose (or by mistake)
    git(root, "commit", "-qm", "init")
    b = build(root, CONFIG)
    assert set(b.files) == SHIPPED | {"db.sqlite3", ".env"}
    assert "db.sqlite3" not in warning_for(b, "SQLite")  # only the untracked ones
    assert warning_for(b, "SQLite").endswith("; or add them to .gitignore")
    assert ".env," not in warning_for(b, ".env files")
    secret = warning_for(b, "secret-looking")
    assert secret.startswith("shipping secret-looking files: .env:"), secret
    # Untracked files that ship make the release dirty; the left-out junk does not.
    (root / ".gitignore").write_text("tools/keep.py\n.env.example\ncache.db\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-qm", "ignore")
    clean = build(root, CONFIG)
    assert not clean.dirty and not [w for w in clean.warnings if "uncommitted" in w]


def test_a_gitignored_venv_is_not_mentioned(tmp_path: Path) -> None:
    root = junk(project(tmp_path))
    (root / ".gitignore").write_text(".venv/\nenv/\ntools/\nnode_modules/\n__pycache__/\n"
                                     "*.pyc\n*.db*\n*.sqlite3\n.env*\n!.env.example\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    b = build(root, CONFIG)
    assert set(b.files) == {"app.py", "manage.py", "requirements.txt", "app/__init__.py",
                            ".env.example", ".gitignore"}
    assert b.warnings == ()


def test_include_ships_what_is_left_out_by_default_and_silences_the_secret_warning(
        tmp_path: Path) -> None:
    root = junk(project(tmp_path))
    (root / "certs").mkdir()
    (root / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (root / "id_ed25519.pub").write_text("ssh-ed25519 AAAA\n")
    (root / "gcp-credentials.json").write_text("{}\n")
    warned = build(root, CONFIG)
    assert "certs/ca.pem, gcp-credentials.json" in warning_for(warned, "secret-looking")
    assert "id_ed25519.pub" not in warning_for(warned, "secret-looking")
    b = build(root, with_include("db.sqlite3", "node_modules", "certs/*.pem"))
    assert {"db.sqlite3", "node_modules/left-pad/i.js", "certs/ca.pem"} <= set(b.files)
    assert not [w for w in b.warnings if "node_modules" in w]
    assert "db.sqlite3" not in warning_for(b, "SQLite")
    assert "certs/ca.pem" not in warning_for(b, "secret-looking")


@pytest.mark.parametrize("glob", ["/etc/passwd", "../other", "", "a/../../b"])
def test_include_globs_stay_inside_the_project(glob: str) -> None:
    with pytest.raises(ConfigError) as exc:
        with_include(glob)
    assert "project.include" in "\n".join(exc.value.details())


def test_local_checks_key_ignores_static_assets_only(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "notes" / "static" / "notes").mkdir(parents=True)
    css = root / "notes" / "static" / "notes" / "site.css"
    css.write_text("body {}\n")
    first = build(root, CONFIG)
    css.write_text("body { color: red }\n")
    second = build(root, CONFIG)
    assert second.content_hash != first.content_hash  # it ships
    assert second.checked_hash == first.checked_hash  # no check reads it
    (root / "notes" / "static" / "notes" / "loader.py").write_text("x = 1\n")
    (root / "notes" / "templates").mkdir()
    (root / "notes" / "templates" / "page.html").write_text("{% load static %}\n")
    assert build(root, CONFIG).checked_hash != second.checked_hash  # code and templates do


@pytest.mark.parametrize(("rel", "is_asset"), [
    ("notes/static/notes/site.css", True), ("static/js/app.min.js", True),
    ("static/img/logo.PNG", True), ("assets/site.css", False), ("static/conf.py", False),
    ("notes/templates/static/x.html", False), ("mystatic/site.css", False)])
def test_what_counts_as_a_static_asset(rel: str, is_asset: bool) -> None:
    assert asset(rel) is is_asset


@pytest.mark.parametrize(("states", "active", "idle"), [
    ("active\nactive\nactive\nactive\n", True, False),  # the idle slot drains: no leftover
    ("active\nactive\nactive\ninactive\n", True, True),  # left running by a cut-short run
    ("failed\ninactive\ninactive\ninactive\n", False, False)])
def test_state_probe_runs_and_reads_units_in_one_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, states: str, active: bool,
        idle: bool) -> None:
    import subprocess

    from djship import paths

    monkeypatch.setattr(paths, "SRV_ROOT", str(tmp_path / "srv"))
    p = SitePaths("blog")
    (tmp_path / "srv" / "blog" / "releases" / RID).mkdir(parents=True)
    (tmp_path / "srv" / "blog" / "live-slot").write_text("blue\n")
    (tmp_path / "srv" / "blog" / "current").symlink_to(p.release(RID))
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls"
    (tmp_path / "states").write_text(states)
    (fake / "systemctl").write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        f'[ "$1" = is-active ] && cat {tmp_path / "states"}\nexit 3\n')
    (fake / "systemctl").chmod(0o755)
    out = subprocess.run(["bash", "-c", state.probe(p).render()], capture_output=True, text=True,
                         env={"PATH": f"{fake}:/usr/bin:/bin"}, check=True)
    st = state.parse(Result(0, out.stdout, out.stderr))
    assert st.current == RID and st.live_slot == "blue"
    assert st.slot_active is active and st.idle_active is idle
    assert st.incomplete == (RID,)  # no meta written: never completed
    assert len(calls.read_text().splitlines()) == 2  # is-active for all four, list-units
    assert "python3 -c" not in out.stderr


def test_health_warms_every_worker_at_once_after_the_first_answer(tmp_path: Path) -> None:
    import subprocess
    import time

    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls"
    # A curl that answers 200 after 0.4 s, noting each call.
    (fake / "curl").write_text(f'#!/bin/sh\necho x >> {calls}\nsleep 0.4\nprintf "200 "\n')
    (fake / "curl").chmod(0o755)
    script = scripts.health(P, "blue", "example.com", "/health/", 30, warm=4).render()
    began = time.monotonic()
    done = subprocess.run(["bash", "-c", script], env={"PATH": f"{fake}:/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert len(calls.read_text().splitlines()) == 1 + 4  # the check, then one per worker
    assert took < 0.4 * 4, took  # the warm-up requests went together, not one by one
    cold = scripts.health(P, "blue", "example.com", "/health/", 30).render()
    assert cold.count("curl ") == 1
