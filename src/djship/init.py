"""`djship init`: write a commented djship.toml from what detection finds in the project."""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import tomlkit

from djship.config import CONFIG_NAME, Config, validate
from djship.config.python import parse as parse_python
from djship.config.schema import PLACEHOLDER_ADDRESS
from djship.errors import DjshipError, UsageError
from djship.project import ProjectInfo, detect
from djship.release import syslibs
from djship.settings import groups, releasecmds
from djship.settings.dbchoice import choose_database
from djship.settings.djangopy import python_note
from djship.settings.envnames import standin
from djship.settings.health import find_health_path
from djship.settings.localenv import check_python
from djship.settings.probe import import_with_standins, production_env
from djship.settings.services import Services, detect_services
from djship.steps import packages as apt

TEMPLATES = Path(__file__).parent / "templates"
# Placeholders that validate but are obviously not real: example.com and an address from
# TEST-NET-3 (RFC 5737), which no server ever has.
PLACEHOLDER_DOMAIN = "example.com"
DEFAULT_HOST = "web1"


@dataclass
class InitResult:
    """What `djship init` wrote, what it could not find, and what the user should check."""

    path: Path
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def toml_value(value: object) -> str:
    """A value as TOML source text (strings quoted and escaped correctly)."""
    return tomlkit.item(value).as_string()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        # TOML, not HTML: values are escaped by the toml filter instead.
        autoescape=False,  # noqa: S701
    )
    env.filters["toml"] = toml_value
    # A newline in detected text would end the TOML comment it is shown in.
    env.filters["oneline"] = lambda text: " ".join(str(text).split())
    return env


def render_config(info: ProjectInfo, *, site: str | None = None, domains: Sequence[str] = (),
                  host: str | None = None, database: str = "postgres",
                  health_path: str = "/", services: Services | None = None,
                  release: Sequence[releasecmds.Proposal] = ()) -> str:
    """The commented djship.toml text for a detected project."""
    settings = info.settings or f"{info.name.replace('-', '_')}.settings"
    package = settings.split(".")[0]
    wsgi = info.wsgi or (None if info.asgi else f"{package}.wsgi:application")
    groups, extras, reasons = _groups(info, settings, wsgi)
    system, system_reasons = system_packages(info, settings)
    template = _environment().get_template("djship.toml.j2")
    return template.render(
        groups=groups, extras=extras, group_reasons=reasons, system_packages=system,
        system_reasons=system_reasons,
        missing=info.missing, settings_values=info.settings_values,
        name=info.name, python=_python(info.python_spec), settings=settings, package=package,
        wsgi=wsgi, asgi=info.asgi, dependencies=info.dependencies or "requirements",
        requirements=info.requirements or "requirements.txt", manage=info.manage,
        site=site or info.name, domains=list(domains) or [PLACEHOLDER_DOMAIN],
        host_name=DEFAULT_HOST, address=host or PLACEHOLDER_ADDRESS, database=database,
        health_path=health_path, services=services or Services(),
        release=[p.command for p in release if p.proposed], release_reasons=release,
    )


def _groups(info: ProjectInfo, settings: str, wsgi: str | None
            ) -> tuple[list[str], list[str], list[str]]:
    """Dependency groups and extras holding packages the site imports at start."""
    if info.dependencies in (None, "requirements"):
        return [], [], []
    apps = [a for a in (wsgi, info.asgi) if a]
    return groups.proposal(groups.find(info.root, info.app_dir, settings, apps, [], []))


def system_packages(info: ProjectInfo, settings: str) -> tuple[list[str], list[str]]:
    """(Debian packages, why) that the project's dependencies need beyond djship's own."""
    names, source = syslibs.dependency_names(info.root, info.dependencies or "requirements",
                                             info.requirements or "requirements.txt")
    needs = syslibs.needs_for(names, source, groups.uses_geodjango(info.app_dir, settings))
    # Those djship installs anyway (libpq-dev, build-essential) need no line of their own.
    needs = [n for n in needs if set(n.packages) - set(apt.BASE)]
    wanted = [p for n in needs for p in n.packages if p not in apt.BASE]
    reasons = [f"{n.dist} {n.why} ({', '.join(n.packages)})" for n in needs]
    return list(dict.fromkeys(wanted)), reasons


def _python(spec: str | None) -> str | None:
    """``spec`` when project.python can hold it (djship reads requires-python anyway)."""
    try:
        return spec and parse_python(spec, "project.python").spec
    except UsageError:
        return None


