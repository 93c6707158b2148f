"""The djship.toml schema; docs/djship.example.toml is the annotated tour of it."""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from djship.config.python import parse as parse_python
from djship.errors import UsageError

Role = Literal["web", "worker", "db", "lb"]
ALL_ROLES: tuple[Role, ...] = ("web", "worker", "db", "lb")
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GROUP = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_MODULE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
# Variables djship sets on the servers whose name a project may choose differently
# (DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS): [sites.X.env_names] maps djship's to the project's.
RENAMEABLE = ("SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")
# The address `djship init` writes until the user gives a real one: TEST-NET-3 (RFC 5737),
# which no server ever has.
PLACEHOLDER_ADDRESS = "203.0.113.10"


def is_hostname(value: str) -> bool:
    """True for a DNS host name (labels of letters, digits and hyphens)."""
    return bool(_HOSTNAME.match(value)) and not value.replace(".", "").isdigit()


def is_address(value: str) -> bool:
    """True for an IP address or a host name."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return is_hostname(value)
    return True


def _check_domain(value: str) -> str:
    # An IP address is allowed too: a server without a DNS name yet is reached by address.
    if not is_address(value):
        raise ValueError(f"{value!r} is not a host name")
    return value


Domain = Annotated[str, AfterValidator(_check_domain)]


class Strict(BaseModel):
    """Base: unknown keys are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Project(Strict):
    """The Django project: where its pieces are and what it needs."""

    name: Annotated[str, Field(pattern=_NAME.pattern)]
    python: str | None = None
    # Where the servers may get a Python the OS does not ship (uv python install): "uv" or a
    # mirror URL. None: never download one.
    python_source: str | None = None
    settings: Annotated[str, Field(pattern=_MODULE.pattern)]
    wsgi: str | None = None
    asgi: str | None = None
    dependencies: Literal["requirements", "uv", "poetry", "pyproject"] = "requirements"
    requirements: str = "requirements.txt"
    # Dependency groups (PEP 735 [dependency-groups], uv's dev group, poetry's groups) and
    # extras ([project.optional-dependencies], poetry's extras) installed besides the main
    # dependencies, for the uv, poetry and pyproject kinds.
    groups: list[Annotated[str, Field(pattern=_GROUP.pattern)]] = Field(default_factory=list)
    extras: list[Annotated[str, Field(pattern=_GROUP.pattern)]] = Field(default_factory=list)
    manage: str = "manage.py"
    system_packages: list[str] = Field(default_factory=list)
    # Globs of files to ship although djship leaves them out by default (virtualenvs,
    # node_modules, bytecode, local SQLite files, .env) or warns about them (secret-looking).
    include: list[str] = Field(default_factory=list)

    @field_validator("include")
    @classmethod
    def _include(cls, v: list[str]) -> list[str]:
        for glob in v:
            if not glob.strip("/") or glob.startswith("/") or ".." in glob.split("/"):
                raise ValueError(f"{glob!r}: expected a glob relative to the project, "
                                 'e.g. "db.sqlite3" or "vendor/venv"')
        return v

    @property
    def websockets(self) -> bool:
        """True when the app is served over ASGI (Channels, websockets): nginx passes
        connection upgrades through."""
        return bool(self.asgi) and not self.wsgi

    @model_validator(mode="after")
    def _app_present(self) -> Project:
        if not self.wsgi and not self.asgi:
            raise ValueError("set project.wsgi (e.g. 'mysite.wsgi:application') or project.asgi")
        return self

    @field_validator("python")
    @classmethod
    def _python(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_python(v, "project.python")
            except UsageError:
                raise ValueError('expected "3.12" (any 3.12.x) or a specifier such as '
                                 '">=3.12" or ">=3.11,<3.14"') from None
        return v

    @field_validator("python_source")
    @classmethod
    def _python_source(cls, v: str | None) -> str | None:
        if v is not None and v != "uv" and not re.match(r"^(https?|file)://\S+$", v):
            raise ValueError('expected "uv" (uv\'s own download location) or the URL of a '
                             'mirror of its Python builds, e.g. "https://mirror.internal/python"')
        return v

    @field_validator("wsgi", "asgi")
    @classmethod
    def _app_ref(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", v):
            raise ValueError("expected 'module.path:attribute', e.g. 'mysite.wsgi:application'")
        return v


class Process(Strict):
    """An extra long-running process (worker role), run from the release directory."""

    command: str
    instances: Annotated[int, Field(ge=1, le=64)] = 1


class Job(Strict):
    """A scheduled job: a command run by a systemd timer (OnCalendar syntax)."""

    command: str
    schedule: str


class Backups(Strict):
    """Database backups: how many to keep and an optional systemd calendar schedule."""

    keep: Annotated[int, Field(ge=1, le=365)] = 7
    schedule: str | None = None


class Tls(Strict):
    """Certificates for the site's domains."""

    enabled: bool = False
    email: str | None = None
    acme_server: str | None = None
    hsts_max_age: Annotated[int, Field(ge=0)] = 0
    certificate: str | None = None
    key: str | None = None
    # A private ACME server's CA (local PEM path): certbot on the servers trusts it for the
    # ACME directory only. For test CAs such as pebble; Let's Encrypt needs none.
    acme_ca_bundle: str | None = None


def _command(value: str) -> str:
    """A command line: split like a shell would (quotes), run without one."""
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    if not words:
        raise ValueError("an empty command")
    return value


ReleaseCommand = Annotated[str, AfterValidator(_command)]


class Hooks(Strict):
    """Commands run on the machine running djship around a deploy (through its shell, in
    the project folder), with DJSHIP_SITE, DJSHIP_RELEASE, DJSHIP_HOSTS and, after it,
    DJSHIP_OUTCOME (deployed, unchanged or failed) in their environment."""

    # A failing pre_deploy command stops the deploy before anything changes.
    pre_deploy: list[str] = Field(default_factory=list)
    # Run after every deploy, also a failed one; a failing one makes the command fail.
    post_deploy: list[str] = Field(default_factory=list)


class Redis(Strict):
    """Redis for the site (cache, sessions, Celery broker, Channels) on its db host."""

    enabled: bool = False
    # The variables the app reads the URL from (each gets the same redis:// URL).
    env: list[str] = Field(default_factory=lambda: ["REDIS_URL"])

    @field_validator("env")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for k in v:
            if not _ENV_KEY.match(k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        if not v:
            raise ValueError('name at least one variable, e.g. ["REDIS_URL"]')
        return v


_DIRECTIVE = re.compile(r"^[A-Z][A-Za-z0-9]{1,63}$")
_DJSHIP_DIRECTIVES = frozenset({
    "ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost",
    "User", "Group", "DynamicUser", "Type", "NotifyAccess", "WorkingDirectory",
    "EnvironmentFile", "RuntimeDirectory", "KillMode"})


class Site(Strict):
    """One deployed instance of the project: domains, processes, environment, hosts."""

    domains: list[Domain] = Field(default_factory=list)
    hosts: list[str] | None = None
    settings: Annotated[str | None, Field(pattern=_MODULE.pattern)] = None
    env: dict[str, str] = Field(default_factory=dict)
    env_names: dict[str, str] = Field(default_factory=dict)
    keep_releases: Annotated[int, Field(ge=1, le=50)] = 5
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    preload: bool = True
    health_path: str = "/"
    health_timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    database: Literal["postgres", "sqlite", "external"] = "postgres"
    canonical: Literal["apex", "www", "none"] = "none"
    processes: dict[str, Process] = Field(default_factory=dict)
    jobs: dict[str, Job] = Field(default_factory=dict)
    # The project's own commands, run in the new release on every app host as the site user
    # with the site's environment ("manage.py X" and "python" use the release's venv):
    # `build` before collectstatic, `release` after migrate and collectstatic and before the
    # new slot starts. A failing one refuses the release; the live site is untouched.
    build: list[ReleaseCommand] = Field(default_factory=list)
    release: list[ReleaseCommand] = Field(default_factory=list)
    backups: Backups = Field(default_factory=Backups)
    tls: Tls = Field(default_factory=Tls)
    redis: Redis = Field(default_factory=Redis)
    # Directives added last to the [Service] section of the app and worker units, after
    # djship's sandbox (e.g. MemoryDenyWriteExecute = "no" for an app with a JIT).
    systemd: dict[str, str] = Field(default_factory=dict)

    @field_validator("systemd")
    @classmethod
    def _systemd(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _DIRECTIVE.match(key):
                raise ValueError(f"{key!r} is not a systemd directive name (e.g. "
                                 "MemoryDenyWriteExecute)")
            if key in _DJSHIP_DIRECTIVES:
                raise ValueError(f"{key} is djship's to set: it runs and supervises the app "
                                 "with it")
            if any(ord(c) < 32 for c in value):
                raise ValueError(f"{key}: a value on one line, without control characters")
        return v

    def unit_overrides(self) -> list[tuple[str, str]]:
        """``systemd`` as unit file lines (% doubled: systemd would expand it)."""
        return [(k, v.replace("%", "%%")) for k, v in sorted(self.systemd.items())]

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not _ENV_KEY.match(k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v

    @field_validator("env_names")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for k, name in v.items():
            if k not in RENAMEABLE:
                raise ValueError(f"{k!r}: djship names only {', '.join(RENAMEABLE)} "
                                 "after the project's variables")
            if not _ENV_KEY.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return v

    def env_name(self, variable: str) -> str:
        """The name the project's settings read ``variable`` under (env_names, else itself)."""
        return self.env_names.get(variable, variable)

    @field_validator("processes", "jobs")
    @classmethod
    def _unit_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: names become systemd unit names: lower-case "
                                 "letters, digits, '-' and '_', starting with a letter")
        return v

    @field_validator("health_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("must start with '/'")
        return v


class Host(Strict):
    """A server reached over SSH, with the roles it plays."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    address: str
    user: str = "root"
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    roles: list[Role] = Field(default_factory=lambda: list(ALL_ROLES[:3]))
    identity_file: str | None = None
    known_hosts_file: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        if not is_address(v):
            raise ValueError("not a host name or IP address")
        return v


class Config(Strict):
    """The whole djship.toml."""

    project: Project
    sites: dict[str, Site]
    hosts: list[Host]
    hooks: Hooks = Field(default_factory=Hooks)

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [h.name for h in self.hosts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"hosts: duplicate host name(s): {', '.join(dupes)}")
        for site_name, site in self.sites.items():
            if not _NAME.match(site_name):
                raise ValueError(f"sites.{site_name}: site names are lower-case letters, "
                                 "digits, '-' and '_', starting with a letter")
            for h in site.hosts or []:
                if h not in names:
                    raise ValueError(f"sites.{site_name}.hosts: unknown host {h!r}")
            if site.redis.enabled and not any("db" in h.roles
                                              for h in self.site_hosts(site_name)):
                raise ValueError(f"sites.{site_name}.redis: Redis runs on the site's db host, "
                                 'but none of its hosts has the role "db": add it to one')
            apps = [h.name for h in self.site_hosts(site_name)
                    if {"web", "worker"} & set(h.roles)]
            if site.database == "sqlite" and len(apps) > 1:
                raise ValueError(f"sites.{site_name}.database: SQLite keeps the data in a file "
                                 f"on one server, but the site runs on {', '.join(apps)}; "
                                 'use "postgres" (or "external") for several app hosts')
        return self

    def site_hosts(self, site: str) -> list[Host]:
        """The hosts a site runs on (all hosts unless the site names some)."""
        wanted = self.sites[site].hosts
        return [h for h in self.hosts if wanted is None or h.name in wanted]

    def settings_module(self, site: str) -> str:
        """The DJANGO_SETTINGS_MODULE djship sets for a site."""
        return self.sites[site].settings or self.project.settings
