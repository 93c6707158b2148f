"""`djship init --settings`: propose production settings as a diff, apply with a backup."""

from __future__ import annotations

import ast
import difflib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from djship.config.schema import Config
from djship.errors import DjshipError
from djship.project import module_file
from djship.settings import deps, hook
from djship.settings.analysis import Edit, plan_edits
from djship.settings.envcheck import Probed, ServerLookup, probe_settings
from djship.settings.envnames import names_change
from djship.settings.localenv import with_check_env
from djship.settings.patch import patched_text
from djship.settings.probe import SettingsImportError, import_settings, production_env
from djship.settings.proof import Trial, verify_edits
from djship.settings.reasons import reasoned
from djship.settings.snippets import DbLibrary, Style
from djship.settings.source import SettingsSource, load_source, top_level_names

BACKUPS = ".djship/backups"


@dataclass
class FileChange:
    """A file's old text (None: new file) and new text (None: delete it)."""

    path: Path
    old: str | None
    new: str | None

    def diff(self, root: Path) -> str:
        """The change as a unified diff, paths relative to ``root``."""
        rel = self.path.relative_to(root).as_posix()
        return "".join(difflib.unified_diff(
            (self.old or "").splitlines(keepends=True), (self.new or "").splitlines(keepends=True),
            fromfile="/dev/null" if self.old is None else f"a/{rel}",
            tofile="/dev/null" if self.new is None else f"b/{rel}"))


@dataclass
class SettingsPlan:
    """Every file change production needs, why, and what the user should do next."""

    module: str
    changes: list[FileChange] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)  # distributions the new code imports
    keys: set[str] = field(default_factory=set)  # the settings the edits change (snippet keys)

    def diff(self, root: Path) -> str:
        """All changes as one unified diff."""
        return "".join(c.diff(root) for c in self.changes)


def style_for(source: SettingsSource, domains: list[str],
              declared: set[str] | None = None, names: dict[str, str] | None = None) -> Style:
    """Generated code in the project's quotes, defaulting to the site's domains.

    With ``declared`` (the project's dependencies) the database block uses the library the
    project already has, or plain ``os.environ``; without it, dj-database-url (exports).
    """
    db: DbLibrary = "dj-database-url" if declared is None else db_library(source, declared)
    return Style(quote=source.quote(), domains=tuple(domains),
                 base_dir="BASE_DIR" in {a.name for a in source.assignments}, db_library=db,
                 names=tuple(sorted((names or {}).items())))


def db_library(source: SettingsSource, declared: set[str]) -> DbLibrary:
    """The DATABASE_URL library the project already uses or lists; else "plain"."""
    modules = {a.name.split(".")[0] for f in source.files for n in f.tree.body
               if isinstance(n, ast.Import) for a in n.names if a.asname is None}
    if "dj_database_url" in modules or "dj-database-url" in declared:
        return "dj-database-url"
    # "environ" may also be os.environ imported by name: only the module will do.
    bound = set().union(*(top_level_names(f.tree) for f in source.files))
    if "environ" in modules or ("django-environ" in declared and "environ" not in bound):
        return "django-environ"
    return "plain"


def check_imports(root: Path, config: Config, site: str, module: str | None = None,
                  source: SettingsSource | None = None, server: ServerLookup | None = None
                  ) -> Probed:
    """Import the settings with the production environment, a stand-in for each variable
    they need that djship does not set; raise naming file and error."""
    app_dir = (root / config.project.manage).parent
    module = module or config.settings_module(site)
    def attempt(python: str) -> Probed:
        with tempfile.TemporaryDirectory(prefix="djship-check-") as tmp:
            env = production_env(config, site, Path(tmp))
            env.values["DJANGO_SETTINGS_MODULE"] = module
            return probe_settings(python, app_dir, config, site, module, env.values, source,
                                  server)

    # On a fresh clone the settings' imports are not installed: the check environment has them.
    return with_check_env(root, config, attempt)


def planned_settings(root: Path, config: Config, site: str
                     ) -> tuple[SettingsSource, set[str]]:
    """The settings' source and the settings `plan_settings` would change (no import)."""
    app_dir = (root.resolve() / config.project.manage).parent
    module = config.settings_module(site)
    source = load_source(app_dir, module)
    hooked, _ = _through_hook(root.resolve(), app_dir, source, module)
    declared = deps.declared(root, config.project) or set()
    s = config.sites[site]
    edits = plan_edits(hooked, style_for(hooked, s.domains, declared, s.env_names))
    return source, {e.snippet.key for e in edits}


