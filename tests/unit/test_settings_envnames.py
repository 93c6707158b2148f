"""The project's own variable names (DJANGO_SECRET_KEY via django-environ, DJANGO_ALLOWED_HOSTS
from os.environ), variables only the servers have, and explicit choices kept."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from test_settings_support import EXAMPLE, copy_project, djship, startproject, with_config

from djship.config import load, validate
from djship.errors import DjshipError, UsageError
from djship.paths import SitePaths
from djship.plan import Run
from djship.release.scripts import domain_env
from djship.remote.envtool import shape
from djship.settings import apply_plan, plan_settings, run_check
from djship.settings.envcheck import ServerEnv
from djship.steps.database import EnvFact, plan_env

ENVIRON = '''
env = environ.Env()
# django-environ raises ImproperlyConfigured at import when a variable without default is unset.
SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
ADMIN_URL = env("DJANGO_ADMIN_URL")
'''
PLAIN = '''
import os
from django.core.management.utils import get_random_secret_key

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", get_random_secret_key())
DEBUG = False
ALLOWED_HOSTS = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")
'''


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return startproject(tmp_path_factory.mktemp("template") / "site")


def project(fresh: Path, dest: Path, block: str) -> Path:
    """startproject with its SECRET_KEY, DEBUG and ALLOWED_HOSTS lines replaced by ``block``."""
    root = copy_project(fresh, dest)
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    text = re.sub(r"^(SECRET_KEY|DEBUG|ALLOWED_HOSTS) = .*\n", "", text, flags=re.M)
    imports = "import environ\n" if "environ.Env" in block else ""
    settings.write_text(text.replace("from pathlib import Path\n",
                                     f"from pathlib import Path\n{imports}") + block)
    (root / "requirements.txt").write_text("django>=5.2\ndjango-environ\npsycopg[binary]\n")
    with_config(root)
    return root


def findings(root: Path, server: ServerEnv | None = None) -> dict[str, list[str]]:
    config = load(root)[0]
    out: dict[str, list[str]] = {}
    for f in run_check(root, config, "site", server=(lambda: server) if server else None):
        out.setdefault(f.code, []).append(f"{f.level}: {f.message} | fix: {f.fix}")
    return out


def test_environ_project_check_names_the_variables_the_project_reads(
        fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(fresh, tmp_path / "site", ENVIRON)
    found = findings(root)
    names = "\n".join(found["settings.env_names"])
    assert "SECRET_KEY from DJANGO_SECRET_KEY" in names
    assert "ALLOWED_HOSTS from DJANGO_ALLOWED_HOSTS" in names
    assert "`djship init --settings`" in names
    missing = found["settings.env-missing"]
    assert len(missing) == 1 and "DJANGO_ADMIN_URL" in missing[0]
    assert "`djship env set DJANGO_ADMIN_URL=...`" in missing[0]
    assert "settings.secret_key" not in found and "settings.allowed_hosts" not in found
    status, _, err = djship(capsys, root, "check")
    assert status == 1 and "report" not in err


def test_init_settings_on_environ_project_records_names_and_check_follows(
        fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(fresh, tmp_path / "site", ENVIRON)
    status, _out, err = djship(capsys, root, "init", "--settings", "--yes")
    assert status == 0, err
    assert "djship bug" not in err
    assert "the settings read SECRET_KEY from DJANGO_SECRET_KEY" in err
    assert "DJANGO_ADMIN_URL" in err  # the note says how to set it
    site = tomllib.loads((root / "djship.toml").read_text())["sites"]["site"]
    assert site["env_names"] == {"SECRET_KEY": "DJANGO_SECRET_KEY",
                                 "ALLOWED_HOSTS": "DJANGO_ALLOWED_HOSTS"}
    found = findings(root)
    assert "settings.env_names" not in found and "settings.secret_key" not in found
    assert {c for c, lines in found.items() if any(x.startswith("error") for x in lines)} == {
        "settings.env-missing"}
    # Following that fix (a plain value in djship.toml) clears it.
    text = (root / "djship.toml").read_text()
    (root / "djship.toml").write_text(text.replace(
        "[sites.site.env]\n", '[sites.site.env]\nDJANGO_ADMIN_URL = "admin/"\n'))
    assert not any(x.startswith("error") for lines in findings(root).values() for x in lines)


def test_variable_set_on_the_servers_counts_for_check(fresh: Path, tmp_path: Path) -> None:
    root = project(fresh, tmp_path / "site", ENVIRON)
    djship_toml = root / "djship.toml"
    djship_toml.write_text(djship_toml.read_text().replace(
        "[sites.site.env]\n", '[sites.site.env_names]\nSECRET_KEY = "DJANGO_SECRET_KEY"\n'
        'ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"\n\n[sites.site.env]\n'))
    on_server = findings(root, ServerEnv({"DJANGO_ADMIN_URL": shape("secret-admin/")}))
    assert "settings.env-missing" not in on_server
    unknown = findings(root, ServerEnv(None, "site site is not provisioned on web1 yet"))
    assert "not provisioned on web1" in unknown["settings.env-missing"][0]


def test_random_fallback_key_is_not_a_loop(fresh: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The reported loop: check said "SECRET_KEY changes on every import: run `djship init
    --settings`", which then said "no change needed"."""
    root = project(fresh, tmp_path / "site", PLAIN)
    found = findings(root)
    assert "settings.secret_key" not in found
    assert any("DJANGO_SECRET_KEY" in line for line in found["settings.env_names"])
    status, _out, err = djship(capsys, root, "init", "--settings", "--yes")
    assert status == 0 and "no change needed" not in err
    found = findings(root)
    assert "settings.env_names" not in found and "settings.secret_key" not in found
    assert "settings.allowed_hosts" not in found


