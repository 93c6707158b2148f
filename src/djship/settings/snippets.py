"""The code djship adds to a settings module, one snippet per production setting."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Literal

IMPORT_OS = "import os"
IMPORT_DJ_DATABASE_URL = "import dj_database_url"
IMPORT_ENVIRON = "import environ"
IMPORT_GETADDRESSES = "from email.utils import getaddresses"
IMPORT_URLSPLIT = "from urllib.parse import unquote, urlsplit"

HELPERS = {
    "_env_bool": '''def _env_bool(name: str, default: bool) -> bool:
    """Read a yes/no environment variable ("1", "true", "yes" or "on" mean yes)."""
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in {"1", "true", "yes", "on"}''',
    "_env_list": '''def _env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma separated environment variable."""
    items = [item.strip() for item in os.environ.get(name, "").split(",")]
    return [item for item in items if item] or list(default)''',
    "_database_from_url": '''def _database_from_url(url: str) -> dict:
    """A DATABASES entry from a postgres://, mysql:// or sqlite:/// URL."""
    parts = urlsplit(url)
    engines = {"postgres": "postgresql", "postgresql": "postgresql", "pgsql": "postgresql",
               "mysql": "mysql", "sqlite": "sqlite3"}
    if parts.scheme not in engines:
        raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")
    entry = {"ENGINE": "django.db.backends." + engines[parts.scheme],
             "NAME": unquote(parts.path[1:]), "CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": True}
    if parts.scheme != "sqlite":
        entry.update(NAME=unquote(parts.path.lstrip("/")), USER=unquote(parts.username or ""),
                     PASSWORD=unquote(parts.password or ""),
                     HOST=unquote(parts.hostname or ""), PORT=str(parts.port or ""),
                     OPTIONS={k: int(v) if v.isdigit() else unquote(v) for k, _, v in (
                         item.partition("=") for item in parts.query.split("&") if item)})
    return entry''',
}
# Where the database settings come from: a library the project has, or plain os.environ.
DbLibrary = Literal["dj-database-url", "django-environ", "plain"]


@dataclass(frozen=True)
class Style:
    """How generated code should look and what it defaults to."""

    quote: str = '"'
    domains: tuple[str, ...] = ()
    base_dir: bool = True
    db_library: DbLibrary = "dj-database-url"
    names: tuple[tuple[str, str], ...] = ()  # [sites.X.env_names]: DJANGO_SECRET_KEY, ...

    def var(self, name: str) -> str:
        """The variable the project reads ``name`` from (its env_names, else the name)."""
        return dict(self.names).get(name, name)

    def q(self, text: str) -> str:
        """``text`` in the project's quote style (generated code is written with ``"``)."""
        if self.quote == '"':
            return text
        swapped = text.translate(str.maketrans("\"'", "'\""))
        # Docstrings stay double-quoted, as PEP 257 and `startproject` write them.
        return swapped.replace("'''", '"""')

    def literal(self, items: list[str]) -> str:
        """A list literal of strings in the project's quote style."""
        return "[" + ", ".join(f"{self.quote}{i}{self.quote}" for i in items) + "]"


@dataclass(frozen=True)
class Snippet:
    """Lines of settings code, with the imports, helpers and package they need."""

    key: str
    code: str
    imports: tuple[str, ...] = (IMPORT_OS,)
    helpers: tuple[str, ...] = ()
    package: str | None = None


def dev_secret_key() -> str:
    """A new key for local development only (``django-insecure-`` marks it as such)."""
    alphabet = string.ascii_letters + string.digits
    return "django-insecure-" + "".join(secrets.choice(alphabet) for _ in range(50))


def secret_key(style: Style, dev_key: str | None) -> Snippet:
    """SECRET_KEY from the environment; the old key survives only for DEBUG=1."""
    fallback = dev_key or f"{style.quote}{dev_secret_key()}{style.quote}"
    code = style.q('''\
# Production reads SECRET_KEY from the environment (djship makes one per site);
# the key below is for local development with DEBUG=1 only.
SECRET_KEY = os.environ.get("@VAR@", "")
if not SECRET_KEY and _env_bool("DEBUG", False):
    SECRET_KEY = @KEY@''').replace("@KEY@", fallback).replace("@VAR@", style.var("SECRET_KEY"))
    return Snippet("SECRET_KEY", code, helpers=("_env_bool",))


