"""`djship export`: planned files, the settings diff, overwrite protection, no-change reruns."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest
from test_settings_support import djship, startproject

from djship.export import files as f
from djship.export.docker import docker_files, nginx_site
from djship.export.heroku import heroku_files, procfile
from djship.export.requirements import with_needed
from djship.export.settings import STORAGE, WHITENOISE, whitenoise_edits
from djship.export.target import Target, load_target
from djship.settings.patch import patched_text
from djship.settings.snippets import Style
from djship.settings.source import SettingsFile, SettingsSource

SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
SECURITY = '"django.middleware.security.SecurityMiddleware"'


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `startproject` per module; tests use copies."""
    return startproject(tmp_path_factory.mktemp("template") / "site")


@pytest.fixture
def site(fresh: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(fresh, tmp_path / "site"))


def source_of(text: str, tmp: Path) -> SettingsSource:
    from djship.settings.source import assignments_of
    path = tmp / "settings.py"
    path.write_text(text)
    sf = SettingsFile(path, text, ast.parse(text))
    return SettingsSource(sf, [sf], assignments_of(sf))


def patch(text: str, tmp: Path) -> str:
    src = source_of(text, tmp)
    return patched_text(src.target, whitenoise_edits(src, Style()))


def test_whitenoise_goes_right_after_security_middleware(tmp_path: Path) -> None:
    text = f'MIDDLEWARE = [\n    {SECURITY},\n    "x.Y",\n]\n'
    new = patch(text, tmp_path)
    assert f'MIDDLEWARE = [\n    {SECURITY},\n    "{WHITENOISE}",\n    "x.Y",\n]\n' in new
    assert STORAGE in new and '"default"' in new
    assert whitenoise_edits(source_of(new, tmp_path), Style()) == []  # idempotent


def test_whitenoise_in_a_one_line_list_and_existing_storages(tmp_path: Path) -> None:
    text = f'MIDDLEWARE = [{SECURITY}, "x.Y"]\nSTORAGES = {{"default": {{}}}}\nX = 1\n'
    new = patch(text, tmp_path)
    assert f'MIDDLEWARE = [{SECURITY}, "{WHITENOISE}", "x.Y"]' in new
    ns: dict[str, object] = {}
    exec(compile(new, "s", "exec"), ns)
    assert ns["STORAGES"] == {"default": {}, "staticfiles": {"BACKEND": STORAGE}}
    assert new.index("STORAGES = {\n    **STORAGES") < new.index("X = 1")


def test_whitenoise_when_middleware_is_computed(tmp_path: Path) -> None:
    new = patch(f"BASE = [{SECURITY}, 'x.Y']\nMIDDLEWARE = list(BASE)\n", tmp_path)
    ns: dict[str, object] = {}
    exec(compile(new, "s", "exec"), ns)
    assert ns["MIDDLEWARE"] == [SECURITY.strip('"'), WHITENOISE, "x.Y"]


def test_with_needed_adds_once() -> None:
    text = with_needed("Django>=5.2\npsycopg2-binary\n", "Django>=5.2\npsycopg2-binary\n")
    assert "gunicorn>=22" in text and "whitenoise>=6.6" in text and "psycopg[" not in text
    assert with_needed(text, text) == text


def decision(tmp: Path, planned: f.Planned, manifest: dict[str, str]) -> f.Status:
    return f.decide(tmp, planned, manifest).status


def test_decide(tmp_path: Path) -> None:
    p = f.Planned("Procfile", "web: x\n")
    assert decision(tmp_path, p, {}) == "create"
    (tmp_path / "Procfile").write_text("web: x\n")
    assert decision(tmp_path, p, {}) == "unchanged"
    (tmp_path / "Procfile").write_text("web: old\n")
    assert decision(tmp_path, p, {"Procfile": f.sha256("web: old\n")}) == "update"
    assert decision(tmp_path, p, {"Procfile": f.sha256("web: other\n")}) == "conflict"
    assert decision(tmp_path, p, {}) == "conflict"
    assert decision(tmp_path, f.Planned("Procfile", "y", "keep"), {}) == "kept"
    assert decision(tmp_path, f.Planned("Procfile", "y", "merged"), {}) == "update"


def target(root: Path) -> Target:
    return Target(root, "blog", "blog.settings", "blog.wsgi:application", "src/manage.py",
                  "requirements", "requirements.txt", "3.12", ("blog.example",), "/health/")


