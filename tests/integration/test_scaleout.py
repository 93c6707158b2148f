"""Scale out (issue 8): several sites on one server, one site on several servers.

Five warm sandboxes for the whole module, set up in two groups that run at the same time:

- ``solo`` carries two sites from two copies of the example project, ``shop`` and
  ``shop-staging`` (one name a prefix of the other, as real pairs are), each with local
  PostgreSQL (item 1).
- ``lb``, ``web1`` (web + worker), ``web2`` (web) and ``db`` carry the site ``guestbook``
  (items 2-4); the same config has a second site, ``notes``, on ``solo`` with its database on
  ``db`` too, so the database host serves two sites' hosts. The project copy gets the small
  ``tasks`` app from ``scaleout_app/`` (a database-backed queue, its worker, a scheduled job
  and a page naming the host that answered); ``examples/guestbook`` is not changed.

The tests run in file order and build on each other's state (versions 1, 2, then a refused 3).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from acme import Pebble, Ports, running_pebble
from helpers import (
    DJSHIP,
    TRACEBACK,
    Loaded,
    Project,
    Run,
    css_path,
    djship_env,
    finish,
    loaded_around,
    make_project,
    post_entry,
    request,
)

from djship.sandbox.records import SandboxInfo
from djship.sandbox.testing import SandboxFactory

APP = Path(__file__).parent / "scaleout_app" / "tasks"
SITE, DOMAIN = "guestbook", "guestbook.test"
NOTES = "notes"
SHOP, STAGING = "shop", "shop-staging"
JOB_UNIT = f"djship-{SITE}-job-tick"
JOB_SECONDS = 8  # each run of the job takes 8 s ...
JOB_SCHEDULE = "*:*:0/5"  # ... and the timer fires every 5 s: runs would overlap if allowed
WORKERS = 2
HEALTH_TIMEOUT = 15
LOAD_CLIENTS = 8
MIN_LOAD_SECONDS = 15.0
KEEP = 2  # releases kept: the third successful deploy (TLS on, at the end) prunes one


# --- the sandboxes and projects -----------------------------------------------------------

@dataclass(frozen=True)
class Boxes:
    """The module's five sandboxes."""

    lb: SandboxInfo
    web1: SandboxInfo
    web2: SandboxInfo
    db: SandboxInfo
    solo: SandboxInfo


def add_tasks_app(project: Project) -> None:
    """Copy the test-only ``tasks`` app into a project copy and wire it in."""
    shutil.copytree(APP, project.root / "tasks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    settings = project.read("guestbook/settings.py")
    assert '"entries",\n]' in settings
    project.write("guestbook/settings.py", settings.replace('"entries",\n]',
                                                            '"entries",\n    "tasks",\n]'))
    urls = project.read("guestbook/urls.py")
    urls = urls.replace("from django.urls import path", "from django.urls import include, path")
    urls = urls.replace('    path("admin/"', '    path("tasks/", include("tasks.urls")),\n'
                                             '    path("admin/"')
    assert "tasks.urls" in urls
    project.write("guestbook/urls.py", urls)


def multi_overlay(boxes: Boxes) -> str:
    """djship.test.toml of the several-server project: four hosts for guestbook, and notes."""
    return "\n".join([
        boxes.lb.host_entry(["lb"]), boxes.web1.host_entry(["web", "worker"]),
        boxes.web2.host_entry(["web"]), boxes.db.host_entry(["db"]),
        boxes.solo.host_entry(["web"]),
        f"""
[sites.{SITE}]
hosts = ["{boxes.lb.name}", "{boxes.web1.name}", "{boxes.web2.name}", "{boxes.db.name}"]
health_path = "/tasks/health/"
health_timeout = {HEALTH_TIMEOUT}
keep_releases = {KEEP}

[sites.{SITE}.processes.queue]
command = "manage.py work"
instances = {WORKERS}

[sites.{SITE}.jobs.tick]
command = "manage.py tick {JOB_SECONDS}"
schedule = "{JOB_SCHEDULE}"

[sites.{NOTES}]
domains = ["notes.test"]
hosts = ["{boxes.solo.name}", "{boxes.db.name}"]
health_path = "/health/"
"""])


def setup_multi(boxes: Boxes, base: Path) -> Project:
    """guestbook on lb/web1/web2/db (and notes on solo + db): provisioned, VERSION 1 live."""
    proj = make_project(base, [])
    add_tasks_app(proj)
    proj.write("djship.test.toml", multi_overlay(boxes))
    proj.commit("scale-out: tasks app, four hosts, a worker and a job")
    run = proj.provision()
    assert run.returncode == 0, str(run)
    run = proj.djship("deploy", "--site", SITE)
    assert run.returncode == 0, str(run)
    assert TRACEBACK not in run.output
    return proj


def site_project(base: Path, box: SandboxInfo, site: str) -> Project:
    """A copy of the example renamed to ``site`` (domain SITE.test, its own GREETING)."""
    proj = make_project(base, [box], roles=("web", "db"))
    config = proj.read("djship.toml")
    for table in ("", ".env"):
        config = config.replace(f"[sites.guestbook{table}]", f"[sites.{site}{table}]")
    config = config.replace('"guestbook.test"', f'"{site}.test"')
    config = config.replace('GREETING = "hello from the guestbook"', f'GREETING = "hello from {site}"')
    assert f"[sites.{site}.env]" in config and f"hello from {site}" in config
    proj.write("djship.toml", config)
    proj.commit(f"the {site} site")
    return proj


def setup_two_sites(box: SandboxInfo, base: Path) -> dict[str, Project]:
    """shop and shop-staging on one server: provisioned in turn, first deploys at once."""
    projects = {s: site_project(base / s, box, s) for s in (SHOP, STAGING)}
    for proj in projects.values():
        run = proj.provision()
        assert run.returncode == 0, str(run)
    runs = [finish(p) for p in [proj.start("deploy") for proj in projects.values()]]
    for run in runs:
        assert run.returncode == 0, str(run)
    return projects


@pytest.fixture(scope="module")
def boxes(warm_factory: SandboxFactory) -> Boxes:
    return Boxes(*warm_factory.many(5))


@pytest.fixture(scope="module")
def setups(boxes: Boxes, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Future[object]]]:
    """Both groups' provision and first deploys, started together (they share no host)."""
    base = tmp_path_factory.mktemp("scaleout")
    for sub in ("multi", SHOP, STAGING):
        (base / sub).mkdir()
    with ThreadPoolExecutor(2) as pool:
        yield {"multi": pool.submit(setup_multi, boxes, base / "multi"),
               "two": pool.submit(setup_two_sites, boxes.solo, base)}