def test_servers_set_the_project_names() -> None:
    data = tomllib.loads((EXAMPLE / "djship.toml").read_text())
    site = next(iter(data["sites"]))
    data["sites"][site]["env_names"] = {"SECRET_KEY": "DJANGO_SECRET_KEY",
                                        "ALLOWED_HOSTS": "DJANGO_ALLOWED_HOSTS"}
    config = validate(data)
    pairs = domain_env(config, site)
    assert pairs[0].startswith("DJANGO_ALLOWED_HOSTS=")
    assert pairs[1].startswith("CSRF_TRUSTED_ORIGINS=")
    plan = plan_env(SitePaths(site), config.sites[site], EnvFact({}, True), with_db=False)
    run = plan.actions[0]
    assert isinstance(run, Run) and "DJANGO_SECRET_KEY (generated)" in run.summary
    assert json.loads(run.stdin or b"")["generate"] == ["DJANGO_SECRET_KEY"]
    done = plan_env(SitePaths(site), config.sites[site],
                    EnvFact({"DJANGO_SECRET_KEY": "h", "DATABASE_URL": "h"}, True), with_db=False)
    assert not done.actions


@pytest.mark.parametrize("value", [
    "postgres://user:hunter22@db.example.com:5432/shop", "k3y-Secret_value!", "a.com,b.org",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg+kqh==\n-----END PRIVATE KEY-----\n",
    '{"type": "service_account", "private_key": "abc", "n": 42}', "8000"])
def test_shape_keeps_the_form_not_the_value(value: str) -> None:
    got = shape(value)
    assert (got != value and len(got) == len(value)) or value.startswith("{")
    assert re.sub(r"[A-Za-z0-9]", "", got) == re.sub(r"[A-Za-z0-9]", "", value) \
        or value.startswith("{")
    if "://" in value:
        assert got.startswith("postgres://") and "hunter22" not in got
    if value.startswith("{"):
        assert '"type"' in got and "service_account" not in got and "42" not in got


@pytest.mark.parametrize("flag", ["0", "1", "true", "False", "on"])
def test_shape_keeps_switches(flag: str) -> None:
    assert shape(flag) == flag


