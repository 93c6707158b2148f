"""Config loading, overlays and errors: every problem at once, with key paths and lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from djship.config import load
from djship.config.loader import find_line, format_path, merge
from djship.errors import ConfigError

BASE = """\
[project]
name = "mysite"
settings = "mysite.settings"
wsgi = "mysite.wsgi:application"

[sites.blog]
domains = ["example.com"]

[[hosts]]
name = "web1"
address = "192.0.2.10"
"""


def write(tmp_path: Path, text: str, name: str = "djship.toml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def issues(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load(write(tmp_path, text))
    assert exc.value.exit_code == 2
    return [str(i) for i in exc.value.issues]


def test_valid_config_loads(tmp_path: Path) -> None:
    config, source = load(write(tmp_path, BASE))
    assert config.project.name == "mysite"
    assert config.site_hosts("blog")[0].address == "192.0.2.10"
    assert source.path == tmp_path / "djship.toml"


@pytest.mark.parametrize(("change", "expected"), [
    (("192.0.2.10", "not an address"), "djship.toml:11: hosts[0].address: not a host name or IP address"),
    (('["example.com"]', '["example.com", "bad_domain!"]'), "djship.toml:7: sites.blog.domains[1]: 'bad_domain!' is not a host name"),
    (('name = "mysite"', 'name = "mysite"\nnmae = 1'), "djship.toml:3: project.nmae: unknown key; did you mean 'name'?"),
    (('domains = ["example.com"]', 'domains = ["example.com"]\nkeep_relases = 3'), "sites.blog.keep_relases: unknown key; did you mean 'keep_releases'?"),
    (('wsgi = "mysite.wsgi:application"', 'wsgi = "mysite.wsgi"'), "project.wsgi: expected 'module.path:attribute'"),
    (('settings = "mysite.settings"\n', ''), "project.settings: required key is missing"),
    (('address = "192.0.2.10"', 'address = "192.0.2.10"\nport = 70000'), "hosts[0].port: Input should be less than or equal to 65535"),
    (('address = "192.0.2.10"', 'address = "192.0.2.10"\nroles = ["web", "cache"]'), "hosts[0].roles[1]: Input should be"),
    (('[sites.blog]', '[sites.Blog]'), "sites.Blog: site names are lower-case"),
    (('name = "mysite"', 'name = "mysite"\npython = "three"'), 'project.python: expected "3.12" (any 3.12.x) or a specifier'),
    (('domains = ["example.com"]', 'domains = ["example.com"]\nprocesses = { "Celery Beat" = { command = "celery beat" } }'), "sites.blog.processes: 'Celery Beat': names become systemd unit names"),
    (('domains = ["example.com"]', 'domains = ["example.com"]\njobs = { "x;rm" = { command = "manage.py x", schedule = "daily" } }'), "sites.blog.jobs: 'x;rm': names become"),
])
def test_single_mistake_is_located(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    found = issues(tmp_path, BASE.replace(*change))
    assert any(expected in i for i in found), found


def test_three_mistakes_reported_at_once(tmp_path: Path) -> None:
    text = (BASE.replace("192.0.2.10", "not an address")
            .replace('["example.com"]', '["example.com", "bad_domain!"]')
            .replace('domains =', 'keep_relases = 3\ndomains ='))
    found = issues(tmp_path, text)
    assert len(found) == 3, found
    assert any("hosts[0].address" in i for i in found)
    assert any("sites.blog.domains[1]" in i for i in found)
    assert any("did you mean 'keep_releases'" in i for i in found)


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    found = issues(tmp_path, BASE + "\n[broken\n")
    assert "TOML syntax error" in found[0] and "djship.toml" in found[0]


def test_sqlite_on_several_app_hosts_is_refused(tmp_path: Path) -> None:
    two = BASE.replace('domains = ["example.com"]', 'domains = ["example.com"]\ndatabase = "sqlite"')
    two += '\n[[hosts]]\nname = "web2"\naddress = "192.0.2.11"\nroles = ["web"]\n'
    found = issues(tmp_path, two)
    assert any("sites.blog.database: SQLite keeps the data in a file on one server" in i
               and "web1, web2" in i for i in found), found


def test_unknown_site_host_reference(tmp_path: Path) -> None:
    found = issues(tmp_path, BASE.replace('domains = ["example.com"]',
                                          'domains = ["example.com"]\nhosts = ["web9"]'))
    assert any("sites.blog.hosts: unknown host 'web9'" in i for i in found)


def test_missing_config_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path)
    assert "djship init" in (exc.value.hint or "")


def test_pyproject_tool_table(tmp_path: Path) -> None:
    text = BASE.replace("[project]", "[tool.djship.project]").replace(
        "[sites.blog]", "[tool.djship.sites.blog]").replace("[[hosts]]", "[[tool.djship.hosts]]")
    config, source = load(write(tmp_path, '[project]\nname = "x"\n\n' + text, "pyproject.toml"))
    assert config.project.name == "mysite"
    assert source.table == ("tool", "djship")


def test_environment_overlay_merges(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    write(tmp_path, '[sites.blog]\ndomains = ["staging.example.com"]\n\n[[hosts]]\n'
          'name = "stage1"\naddress = "192.0.2.99"\n', "djship.staging.toml")
    config, source = load(tmp_path, "staging")
    assert config.sites["blog"].domains == ["staging.example.com"]
    assert [h.name for h in config.hosts] == ["stage1"]
    assert config.project.name == "mysite"
    assert source.overlay == tmp_path / "djship.staging.toml"


def test_missing_overlay_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid configuration"):
        load(write(tmp_path, BASE), "prod")


def test_merge_is_deep_and_lists_replace() -> None:
    assert merge({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}}


def test_format_path() -> None:
    assert format_path(("sites", "blog", "domains", 1)) == "sites.blog.domains[1]"


def test_find_line_in_array_of_tables() -> None:
    lines = [*BASE.splitlines(), "", "[[hosts]]", 'name = "web2"', 'address = "x"']
    assert find_line(lines, ("hosts", 1, "address")) == len(lines)
    assert find_line(lines, ("hosts", 0, "address")) == 11