def plan_settings(root: Path, config: Config, site: str,
                  config_file: tuple[Path, tuple[str, ...]] | None = None,
                  server: ServerLookup | None = None) -> SettingsPlan:
    """The changes that make the site's settings module (and dependencies) production-ready.

    ``config_file``: djship.toml (and the table inside it holding djship's config), where
    the names of the variables the settings read are recorded. ``server``: the variables set
    on the servers, as stand-ins of their shape (asked only if the settings need one)."""
    root = root.resolve()
    module = config.settings_module(site)
    app_dir = (root / config.project.manage).parent
    source = load_source(app_dir, module)  # raises on a syntax error, before any import
    try:
        probed = check_imports(root, config, site, source=source, server=server)
    except SettingsImportError as exc:
        if not exc.standins:
            raise
        raise needs_values(exc, site) from exc
    plan = SettingsPlan(module)
    _record_names(config, site, probed, config_file, plan)
    source, hook_notes = _through_hook(root, app_dir, source, module)
    declared = deps.declared(root, config.project) or set()
    names = {**config.sites[site].env_names, **probed.renamed}  # as djship.toml will say
    edits = plan_edits(source, style_for(source, config.sites[site].domains, declared, names))
    edits = _proven(root, config, site, source, probed, edits, plan)
    plan.keys = {e.snippet.key for e in edits}
    plan.reasons += [e.reason for e in edits]
    target = source.target.path
    if edits:
        old = target.read_text(encoding="utf-8") if target.is_file() else None
        plan.changes.append(FileChange(target, old, patched_text(source.target, edits)))
        plan.notes += hook_notes
    plan_dependencies(root, config, site, edits, str(probed.data.get("django") or ""), plan)
    if any(e.snippet.key == "DEBUG" for e in edits):
        plan.notes.append("DEBUG is now off unless DEBUG=1 is set: use DEBUG=1 for runserver")
    for var in probed.missing:
        plan.notes.append(f"the settings need {var} at import: set it with `djship env set "
                          f"{var}=...` once the site is provisioned (or in [sites.{site}.env] "
                          "of djship.toml if it is not a secret); djship used a stand-in here")
    return plan


def _proven(root: Path, config: Config, site: str, source: SettingsSource, probed: Probed,
            edits: list[Edit], plan: SettingsPlan) -> list[Edit]:
    """The edits whose reasons hold for the imported settings and that, tried on a copy of
    the project, break nothing; notes say what was left out and why."""
    module = config.settings_module(site)
    app_dir = (root / config.project.manage).parent
    edits, notes = reasoned(edits, probed, lambda: import_settings(
        probed.python, app_dir, module, probed.env, probed.secret_var))
    verdict = verify_edits(Trial(root, config, site, module, probed, source.target), edits)
    plan.notes += notes + verdict.notes + [
        f"djship does not propose {e.snippet.key} ({e.reason}): tried on a copy of the "
        f"project, {why}" for e, why in verdict.dropped]
    return verdict.kept


def needs_values(exc: SettingsImportError, site: str) -> DjshipError:
    """The settings need variables whose stand-ins did not do: say which, and where to set
    them for real (or, for those set on the servers already, that only the servers can try
    the real values)."""
    if exc.from_servers >= set(exc.standins):
        names = ", ".join(sorted(exc.from_servers))
        return DjshipError(
            f"{exc.message}; the settings read {names} at import, set on the servers, and "
            "refuse the stand-in of the same shape djship used here (the value never leaves "
            "the servers)", hint="djship cannot try these settings on this machine: "
            "`djship deploy` checks them on the server with the real values; djship changed "
            "nothing")
    tried = ", ".join(f"{k}={v!r}" for k, v in exc.standins.items()
                      if k not in exc.from_servers)
    return DjshipError(f"{exc.message}; the settings read {', '.join(exc.standins)} at import, "
                       f"which djship gave stand-in values ({tried})",
                       hint=f"set the real values in [sites.{site}.env] of djship.toml (or, "
                            "for a secret, with `djship env set NAME=-` once the site is "
                            "provisioned), then run this again; djship changed nothing")