@pytest.fixture(scope="module")
def multi(setups: dict[str, Future[object]]) -> Project:
    proj = setups["multi"].result()
    assert isinstance(proj, Project)
    return proj


@pytest.fixture(scope="module")
def two_sites(setups: dict[str, Future[object]]) -> dict[str, Project]:
    projects = setups["two"].result()
    assert isinstance(projects, dict)
    return projects


# --- helpers --------------------------------------------------------------------------------

def under_load(address: str, host: str, paths: list[str]) -> AbstractContextManager[Loaded]:
    """Bounded load on ``paths`` around the block: 2 s before, at least 15 s in all."""
    return loaded_around(address, host, paths, clients=LOAD_CLIENTS,
                         min_seconds=MIN_LOAD_SECONDS)


def assert_no_failures(loaded: Loaded) -> None:
    """Every request succeeded, and there were many."""
    r = loaded.result
    assert r.total >= 100, r.summary()
    assert r.failures == 0, r.summary()


def get_json(address: str, path: str, host: str = DOMAIN) -> dict[str, object]:
    """GET a JSON page of the tasks app."""
    resp = request(address, path, host=host)
    assert resp.status == 200, (resp.status, resp.body[:500])
    data = json.loads(resp.body)
    assert isinstance(data, dict)
    return data


def whoami(address: str) -> dict[str, str]:
    """The host, release, VERSION and scheme that answered."""
    return {k: str(v) for k, v in get_json(address, "/tasks/whoami/").items()}


def version_of(address: str, host: str) -> str:
    """The VERSION marker on a site's index page."""
    page = request(address, "/", host=host)
    assert page.status == 200, (page.status, page.body[:300])
    m = re.search(r"VERSION (\S+)</footer>", page.body)
    assert m, page.body[-300:]
    return m.group(1)


def current_release(box: SandboxInfo, site: str = SITE) -> str:
    """The release folder ``current`` points at."""
    return box.run(f"readlink -f /srv/{site}/current").stdout.strip()


