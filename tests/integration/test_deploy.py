"""`djship deploy` on a provisioned sandbox (issue 5): the page and static files, redeploys
and rollbacks under load with zero failed requests, bad releases refused while the old one
keeps serving, the deploy lock, and the no-op deploy.

One provisioned sandbox for the module; the tests run in file order, each starting from the
release the previous one left live (VERSION 1, 2, back to 1, 3).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from helpers import (
    DOMAIN,
    SITE,
    TRACEBACK,
    Loaded,
    Project,
    css_path,
    current_release,
    finish,
    loaded_around,
    make_project,
    post_entry,
    releases_listing,
    releases_on,
    request,
    version_served,
)

from djship.sandbox.records import SandboxInfo

LOAD_CLIENTS = 10
MIN_LOAD_SECONDS = 20.0
HEALTH_TIMEOUT = 12  # seconds djship waits for a bad release's health check


@pytest.fixture(scope="module")
def sandbox(warm_sandbox: SandboxInfo) -> SandboxInfo:
    """Packages preinstalled: this module is not about installing them (test_provision is)."""
    return warm_sandbox


@pytest.fixture(scope="module")
def project(sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example aimed at the sandbox, provisioned."""
    proj = make_project(tmp_path_factory.mktemp("deploy"), [sandbox])
    proj.write("djship.test.toml", proj.read("djship.test.toml")
               + f"\n[sites.{SITE}]\nhealth_timeout = {HEALTH_TIMEOUT}\n")
    proj.commit("test overlay")
    run = proj.provision()
    assert run.returncode == 0, str(run)
    return proj


@pytest.fixture(scope="module")
def deployed(project: Project, sandbox: SandboxInfo) -> str:
    """The first deploy (VERSION 1); returns its release id."""
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    assert TRACEBACK not in run.output
    return current_release(sandbox)


def under_load(sandbox: SandboxInfo, paths: list[str]) -> AbstractContextManager[Loaded]:
    """Run Load on ``paths`` around the block: 2 s before, and at least 20 s in all."""
    return loaded_around(sandbox.address, DOMAIN, paths, clients=LOAD_CLIENTS,
                         min_seconds=MIN_LOAD_SECONDS)


# Known src bug (see test_hashed_static_files_never_disappear_during_deploy): collectstatic
# deletes and rewrites the live release's hashed files in place, so a request for the CSS can
# get a 404 in that instant. Tolerated here (with a warning) so that the zero-downtime tests
# check everything else; set to False once the bug is fixed.
TOLERATE_STATIC_REWRITE_404 = False


def assert_no_failures(loaded: Loaded) -> None:
    """Every request under load succeeded, and there were many."""
    r = loaded.result
    assert r.total >= 100, r.summary()
    assert loaded.seconds >= MIN_LOAD_SECONDS
    static_404 = (r.failures == r.statuses.get("404", 0)
                  and all(e.startswith("/static/") and e.endswith("HTTP 404") for e in r.errors))
    if r.failures and TOLERATE_STATIC_REWRITE_404 and static_404:
        warnings.warn(f"static file 404s under load (collectstatic rewrite bug): {r.summary()}",
                      stacklevel=2)
        return
    assert r.failures == 0, r.summary()


def test_first_deploy_serves_page_form_and_static(deployed: str, sandbox: SandboxInfo) -> None:
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]+", deployed), deployed
    page = request(sandbox.address, "/")
    assert page.status == 200, page
    assert "<h1>Guestbook</h1>" in page.body and "VERSION 1</footer>" in page.body
    posted = post_entry(sandbox.address, "Ada", "signed by the deploy test")
    assert posted.status == 302, (posted.status, posted.body[:500])
    listed = request(sandbox.address, "/")
    assert "<strong>Ada</strong>" in listed.body
    assert "signed by the deploy test" in listed.body
    css = css_path(listed.body)
    assert re.search(r"/static/entries/site\.[0-9a-f]{12}\.css$", css), css
    served = request(sandbox.address, css)
    assert served.status == 200, served
    assert served.headers.get("server", "").startswith("nginx"), served.headers
    assert "body" in served.body or "{" in served.body
    cache = served.headers.get("cache-control", "")
    m = re.search(r"max-age=(\d+)", cache)
    assert m and int(m.group(1)) >= 30 * 24 * 3600, served.headers
    assert "expires" in served.headers
    # Unknown hosts get no site (nginx closes the connection or answers an error).
    try:
        stranger = request(sandbox.address, "/", host="stranger.test", timeout=5).status
    except OSError:
        stranger = 0
    assert stranger != 200


