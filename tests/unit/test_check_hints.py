"""No hint loops (issue 16, done-when 2): for every kind of finding `djship check` can report,
doing what its `fix:` line says clears that finding, or the fix ends in a command that changes
something. Table-driven over finding.KINDS, so a new kind without a case fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_db_checks import APPS as DB_APPS
from test_db_checks import CHECKS as DB_CHECKS
from test_dependency_groups import shop
from test_settings_support import copy_project, djship, startproject, with_config

from djship.config import load
from djship.settings.check import (
    dependency_findings,
    deploy_check,
    project_findings,
    run_check,
)
from djship.settings.envcheck import ServerEnv
from djship.settings.finding import DJANGO, KINDS, NEEDS_DATABASE, Finding, kind_of

SITE = "site"
INIT_SETTINGS = "`djship init --settings`"


@dataclass
class Project:
    """A test project and what the check runs with."""

    root: Path
    server: ServerEnv | None = None  # the servers' variables, as `djship env set` leaves them
    deploy: bool = False  # checked as `djship deploy` checks (deploy_check)


Make = Callable[[Path, Path], Project]  # (startproject template, folder) -> project
Follow = Callable[[Project, Finding, pytest.CaptureFixture[str]], None]


def findings(p: Project) -> list[Finding]:
    config, _ = load(p.root)
    site = next(iter(config.sites))
    if p.deploy:
        return deploy_check(p.root, config, site)
    return run_check(p.root, config, site, server=(lambda: p.server) if p.server else None)


def ready(template: Path, dest: Path) -> Project:
    """startproject with a djship.toml and a requirements file: only settings findings."""
    root = copy_project(template, dest)
    with_config(root)
    (root / "requirements.txt").write_text("django>=5.2\npsycopg[binary]\n")
    return Project(root)


def patched(template: Path, dest: Path) -> Project:
    """startproject after `djship init --settings`: production-ready settings."""
    p = ready(template, dest)
    subprocess.run([str(Path(sys.executable).with_name("djship")), "-C", str(p.root), "init",
                    "--settings", "--yes"], check=True, capture_output=True)
    assert "_env_bool" in settings_of(p).read_text()
    return p


def settings_of(p: Project) -> Path:
    return p.root / "mysite" / "settings.py"


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


def toml_set(p: Project, key: str, old: str, new: str) -> None:
    path = p.root / "djship.toml"
    text = path.read_text()
    assert f"{key} = {old}" in text, key
    path.write_text(text.replace(f"{key} = {old}", f"{key} = {new}", 1))


# --- following a fix line, as a user would ---------------------------------------------------

def run_init_settings(p: Project, f: Finding, capsys: pytest.CaptureFixture[str]) -> None:
    assert INIT_SETTINGS in f.fix, f.fix
    status, _out, err = djship(capsys, p.root, "init", "--settings", "--yes")
    assert status == 0, err
    assert "no change needed" not in err, f"{f.code}: init --settings changed nothing"


def set_in_config(key: str, right: str) -> Follow:
    def follow(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
        assert f"set {key}" in f.fix and "djship.toml" in f.fix, f.fix
        path = p.root / "djship.toml"
        field = key.split(".")[-1]
        path.write_text(re.sub(rf"^{field} = .*$", f'{field} = "{right}"', path.read_text(),
                               count=1, flags=re.M))
    return follow


def add_to_file(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    m = re.fullmatch(r"add (\S+) to (\S+)", f.fix)
    assert m, f.fix
    append(p.root / m[2], m[1])


def add_group(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    m = re.match(r'add "(\w+)" to project\.groups in djship\.toml', f.fix)
    assert m, f.fix
    path = p.root / "djship.toml"
    path.write_text(path.read_text().replace("[project]\n", f'[project]\ngroups = ["{m[1]}"]\n'))


def env_set(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    m = re.search(r"`djship env set (\w+)=\.\.\.`", f.fix)
    assert m, f.fix
    # What `djship env set` leaves on the servers: check sees it as a stand-in.
    p.server = ServerEnv({**((p.server and p.server.shapes) or {}), m[1]: "admin/"})


def fix_import(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    assert "make the settings import" in f.fix
    m = re.search(r"\((\S+\.py):(\d+)\)", f.message)
    assert m, f.message  # the message names the file and line to fix
    lines = Path(m[1]).read_text().splitlines()
    del lines[int(m[2]) - 1]
    Path(m[1]).write_text("\n".join(lines) + "\n")


def set_proxy_header(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    m = re.fullmatch(r"set (SECURE_PROXY_SSL_HEADER = .*)", f.fix)
    assert m, f.fix
    append(settings_of(p), m[1])


def set_admins_env(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    assert f"[sites.{SITE}.env]" in f.fix, f.fix
    path = p.root / "djship.toml"
    path.write_text(path.read_text().replace(
        f"[sites.{SITE}.env]\n", f'[sites.{SITE}.env]\nADMINS = "Ops <ops@example.com>"\n'))


def add_stream_handler(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    assert "StreamHandler" in f.fix, f.fix
    append(settings_of(p), 'LOGGING["handlers"]["console"] = {"class": "logging.StreamHandler"}'
                           '\nLOGGING["root"] = {"handlers": ["console"]}')


def fix_named_code(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    assert "fix" in f.fix and "manage.py check --deploy" in f.fix, f.fix
    urls = p.root / "mysite" / "urls.py"
    urls.write_text(urls.read_text().replace('raise RuntimeError("broken urls")\n', ""))


def change_django_setting(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    m = re.search(r"Valid values are: ([\w-]+).*\(set (\w+) in the settings", f.fix)
    assert m, f.fix
    append(settings_of(p), f'{m[2]} = "{m[1]}"')


def deploy_checks_it(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    """Not the project's error: the command is `djship deploy`, whose server checks it on
    the real database (after migrate on a first deploy); the warning does not stop it."""
    assert f.level == "warning" and f.fix.endswith("(`djship deploy`)"), f
    p.deploy = True


def set_release(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    m = re.fullmatch(r"set (release = \[.*\]) in \[sites\.(\w+)\] of djship\.toml", f.fix)
    assert m, f.fix
    path = p.root / "djship.toml"
    text = re.sub(r"^release = .*\n", "", path.read_text(), flags=re.M)
    path.write_text(text.replace(f"[sites.{m[2]}]\n", f"[sites.{m[2]}]\n{m[1]}\n", 1))


def use_django_venv(p: Project, f: Finding, _c: pytest.CaptureFixture[str]) -> None:
    assert "virtualenv" in f.fix, f.fix
    # The project's .venv lacked Django; with the one that has it, djship can check.
    subprocess.run(["rm", "-rf", str(p.root / ".venv")], check=True)


# --- projects that have each kind of finding ---------------------------------------------------

def broken_config(key: str, bad: str) -> Make:
    def make(template: Path, dest: Path) -> Project:
        p = ready(template, dest)
        toml_set(p, key, re.search(rf'^{key} = (.*)$', (p.root / "djship.toml").read_text(),
                                   re.M)[1], f'"{bad}"')  # type: ignore[index]
        return p
    return make


def no_requirements(template: Path, dest: Path) -> Project:
    p = ready(template, dest)
    (p.root / "requirements.txt").unlink()
    return p


def unlisted_package(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), "import dj_database_url  # noqa")
    return p


def no_driver(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    toml_set(p, "database", '"sqlite"', '"postgres"')
    (p.root / "requirements.txt").write_text("django>=5.2\n")
    return p


def group_only(_template: Path, dest: Path) -> Project:
    root = shop(dest)
    (root / "djship.toml").write_text(
        '[project]\nname = "shop"\nsettings = "shop.settings"\nwsgi = "shop.wsgi:application"\n'
        'dependencies = "uv"\nextras = ["s3"]\n\n[sites.shop]\ndatabase = "sqlite"\n\n'
        '[[hosts]]\nname = "web1"\naddress = "192.0.2.1"\n')
    return Project(root)


def import_error(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), "import not_a_module_anywhere")
    return p


def needs_variable(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), 'ADMIN_URL = os.environ["DJANGO_ADMIN_URL"]')
    return p


def other_names(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), 'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]')
    return p


def no_proxy_header(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), "SECURE_PROXY_SSL_HEADER = None")
    return p


def no_admins(template: Path, dest: Path) -> Project:
    return patched(template, dest)


def no_console(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), 'LOGGING["root"] = {"handlers": []}\n'
                           'LOGGING["loggers"]["django"]["handlers"] = ["mail_admins"]\n'
                           'del LOGGING["handlers"]["console"]')
    return p


def compress_offline(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), 'INSTALLED_APPS += ["compressor"]\nCOMPRESS_OFFLINE = True')
    return p


def broken_urls(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    urls = p.root / "mysite" / "urls.py"
    urls.write_text(urls.read_text() + 'raise RuntimeError("broken urls")\n')
    return p


def django_error(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    append(settings_of(p), 'SECURE_REFERRER_POLICY = "no-such-policy"')
    return p


def no_django_venv(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(p.root / ".venv")],
                   check=True)
    p.deploy = True
    return p


def queries_the_database(template: Path, dest: Path) -> Project:
    p = patched(template, dest)
    (p.root / "api").mkdir()
    (p.root / "api" / "__init__.py").write_text("")
    (p.root / "api" / "apps.py").write_text(DB_APPS)
    (p.root / "api" / "checks.py").write_text(DB_CHECKS)
    append(settings_of(p), 'INSTALLED_APPS += ["api"]')
    return p


def startproject_kind(_template: Path, dest: Path) -> Project:
    return ready(_template, dest)


@dataclass(frozen=True)
class Case:
    make: Make
    follow: Follow


CASES: dict[str, Case] = {
    "project.manage": Case(broken_config("manage", "nope/manage.py"),
                           set_in_config("project.manage", "manage.py")),
    "project.settings": Case(broken_config("settings", "mysite.nothere"),
                             set_in_config("project.settings", "mysite.settings")),
    "project.app": Case(broken_config("wsgi", "mysite.nowsgi:application"),
                        set_in_config("project.wsgi", "mysite.wsgi:application")),
    "dependencies.missing": Case(no_requirements, run_init_settings),
    "dependencies.package": Case(unlisted_package, add_to_file),
    "dependencies.postgres": Case(no_driver, add_to_file),
    "dependencies.group": Case(group_only, add_group),
    "settings.import": Case(import_error, fix_import),
    "settings.env-missing": Case(needs_variable, env_set),
    "settings.env_names": Case(other_names, run_init_settings),
    "settings.secret_key": Case(startproject_kind, run_init_settings),
    "settings.debug": Case(startproject_kind, run_init_settings),
    "settings.allowed_hosts": Case(startproject_kind, run_init_settings),
    "settings.proxy_header": Case(no_proxy_header, set_proxy_header),
    "settings.static_root": Case(startproject_kind, run_init_settings),
    "settings.media_root": Case(startproject_kind, run_init_settings),
    "settings.database": Case(startproject_kind, run_init_settings),
    "settings.admins": Case(no_admins, set_admins_env),
    "settings.logging": Case(no_console, add_stream_handler),
    "settings.compress": Case(compress_offline, set_release),
    "check.skipped": Case(no_django_venv, use_django_venv),
    NEEDS_DATABASE: Case(queries_the_database, deploy_checks_it),
    "django.check": Case(broken_urls, fix_named_code),
    DJANGO: Case(django_error, change_django_setting),
}


# Kinds whose fix is a command that changes something rather than a local edit.
HANDED_ON = {NEEDS_DATABASE}


def kind_findings(p: Project, kind: str) -> list[Finding]:
    """The findings of the part of the check that reports ``kind`` (config read afresh)."""
    config, _ = load(p.root)
    site = next(iter(config.sites))
    if kind.startswith("project."):
        return project_findings(p.root, config, site)
    if kind.startswith("dependencies."):
        return dependency_findings(p.root, config, site)
    return findings(p)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return startproject(tmp_path_factory.mktemp("template") / "site")


def test_every_kind_has_a_case() -> None:
    assert set(CASES) == {*KINDS, DJANGO}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_following_the_fix_clears_the_finding(kind: str, template: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[kind]
    project = case.make(template, tmp_path / SITE)
    get = lambda: kind_findings(project, kind)  # noqa: E731
    before = [f for f in get() if kind_of(f.code) == kind]
    assert before, f"the project for {kind} does not have it"
    first = before[0]
    case.follow(project, first, capsys)
    if kind in HANDED_ON:  # not a problem here: `djship deploy` goes on and checks it
        assert not [f for f in get() if f.level == "error"], get()
        return
    after = [(f.code, f.message) for f in get()]
    assert (first.code, first.message) not in after, f"{kind}: following {first.fix!r}"
