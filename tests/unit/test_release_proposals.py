"""`djship init` proposes the project's release commands (issue 23 item 1): offline
compression, a database cache and a Procfile `release:` line; `djship check` asks for
`manage.py compress` when offline compression is on."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_settings_support import copy_project, startproject

from djship.config import load
from djship.init import run_init
from djship.settings.check import run_check
from djship.settings.releasecmds import from_source, procfile_commands

COMPRESSOR = '''
INSTALLED_APPS += ["compressor"]
STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder",
                       "django.contrib.staticfiles.finders.AppDirectoriesFinder",
                       "compressor.finders.CompressorFinder"]
COMPRESS_OFFLINE = True
'''
DB_CACHE = '''
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                      "LOCATION": "site_cache"}}
'''


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return startproject(tmp_path_factory.mktemp("template") / "site")


def project(template: Path, dest: Path, settings: str = "", **files: str) -> Path:
    root = copy_project(template, dest / "site")
    path = root / "mysite" / "settings.py"
    path.write_text(path.read_text() + settings)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def init(root: Path) -> tuple[list[str] | None, str, list[str]]:
    """(sites.site.release as written, djship.toml's text, init's notes)."""
    result = run_init(root, force=True)
    text = (root / "djship.toml").read_text()
    release = tomllib.loads(text)["sites"]["site"].get("release")
    return release, text, result.notes


def test_offline_compression_proposes_compress(template: Path, tmp_path: Path) -> None:
    release, text, notes = init(project(template, tmp_path, COMPRESSOR))
    assert release == ["manage.py compress"]
    assert "# proposed by djship init: manage.py compress: django-compressor with " \
           "COMPRESS_OFFLINE" in text
    assert any(n.startswith("proposed sites.site.release: manage.py compress (") for n in notes)


def test_database_cache_proposes_createcachetable(template: Path, tmp_path: Path) -> None:
    release, text, _ = init(project(template, tmp_path, DB_CACHE))
    assert release == ["manage.py createcachetable"]
    assert "DatabaseCache, whose table must exist" in text


def test_both_cache_table_first(template: Path, tmp_path: Path) -> None:
    release, _, _ = init(project(template, tmp_path, COMPRESSOR + DB_CACHE))
    assert release == ["manage.py createcachetable", "manage.py compress"]


def test_nothing_to_propose_leaves_the_example_commented(template: Path, tmp_path: Path
                                                         ) -> None:
    release, text, notes = init(project(template, tmp_path))
    assert release is None
    assert '# release = ["manage.py compress", "manage.py createcachetable"]' in text
    assert not any("sites.site.release" in n for n in notes)


def test_compression_off_in_production_is_not_proposed(template: Path, tmp_path: Path) -> None:
    # Read as imported: COMPRESS_ENABLED is off, so `compress` would refuse to run.
    release, _, _ = init(project(template, tmp_path, COMPRESSOR + "COMPRESS_ENABLED = False\n"))
    assert release is None


def test_the_imported_value_decides_not_the_text(template: Path, tmp_path: Path) -> None:
    # The production environment djship sets turns offline compression on.
    settings = COMPRESSOR.replace(
        "COMPRESS_OFFLINE = True",
        'import os\nCOMPRESS_OFFLINE = "SECRET_KEY" in os.environ or "DJANGO_SECRET_KEY" '
        "in os.environ")
    release, _, _ = init(project(template, tmp_path, settings))
    assert release == ["manage.py compress"]
    off = COMPRESSOR.replace("COMPRESS_OFFLINE = True", "COMPRESS_OFFLINE = bool([])")
    assert init(project(template, tmp_path / "off", off))[0] is None


def test_settings_that_do_not_import_are_read_from_source(template: Path, tmp_path: Path
                                                          ) -> None:
    root = project(template, tmp_path, COMPRESSOR + DB_CACHE + "import not_installed_here\n")
    release, _, _ = init(root)
    assert release == ["manage.py createcachetable", "manage.py compress"]
    assert [p.command for p in from_source(root, "mysite.settings")] == release


def test_procfile_release_line(template: Path, tmp_path: Path) -> None:
    procfile = ("web: gunicorn mysite.wsgi\nrelease: python manage.py migrate && "
                "python manage.py compilemessages && ./manage.py collectstatic --noinput\n")
    release, text, notes = init(project(template, tmp_path, DB_CACHE, Procfile=procfile))
    assert release == ["manage.py compilemessages", "manage.py createcachetable"]
    assert "# proposed by djship init: manage.py compilemessages: from the Procfile's " \
           "release line" in text
    assert "# not proposed: manage.py migrate: djship's deploy runs migrate itself" in text
    assert "# not proposed: manage.py collectstatic --noinput: djship's deploy collects" in text
    assert any(n.startswith("not proposed for sites.site.release: manage.py migrate") for n in notes)


def test_procfile_commands_parsed() -> None:
    got = procfile_commands(" python3 manage.py createcachetable; django-admin compress --force"
                            " && bin/reindex | tee log && echo $HOME")
    assert [(p.command, p.proposed) for p in got] == [
        ("manage.py createcachetable", True), ("manage.py compress --force", True),
        ("sh -c 'bin/reindex | tee log'", True), ("sh -c 'echo $HOME'", True)]


def test_procfile_and_settings_name_a_command_once(template: Path, tmp_path: Path) -> None:
    procfile = "release: python manage.py compress --force\n"
    release, _, _ = init(project(template, tmp_path, COMPRESSOR, Procfile=procfile))
    assert release == ["manage.py compress --force"]


def test_init_force_keeps_the_users_own_release(template: Path, tmp_path: Path) -> None:
    root = project(template, tmp_path, COMPRESSOR)
    init(root)
    path = root / "djship.toml"
    path.write_text(path.read_text().replace('release = ["manage.py compress"]',
                                             'release = ["manage.py reindex"]'))
    release, text, notes = init(root)
    assert release == ["manage.py reindex"]
    assert "# yours, kept by djship init: manage.py reindex" in text
    assert 'kept your sites.site.release = ["manage.py reindex"]' in notes


def findings_of(root: Path) -> list[tuple[str, str]]:
    config, _ = load(root)
    return [(f.code, f.fix) for f in run_check(root, config, "site")]


def test_check_asks_for_compress_with_the_line_to_add(template: Path, tmp_path: Path) -> None:
    root = project(template, tmp_path, COMPRESSOR + DB_CACHE)
    init(root)
    path = root / "djship.toml"
    assert not [c for c, _ in findings_of(root) if c == "settings.compress"]
    path.write_text(path.read_text().replace(
        'release = ["manage.py createcachetable", "manage.py compress"]',
        'release = ["manage.py createcachetable"]'))
    fixes = [f for c, f in findings_of(root) if c == "settings.compress"]
    assert fixes == ['set release = ["manage.py createcachetable", "manage.py compress"] in '
                     "[sites.site] of djship.toml"]