def _record_names(config: Config, site: str, probed: Probed,
                  config_file: tuple[Path, tuple[str, ...]] | None, plan: SettingsPlan) -> None:
    """Record in djship.toml the variables the settings read instead of djship's names."""
    if not probed.renamed or config_file is None:
        return
    path, table = config_file
    old, new = names_change(path, table, site, probed.renamed)
    plan.changes.append(FileChange(path, old, new))
    s = config.sites[site]
    for setting, var in probed.renamed.items():
        plan.reasons.append(f"the settings read {setting} from {var}: djship sets {var} "
                            f"instead of {s.env_name(setting)} ([sites.{site}.env_names])")
    if "SECRET_KEY" in probed.renamed:
        plan.notes.append(f"`djship provision` generates {probed.renamed['SECRET_KEY']} on "
                          "the servers (a site provisioned before keeps its other key)")


def _through_hook(root: Path, app_dir: Path, source: SettingsSource, module: str
                  ) -> tuple[SettingsSource, list[str]]:
    """Aim the changes at the production module's override hook, when it has a usable one."""
    found = hook.find_hook(app_dir, source)
    if found is None:
        return source, []
    rel, prod = found.path.relative_to(root), source.target.path.relative_to(root)
    if hook.ignored_by_git(root, found.path):
        return source, [f"{prod} imports {rel} when present, but git ignores {rel}, so "
                        f"releases would not contain it: djship changed {prod} instead"]
    return hook.hooked_source(source, found, module), [
        f"{prod} is left as it is: the production settings went to {rel}, which it imports "
        "when present (commit it)"]


def plan_dependencies(root: Path, config: Config, site: str, edits: list[Edit],
                      django_version: str, plan: SettingsPlan) -> None:
    """Add packages the new settings import, and the site's database driver."""
    wanted = [p for e in edits if (p := e.snippet.package)]
    plan.packages += [p for p in wanted if p not in plan.packages]
    if config.sites[site].database == "postgres" and not deps.POSTGRES_DRIVERS & (
            deps.declared(root, config.project) or set()):
        wanted.append("psycopg")
    old, new, notes = deps.with_packages(root, config.project, list(dict.fromkeys(wanted)),
                                         django_version)
    plan.notes += notes
    if new is not None and new != old:
        plan.changes.append(FileChange(deps.dependency_file(root, config.project), old, new))


def apply_plan(root: Path, plan: SettingsPlan) -> Path:
    """Write the changes (each atomically), keeping backups and the diff; return the folder."""
    root = root.resolve()
    backup = root / BACKUPS / time.strftime("%Y%m%d-%H%M%S")
    backup.mkdir(parents=True, exist_ok=True)
    ignore = root / BACKUPS / ".gitignore"
    if not ignore.exists():  # old settings may hold the old key: keep them out of git
        ignore.write_text("# djship's backups of changed files: not for the repository\n*\n",
                          encoding="utf-8")
    (backup / "changes.diff").write_text(plan.diff(root), encoding="utf-8")
    for change in plan.changes:
        if change.old is not None:
            saved = backup / change.path.relative_to(root)
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(change.old, encoding="utf-8")
    for change in plan.changes:
        if change.new is None:
            change.path.unlink(missing_ok=True)
        else:
            write_atomic(change.path, change.new)
    return backup


def restore(root: Path, plan: SettingsPlan) -> None:
    """Put every changed file back as it was before ``apply_plan``."""
    for change in plan.changes:
        if change.old is None:
            change.path.unlink(missing_ok=True)
        else:
            write_atomic(change.path, change.old)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, keeping the file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify_applied(root: Path, config: Config, site: str, plan: SettingsPlan,
                   server: ServerLookup | None = None) -> None:
    """Import the patched settings; on failure put the old files back and raise."""
    try:
        check_imports(root, config, site, plan.module, server=server)
    except SettingsImportError as exc:
        # The import worked before the patch, so a missing module is one the new code imports.
        missing = {deps.IMPORTS.get(m) for m in re.findall(r"No module named '(\w+)", exc.detail)}
        if exc.type_name == "ModuleNotFoundError" and missing & set(plan.packages):
            plan.notes.append("install the new requirements locally: pip install "
                              + " ".join(sorted(p for p in plan.packages if p in missing)))
            return
        restore(root, plan)
        raise DjshipError(f"the patched settings do not import, so djship restored them: "
                          f"{exc.message}", hint="please report this as a djship bug") from exc


def settings_file(root: Path, config: Config, site: str) -> Path | None:
    """The source file of the site's settings module."""
    return module_file((root / config.project.manage).parent, config.settings_module(site))
