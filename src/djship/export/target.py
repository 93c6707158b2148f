"""What an export needs to know about the project: from djship.toml, or detected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from djship.config import CONFIG_NAME, load
from djship.config.loader import find_source
from djship.errors import ConfigError, UsageError
from djship.project import detect, detect_python, minimum_python

DEFAULT_PYTHON = "3.12"


@dataclass(frozen=True)
class Target:
    """The project as an export sees it; paths are relative to ``root``."""

    root: Path
    name: str
    settings: str
    wsgi: str
    manage: str
    dependencies: str
    requirements: str
    python: str
    domains: tuple[str, ...] = ()
    health_path: str = "/"
    workers: int = 2
    env: dict[str, str] = field(default_factory=dict)
    env_names: dict[str, str] = field(default_factory=dict)  # [sites.X.env_names]

    def var(self, name: str) -> str:
        """The name the project's settings read ``name`` under (DJANGO_SECRET_KEY, ...)."""
        return self.env_names.get(name, name)

    @property
    def app_subdir(self) -> str:
        """The folder of manage.py relative to the root ("" when it is the root)."""
        parent = Path(self.manage).parent.as_posix()
        return "" if parent == "." else parent

    @property
    def wsgi_module(self) -> str:
        """The WSGI reference for gunicorn, e.g. ``mysite.wsgi:application``."""
        return self.wsgi


def load_target(root: Path, environment: str | None = None, site: str | None = None) -> Target:
    """The project at ``root``: its djship config when there is one, else what detect finds."""
    root = root.resolve()
    try:
        find_source(root, environment)
    except ConfigError:
        if environment:
            raise
        return _detected(root)
    config, source = load(root, environment)
    names = list(config.sites)
    name = site or (names[0] if len(names) == 1 else None)
    if name is None or name not in config.sites:
        raise UsageError("choose the site to export with --site",
                         hint=f"sites are: {', '.join(names)}")
    s = config.sites[name]
    p = config.project
    if not p.wsgi:
        raise UsageError("export needs a WSGI application (project.wsgi)",
                         hint="set project.wsgi = 'mysite.wsgi:application' in djship.toml")
    base = source.path.parent
    python = ((p.python and minimum_python(p.python))
              or detect_python([base, (base / p.manage).parent]) or DEFAULT_PYTHON)
    return Target(base, name, config.settings_module(name), p.wsgi, p.manage, p.dependencies,
                  p.requirements, python, tuple(s.domains), s.health_path, s.workers,
                  dict(s.env), dict(s.env_names))


def _detected(root: Path) -> Target:
    info = detect(root)
    if info.settings is None or info.wsgi is None:
        missing = "; ".join(info.missing) or "settings or WSGI application"
        raise UsageError(f"cannot export: {missing}",
                         hint=f"run `djship init` and set them in {CONFIG_NAME}")
    return Target(info.root, info.name, info.settings, info.wsgi, info.manage,
                  info.dependencies or "requirements", info.requirements or "requirements.txt",
                  info.python or DEFAULT_PYTHON)
