"""`djship check`: Django's deploy checks, plus what they miss, in the production environment."""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from djship.config.schema import Config
from djship.errors import DjshipError
from djship.project import module_file
from djship.settings import deps, groups
from djship.settings.djangocheck import deploy_findings
from djship.settings.envcheck import Probed, ServerLookup, probe_settings
from djship.settings.evaluated import host_allowed, settings_findings
from djship.settings.finding import ENV_ONLY_ON_SERVERS, FIX_SETTINGS, Finding
from djship.settings.fix import plan_settings, planned_settings
from djship.settings.localenv import EnvUse, Progress, with_check_env
from djship.settings.probe import (
    DjangoNotImportable,
    SettingsImportError,
    import_settings,
    manage_check_deploy,
    production_env,
)
from djship.settings.source import SettingsSource

__all__ = ["ENV_ONLY_ON_SERVERS", "FIX_SETTINGS", "Finding", "deploy_findings", "host_allowed",
           "run_check", "settings_findings"]


def run_check(root: Path, config: Config, site: str, *, settings_passed: bool = False,
              server: ServerLookup | None = None, env_use: EnvUse = "build",
              progress: Progress | None = None) -> list[Finding]:
    """Every problem that would break or weaken the site in production; empty when none.

    ``settings_passed``: the settings and what they read are unchanged since they passed,
    so only `check --deploy` (which reads the whole app) runs again. ``server``: reads the
    variables set on the servers (as stand-ins), asked only when the settings need one
    that djship does not set. ``env_use``: whether a project without an environment of its
    own gets a check environment built (localenv), ``progress`` hearing how it goes."""
    root = root.resolve()
    findings = project_findings(root, config, site)
    manage = root / config.project.manage
    if not manage.is_file():
        return findings
    try:
        return findings + with_check_env(
            root, config, lambda python: _settings_check(python, root, config, site,
                                                         settings_passed, server),
            use=env_use, progress=progress)
    except SettingsImportError as exc:
        # Failing with the servers' stand-ins only: the servers' own check decides.
        code = ENV_ONLY_ON_SERVERS if exc.from_servers and exc.from_servers >= set(
            exc.standins) else "settings.import"
        return [*findings, Finding("error", code, exc.message, _import_fix(exc, config, site))]


def _settings_check(python: str, root: Path, config: Config, site: str, settings_passed: bool,
                    server: ServerLookup | None) -> list[Finding]:
    manage = root / config.project.manage
    module = config.settings_module(site)
    source, proposed = proposals(root, config, site)
    with tempfile.TemporaryDirectory(prefix="djship-check-") as tmp:
        env = production_env(config, site, Path(tmp)).values
        plain_http = env.get("DJANGO_SECURE_SSL", "").lower() in ("0", "false", "no", "off")
        if settings_passed:
            deploy_out = manage_check_deploy(python, manage, env)
            return _proven_fixes(lambda keys: deploy_findings(deploy_out, plain_http, keys),
                                 proposed, root, config, site, server)
        probed = probe_settings(python, manage.parent, config, site, module, env, source,
                                server)
        # Two independent Python processes: run them side by side (a deploy waits on them).
        with ThreadPoolExecutor(max_workers=2) as pool:
            again = pool.submit(import_settings, python, manage.parent, module, probed.env,
                                probed.secret_var)
            deploy = pool.submit(manage_check_deploy, python, manage, probed.env)
            findings = env_findings(probed, config, site)
            again_data, deploy_out = again.result(), deploy.result()
    return findings + _proven_fixes(
        lambda keys: settings_findings(probed, again_data, config, site, keys)
        + deploy_findings(deploy_out, plain_http, keys), proposed, root, config, site, server)


def _proven_fixes(judge: Callable[[set[str]], list[Finding]], proposed: set[str], root: Path,
                  config: Config, site: str, server: ServerLookup | None) -> list[Finding]:
    """``judge(proposed)``; when a finding sends the user to `init --settings`, judged again
    with the edits init really proposes (tried on a copy, reasons from the values), so the
    fix never leads to "no change needed"."""
    found = judge(proposed)
    if not any(f.fix == FIX_SETTINGS for f in found):
        return found
    try:
        proven = plan_settings(root, config, site, server=server).keys
    except DjshipError:
        return found
    return found if proven == proposed else judge(proven)


def proposals(root: Path, config: Config, site: str
              ) -> tuple[SettingsSource | None, set[str]]:
    """The settings' source, and the settings `djship init --settings` would change: a fix
    points there only for those, so it never leads to "no change needed"."""
    try:
        return planned_settings(root, config, site)
    except DjshipError:
        return None, set()


def deploy_check(root: Path, config: Config, site: str, *, settings_passed: bool = False,
                 server: ServerLookup | None = None) -> list[Finding]:
    """`run_check` for `djship deploy`: without a local Django, the file checks and a warning.
    ``server``: the variables set on the servers, as stand-ins (as `djship check` asks).

    A deploy uses a check environment `djship check` built, but builds none itself: that
    can take minutes, which a deploy should not spend by surprise (the warning says so)."""
    try:
        findings = run_check(root, config, site, settings_passed=settings_passed,
                             server=server, env_use="reuse")
    except DjangoNotImportable as exc:
        return [*project_findings(root.resolve(), config, site),
                Finding("warning", "check.skipped", f"settings not checked: {exc.message}",
                        exc.hint or "run djship from the project's virtualenv")]
    # A variable set only on the servers (`djship env set`) cannot be known here; the
    # server-side `check --deploy` of the deploy imports the settings with the real one.
    return [replace(f, level="warning", message=f"settings not checked locally: {f.message}")
            if f.code == ENV_ONLY_ON_SERVERS else f for f in findings]