def debug(style: Style) -> Snippet:
    """DEBUG off unless the environment turns it on."""
    code = style.q('''\
# DEBUG=1 in the environment for local development; production runs without it.
DEBUG = _env_bool("DEBUG", False)''')
    return Snippet("DEBUG", code, helpers=("_env_bool",))


def allowed_hosts(style: Style) -> Snippet:
    """ALLOWED_HOSTS from the environment, defaulting to the site's domains."""
    code = style.q('''ALLOWED_HOSTS = _env_list("@VAR@", @HOSTS@)
if _env_bool("DEBUG", False):
    ALLOWED_HOSTS += ["localhost", "127.0.0.1", "[::1]"]''').replace(
        "@HOSTS@", style.literal(list(style.domains))).replace("@VAR@",
                                                               style.var("ALLOWED_HOSTS"))
    return Snippet("ALLOWED_HOSTS", code, helpers=("_env_bool", "_env_list"))


def csrf_trusted_origins(style: Style) -> Snippet:
    """CSRF_TRUSTED_ORIGINS from the environment, defaulting to https:// of the domains."""
    origins = [f"https://{d}" for d in style.domains]
    code = style.q('CSRF_TRUSTED_ORIGINS = _env_list("@VAR@", @ORIGINS@)').replace(
        "@VAR@", style.var("CSRF_TRUSTED_ORIGINS"))
    return Snippet("CSRF_TRUSTED_ORIGINS", code.replace("@ORIGINS@", style.literal(origins)),
                   helpers=("_env_list",))


_DB_PARSE = {  # the expression that turns the URL (@URL@) into a DATABASES entry
    "dj-database-url": "dj_database_url.parse(\n        @URL@, conn_max_age=600, "
                       "conn_health_checks=True)",
    "django-environ": "environ.Env.db_url_config(@URL@)",
    "plain": "_database_from_url(@URL@)",
}


def database_url(style: Style, after_existing: bool) -> Snippet:
    """DATABASES["default"] from DATABASE_URL when set (the local database otherwise)."""
    lib = style.db_library
    parse = _DB_PARSE[lib]
    if after_existing:
        code = '''# In production DATABASE_URL (set by djship) replaces the local database above.
if os.environ.get("DATABASE_URL"):
    DATABASES["default"] = ''' + parse.replace("@URL@", 'os.environ["DATABASE_URL"]')
    else:
        local = ('"sqlite:///" + str(BASE_DIR / "db.sqlite3")' if style.base_dir
                 else '"sqlite:///db.sqlite3"')
        entry = (f"dj_database_url.config(\n        default={local}, conn_max_age=600, "
                 "conn_health_checks=True)" if lib == "dj-database-url" else
                 parse.replace("@URL@", f'\n        os.environ.get("DATABASE_URL") or {local}'))
        code = f'''# DATABASE_URL in production (set by djship); a local SQLite file otherwise.
DATABASES = {{
    "default": {entry},
}}'''
    imports = {"dj-database-url": (IMPORT_OS, IMPORT_DJ_DATABASE_URL),
               "django-environ": (IMPORT_OS, IMPORT_ENVIRON),
               "plain": (IMPORT_OS, IMPORT_URLSPLIT)}[lib]
    return Snippet("DATABASES", style.q(code), imports=imports,
                   helpers=("_database_from_url",) if lib == "plain" else (),
                   package=None if lib == "plain" else lib)


def files_root(style: Style, key: str, old: str | None) -> Snippet:
    """STATIC_ROOT/MEDIA_ROOT from the variable of the same name (djship's servers set it)."""
    folder = "staticfiles" if key == "STATIC_ROOT" else "media"
    default = old or (f'BASE_DIR / "{folder}"' if style.base_dir else f'"{folder}"')
    comment = ("# djship sets STATIC_ROOT on the servers; nginx serves the collected files."
               if key == "STATIC_ROOT" else
               "# djship sets MEDIA_ROOT on the servers, kept across releases; nginx serves it.")
    code = style.q(f'{comment}\n{key} = os.environ.get("{key}") or @DEFAULT@')
    return Snippet(key, code.replace("@DEFAULT@", old or style.q(default)))