def test_procfile(tmp_path: Path) -> None:
    assert procfile(target(tmp_path)) == (
        "web: gunicorn blog.wsgi:application --chdir src --bind 0.0.0.0:$PORT "
        "--workers ${WEB_CONCURRENCY:-2} --threads ${GUNICORN_THREADS:-4} --access-logfile -\n"
        "release: python src/manage.py migrate --noinput\n")


def test_nginx_site_uses_container_paths(tmp_path: Path) -> None:
    conf = nginx_site(target(tmp_path))
    assert "include /etc/nginx/djship/upstream.conf;" in conf
    assert "alias /srv/static/;" in conf and "alias /srv/media/;" in conf
    assert "server_name blog.example;" in conf


def test_heroku_cli_writes_then_nothing(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = djship(capsys, site, "export", "heroku", "--dry-run")
    assert code == 0, err
    assert "dry run" in err and not (site / "Procfile").exists() and WHITENOISE in out
    code, _, err = djship(capsys, site, "export", "heroku")
    assert code == 0, err
    assert "next steps" in err
    for name in ("Procfile", ".python-version", "runtime.txt", "requirements.txt"):
        assert (site / name).is_file(), name
    reqs = (site / "requirements.txt").read_text()
    assert all(p in reqs for p in ("gunicorn", "whitenoise", "dj-database-url", "psycopg[binary]"))
    settings = (site / "mysite/settings.py").read_text()
    assert WHITENOISE in settings and "dj_database_url" in settings
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    code, _, err = djship(capsys, site, "export", "heroku")
    assert code == 0 and "nothing to change" in err
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before


def test_changed_generated_file_needs_force(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert djship(capsys, site, "export", "heroku")[0] == 0
    (site / "Procfile").write_text("web: mine\n")
    code, out, err = djship(capsys, site, "export", "heroku")
    assert code == 2 and "--force" in err and "Procfile" in err
    assert "-web: mine" in out  # the diff of what --force would do
    assert (site / "Procfile").read_text() == "web: mine\n"
    code, _, err = djship(capsys, site, "export", "heroku", "--force")
    assert code == 0, err
    assert (site / "Procfile").read_text().startswith("web: gunicorn mysite.wsgi:application")


def test_docker_files(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planned, _ = docker_files(load_target(site))
    names = {p.path for p in planned}
    assert {"Dockerfile", ".dockerignore", "compose.yaml", ".env.docker.example",
            "docker/nginx/site.conf", "docker/nginx/upstream.conf", ".gitignore"} <= names
    text = {p.path: p.text for p in planned}
    assert "ARG BASE_IMAGE=python:" in text["Dockerfile"] and "USER app" in text["Dockerfile"]
    assert ".env.docker\n" in text[".dockerignore"] and ".env.docker" in text[".gitignore"]
    assert "server web:8000;" in text["docker/nginx/upstream.conf"]
    code, _, err = djship(capsys, site, "export", "docker")
    assert code == 0, err
    code, _, err = djship(capsys, site, "export", "docker")
    assert code == 0 and "nothing to change" in err


@pytest.mark.skipif(not SPEC.is_file(), reason="compose-spec schema ships with Debian's "
                                                "docker-compose (apt-get install docker-compose)")
def test_compose_validates_against_the_spec(site: Path) -> None:
    planned, _ = docker_files(load_target(site))
    compose = site / "compose.yaml"
    compose.write_text(next(p.text for p in planned if p.path == "compose.yaml"))
    script = ("import json, sys, yaml, jsonschema; jsonschema.validate("
              "yaml.safe_load(open(sys.argv[1])), json.load(open(sys.argv[2])))")
    subprocess.run(["/usr/bin/python3", "-c", script, str(compose), str(SPEC)], check=True)


def test_heroku_files_for_uv(tmp_path: Path, fresh: Path) -> None:
    root = Path(shutil.copytree(fresh, tmp_path / "site"))
    t = Target(root, "mysite", "mysite.settings", "mysite.wsgi:application", "manage.py", "uv",
               "requirements.txt", "3.12")
    calls: list[list[str]] = []

    def fake(argv: object, cwd: Path) -> str:
        calls.append(list(argv))  # type: ignore[call-overload]
        return "django==5.2.1\ngunicorn==23.0.0\n"

    planned, _ = heroku_files(t, fake)
    reqs = next(p for p in planned if p.path == "requirements.txt")
    assert calls and calls[0][:2] == ["uv", "export"] and "--no-hashes" in calls[0]
    assert reqs.kind == "generated" and reqs.text.count("gunicorn") == 1
    assert "whitenoise>=6.6" in reqs.text
