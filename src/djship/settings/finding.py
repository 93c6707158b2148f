"""A finding of `djship check`, and every kind of finding it can report (enumerable, so a
test can prove each kind's fix leads somewhere)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Level = Literal["error", "warning"]
FIX_SETTINGS = "run `djship init --settings` to propose the change"
ENV_ONLY_ON_SERVERS = "settings.env-missing"
NEEDS_DATABASE = "check.needs_database"  # a check that failed only on the stand-in database
# Every code djship itself reports; Django's checks add theirs ("security.W004"), kind DJANGO.
KINDS = (
    "project.manage", "project.settings", "project.app",
    "dependencies.missing", "dependencies.package", "dependencies.postgres", "dependencies.group",
    "settings.import", ENV_ONLY_ON_SERVERS, "settings.env_names",
    "settings.secret_key", "settings.debug", "settings.allowed_hosts",
    "settings.proxy_header", "settings.static_root", "settings.media_root", "settings.database",
    "settings.admins", "settings.logging", "settings.compress", "check.skipped",
    NEEDS_DATABASE, "django.check",
)
DJANGO = "django"  # a message of Django's check framework, by its own id
_DJANGO_ID = re.compile(r"^[a-z_]+(\.[a-z_]+)*\.[CEWI]\d+$")


def kind_of(code: str) -> str:
    """The kind of a finding's code: the code itself, or DJANGO for Django's ids."""
    if code in KINDS:
        return code
    if _DJANGO_ID.match(code):
        return DJANGO
    raise ValueError(f"unknown finding code {code!r}: add it to KINDS (and to the hint test)")


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, a stable code, what is wrong, and how to fix it."""

    level: Level
    code: str
    message: str
    fix: str

    def __post_init__(self) -> None:
        kind_of(self.code)  # every code is one of the enumerated kinds