def test_explicit_https_choice_is_kept(fresh: Path, tmp_path: Path) -> None:
    root = copy_project(fresh, tmp_path / "site")
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n# Subdomains still serve plain HTTP.\n"
                        "SECURE_HSTS_INCLUDE_SUBDOMAINS = False\n")
    config = with_config(root)
    plan = plan_settings(root, config, "site")
    diff = plan.diff(root)
    changed = [line for line in diff.splitlines() if line[:1] in "+-"]
    assert not any("SECURE_HSTS_INCLUDE_SUBDOMAINS" in line for line in changed)
    assert "+SECURE_HSTS_SECONDS" in diff
    assert len(plan.reasons) >= 10  # each change says why, naming its setting
    assert all(re.search(r"\b[A-Z][A-Z_]{3,}\b", r) for r in plan.reasons)
    assert any("SECURE_HSTS_SECONDS is not set (production default" in r for r in plan.reasons)
    apply_plan(root, plan)
    text = settings.read_text()
    assert text.count("SECURE_HSTS_INCLUDE_SUBDOMAINS = False") == 1
    found = findings(root)
    w005 = found["security.W005"][0]
    assert "init --settings" not in w005 and "SILENCED_SYSTEM_CHECKS" in w005


def test_exports_and_env_unset_use_the_project_names() -> None:
    from djship.export.docker import env_example
    from djship.export.heroku import next_steps
    from djship.export.target import Target
    from djship.ops.envvars import check_unset

    target = Target(EXAMPLE, "shop", "shop.settings", "shop.wsgi:application", "manage.py",
                    "requirements", "requirements.txt", "3.12", ("shop.example",),
                    env_names={"SECRET_KEY": "DJANGO_SECRET_KEY",
                               "ALLOWED_HOSTS": "DJANGO_ALLOWED_HOSTS"})
    steps = " ".join(next_steps(target))
    assert "config:set DJANGO_SECRET_KEY=" in steps and "DJANGO_ALLOWED_HOSTS=shop.example" in steps
    assert " SECRET_KEY=" not in steps
    example = env_example(target)
    assert "\nDJANGO_SECRET_KEY=change-me" in example and "\nSECRET_KEY=" not in example
    with pytest.raises(UsageError, match="DJANGO_SECRET_KEY"):
        check_unset(("DJANGO_SECRET_KEY",), False, ("DATABASE_URL", "DJANGO_SECRET_KEY"))


def test_init_settings_names_variables_whose_stand_in_does_not_do(
        fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(fresh, tmp_path / "site", PLAIN + 'WORKERS = int(os.environ["APP_SHARDS"])\n')
    status, _out, err = djship(capsys, root, "init", "--settings", "--yes")
    assert status == 1
    assert "APP_SHARDS" in err and "[sites.site.env]" in err and "djship bug" not in err
    assert not (root / ".djship").exists()


def test_added_settings_read_the_configured_names(fresh: Path, tmp_path: Path) -> None:
    """A hard-coded key replaced by init --settings reads the name djship.toml gives it."""
    root = copy_project(fresh, tmp_path / "site")
    with_config(root)
    (root / "requirements.txt").write_text("django>=5.2\npsycopg[binary]\n")
    path = root / "djship.toml"
    path.write_text(path.read_text().replace(
        "[sites.site.env]\n", '[sites.site.env_names]\nSECRET_KEY = "DJANGO_SECRET_KEY"\n'
        'ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"\n\n[sites.site.env]\n'))
    plan = plan_settings(root, load(root)[0], "site")
    diff = plan.diff(root)
    assert "+SECRET_KEY = os.environ.get('DJANGO_SECRET_KEY', '')" in diff
    assert "+ALLOWED_HOSTS = _env_list('DJANGO_ALLOWED_HOSTS', " in diff
    apply_plan(root, plan)
    found = findings(root)
    assert not {"settings.secret_key", "settings.allowed_hosts", "settings.env_names"} & set(found)


def _openssl(*args: str, data: str = "") -> str:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, text=True,
                          check=True).stdout


def _describe(pem: str) -> str:
    """openssl's first line about a key: its kind and size ("Private-Key: (2048 bit ...")."""
    pub = ["-pubin"] if "PUBLIC KEY" in pem.splitlines()[0] else []
    text = _openssl("pkey", *pub, "-noout", "-text", data=pem)
    curve = [ln.strip() for ln in text.splitlines() if "ASN1 OID" in ln]
    return text.splitlines()[0] + " ".join(curve)