def _import_fix(exc: SettingsImportError, config: Config, site: str) -> str:
    fix = "make the settings import with the production environment djship sets"
    unset = {k: v for k, v in exc.standins.items() if k not in exc.from_servers}
    if unset:
        shown = ", ".join(f"{k}={v!r}" for k, v in unset.items())
        fix += (f"; djship gave these variables, which the settings need and neither "
                f"djship.toml nor the servers set, stand-in values: {shown}. Set the real "
                f"ones: `djship env set NAME=...` (once provisioned), or in "
                f"[sites.{site}.env] of djship.toml")
    if exc.from_servers:
        fix += (f"; {', '.join(sorted(exc.from_servers))} "
                f"{'is' if len(exc.from_servers) == 1 else 'are'} set on the servers, and "
                "this machine imported the settings with a stand-in of the same shape (the "
                "value never leaves them): if the settings refuse only that stand-in, "
                "`djship deploy` checks them on the server with the real value")
    return fix


def project_findings(root: Path, config: Config, site: str) -> list[Finding]:
    """Files the deploy needs: manage.py, settings, the app, the dependency file."""
    out: list[Finding] = []
    proj = config.project
    manage = root / proj.manage
    if not manage.is_file():
        out.append(Finding("error", "project.manage", f"{manage} does not exist",
                           "set project.manage in djship.toml"))
    elif module_file(manage.parent, config.settings_module(site)) is None:
        out.append(Finding("error", "project.settings", f"settings module "
                           f"{config.settings_module(site)} not found under {manage.parent}",
                           "set project.settings (or the site's settings) in djship.toml"))
    app = proj.wsgi or proj.asgi or ""
    if manage.is_file() and not _app_defined(manage.parent, app):
        out.append(Finding("error", "project.app", f"{app} does not resolve to a file "
                           "defining it", "set project.wsgi in djship.toml to the application's "
                           "'module:name', e.g. 'mysite.wsgi:application'"))
    return out + dependency_findings(root, config, site)


def _app_defined(app_dir: Path, ref: str) -> bool:
    module, _, attr = ref.partition(":")
    path = module_file(app_dir, module)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8")) if path else None
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    return tree is not None and any(
        isinstance(n, ast.Name) and n.id == attr and isinstance(n.ctx, ast.Store)
        for n in ast.walk(tree))


def dependency_findings(root: Path, config: Config, site: str) -> list[Finding]:
    """The dependency file exists and lists Django, the database driver and what settings use."""
    proj = config.project
    path = deps.dependency_file(root, proj)
    names = deps.declared(root, proj)
    if names is None:
        return [Finding("error", "dependencies.missing", f"no dependency file: {path} is missing",
                        f"create it (`pip freeze > {proj.requirements}`), or run "
                        "`djship init --settings`")]
    wanted = {"django"} | _settings_imports(root, config, site)
    out = [Finding("error", "dependencies.package", f"{path.name} does not list {name}",
                   f"add {name} to {path.name}") for name in sorted(wanted - names)]
    out += group_findings(root, config, site)
    if config.sites[site].database == "postgres" and not names & deps.POSTGRES_DRIVERS:
        out.append(Finding("error", "dependencies.postgres", f"the site uses PostgreSQL but "
                           f"{path.name} lists no driver", f"add psycopg[binary] to {path.name}"))
    return out


def group_findings(root: Path, config: Config, site: str) -> list[Finding]:
    """Runtime packages pyproject.toml lists only in a group or extra djship leaves out."""
    out = []
    for m in groups.misplaced(root, config, site):
        out.append(Finding(
            "error", "dependencies.group",
            f"{m.module} ({m.where}) comes from {m.dist}, which pyproject.toml lists only in "
            f"{m.describe()}: djship installs the main dependencies, so the import fails on "
            "the servers", f"add {m.setting()} in djship.toml (or move {m.dist} to the main "
            "dependencies)"))
    return out


def _settings_imports(root: Path, config: Config, site: str) -> set[str]:
    """Distributions the settings module's own imports need (dj-database-url, ...)."""
    path = module_file((root / config.project.manage).parent, config.settings_module(site))
    try:
        tree = ast.parse(path.read_text(encoding="utf-8")) if path else None
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    tops = {(a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0]
            for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
            and not getattr(n, "level", 0) for a in n.names} if tree else set()
    return {deps.IMPORTS[t] for t in tops if t in deps.IMPORTS}


def env_findings(probed: Probed, config: Config, site: str) -> list[Finding]:
    """Variables the settings read under another name than djship sets, or need and lack."""
    s = config.sites[site]
    out = [Finding("error", "settings.env_names", f"the settings read {setting} from {var}, "
                   f"but djship sets {s.env_name(setting)}",
                   f"run `djship init --settings`: it records {setting} = \"{var}\" in "
                   f"[sites.{site}.env_names] of djship.toml, so djship sets {var}")
           for setting, var in probed.renamed.items()]
    why = f" (could not ask the servers: {probed.server_reason})" if probed.server_reason else ""
    after = "" if probed.provisioned else "; once `djship provision` has run"
    out += [Finding("error", ENV_ONLY_ON_SERVERS, f"the settings need {var} at import, and "
                    f"neither [sites.{site}.env] in djship.toml nor the servers set it{why}",
                    f"`djship env set {var}=...` (a secret{after}), or add {var} to "
                    f"[sites.{site}.env] in djship.toml (not a secret)")
            for var in probed.missing]
    return out
