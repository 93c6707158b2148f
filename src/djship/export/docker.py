"""`djship export docker`: a multi-stage Dockerfile and compose.yaml with nginx and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from djship.export.files import Planned
from djship.export.requirements import Runner, requirements_file, run_tool
from djship.export.settings import settings_file
from djship.export.target import Target
from djship.render import render
from djship.steps.nginx import site_id

NGINX_CONF = "docker/nginx/site.conf"
NGINX_UPSTREAM = "docker/nginx/upstream.conf"
ENV_FILE = ".env.docker"


@dataclass(frozen=True)
class ContainerPaths:
    """The paths nginx-site.conf.j2 uses, as the nginx container sees them."""

    static: str = "/srv/static"
    media: str = "/srv/media"
    nginx_upstream: str = "/etc/nginx/djship/upstream.conf"


def nginx_site(target: Target) -> str:
    """The nginx server block: djship's VPS template with the containers' paths."""
    return render("nginx-site.conf.j2", target.root, site=target.name,
                  site_id=site_id(target.name), paths=ContainerPaths(),
                  server_names=" ".join(target.domains) or "_",
                  websockets=False)  # the export serves WSGI only


def _values(target: Target) -> dict[str, object]:
    subdir = f"/{target.app_subdir}" if target.app_subdir else ""
    return {"name": target.name, "python": target.python, "settings": target.settings,
            "wsgi": target.wsgi, "workers": target.workers, "health_path": target.health_path,
            "subdir": subdir, "secret_var": target.var("SECRET_KEY")}


def env_example(target: Target) -> str:
    """.env.docker.example: every variable the services read, with placeholder secrets."""
    hosts = ",".join([*target.domains, "localhost", "127.0.0.1"])
    origins = ",".join([f"https://{d}" for d in target.domains] + ["http://localhost:8080"])
    db = re.sub(r"[^a-z0-9_]", "_", target.name)
    env = sorted((k, v) for k, v in target.env.items() if k != "DJANGO_SECURE_SSL")
    return render("export/env.docker.example.j2", target.root, hosts=hosts, origins=origins,
                  db=db, env=env, var=target.var)


def gitignore(root: Path) -> Planned:
    """.gitignore with .env.docker in it (the user's file, extended)."""
    path = root / ".gitignore"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = {line.strip().lstrip("/") for line in old.splitlines()}
    if ENV_FILE in lines:
        return Planned(".gitignore", old, "merged")
    sep = "" if not old or old.endswith("\n") else "\n"
    return Planned(".gitignore", f"{old}{sep}# secrets for compose.yaml (djship export docker)\n"
                                 f"{ENV_FILE}\n", "merged")


def docker_files(target: Target, run: Runner = run_tool) -> tuple[list[Planned], list[str]]:
    """Every file the export writes, and the reasons for the settings changes."""
    values = _values(target)
    root = target.root
    files = [
        Planned("Dockerfile", render("export/Dockerfile.j2", root, **values)),
        Planned(".dockerignore", render("export/dockerignore.j2", root,
                                        static_root="staticfiles")),
        Planned("compose.yaml", render("export/compose.yaml.j2", root,
                                       upstream=ContainerPaths().nginx_upstream, **values)),
        Planned(NGINX_CONF, nginx_site(target)),
        Planned(NGINX_UPSTREAM, render("export/nginx-upstream.conf.j2", root)),
        Planned(f"{ENV_FILE}.example", env_example(target)),
        gitignore(root),
        requirements_file(target, run),
    ]
    settings, reasons = settings_file(target)
    return files + ([settings] if settings else []), reasons


def next_steps(target: Target) -> list[str]:
    """What to do after exporting."""
    return [
        f"cp {ENV_FILE}.example {ENV_FILE} and replace every change-me (keep it out of git)",
        "docker compose up -d --build   (builds the image, migrates, starts web, nginx, db)",
        "open http://localhost:8080/   (HTTP_PORT=... docker compose up -d for another port)",
        "commit Dockerfile, .dockerignore, compose.yaml, docker/, .env.docker.example, "
        "requirements.txt and the settings",
    ]