def _refuse_overwrite(root: Path) -> None:
    target = root / CONFIG_NAME
    if target.exists():
        raise UsageError(f"{target} already exists",
                         hint="edit it, or run `djship init --force` to replace it "
                              "(your changes to it will be lost)")
    try:
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return
    if "djship" in pyproject.get("tool", {}):
        raise UsageError(f"{root / 'pyproject.toml'} already has a [tool.djship] table",
                         hint=f"run `djship init --force` to write {CONFIG_NAME}, "
                              "which then takes precedence")


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so an interrupted init leaves no half file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _init(root: Path, force: bool) -> tuple[Path, ProjectInfo]:
    root = root.resolve()
    if not force:
        _refuse_overwrite(root)
    info = detect(root)
    choice = choose_database(info.app_dir, info.settings, info.name)
    if choice.note:
        info.notes.append(choice.note)
    services = detect_services(info.app_dir, info.settings)
    info.notes += services.notes
    text = render_config(info, database=choice.database, services=services)
    # Never write a file that djship itself would reject.
    config = validate(tomllib.loads(text))
    note = python_note(root, config.project, info.app_dir)
    if note:
        info.notes.append(note)
    health = find_health_path(root, config, info.name)
    if health.note:
        info.notes.append(health.note)
    release = release_proposals(root, config, info)
    info.notes += [p.note(info.name) for p in release if not p.kept]
    if health.path or release:
        text = render_config(info, database=choice.database, health_path=health.path or "/",
                             services=services, release=release)
        validate(tomllib.loads(text))
    path = root / CONFIG_NAME
    _write_atomic(path, text)
    return path, info


def release_proposals(root: Path, config: Config, info: ProjectInfo
                      ) -> list[releasecmds.Proposal]:
    """The release commands the project needs (the settings as imported, else their source,
    and a Procfile); none when the djship.toml being replaced has the user's own."""
    site = info.name
    own = _own_release(root / CONFIG_NAME, site)
    if own is not None:
        if own:
            info.notes.append(f"kept your sites.{site}.release = {toml_value(own)}")
        return [releasecmds.Proposal(c, "", kept=True) for c in own]
    return releasecmds.propose(releasecmds.from_procfile(root),
                               _settings_proposals(root, config, site))


def _own_release(path: Path, site: str) -> list[str] | None:
    """The ``release`` list of ``site`` in an existing djship.toml (None: it has none)."""
    try:
        sites = tomllib.loads(path.read_text(encoding="utf-8")).get("sites", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    own = sites.get(site, {}).get("release") if isinstance(sites, dict) else None
    return [str(c) for c in own] if isinstance(own, list) else None


def _settings_proposals(root: Path, config: Config, site: str) -> list[releasecmds.Proposal]:
    """Read from the settings imported as on the servers; from their source if they do not
    import here (no Django locally, a variable only the servers have)."""
    module = config.settings_module(site)
    app_dir = (root / config.project.manage).parent
    domains = list(config.sites[site].domains)
    try:
        with tempfile.TemporaryDirectory(prefix="djship-init-") as tmp:
            env = production_env(config, site, Path(tmp))
            data, _ = import_with_standins(
                check_python(root, config), app_dir, module, env.values,
                lambda var: standin(var, domains), config.sites[site].env_name("SECRET_KEY"))
    except DjshipError:
        return releasecmds.from_source(app_dir, module)
    return releasecmds.from_settings(data)


def write_config(root: Path, force: bool) -> list[str]:
    """Write ``root/djship.toml`` (replacing one only with ``force``); return what is missing."""
    return _init(root, force)[1].missing


def run_init(root: Path, *, force: bool) -> InitResult:
    """Detect the project at ``root``, write djship.toml, and report what the user must check."""
    path, info = _init(root, force)
    settings = info.settings or f"{info.name.replace('-', '_')}.settings"
    proposed = _groups(info, settings, info.wsgi)
    notes = [*info.notes, *(f"proposed project.groups/extras: {r}" for r in proposed[2]),
             *(f"proposed project.system_packages: {r}"
               for r in system_packages(info, settings)[1]),
             f"replace the placeholder domain {PLACEHOLDER_DOMAIN} in sites.{info.name}.domains",
             f"replace the placeholder address {PLACEHOLDER_ADDRESS} of host {DEFAULT_HOST}"]
    return InitResult(path=path, notes=notes, missing=list(info.missing))
