"""`djship export heroku`: Procfile, Python version and requirements for buildpack platforms.

The same files work on Heroku, Render, Railway, Dokku and other Procfile/buildpack hosts.
"""

from __future__ import annotations

from djship.export.files import Planned
from djship.export.requirements import Runner, requirements_file, run_tool
from djship.export.settings import settings_file
from djship.export.target import Target
from djship.render import render


def procfile(target: Target) -> str:
    """The Procfile: gunicorn on $PORT, migrations in the release phase."""
    return render("export/Procfile.j2", target.root, wsgi=target.wsgi,
                  chdir=target.app_subdir, workers=target.workers, manage=target.manage)


def heroku_files(target: Target, run: Runner = run_tool) -> tuple[list[Planned], list[str]]:
    """Every file the export writes, and the reasons for the settings changes."""
    files = [
        Planned("Procfile", procfile(target)),
        Planned(".python-version", f"{target.python}\n", "keep"),
        Planned("runtime.txt", f"python-{target.python}\n", "keep"),
        requirements_file(target, run),
    ]
    settings, reasons = settings_file(target)
    return files + ([settings] if settings else []), reasons


def next_steps(target: Target) -> list[str]:
    """What to do after exporting."""
    hosts = ",".join(target.domains) or "<app>.herokuapp.com"
    return [
        "commit the files: git add Procfile .python-version runtime.txt requirements.txt "
        "and the settings",
        "heroku create && heroku addons:create heroku-postgresql (sets DATABASE_URL)",
        f"heroku config:set {target.var('SECRET_KEY')}=$(python -c 'import secrets; "
        f"print(secrets.token_urlsafe(50))') {target.var('ALLOWED_HOSTS')}={hosts}",
        "git push heroku main   (collectstatic runs in the build, migrate in the release "
        "phase)",
        f"Render/Railway/Dokku: the same Procfile; set DATABASE_URL, {target.var('SECRET_KEY')} "
        f"and {target.var('ALLOWED_HOSTS')} there",
    ]