@pytest.mark.parametrize(("make", "convert"), [
    (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], []),
    (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp384r1"], []),
    (["-algorithm", "ED25519"], []),
    (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], ["-traditional"]),
    (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1"], ["-traditional"]),
    (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1"], ["-pubout"]),
], ids=["pkcs8-rsa", "pkcs8-ec", "ed25519", "rsa-traditional", "ec-traditional", "public"])
def test_a_pem_key_on_the_server_gets_a_real_key_of_its_kind_as_stand_in(
        make: list[str], convert: list[str]) -> None:
    """Settings that load the key at import (a JWT issuer) import with the stand-in; it is
    a new key of the same kind, format and size, never the server's."""
    key = _openssl("genpkey", *make)
    if convert:
        key = _openssl("pkey", *convert, data=key)
    got = shape(key)
    assert got != key and got.splitlines()[0] == key.splitlines()[0]
    assert got.endswith("\n") and _describe(got) == _describe(key)
    assert not shape(key.rstrip("\n")).endswith("\n")  # the value's own ending


def test_a_certificate_gets_a_real_certificate_as_stand_in() -> None:
    cert = _openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "/dev/null",
                    "-subj", "/CN=shop.example.com", "-days", "1")
    got = shape(cert)
    assert got.startswith("-----BEGIN CERTIFICATE-----") and got != cert
    assert "shop.example.com" not in _openssl("x509", "-noout", "-subject", data=got)


PEM_AT_IMPORT = '''
import os
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ["DJANGO_ALLOWED_HOSTS"].split(",")
SIGNING_KEY = os.environ["SIGNING_KEY"]
if not SIGNING_KEY.startswith("-----BEGIN PRIVATE KEY-----\\nMI"):
    raise ValueError("SIGNING_KEY is not a PKCS#8 key")
'''


def test_settings_that_refuse_the_servers_stand_in_say_so_and_defer_to_the_server(
        fresh: Path, tmp_path: Path) -> None:
    """A variable set with `djship env set` whose stand-in the settings refuse: check says it
    is set on the servers (not "neither djship.toml nor the servers set it", which sent the
    user back to `env set` in a loop), and the deploy's server-side check decides."""
    root = project(fresh, tmp_path / "site", PEM_AT_IMPORT)
    djship_toml = root / "djship.toml"
    djship_toml.write_text(djship_toml.read_text().replace(
        "[sites.site.env]\n", '[sites.site.env_names]\nSECRET_KEY = "DJANGO_SECRET_KEY"\n'
        'ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"\n\n[sites.site.env]\n'))
    unset = findings(root)
    assert "neither djship.toml nor the servers set" in unset["settings.import"][0]
    scrambled = "-----BEGIN PRIVATE KEY-----\nZZ" + "Q" * 60 + "\n-----END PRIVATE KEY-----\n"
    found = findings(root, ServerEnv({"SIGNING_KEY": scrambled}))
    assert "settings.import" not in found, found
    text = found["settings.env-missing"][0]
    assert "SIGNING_KEY is set on the servers" in text and "`djship deploy`" in text
    assert "neither djship.toml nor the servers" not in text


def test_init_settings_uses_the_servers_variables_and_never_loops_on_env_set(
        fresh: Path, tmp_path: Path) -> None:
    """`init --settings` imports the settings with the servers' stand-ins too (the loop the
    tokens project met: it kept advising `djship env set` for a key already set)."""
    root = project(fresh, tmp_path / "site", PEM_AT_IMPORT)
    djship_toml = root / "djship.toml"
    djship_toml.write_text(djship_toml.read_text().replace(
        "[sites.site.env]\n", '[sites.site.env_names]\nSECRET_KEY = "DJANGO_SECRET_KEY"\n'
        'ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"\n\n[sites.site.env]\n'))
    config = load(root)[0]
    with pytest.raises(DjshipError) as unset:
        plan_settings(root, config, "site")
    assert "djship env set" in (unset.value.hint or "")
    key = _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
    plan = plan_settings(root, config, "site", server=lambda: ServerEnv({"SIGNING_KEY": key}))
    assert plan.module == "mysite.settings"
    scrambled = "-----BEGIN PRIVATE KEY-----\nZZ" + "Q" * 60 + "\n-----END PRIVATE KEY-----\n"
    with pytest.raises(DjshipError) as refused:
        plan_settings(root, config, "site", server=lambda: ServerEnv({"SIGNING_KEY": scrambled}))
    hint = refused.value.hint or ""
    assert "`djship deploy` checks them on the server" in hint and "env set" not in hint