def test_redeploy_under_load_has_no_failed_requests(deployed: str, project: Project,
                                                   sandbox: SandboxInfo) -> None:
    css = css_path(request(sandbox.address, "/").body)
    project.set_version("2")
    with under_load(sandbox, ["/", css]) as loaded:
        run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    assert_no_failures(loaded)
    assert version_served(sandbox.address) == "2"
    assert current_release(sandbox) != deployed
    # Only Python code changed: the static files collected before still stand.
    assert "unchanged: no static input changed" in run.stderr, str(run)
    assert css_path(request(sandbox.address, "/").body) == css
    current, ids = releases_listing(project)
    assert current == current_release(sandbox) and deployed in ids


BROKEN_MIGRATION = '''from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("entries", "0001_initial")]
    operations = [migrations.RunSQL("SELECT * FROM no_such_table")]
'''


def break_migration(p: Project) -> None:
    p.write("entries/migrations/0002_broken.py", BROKEN_MIGRATION)


def break_import(p: Project) -> None:
    p.write("guestbook/wsgi.py", p.read("guestbook/wsgi.py").replace(
        "import os\n", "import os\n\nimport does_not_exist  # noqa: F401\n", 1))


def break_health(p: Project) -> None:
    text = p.read("entries/views.py")
    p.write("entries/views.py", text.replace(
        'return HttpResponse("ok", content_type="text/plain")',
        'return HttpResponse("sick", status=500, content_type="text/plain")'))


@pytest.mark.parametrize(("breaker", "steps"), [
    (break_migration, ("migrate",)),
    (break_import, ("start", "health")),
    (break_health, ("health",)),
], ids=["migration", "import-error", "health-500"])
def test_bad_release_is_refused_and_old_keeps_serving(
        breaker: Callable[[Project], None], steps: tuple[str, ...], project: Project,
        sandbox: SandboxInfo) -> None:
    live = current_release(sandbox)
    kept = releases_on(sandbox)
    listed_current, _ = releases_listing(project)
    version = version_served(sandbox.address)
    css = css_path(request(sandbox.address, "/").body)
    breaker(project)
    project.commit(f"broken: {breaker.__name__}")
    try:
        with under_load(sandbox, ["/", css]) as loaded:
            run = project.djship("deploy")
    finally:
        project.git("reset", "-q", "--hard", "HEAD~1")
    assert run.returncode != 0, str(run)
    assert TRACEBACK not in run.output
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert errors and any(f"step={s}" in errors[0] for s in steps), str(run)
    assert_no_failures(loaded)
    assert current_release(sandbox) == live
    assert releases_listing(project)[0] == listed_current == live
    assert releases_on(sandbox) == kept, "the failed release was not removed"
    assert version_served(sandbox.address) == version
    live_slot = sandbox.run(f"cat /srv/{SITE}/live-slot").stdout.strip()
    idle = "green" if live_slot == "blue" else "blue"
    state = sandbox.run(["systemctl", "is-active", f"djship-{SITE}@{idle}"], check=False)
    assert state.stdout.strip() != "active", "the failed release's slot is still running"
    assert sandbox.run(f"test -e /srv/{SITE}/.lock", check=False).returncode != 0


def test_rollback_under_load(deployed: str, project: Project, sandbox: SandboxInfo) -> None:
    before, ids = releases_listing(project)
    assert version_served(sandbox.address) == "2"
    previous = sorted(ids)[sorted(ids).index(before) - 1]
    assert previous == deployed
    css = css_path(request(sandbox.address, "/").body)
    with under_load(sandbox, ["/", css]) as loaded:
        run = project.djship("rollback")
    assert run.returncode == 0, str(run)
    assert_no_failures(loaded)
    assert version_served(sandbox.address) == "1"
    after, after_ids = releases_listing(project)
    assert after == previous != before
    assert sorted(after_ids) == sorted(ids)
    assert current_release(sandbox) == previous


