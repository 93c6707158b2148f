"""docs/djship.example.toml stays true: it validates and shows every key of the schema."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

from djship.config import validate
from djship.config.schema import Backups, Hooks, Host, Job, Process, Project, Site, Tls

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "djship.example.toml"
MODELS = (Project, Site, Process, Job, Backups, Tls, Host, Hooks)


def test_example_config_validates() -> None:
    config = validate(tomllib.loads(EXAMPLE.read_text()))
    production = config.sites["production"]
    assert production.tls.enabled and production.processes and production.jobs
    assert {role for host in config.hosts for role in host.roles} == {"web", "worker", "db", "lb"}
    assert config.settings_module("staging") == "blog.settings.staging"
    assert [h.name for h in config.site_hosts("staging")] == ["staging1"]


def test_example_config_shows_every_key() -> None:
    text = EXAMPLE.read_text()
    for model in MODELS:
        for key in model.model_fields:
            shown = re.search(rf"^(# )?{key} = ", text, re.M) or re.search(
                rf"^\[sites\.\w+\.{key}[.\]]", text, re.M)
            assert shown, f"docs/djship.example.toml does not show {model.__name__}.{key}"



def test_example_config_commented_keys_validate() -> None:
    # Uncommenting an optional key must still give a valid config (keeps comments honest).
    variants = list(uncommented_variants(EXAMPLE.read_text()))
    assert len(variants) >= 5
    for text in variants:
        validate(tomllib.loads(text))


def uncommented_variants(text: str) -> Iterator[str]:
    """``text`` with each commented-out key (or commented-out table block) uncommented."""
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        end = n + 1
        if re.match(r"^# \[", lines[n]):
            while end < len(lines) and re.match(r"^# [a-z_]+ = ", lines[end]):
                end += 1
        elif not re.match(r"^# [a-z_]+ = ", lines[n]):
            n += 1
            continue
        yield "\n".join([*lines[:n], *(line[2:] for line in lines[n:end]), *lines[end:]])
        n = end
