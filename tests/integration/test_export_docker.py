"""`djship export docker` for real: build the image, run compose (web, nginx, PostgreSQL).

A private dockerd is started for the module and stopped by PID. Nothing is pulled: the base
image is a debootstrap rootfs (cached under /var/tmp), nginx and PostgreSQL images are built
from it, and the generated files take them through BASE_IMAGE / NGINX_IMAGE / POSTGRES_IMAGE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_engine import DOCKER, Engine, base_tarball, docker_engine, package_hosts
from export_helpers import EXAMPLE, fetch, free_port, need, tree_state, wait_http

DJSHIP = str(Path(sys.executable).parent / "djship")
COMPOSE = "/usr/bin/docker-compose"
SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
NGINX_DOCKERFILE = 'FROM djship-test/base\nCMD ["nginx", "-g", "daemon off;"]\n'
PG_DOCKERFILE = """FROM djship-test/base
COPY entrypoint.sh /entrypoint.sh
CMD ["sh", "/entrypoint.sh"]
"""
# What the official postgres image does with POSTGRES_USER/PASSWORD/DB, in a few lines.
PG_ENTRYPOINT = r"""set -e
export PATH="$(ls -d /usr/lib/postgresql/*/bin | tail -n1):$PATH"
D=/var/lib/postgresql/data
mkdir -p "$D" /var/run/postgresql
chown postgres:postgres "$D" /var/run/postgresql && chmod 700 "$D"
if [ ! -s "$D/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pw && chown postgres /tmp/pw
  su postgres -s /bin/sh -c "initdb -D $D -U $POSTGRES_USER --pwfile=/tmp/pw -A scram-sha-256 --auth-local=trust"
  rm /tmp/pw
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$D/pg_hba.conf"
  su postgres -s /bin/sh -c "pg_ctl -D $D -w -o '-c listen_addresses=' start && createdb -U $POSTGRES_USER $POSTGRES_DB && pg_ctl -D $D -w stop"
fi
exec su postgres -s /bin/sh -c "exec postgres -D $D -c listen_addresses='*'"
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """Our own dockerd, with the base, nginx and postgres images imported/built."""
    need("needs root (dockerd, debootstrap)", os.geteuid() == 0)
    for tool in ("dockerd", "debootstrap", DOCKER, COMPOSE):
        need(f"{tool} not found: apt-get install -y docker.io docker-compose debootstrap",
             shutil.which(tool) is not None)
    tarball = base_tarball()
    with docker_engine() as eng:
        eng.docker("import", str(tarball), "djship-test/base")
        for name, files in (("nginx", {"Dockerfile": NGINX_DOCKERFILE}),
                            ("postgres", {"Dockerfile": PG_DOCKERFILE,
                                          "entrypoint.sh": PG_ENTRYPOINT})):
            ctx = Path(eng.env["DOCKER_HOST"].removeprefix("unix://")).parent / name
            ctx.mkdir()
            for fname, text in files.items():
                (ctx / fname).write_text(text)
            eng.docker("build", "-t", f"djship-test/{name}", str(ctx))
        yield eng


def export(project: Path) -> subprocess.CompletedProcess[str]:
    """Run `djship export docker` in the project."""
    proc = subprocess.run([DJSHIP, "-C", str(project), "export", "docker"], capture_output=True,
                          text=True, check=False, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    return proc


def validate_compose(project: Path, env: dict[str, str]) -> None:
    """compose.yaml against the Compose specification schema, then `docker-compose config`."""
    if SPEC.is_file():
        script = ("import json, sys, yaml, jsonschema; "
                  "jsonschema.validate(yaml.safe_load(open(sys.argv[1])), "
                  "json.load(open(sys.argv[2])))")
        subprocess.run(["/usr/bin/python3", "-c", script, str(project / "compose.yaml"),
                        str(SPEC)], check=True, capture_output=True)
    subprocess.run([COMPOSE, "-f", "compose.yaml", "config", "-q"], cwd=project, env=env,
                   check=True, capture_output=True)


def test_build_and_compose(engine: Engine, tmp_path: Path) -> None:
    """Build once; non-root container; compose serves the DB page and static via nginx."""
    project = tmp_path / "guestbook"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".djship"))
    export(project)
    before = tree_state(project)
    assert "nothing to change" in export(project).stderr
    assert tree_state(project) == before
    example = (project / ".env.docker.example").read_text()
    (project / ".env.docker").write_text(example.replace("change-me-to-a-long-random-string",
                                                         "s" * 60).replace("change-me", "pw1"))
    hosts = [a for h in package_hosts() for a in ("--add-host", h)]
    build = engine.docker("build", "--network", "host", *hosts, "--build-arg",
                          "BASE_IMAGE=djship-test/base", "--build-arg", f"PIP_CERT={CA_BUNDLE}",
                          "--build-arg", f"SSL_CERT_FILE={CA_BUNDLE}", "-t", "djship-test/app",
                          str(project), check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    uid = engine.docker("run", "--rm", "--network", "none", "djship-test/app", "id", "-u").stdout.strip()
    assert uid.isdigit() and int(uid) != 0
    port = free_port()
    env = {**engine.env, "APP_IMAGE": "djship-test/app", "NGINX_IMAGE": "djship-test/nginx",
           "POSTGRES_IMAGE": "djship-test/postgres", "HTTP_PORT": str(port),
           "COMPOSE_PROJECT_NAME": f"djx{uuid.uuid4().hex[:8]}"}
    validate_compose(project, env)

    def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([COMPOSE, "-f", "compose.yaml", *args], cwd=project, env=env,
                              capture_output=True, text=True, check=check, timeout=600)

    try:
        up = compose("up", "-d", check=False)
        assert up.returncode == 0, up.stderr[-3000:] + compose("logs", check=False).stdout[-3000:]
        status, body = wait_http(f"http://127.0.0.1:{port}/", 90)
        assert status == 200, body[-1500:] + compose("logs", check=False).stdout[-3000:].encode()
        css = re.search(rb'href="(/static/[^"]+\.css)"', body)
        assert css, body[:1500]
        count = compose("exec", "-T", "db", "psql", "-U", "guestbook", "-d", "guestbook", "-tAc",
                        "select count(*) from django_migrations").stdout
        assert int(count) > 0
        compose("stop", "web")  # static files now come from nginx's volume alone
        status, data = fetch(f"http://127.0.0.1:{port}{css.group(1).decode()}")
        assert status == 200 and data
        status, _ = fetch(f"http://127.0.0.1:{port}/")
        assert status in (502, 504)  # the page needed web; the CSS did not
    finally:
        compose("down", "-v", "--remove-orphans", check=False)