def enqueue(address: str, payload: str) -> int:
    """Put a job in the queue through the web app."""
    resp = request(address, "/tasks/enqueue/", method="POST", body=urlencode(
        {"payload": payload}), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, (resp.status, resp.body[:500])
    return int(json.loads(resp.body)["id"])


def wait_done(address: str, task: int, seconds: float = 60) -> dict[str, object]:
    """Poll the job until a worker has done it."""
    deadline = time.monotonic() + seconds
    while True:
        data = get_json(address, f"/tasks/{task}/")
        if data["done"] or time.monotonic() > deadline:
            return data
        time.sleep(0.5)


def worker_units(box: SandboxInfo) -> dict[str, tuple[int, str]]:
    """Active worker instances on a host: unit -> (main PID, the release it runs in)."""
    out: dict[str, tuple[int, str]] = {}
    listing = box.run(f"systemctl list-units --plain --no-legend --state=active "
                      f"'djship-{SITE}-queue@*.service'", check=False).stdout
    for line in listing.splitlines():
        unit = line.split()[0]
        pid = int(box.run(["systemctl", "show", "-P", "MainPID", unit]).stdout.strip())
        cwd = box.run(f"readlink /proc/{pid}/cwd", check=False).stdout.strip()
        out[unit] = (pid, cwd)
    return out


def job_runs(address: str) -> list[dict[str, Any]]:
    """Every recorded run of the scheduled job, by start time."""
    runs = get_json(address, "/tasks/runs/")["runs"]
    assert isinstance(runs, list)
    return runs


def assert_no_overlap(runs: list[dict[str, Any]]) -> None:
    """Each run started after the one before it had finished."""
    for before, after in itertools.pairwise(runs):
        assert before["finished"] is not None, f"run {before} never finished but {after} began"
        assert after["started"] >= before["finished"], (before, after)


def env_value(box: SandboxInfo, site: str, key: str) -> str:
    """One value of a site's env file on a server (read as root, for assertions)."""
    for line in box.run(["cat", f"/etc/djship/{site}.env"]).stdout.splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip().strip('"')
    raise AssertionError(f"{key} not in {site}'s env file on {box.name}")


def psql_from(box: SandboxInfo, url: str) -> subprocess.CompletedProcess[str]:
    """Connect from ``box`` to the database in ``url`` (password on stdin, 5 s timeout)."""
    u = urlsplit(url)
    script = (f"export PGCONNECT_TIMEOUT=5 PGPASSWORD='{u.password}'\n"
              f"psql -h {u.hostname} -p {u.port or 5432} -U {u.username} "
              f"-d {u.path.lstrip('/')} -XtAc 'select current_user'\n")
    return box.run("bash -s", stdin=script, check=False, timeout=60)


def units_of(box: SandboxInfo, site: str) -> list[str]:
    """Every loaded unit of a site (app slots, workers, jobs), by its description."""
    out = box.run("systemctl list-units --all --plain --no-legend 'djship-*'").stdout
    return sorted(line.split()[0] for line in out.splitlines()
                  if f" djship {site}: " in line)


def unit_files_of(box: SandboxInfo, site: str) -> list[str]:
    """The unit files of a site, by their description."""
    out = box.run(f"grep -l '^Description=djship {site}: ' /etc/systemd/system/djship-* "
                  "2>/dev/null || true").stdout
    return sorted(out.split())


# --- item 1: two sites on one server ---------------------------------------------------------

def test_two_sites_on_one_server_each_serve_their_own_pages(two_sites: dict[str, Project],
                                                           boxes: Boxes) -> None:
    solo = boxes.solo
    for site in (SHOP, STAGING):
        host = f"{site}.test"
        assert version_of(solo.address, host) == "1"
        greeting = request(solo.address, "/greeting/", host=host)
        assert (greeting.status, greeting.body) == (200, f"hello from {site}")
    # Separate databases: an entry signed on one site is not on the other.
    posted = post_entry(solo.address, "Ada", "only on shop", host="shop.test")
    assert posted.status == 302, (posted.status, posted.body[:300])
    assert "only on shop" in request(solo.address, "/", host="shop.test").body
    assert "only on shop" not in request(solo.address, "/", host="shop-staging.test").body
    # Each site has its own user, folder, env file, database URL, units and server block.
    urls = {}
    for site in (SHOP, STAGING):
        solo.run(["getent", "passwd", f"djship-{site}"])
        solo.run(["test", "-L", f"/srv/{site}/current"])
        solo.run(["test", "-f", f"/etc/nginx/sites-enabled/djship-{site}.conf"])
        assert solo.run(["stat", "-c", "%a %U", f"/etc/djship/{site}.env"]).stdout.split() == \
            ["600", "root"]
        urls[site] = urlsplit(env_value(solo, site, "DATABASE_URL"))
        slot = solo.run(["cat", f"/srv/{site}/live-slot"]).stdout.strip()
        pid = solo.run(["systemctl", "show", "-P", "MainPID",
                        f"djship-{site}@{slot}.service"]).stdout.strip()
        owner = solo.run(["ps", "-o", "user=", "-p", pid]).stdout.strip()
        assert owner == f"djship-{site}"
    assert urls[SHOP].path != urls[STAGING].path and urls[SHOP].username != urls[STAGING].username
    assert urls[SHOP].password != urls[STAGING].password


BROKEN_MIGRATION = '''from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("entries", "0001_initial")]
    operations = [migrations.RunSQL("SELECT * FROM no_such_table")]
'''


def test_failing_deploy_of_one_site_leaves_the_other_serving(two_sites: dict[str, Project],
                                                            boxes: Boxes) -> None:
    solo, staging = boxes.solo, two_sites[STAGING]
    shop_release = current_release(solo, SHOP)
    staging_release = current_release(solo, STAGING)
    css = css_path(request(solo.address, "/", host="shop.test").body)
    staging.set_version("2")
    staging.write("entries/migrations/0002_broken.py", BROKEN_MIGRATION)
    staging.commit("broken migration")
    with under_load(solo.address, "shop.test", ["/", css]) as loaded:
        run = staging.djship("deploy")
    assert run.returncode != 0, str(run)
    assert TRACEBACK not in run.output
    assert any(ln.startswith("error:") and "step=migrate" in ln
               for ln in run.stderr.splitlines()), str(run)
    assert_no_failures(loaded)
    assert current_release(solo, SHOP) == shop_release
    assert current_release(solo, STAGING) == staging_release
    assert version_of(solo.address, "shop-staging.test") == "1"
    staging.git("reset", "-q", "--hard", "HEAD~1")


def test_site_remove_asks_first(two_sites: dict[str, Project], boxes: Boxes) -> None:
    shop = two_sites[SHOP]
    argv = [DJSHIP, "-C", str(shop.root), "-e", "test", "site", "remove", SHOP]
    done = subprocess.run(argv, input="n\n", capture_output=True, text=True, timeout=120,
                          env=djship_env(), check=False)
    assert done.returncode != 0 and "aborted" in done.stderr.lower(), done
    assert version_of(boxes.solo.address, "shop.test") == "1"


def test_site_remove_leaves_the_other_site_intact(two_sites: dict[str, Project],
                                                  boxes: Boxes) -> None:
    solo, shop = boxes.solo, two_sites[SHOP]
    staging_units, staging_files = units_of(solo, STAGING), unit_files_of(solo, STAGING)
    assert units_of(solo, SHOP) and staging_units and staging_files
    staging_slot = solo.run(f"cat /srv/{STAGING}/live-slot").stdout.strip()
    css = css_path(request(solo.address, "/", host="shop-staging.test").body)
    with under_load(solo.address, "shop-staging.test", ["/", css]) as loaded:
        run = shop.djship("site", "remove", SHOP, "--yes")
    assert run.returncode == 0, str(run)
    assert_no_failures(loaded)
    # shop is gone from the server: units, unit files, nginx block, code.
    assert units_of(solo, SHOP) == [] and unit_files_of(solo, SHOP) == []
    for path in (f"/etc/nginx/sites-enabled/djship-{SHOP}.conf",
                 f"/etc/nginx/sites-available/djship-{SHOP}.conf",
                 f"/srv/{SHOP}/releases", f"/srv/{SHOP}/current"):
        assert solo.run(["test", "-e", path], check=False).returncode != 0, path
    try:
        gone = request(solo.address, "/", host="shop.test", timeout=5).status
    except OSError:
        gone = 0
    assert gone != 200
    # ... but its data is kept: database, env file, backups.
    dbs = solo.run("runuser -u postgres -- psql -XtAc 'select datname from pg_database'"
                   ).stdout.split()
    assert "shop" in dbs and "shop_staging" in dbs
    solo.run(["test", "-f", f"/etc/djship/{SHOP}.env"])
    solo.run(["test", "-d", f"/srv/{SHOP}/shared/backups"])
    # shop-staging, whose name starts with "shop-", is untouched.
    assert units_of(solo, STAGING) == staging_units
    assert unit_files_of(solo, STAGING) == staging_files
    assert solo.run(["systemctl", "is-active", f"djship-{STAGING}@{staging_slot}"]
                    ).stdout.strip() == "active"
    assert version_of(solo.address, "shop-staging.test") == "1"
    solo.run(["test", "-f", f"/etc/nginx/sites-enabled/djship-{STAGING}.conf"])


# --- item 2: one site on lb, two web hosts and a db host --------------------------------------

def test_pages_are_served_through_the_lb_by_both_web_hosts(multi: Project, boxes: Boxes) -> None:
    lb = boxes.lb.address
    page = request(lb, "/")
    assert page.status == 200 and "<h1>Guestbook</h1>" in page.body, page
    css = request(lb, css_path(page.body))
    assert css.status == 200 and "immutable" in css.headers.get("cache-control", ""), css.headers
    answered = {whoami(lb)["host"] for _ in range(20)}
    assert answered == {boxes.web1.name, boxes.web2.name}
    # Static files were collected on each web host, where its nginx serves them.
    for box in (boxes.web1, boxes.web2):
        assert request(box.address, css_path(page.body)).status == 200
    posted = post_entry(lb, "Grace", "through the load balancer")
    assert posted.status == 302, (posted.status, posted.body[:300])
    for box in (boxes.web1, boxes.web2):  # one database behind both
        assert "through the load balancer" in request(box.address, "/").body


def test_postgres_on_the_db_host_refuses_hosts_outside_the_site(multi: Project,
                                                               boxes: Boxes) -> None:
    url = env_value(boxes.web1, SITE, "DATABASE_URL")
    assert urlsplit(url).hostname == boxes.db.address
    for box in (boxes.web1, boxes.web2):
        ok = psql_from(box, url)
        assert (ok.returncode, ok.stdout.strip()) == (0, SITE), ok.stderr
    # solo is not a host of guestbook (it hosts notes, whose database is on db too).
    outsider = psql_from(boxes.solo, url)
    assert outsider.returncode != 0 and "no pg_hba.conf entry" in outsider.stderr, outsider
    # The load balancer is in the site but is no database client: the firewall drops it.
    dropped = psql_from(boxes.lb, url)
    assert dropped.returncode != 0 and "timeout expired" in dropped.stderr, dropped
    # The db host's firewall lets in the union of both sites' hosts: solo reaches notes.
    notes = psql_from(boxes.solo, env_value(boxes.solo, NOTES, "DATABASE_URL"))
    assert (notes.returncode, notes.stdout.strip()) == (0, NOTES), notes.stderr
    rules = boxes.db.run("nft list table inet djship").stdout
    addrs = {a for line in rules.splitlines() if "dport 5432" in line
             for a in re.findall(r"\d+\.\d+\.\d+\.\d+", line)}
    assert addrs == {boxes.web1.address, boxes.web2.address, boxes.solo.address}, rules
    hba = boxes.db.run("cat /etc/postgresql/*/main/pg_hba.conf").stdout
    assert f"host {SITE} {SITE} {boxes.web1.address}/32 scram-sha-256" in hba
    assert f"host {NOTES} {NOTES} {boxes.solo.address}/32 scram-sha-256" in hba
    assert f"{SITE} {SITE} {boxes.solo.address}" not in hba


def test_forwarded_proto_is_believed_only_from_the_lb(multi: Project, boxes: Boxes) -> None:
    forged = {"X-Forwarded-Proto": "https"}
    direct = json.loads(request(boxes.web1.address, "/tasks/whoami/", headers=forged).body)
    assert direct["scheme"] == "http"
    via_lb = json.loads(request(boxes.lb.address, "/tasks/whoami/", headers=forged).body)
    assert via_lb["scheme"] == "http"  # the lb sets the header from its own connection
    curl = (f"curl -s -H 'Host: {DOMAIN}' -H 'X-Forwarded-Proto: https' "
            f"http://{boxes.web1.address}/tasks/whoami/")
    assert json.loads(boxes.lb.run(curl).stdout)["scheme"] == "https"
    assert json.loads(boxes.solo.run(curl).stdout)["scheme"] == "http"


def test_lb_fails_over_when_one_web_app_stops(multi: Project, boxes: Boxes) -> None:
    web2 = boxes.web2
    slot = web2.run(f"cat /srv/{SITE}/live-slot").stdout.strip()
    unit = f"djship-{SITE}@{slot}.service"
    try:
        with under_load(boxes.lb.address, DOMAIN, ["/", "/tasks/whoami/"]) as loaded:
            # The socket too: left listening, it would start the app at the next request.
            web2.run(["systemctl", "stop", f"djship-{SITE}@{slot}.socket", unit])
            assert request(web2.address, "/").status == 502  # web2 really is down
            time.sleep(5)
            answered = {whoami(boxes.lb.address)["host"] for _ in range(10)}
        assert answered == {boxes.web1.name}
        assert_no_failures(loaded)
    finally:
        web2.run(["systemctl", "start", unit])
    deadline = time.monotonic() + 60  # the lb tries web2 again after fail_timeout (10 s)
    while boxes.web2.name not in {whoami(boxes.lb.address)["host"] for _ in range(6)}:
        assert time.monotonic() < deadline, "the lb never sent traffic to web2 again"
        time.sleep(1)


# --- items 2-4 together: a redeploy under load through the lb -----------------------------------

@dataclass
class Redeploy:
    """Before and after VERSION 2 was deployed under load."""

    run: Run
    loaded: Loaded
    workers_before: dict[str, tuple[int, str]]
    workers_after: dict[str, tuple[int, str]]
    releases: dict[str, str]


@pytest.fixture(scope="module")
def redeployed(multi: Project, boxes: Boxes) -> Redeploy:
    before = worker_units(boxes.web1)
    multi.set_version("2")
    with under_load(boxes.lb.address, DOMAIN, ["/", "/tasks/whoami/"]) as loaded:
        run = multi.djship("deploy", "--site", SITE)
    return Redeploy(run, loaded, before, worker_units(boxes.web1),
                    {b.name: current_release(b) for b in (boxes.web1, boxes.web2)})


def test_redeploy_under_load_through_the_lb(redeployed: Redeploy, boxes: Boxes) -> None:
    assert redeployed.run.returncode == 0, str(redeployed.run)
    assert_no_failures(redeployed.loaded)
    # The server's check (and migrations, when pending) ran once, on one host: here only
    # application code changed, so the check says it was skipped and nothing migrates.
    server_checks = re.findall(r"^(?!local\s)\S+\s+check\s", redeployed.run.stderr, re.M)
    assert len(server_checks) == 1, redeployed.run.stderr
    assert len(re.findall(r"^\S+\s+migrate\s", redeployed.run.stderr, re.M)) <= 1, \
        redeployed.run.stderr
    for box in (boxes.web1, boxes.web2):
        seen = json.loads(request(box.address, "/tasks/whoami/").body)
        assert seen["version"] == "2" and seen["release"] == redeployed.releases[box.name]
    assert len(set(Path(r).name for r in redeployed.releases.values())) == 1


def test_switch_happens_only_when_every_web_host_is_healthy(redeployed: Redeploy,
                                                            multi: Project, boxes: Boxes) -> None:
    live = {b.name: current_release(b) for b in (boxes.web1, boxes.web2)}
    boxes.web2.run("touch /etc/djship-test-sick-3")  # VERSION 3 fails its health check on web2
    try:
        multi.set_version("3")
        with under_load(boxes.lb.address, DOMAIN, ["/", "/tasks/whoami/"]) as loaded:
            run = multi.djship("deploy", "--site", SITE)
    finally:
        boxes.web2.run("rm -f /etc/djship-test-sick-3")
        multi.git("reset", "-q", "--hard", "HEAD~1")
    assert run.returncode != 0, str(run)
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert errors and "step=health" in errors[0] and boxes.web2.name in errors[0], str(run)
    assert_no_failures(loaded)
    # web1's new release was healthy, yet neither host switched.
    assert {b.name: current_release(b) for b in (boxes.web1, boxes.web2)} == live
    assert {whoami(boxes.lb.address)["version"] for _ in range(10)} == {"2"}


# --- item 3: a worker process ---------------------------------------------------------------------

def test_worker_runs_on_the_worker_host_only(redeployed: Redeploy, boxes: Boxes) -> None:
    assert sorted(redeployed.workers_after) == [f"djship-{SITE}-queue@{i}.service"
                                                for i in range(1, WORKERS + 1)]
    assert worker_units(boxes.web2) == {}
    assert boxes.web2.run(f"test -e /etc/systemd/system/djship-{SITE}-queue@.service",
                          check=False).returncode != 0


def test_worker_restarted_with_the_new_release_on_deploy(redeployed: Redeploy,
                                                         boxes: Boxes) -> None:
    before, after = redeployed.workers_before, redeployed.workers_after
    assert sorted(before) == sorted(after)
    new_release = redeployed.releases[boxes.web1.name]
    for unit, (pid, cwd) in after.items():
        assert pid != before[unit][0], f"{unit} was not restarted"
        assert before[unit][1] != new_release
        assert cwd == new_release, f"{unit} runs {cwd}, not the new release {new_release}"
    journal = boxes.web1.run(f"journalctl -u 'djship-{SITE}-queue@*' --no-pager -o cat").stdout
    assert journal.count("worker stopped gracefully") >= WORKERS, journal[-2000:]


def test_worker_does_the_job_the_web_app_enqueues(redeployed: Redeploy, boxes: Boxes) -> None:
    task = enqueue(boxes.lb.address, "resize a picture")
    done = wait_done(boxes.lb.address, task)
    assert done["done"], done
    assert done["done_by"] == boxes.web1.name
    assert done["version"] == "2" and done["release"] == redeployed.releases[boxes.web1.name]
    assert done["pid"] in {pid for pid, _ in redeployed.workers_after.values()}


# --- item 4: a scheduled job ------------------------------------------------------------------------

def test_scheduled_job_runs_on_one_host_in_the_journal_never_overlapping(
        redeployed: Redeploy, boxes: Boxes) -> None:
    lb = boxes.lb.address
    deadline = time.monotonic() + 120
    while len([r for r in job_runs(lb) if r["finished"]]) < 4:
        assert time.monotonic() < deadline, f"fewer than 4 runs in 2 minutes: {job_runs(lb)}"
        time.sleep(2)
    runs = job_runs(lb)
    assert {r["host"] for r in runs} == {boxes.web1.name}  # the one designated host
    assert {r["version"] for r in runs} >= {"1", "2"}  # it kept running across the deploy
    assert_no_overlap(runs)
    # The timer fires on its schedule (every 5 s), only on web1.
    timer = boxes.web1.run(["systemctl", "show", f"{JOB_UNIT}.timer", "-P", "TimersCalendar"])
    assert "*-*-* *:*:00/5" in timer.stdout, timer.stdout
    nxt = boxes.web1.run(f"date -d \"$(systemctl show {JOB_UNIT}.timer -P "
                         "NextElapseUSecRealtime)\" +%S").stdout.strip()
    assert int(nxt) % 5 == 0, nxt
    assert boxes.web2.run(["test", "-e", f"/etc/systemd/system/{JOB_UNIT}.timer"],
                          check=False).returncode != 0
    # Each run is in the journal, with its output.
    journal = boxes.web1.run(["journalctl", "-u", f"{JOB_UNIT}.service", "--no-pager",
                              "-o", "cat"]).stdout.splitlines()
    for run in runs:
        assert f"tick {run['id']} started on {boxes.web1.name}" in journal, run
        if run["finished"] is not None:
            assert f"tick {run['id']} finished" in journal, run
    # Timers were enabled at provision, before any release: those runs were skipped, and no
    # run of the job ever failed.
    status = boxes.web1.run(["journalctl", "-u", f"{JOB_UNIT}.service", "--no-pager"]).stdout
    assert "Failed with result" not in status and "status=1/FAILURE" not in status, status


def test_moving_the_worker_role_moves_workers_and_the_job(multi: Project, boxes: Boxes) -> None:
    """The config grows: the lb host becomes the worker host. Workers and the job leave web1.

    The lb host has no web role, so it is a worker-only app host: the deploy gives it the
    release and `current` for its processes, but no app server slot and no health check.
    """
    overlay = multi.read("djship.test.toml")
    moved = overlay.replace(boxes.web1.host_entry(["web", "worker"]),
                            boxes.web1.host_entry(["web"]))
    moved = moved.replace(boxes.lb.host_entry(["lb"]), boxes.lb.host_entry(["lb", "worker"]))
    assert moved.count('"worker"') == 1
    multi.write("djship.test.toml", moved)
    multi.set_version("3")
    run = multi.provision()
    assert run.returncode == 0, str(run)
    provisioned = time.time()
    assert worker_units(boxes.web1) == {}
    for box, has_timer in ((boxes.web1, False), (boxes.lb, True)):
        timer = box.run(["test", "-e", f"/etc/systemd/system/{JOB_UNIT}.timer"], check=False)
        assert (timer.returncode == 0) == has_timer, box.name
    run = multi.djship("deploy", "--site", SITE)
    assert run.returncode == 0, str(run)
    assert "no app server on a worker-only host" in run.stderr, str(run)
    slots = boxes.lb.run(["systemctl", "is-active", f"djship-{SITE}@blue",
                          f"djship-{SITE}@green"], check=False).stdout.split()
    assert slots == ["inactive", "inactive"], slots
    # The workers start once `current` exists; wait a bounded while, then show their states.
    deadline = time.monotonic() + 30
    while len(moved_workers := worker_units(boxes.lb)) < WORKERS and \
            time.monotonic() < deadline:
        time.sleep(1)
    states = boxes.lb.run(f"systemctl list-units --all --plain --no-legend "
                          f"'djship-{SITE}-queue@*.service'", check=False).stdout
    assert len(moved_workers) == WORKERS, states
    assert {cwd for _, cwd in moved_workers.values()} == {current_release(boxes.lb)}
    assert current_release(boxes.lb).rsplit("/", 1)[1] == \
        current_release(boxes.web1).rsplit("/", 1)[1]
    # Its processes render templates too: the release has its own static manifest there.
    boxes.lb.run(["test", "-f", f"/srv/{SITE}/current/.static/staticfiles.json"])
    done = wait_done(boxes.lb.address, enqueue(boxes.lb.address, "after the move"))
    assert done["done"] and done["done_by"] == boxes.lb.name, done
    assert {whoami(boxes.lb.address)["version"] for _ in range(4)} == {"3"}
    lb = boxes.lb.address
    deadline = time.monotonic() + 120
    while len([r for r in job_runs(lb) if r["started"] > provisioned and r["finished"]]) < 2:
        assert time.monotonic() < deadline, f"no 2 runs on the lb host in 2 minutes: {job_runs(lb)}"
        time.sleep(2)
    # A run in progress on web1 at the move may still finish there; every run that began
    # after the provision is the lb host's, and they never overlap.
    after = [r for r in job_runs(lb) if r["started"] > provisioned]
    assert {r["host"] for r in after} == {boxes.lb.name}, after
    assert_no_overlap(after)


# --- TLS ends at the load balancer ----------------------------------------------------------------

# Not test_tls.py's ports: that module (or another engineer's run of it) may be up too.
PEBBLE_PORTS = Ports(acme=14300, management=15300, dns=8353, dns_management=8355)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """pebble and pebble-challtestsrv on the bridge (acme.py); stopped by PID afterwards."""
    with running_pebble(tmp_path_factory.mktemp("pebble"), PEBBLE_PORTS) as server:
        yield server


def https(lb: SandboxInfo, root: Path, path: str) -> tuple[str, str]:
    """(status, body) of an HTTPS request to the lb by name, verified against ``root``."""
    done = subprocess.run(["curl", "-s", "--max-time", "15", "--cacert", str(root),
                           "--resolve", f"{DOMAIN}:443:{lb.address}", "-w", "\n%{http_code}",
                           f"https://{DOMAIN}{path}"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done
    body, _, status = done.stdout.rpartition("\n")
    return status, body


def test_tls_ends_at_the_lb(multi: Project, boxes: Boxes, pebble: Pebble) -> None:
    """TLS on: certbot gets the certificate on the lb; web hosts stay plain HTTP behind it."""
    pebble.add_a(DOMAIN, boxes.lb.address)
    shutil.copy(pebble.ca, multi.root / "acme-ca.pem")
    multi.write("djship.test.toml", multi.read("djship.test.toml") + f"""
[sites.{SITE}.env]
DJANGO_SECURE_SSL = "1"

[sites.{SITE}.tls]
enabled = true
acme_server = "{pebble.directory}"
acme_ca_bundle = "acme-ca.pem"
""")
    multi.commit("TLS on")
    dns = {"DJSHIP_NAMESERVER": pebble.nameserver}
    run = multi.djship("provision", env=dns)
    assert run.returncode == 0, str(run)
    certified = [ln.split()[0] for ln in run.stderr.splitlines()
                 if re.match(rf"^\S+\s+(?:{SITE}: )?certificate\s+changed", ln)]
    assert certified == [boxes.lb.name], str(run)
    run = multi.djship("deploy", "--site", SITE)
    assert run.returncode == 0, str(run)
    root = pebble.root()
    status, body = https(boxes.lb, root, "/")
    assert status == "200" and "<h1>Guestbook</h1>" in body, body[:500]
    status, body = https(boxes.lb, root, "/tasks/whoami/")
    assert status == "200" and json.loads(body)["scheme"] == "https", body
    plain = request(boxes.lb.address, "/tasks/whoami/")
    assert plain.status == 301 and plain.headers["location"] == \
        f"https://{DOMAIN}/tasks/whoami/", plain
    # The web hosts have no certificate and no HTTPS server; reached directly, the app sees
    # plain HTTP (the forged header is not believed) and sends the client to https.
    for box in (boxes.web1, boxes.web2):
        assert box.run(f"test -e /etc/letsencrypt/live/{SITE}", check=False).returncode != 0
        assert "listen 443" not in box.run(
            f"cat /etc/nginx/sites-available/djship-{SITE}.conf").stdout
        direct = request(box.address, "/tasks/whoami/", headers={"X-Forwarded-Proto": "https"})
        assert direct.status == 301, direct
    status_run = multi.djship("tls", "status", "--site", SITE)
    assert status_run.returncode == 0, str(status_run)
    assert boxes.lb.name in status_run.stdout and " ok" in status_run.stdout, str(status_run)
    again = multi.djship("provision", env=dns)
    assert again.returncode == 0 and "no change" in again.stderr, str(again)


def test_old_releases_are_pruned_in_the_background(multi: Project, boxes: Boxes) -> None:
    """Four good deploys of guestbook so far (VERSION 1, 2, 3, then TLS on) with keep = 2."""
    for box in (boxes.web1, boxes.web2):
        kept = box.run(f"ls -1 /srv/{SITE}/releases").stdout.split()
        assert len(kept) == KEEP, kept
        assert current_release(box).rsplit("/", 1)[1] in kept
        deadline = time.monotonic() + 60  # the pruned release is deleted by a transient unit
        while box.run(f"ls -A /srv/{SITE}/.trash").stdout.strip():
            assert time.monotonic() < deadline, box.run(f"ls -la /srv/{SITE}/.trash").stdout
            time.sleep(1)