def test_two_deploys_at_once_one_wins(deployed: str, project: Project,
                                      sandbox: SandboxInfo) -> None:
    project.set_version("3")
    # Each process gets its own (short: socket paths are limited) TMPDIR, hence its own ssh
    # control socket; a shared one is a separate bug, see
    # test_refused_deploy_does_not_break_the_running_one.
    tmpdirs = [tempfile.mkdtemp(prefix="dj") for _ in range(2)]
    try:
        procs = [project.start("deploy", env={"TMPDIR": d}) for d in tmpdirs]
        runs = [finish(p) for p in procs]
    finally:
        for d in tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    ok = [r for r in runs if r.returncode == 0]
    refused = [r for r in runs if r.returncode != 0]
    assert len(ok) == 1 and len(refused) == 1, "\n\n".join(map(str, runs))
    assert "another deploy is running" in refused[0].stderr, refused[0]
    assert TRACEBACK not in refused[0].output
    # Only the new release is served: every answer says VERSION 3.
    versions = {version_served(sandbox.address) for _ in range(30)}
    assert versions == {"3"}
    assert sandbox.run(f"test -e /srv/{SITE}/.lock", check=False).returncode != 0


def test_stale_lock_refuses_then_lock_release_clears_it(project: Project,
                                                        sandbox: SandboxInfo) -> None:
    sandbox.run(f"mkdir /srv/{SITE}/.lock && echo 'ghost@elsewhere pid 1' "
                f"> /srv/{SITE}/.lock/holder")
    try:
        refused = project.djship("deploy")
        assert refused.returncode != 0, refused
        assert "another deploy is running" in refused.stderr, refused
        assert "ghost@elsewhere" in refused.stderr, refused
        assert any(ln.startswith("hint:") and "lock release" in ln
                   for ln in refused.stderr.splitlines()), refused
    finally:
        released = project.djship("lock", "release")
    assert released.returncode == 0, str(released)
    assert sandbox.run(f"test -e /srv/{SITE}/.lock", check=False).returncode != 0
    again = project.djship("deploy")
    assert again.returncode == 0, str(again)


def test_noop_redeploy_says_nothing_changed(project: Project, sandbox: SandboxInfo) -> None:
    live = current_release(sandbox)
    kept = releases_on(sandbox)
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    assert "nothing changed" in run.stderr, str(run)
    assert current_release(sandbox) == live and releases_on(sandbox) == kept
    assert version_served(sandbox.address) == "3"


SLOW_MIGRATION = '''from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("entries", "0001_initial")]
    operations = [migrations.RunSQL("SELECT pg_sleep(10)", migrations.RunSQL.noop)]
'''


def test_refused_deploy_does_not_break_the_running_one(project: Project,
                                                       sandbox: SandboxInfo) -> None:
    live = current_release(sandbox)
    project.write("entries/migrations/0002_slow.py", SLOW_MIGRATION)
    project.commit("a migration that takes 10 s")
    try:
        first = project.start("deploy")
        deadline = time.monotonic() + 120
        while "step=migrate" not in sandbox.run(  # wait until the migration is running
                "pgrep -f 'manage.py migrat[e] --noinput' >/dev/null && echo step=migrate",
                check=False).stdout:
            assert time.monotonic() < deadline and first.poll() is None, "no migrate seen"
            time.sleep(0.3)
        second = project.djship("deploy")
        assert second.returncode != 0 and "another deploy is running" in second.stderr, \
            str(second)
        done = finish(first)
    finally:
        project.git("reset", "-q", "--hard", "HEAD~1")
    if done.returncode != 0:  # put the site back to a state the next tests expect
        project.djship("lock", "release")
    assert done.returncode == 0, str(done)
    assert current_release(sandbox) != live


PROBE = """
import os, sys, time
path, stop = sys.argv[1], sys.argv[2]
misses = checks = 0
end = time.monotonic() + 240
while not os.path.exists(stop) and time.monotonic() < end:
    checks += 1
    if not os.path.exists(path):
        misses += 1
print(misses, checks)
"""