def media_url(style: Style) -> Snippet:
    """MEDIA_URL where djship's nginx serves uploads."""
    return Snippet("MEDIA_URL", style.q('MEDIA_URL = "media/"'), imports=())


def proxy_header(style: Style) -> Snippet:
    """Trust X-Forwarded-Proto, which djship's nginx sets."""
    code = style.q('''# nginx terminates TLS and passes the original scheme in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")''')
    return Snippet("SECURE_PROXY_SSL_HEADER", code, imports=())


_HTTPS = {
    "SECURE_SSL_REDIRECT": '''\
# HTTPS; DJANGO_SECURE_SSL=0 serves plain HTTP (a practice server without TLS).
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL", True)''',
    "SESSION_COOKIE_SECURE": 'SESSION_COOKIE_SECURE = _env_bool("DJANGO_SECURE_SSL", True)',
    "CSRF_COOKIE_SECURE": 'CSRF_COOKIE_SECURE = _env_bool("DJANGO_SECURE_SSL", True)',
    "SECURE_HSTS_SECONDS": '''\
# A short HSTS max-age keeps a TLS mistake recoverable; raise it once stable.
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "3600"))''',
    "SECURE_HSTS_INCLUDE_SUBDOMAINS":
        'SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)',
    "SECURE_HSTS_PRELOAD": 'SECURE_HSTS_PRELOAD = _env_bool("DJANGO_HSTS_PRELOAD", False)',
}
HTTPS_KEYS = tuple(_HTTPS)


def https(style: Style, key: str) -> Snippet:
    """One of the HTTPS settings, each switchable from the environment."""
    return Snippet(key, style.q(_HTTPS[key]), helpers=("_env_bool",))


def silence_preload(style: Style, existing: bool) -> Snippet:
    """Silence the preload warning (W021) unless the owner opts in to HSTS preloading."""
    comment = ("# HSTS preloading is hard to undo for the whole domain: opt in with\n"
               "# DJANGO_HSTS_PRELOAD=1.\n")
    code = (comment + 'if not SECURE_HSTS_PRELOAD:\n'
            '    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]'
            if existing else comment +
            'SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]')
    return Snippet("W021", style.q(code), imports=())


def admins(style: Style) -> Snippet:
    """ADMINS from a comma separated "Name <address>" variable."""
    code = style.q('''# Who gets error mails: ADMINS="Ada <ada@example.com>, ops@example.com".
ADMINS = [(name or addr, addr) for name, addr in getaddresses(_env_list("ADMINS", [])) if addr]''')
    return Snippet("ADMINS", code, imports=(IMPORT_OS, IMPORT_GETADDRESSES),
                   helpers=("_env_list",))


def email(style: Style) -> Snippet:
    """SMTP settings from EMAIL_URL or EMAIL_* variables."""
    sender = f"webmaster@{style.domains[0]}" if style.domains else "webmaster@localhost"
    code = style.q(f'''# SMTP for error mails: EMAIL_URL (smtp://user:password@host:587, smtp+tls://
# for STARTTLS, smtps:// for SSL) or EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, ...
_email_url = urlsplit(os.environ.get("EMAIL_URL", ""))
EMAIL_HOST = os.environ.get("EMAIL_HOST", _email_url.hostname or "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", _email_url.port or 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", unquote(_email_url.username or ""))
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", unquote(_email_url.password or ""))
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", _email_url.scheme == "smtp+tls")
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", _email_url.scheme == "smtps")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "{sender}")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)''')
    return Snippet("EMAIL", code, imports=(IMPORT_OS, IMPORT_URLSPLIT), helpers=("_env_bool",))


def logging(style: Style) -> Snippet:
    """Log to stderr (the journal under systemd) and mail request errors to ADMINS."""
    code = style.q('''\
# Logs go to stderr, kept by systemd in the journal; errors are mailed to ADMINS.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "formatters": {"plain": {"format": "{levelname} {name}: {message}", "style": "{"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # Replaces Django's default "django" logger, whose own mail_admins would mail twice.
    "loggers": {
        "django": {
            "handlers": ["console", "mail_admins"],
            "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}''')
    return Snippet("LOGGING", code)