def test_hashed_static_files_never_disappear_during_deploy(project: Project,
                                                           sandbox: SandboxInfo) -> None:
    css = css_path(request(sandbox.address, "/").body)
    on_disk = f"/srv/{SITE}/shared/static/" + css.split("/static/", 1)[1]
    sandbox.run(["test", "-f", on_disk])
    sandbox.run(["rm", "-f", "/tmp/static-probe.stop", "/tmp/static-probe.out"])
    sandbox.run(["systemd-run", "--unit", "djship-test-static-probe", "--collect", "sh", "-c",
                 f"python3 -c '{PROBE}' {on_disk} /tmp/static-probe.stop "
                 "> /tmp/static-probe.out"])
    try:
        time.sleep(1)
        project.set_version("4")
        sheet = "entries/static/entries/site.css"
        project.write(sheet, project.read(sheet) + "\n/* release 4 */\n")
        project.commit("release 4: a new stylesheet")
        run = project.djship("deploy")
    finally:
        sandbox.run("touch /tmp/static-probe.stop; for i in $(seq 1 20); do "
                    "systemctl is-active -q djship-test-static-probe || break; sleep 0.5; done",
                    check=False)
    assert run.returncode == 0, str(run)
    misses, checks = map(int, sandbox.run("cat /tmp/static-probe.out").stdout.split())
    assert checks > 10000
    assert misses == 0, f"{on_disk} was missing in {misses} of {checks} checks during a deploy"
    # The stylesheet changed, so static files were collected and the page names the new one.
    assert "unchanged: no static input" not in run.stderr, str(run)
    new_css = css_path(request(sandbox.address, "/").body)
    assert new_css != css and "release 4" in request(sandbox.address, new_css).body
    # Each release reads its own manifest of hashed names: a rollback names its own sheet.
    four = current_release(sandbox)
    back = project.djship("rollback")
    assert back.returncode == 0, str(back)
    assert css_path(request(sandbox.address, "/").body) == css
    forward = project.djship("rollback", four)
    assert forward.returncode == 0, str(forward)
    assert css_path(request(sandbox.address, "/").body) == new_css



def test_rollback_inside_the_drain_keeps_serving(project: Project, sandbox: SandboxInfo) -> None:
    """The old slot stops after a drain on the server; starting it again cancels that stop."""
    project.set_version("5")
    run = project.djship("deploy")
    assert run.returncode == 0, str(run)
    assert "stops after a" in run.stderr, str(run)
    back = project.djship("rollback")  # at once: the old slot's delayed stop is pending
    assert back.returncode == 0, str(back)
    time.sleep(6)  # past the drain of both the deploy and the rollback
    live = sandbox.run(f"cat /srv/{SITE}/live-slot").stdout.strip()
    idle = "green" if live == "blue" else "blue"
    states = sandbox.run(["systemctl", "is-active", f"djship-{SITE}@{live}",
                          f"djship-{SITE}@{idle}"], check=False).stdout.split()
    assert states == ["active", "inactive"], states
    assert version_served(sandbox.address) == "4"
    leftovers = sandbox.run(["systemctl", "list-units", "--all", "--no-legend",
                             f"djship-{SITE}-retire-*"]).stdout
    assert leftovers.strip() == "", leftovers

def test_sqlite_site(deployed: str, sandbox: SandboxInfo,
                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """A second site on the same server, on SQLite in its shared data folder."""
    proj = make_project(tmp_path_factory.mktemp("sqlite"), [sandbox])
    config = proj.read("djship.toml").replace("[sites.guestbook]", "[sites.notes]").replace(
        '"guestbook.test"', '"notes.test"').replace('database = "postgres"',
                                                    'database = "sqlite"')
    config = config.replace("[sites.guestbook.env]", "[sites.notes.env]\n"
                            'DATABASE_URL = "sqlite:////srv/notes/shared/data/db.sqlite3"')
    proj.write("djship.toml", config)
    proj.commit("notes: a sqlite site")
    guestbook_version = version_served(sandbox.address)
    provision = proj.provision()
    assert provision.returncode == 0, str(provision)
    assert sandbox.run("getent passwd djship-notes", check=False).returncode == 0
    run = proj.djship("deploy")
    assert run.returncode == 0, str(run)
    page = request(sandbox.address, "/", host="notes.test")
    assert page.status == 200 and "VERSION 1</footer>" in page.body, page
    posted = post_entry(sandbox.address, "Grace", "kept in sqlite", host="notes.test")
    assert posted.status == 302, (posted.status, posted.body[:300])
    assert "<strong>Grace</strong>" in request(sandbox.address, "/", host="notes.test").body
    assert sandbox.run("test -s /srv/notes/shared/data/db.sqlite3", check=False).returncode == 0
    # The guestbook site next door is untouched.
    assert version_served(sandbox.address) == guestbook_version

