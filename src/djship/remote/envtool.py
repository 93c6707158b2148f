"""djship's environment-file tool, installed on servers as /opt/djship/lib/envtool.py.

It reads one JSON request on stdin, so secret values never appear on a command line, and
prints only key names or hashes, never values (except for an explicit ``get``). The file
is rewritten atomically with mode 0600, owned by root; systemd reads it as root.
Stdlib only: it runs with the server's python3.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# systemd's EnvironmentFile syntax (src/basic/env-file.c, parse_env_file_internal).
WHITESPACE, NEWLINE, COMMENTS = " \t\n\r", "\n\r", "#;"
# Inside double quotes a backslash before one of these stands for the character itself; before
# any other character both are kept, and before a line break both are dropped.
NEED_ESCAPE = '"\\`$'
# The kernel refuses to start a program with a longer KEY=VALUE string (MAX_ARG_STRLEN, NUL
# included), so a bigger value would stop the app from starting at all.
MAX_ENTRY = 128 * 1024 - 1


def read_env(path: Path) -> dict[str, str]:
    """The file's variables, parsed as systemd parses an EnvironmentFile."""
    if not path.exists():
        return {}
    # Bytes, not text mode: text mode would turn a value's \r\n into \n.
    return parse_env(path.read_bytes().decode("utf-8", "surrogateescape"))


class _Parser:
    """systemd's state machine, one character at a time: the same states and the same quirks
    (``on_<state>`` for each state of the C code)."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.state, self.key, self.value = "pre_key", "", ""
        self.key_ws: int | None = None  # where the key's trailing whitespace starts
        self.value_ws: int | None = None  # where an unquoted value's trailing whitespace starts

    def feed(self, c: str) -> None:
        getattr(self, "on_" + self.state)(c)

    def push(self, chomp: bool) -> None:
        key = self.key[:self.key_ws]
        self.env[key] = self.value[:self.value_ws] if chomp else self.value
        self.state, self.key, self.value, self.key_ws = "pre_key", "", "", None

    def on_pre_key(self, c: str) -> None:
        if c in COMMENTS:
            self.state = "comment"
        elif c not in WHITESPACE:
            self.state, self.key, self.key_ws = "key", c, None

    def on_key(self, c: str) -> None:
        if c in NEWLINE:  # a line without "=" is ignored
            self.state, self.key = "pre_key", ""
        elif c == "=":
            self.state, self.value_ws = "pre_value", None
        else:
            if c not in WHITESPACE:
                self.key_ws = None
            elif self.key_ws is None:
                self.key_ws = len(self.key)
            self.key += c

    def on_pre_value(self, c: str) -> None:
        if c in NEWLINE:
            self.push(chomp=False)
        elif c in QUOTE_STATES:
            self.state = QUOTE_STATES[c]
        elif c not in WHITESPACE:
            self.state, self.value = "value", self.value + c

    def on_value(self, c: str) -> None:
        if c in NEWLINE:
            self.push(chomp=True)
        elif c == "\\":
            self.state, self.value_ws = "value_escape", None
        else:
            if c not in WHITESPACE:
                self.value_ws = None
            elif self.value_ws is None:
                self.value_ws = len(self.value)
            self.value += c

    def on_value_escape(self, c: str) -> None:
        self.state = "value"
        if c not in NEWLINE:  # an escaped line break joins the lines
            self.value += c

    def on_single_quote_value(self, c: str) -> None:
        if c == "'":
            self.state = "pre_value"
        else:
            self.value += c

    def on_double_quote_value(self, c: str) -> None:
        if c == '"':
            self.state = "pre_value"
        elif c == "\\":
            self.state = "double_quote_value_escape"
        else:
            self.value += c

    def on_double_quote_value_escape(self, c: str) -> None:
        self.state = "double_quote_value"
        if c in NEED_ESCAPE:
            self.value += c
        elif c != "\n":
            self.value += "\\" + c

    def on_comment(self, c: str) -> None:
        if c == "\\":
            self.state = "comment_escape"
        elif c in NEWLINE:
            self.state = "pre_key"

    def on_comment_escape(self, c: str) -> None:
        self.state = "pre_key" if c in NEWLINE else "comment"


QUOTE_STATES = {"'": "single_quote_value", '"': "double_quote_value", "\\": "value_escape"}
# States at the end of the text that still hold an assignment.
OPEN_STATES = ("pre_value", "value", "value_escape", "single_quote_value", "double_quote_value",
               "double_quote_value_escape")


def parse_env(text: str) -> dict[str, str]:
    """Variables of EnvironmentFile text: values span lines inside quotes, as in systemd."""
    parser = _Parser()
    for c in text.split("\0", 1)[0]:  # systemd reads the file as a C string
        parser.feed(c)
    if parser.state in OPEN_STATES:
        parser.push(chomp=parser.state == "value")
    return parser.env


def unquote(text: str) -> str:
    """The value a double-quoted systemd string stands for (without its outer quotes)."""
    return parse_env(f'K="{text}"')["K"]


def quote(value: str) -> str:
    """Quote a value for a systemd EnvironmentFile; line breaks stay as they are.

    Escaping `$` and backticks too (systemd would keep them as they are) makes the same file
    safe to source from a shell.
    """
    return '"' + "".join("\\" + c if c in NEED_ESCAPE else c for c in value) + '"'


def unfit(values: dict[str, str]) -> list[str]:
    """Names of values systemd cannot pass on whole: a NUL byte (ends the text), not UTF-8
    (the line is ignored), or longer than the kernel allows."""
    bad = []
    for key, value in values.items():
        try:
            size = len(f"{key}={value}".encode())
        except UnicodeEncodeError:
            size = MAX_ENTRY + 1
        if "\0" in value or size > MAX_ENTRY:
            bad.append(key)
    return sorted(bad)


def write_env(path: Path, env: dict[str, str]) -> None:
    """Write the file atomically, 0600 root."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = ["# Managed by djship: edit with `djship env set/unset`, not by hand."]
    lines += [f"{k}={quote(v)}" for k, v in sorted(env.items())]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def psql(sql: str) -> str:
    """Run SQL as the postgres superuser, SQL on stdin (never on the command line)."""
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-t", "-A",
                           "-v", "ON_ERROR_STOP=1", "-d", "postgres"],
                          input=sql, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return proc.stdout.strip()


def ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def ensure_database(env: dict[str, str], db: dict[str, Any]) -> bool:
    """Create the role and database if needed; set a new password only when none is stored."""
    name, host, port = db["name"], db.get("host", "localhost"), db.get("port", 5432)
    # Names come from validated site names ([a-z0-9_]); passwords from token_urlsafe.
    role_exists = psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{name}'") == "1"  # noqa: S608
    changed = False
    if not (role_exists and "DATABASE_URL" in env):
        password = secrets.token_urlsafe(32)
        verb = "ALTER" if role_exists else "CREATE"
        psql(f"{verb} ROLE {ident(name)} WITH LOGIN PASSWORD '{password}'")
        env["DATABASE_URL"] = f"postgres://{name}:{password}@{host}:{port}/{name}"
        changed = True
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":  # noqa: S608
        psql(f"CREATE DATABASE {ident(name)} OWNER {ident(name)}")
        changed = True
    return changed


def _redis_db(own: Path) -> str:
    """The lowest database number no other site's Redis file on this host has taken."""
    taken = {read_env(f).get("REDIS_DB") for f in own.parent.glob("*.redis.env") if f != own}
    free = next((str(n) for n in range(16) if str(n) not in taken), None)
    if free is None:  # Redis's default of 16 databases
        sys.stderr.write("all 16 Redis databases on this host are taken by other sites\n")
        raise SystemExit(2)
    return free


def ensure_redis(req: dict[str, Any]) -> dict[str, Any]:
    """The site's Redis user: password and database number made once, kept in ``file``;
    its ACL line (the password's SHA-256 only) in ``acl``; the URL under ``names`` in
    ``env_file`` when the app runs on this host. With ``check``, only say if all is there."""
    path, acl = Path(req["file"]), Path(req["acl"])
    env = read_env(path)
    want = dict(env)
    want.setdefault("REDIS_PASSWORD", secrets.token_urlsafe(32))
    if "REDIS_DB" not in want:
        want["REDIS_DB"] = _redis_db(path)
    user, password = req["user"], want["REDIS_PASSWORD"]
    want["REDIS_URL"] = (f"redis://{user}:{password}@{req['host']}:{req['port']}/"
                         f"{want['REDIS_DB']}")
    sha = hashlib.sha256(password.encode()).hexdigest()
    line = f"user {user} on #{sha} ~* &* +@all -@admin\n"
    app_file = Path(req["env_file"]) if req.get("env_file") else None
    app = read_env(app_file) if app_file else {}
    app_want = {**app, **{name: want["REDIS_URL"] for name in req.get("names", [])}}
    stale = [want != env, not acl.exists() or acl.read_text() != line, app_want != app]
    if req.get("check") or not any(stale):
        return {"ready": not any(stale)}
    if stale[0]:
        write_env(path, want)
    if stale[1]:
        fd, tmp = tempfile.mkstemp(dir=acl.parent, prefix=acl.name + ".")
        with os.fdopen(fd, "w") as fh:
            fh.write(line)
        shutil.chown(tmp, "root", req.get("group", "redis"))
        Path(tmp).chmod(0o640)
        Path(tmp).replace(acl)
    if app_file and stale[2]:
        write_env(app_file, app_want)
    return {"ready": True, "changed": [n for n, s in zip(("file", "acl", "env"), stale,
                                                          strict=True) if s]}


def edit_block(path: Path, name: str, content: str | None) -> bool:
    """Replace (or append, or with None only read) the marked block ``name`` in a file."""
    begin, end = f"# djship:{name} begin", f"# djship:{name} end"
    text = path.read_text() if path.exists() else ""
    lines = text.splitlines()
    if begin in lines and end in lines:
        i, j = lines.index(begin), lines.index(end)
        before, after = lines[:i], lines[j + 1:]
    else:
        before, after = lines, []
    new = [*before, begin, *(content or "").splitlines(), end, *after]
    updated = "\n".join(new) + "\n"
    if content is None or updated == text:
        return False
    st = path.stat()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as fh:
        fh.write(updated)
    os.chown(tmp, st.st_uid, st.st_gid)
    Path(tmp).chmod(st.st_mode & 0o7777)
    Path(tmp).replace(path)
    return True


def block_digest(path: Path, name: str) -> str:
    """Hash of the marked block's content ('' when absent)."""
    lines = path.read_text().splitlines() if path.exists() else []
    begin, end = f"# djship:{name} begin", f"# djship:{name} end"
    if begin not in lines or end not in lines:
        return ""
    body = "\n".join(lines[lines.index(begin) + 1:lines.index(end)])
    return hashlib.sha256(body.encode()).hexdigest()


def digest(key: str, value: str) -> str:
    """Hash of one entry, so a planner can compare without seeing values."""
    return hashlib.sha256(f"{key}={value}".encode()).hexdigest()


_FLAGS = {"0", "1", "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"}


def shape(value: str) -> str:
    """A stand-in for ``value`` that parses the same way but tells nothing of it: a URL keeps
    its scheme, a PEM block its markers, JSON its structure, and every other letter and digit
    is replaced at random (punctuation and length stay, so a list or host name still parses).
    A yes/no flag is kept: it is a switch, not a secret."""
    if value.strip().lower() in _FLAGS:
        return value
    lines = value.splitlines(keepends=True)
    if len(lines) > 1 and lines[0].startswith("-----BEGIN "):
        made = pem_standin(value)
        if made is not None:
            return made
        return "".join(line if line.startswith("-----") else _scramble(line) for line in lines)
    if value.lstrip()[:1] in ("{", "["):
        try:
            return json.dumps(_shape_json(json.loads(value)))
        except ValueError:
            pass
    scheme, sep, rest = value.partition("://")
    if sep and scheme.replace("+", "").isalnum():
        return f"{scheme}://{_scramble(rest)}"
    return _scramble(value)


# A PEM block of these kinds gets a freshly made one of the same kind (algorithm, size,
# curve) as its stand-in: settings that load the key at import work with it, and it tells
# nothing of the real one. The value reaches openssl on stdin only.
_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "PUBLIC KEY")


def _openssl(args: list[str], data: str = "") -> str | None:
    """openssl's output, or None when it is missing or fails."""
    try:
        done = subprocess.run(["openssl", *args], input=data, capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _genpkey_args(text: str) -> list[str] | None:
    """genpkey arguments for a key of the kind ``openssl pkey -text`` described."""
    head = text.lstrip().splitlines()[0] if text.strip() else ""
    for name in ("ED25519", "ED448", "X25519", "X448"):
        if head.startswith(name):
            return ["-algorithm", name]
    if "bit" not in head:
        return None
    curve = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                  if ln.strip().startswith("ASN1 OID:")), "")
    if curve:
        return ["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}"]
    if "modulus:" in text.lower() or "primes" in head:
        bits = head.split("(", 1)[1].split()[0]
        return ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"] \
            if bits.isdigit() else None
    return None


def pem_standin(value: str) -> str | None:
    """A new key (or certificate) of the same kind as the one PEM block in ``value``, in
    the same format; None when it is something else or openssl cannot tell."""
    begins = [ln for ln in value.splitlines() if ln.startswith("-----BEGIN ")]
    if len(begins) != 1:
        return None
    label = begins[0][len("-----BEGIN "):].rstrip("-").strip()
    if label == "CERTIFICATE":
        made = _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "/dev/null",
                         "-subj", "/CN=djship stand-in", "-days", "2"])
    elif label in _KEY_LABELS:
        public = label == "PUBLIC KEY"
        text = _openssl(["pkey", *(["-pubin"] if public else []), "-noout", "-text"], value)
        args = _genpkey_args(text) if text else None
        made = _openssl(["genpkey", *args]) if args else None
        if made and public:
            made = _openssl(["pkey", "-pubout"], made)
        elif made and label != "PRIVATE KEY":
            made = _openssl(["pkey", "-traditional"], made)
    else:
        return None
    if not made or f"-----BEGIN {label}-----" not in made:
        return None
    return made if value.endswith("\n") else made.rstrip("\n")


def _scramble(text: str) -> str:
    out = []
    for c in text:
        if c.isdigit():
            out.append(secrets.choice("123456789"))  # no leading zero: still the same int
        elif c.isalpha() and c.isascii():
            letters = "abcdefghijklmnopqrstuvwxyz"
            out.append(secrets.choice(letters.upper() if c.isupper() else letters))
        else:
            out.append(c)
    return "".join(out)


def _shape_json(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _shape_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_shape_json(v) for v in data]
    if isinstance(data, int) and not isinstance(data, bool):
        return int(_scramble(str(data)))
    return shape(data) if isinstance(data, str) else data


def pg_environ(url: str) -> dict[str, str]:
    """libpq variables for a postgres:// URL, so clients never get it on a command line."""
    from urllib.parse import unquote, urlsplit

    u = urlsplit(url)
    out = {"PGHOST": u.hostname or "localhost", "PGPORT": str(u.port or 5432),
           "PGDATABASE": unquote(u.path.lstrip("/"))}
    if u.username:
        out["PGUSER"] = unquote(u.username)
    if u.password:
        out["PGPASSWORD"] = unquote(u.password)
    return out


def run_as(argv: list[str]) -> int:
    """``exec ENVFILE USER DIR [K=V | @FILE ...] -- CMD...``: run CMD as USER in DIR with the
    site env; ``@FILE`` adds a release's env file (its values win), K=V pairs win over both."""
    sep = argv.index("--")
    env_file, user, folder, *pairs = argv[:sep]
    command = argv[sep + 1:]
    env = dict(os.environ)
    env.pop("SUDO_COMMAND", None)
    env.update(read_env(Path(env_file)))
    for pair in pairs:
        if pair.startswith("@"):
            env.update(read_env(Path(pair[1:])))
            continue
        key, _, value = pair.partition("=")
        env[key] = value
    url = env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        env.update(pg_environ(url))
    os.chdir(folder)
    if user != "root":
        # Resolved with the server's own PATH, before the app's PATH replaces it.
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        command = [runuser, "-u", user, "--", *command]
    os.execvpe(command[0], command, env)  # noqa: S606 - argv list, no shell
    return 127


def backup(env_file: str, target: str) -> int:
    """Dump the site's database (PostgreSQL custom format, or a SQLite copy) to ``target``."""
    url = read_env(Path(env_file)).get("DATABASE_URL", "")
    tmp = target + ".partial"
    if url.startswith("sqlite:"):
        import sqlite3

        src = sqlite3.connect(url.split("sqlite://", 1)[1] or ":memory:")
        dst = sqlite3.connect(tmp)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
    elif url.startswith(("postgres://", "postgresql://")):
        env = {**os.environ, **pg_environ(url)}
        subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", tmp], env=env,
                       check=True)
    else:
        sys.stderr.write("DATABASE_URL is neither postgres nor sqlite; nothing to back up\n")
        return 3
    Path(tmp).chmod(0o600)
    Path(tmp).replace(target)
    return 0


def scheduled(env_file: str, folder: str, keep: int) -> int:
    """A timed backup: a dated dump in ``folder``, keeping the newest ``keep`` scheduled ones."""
    import time

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    status = backup(env_file, f"{folder}/scheduled-{stamp}.dump")
    for old in sorted(Path(folder).glob("scheduled-*.dump"))[:-keep]:
        old.unlink()
    return status


def restore(env_file: str, source: str) -> int:
    """Restore a dump made by :func:`backup` into the site's database."""
    url = read_env(Path(env_file)).get("DATABASE_URL", "")
    if url.startswith("sqlite:"):
        import sqlite3

        src = sqlite3.connect(source)
        dst = sqlite3.connect(url.split("sqlite://", 1)[1])
        with dst:
            src.backup(dst)
        return 0
    env = {**os.environ, **pg_environ(url)}
    proc = subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner",
                           "--single-transaction", "--dbname", env["PGDATABASE"], source],
                          env=env, check=False)
    return proc.returncode


def main() -> int:
    """Apply one JSON request from stdin to the env file named in it (or run a subcommand)."""
    if len(sys.argv) > 1 and sys.argv[1] == "exec":
        return run_as(sys.argv[2:])
    if len(sys.argv) == 4 and sys.argv[1] == "backup":
        return backup(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 5 and sys.argv[1] == "scheduled":
        return scheduled(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    if len(sys.argv) == 4 and sys.argv[1] == "restore":
        return restore(sys.argv[2], sys.argv[3])
    req = json.load(sys.stdin)
    path = Path(req["file"])
    if req.get("op") == "redis":
        print(json.dumps(ensure_redis(req)))
        return 0
    if req.get("op") == "block":
        if "*" in req["file"]:  # e.g. /etc/postgresql/*/main/pg_hba.conf: the newest cluster
            import glob

            path = Path(sorted(glob.glob(req["file"]))[-1])  # noqa: PTH207 - absolute pattern
        edited = edit_block(path, req["name"], req.get("content"))
        print(json.dumps({"changed": edited, "digest": block_digest(path, req["name"])}))
        return 0
    env = read_env(path)
    op = req.get("op", "apply")
    if op == "hashes":
        print(json.dumps({k: digest(k, v) for k, v in env.items()}))
        return 0
    if op == "shapes":  # stand-ins for a local check: names and shapes, never values
        print(json.dumps({k: shape(v) for k, v in env.items()}))
        return 0
    if op == "get":
        print(json.dumps({k: env[k] for k in req.get("keys", env) if k in env}))
        return 0
    bad = unfit(req.get("set", {}))
    if bad:  # systemd would cut the value at a NUL byte; the kernel refuses a too long one
        sys.stderr.write(f"values of {', '.join(bad)} hold a NUL byte or are over "
                         f"{MAX_ENTRY} bytes: no environment can carry them\n")
        return 2
    before = dict(env)
    for key in req.get("generate", []):
        if not env.get(key):
            env[key] = secrets.token_urlsafe(50)
    env.update(req.get("set", {}))
    for key in req.get("unset", []):
        env.pop(key, None)
    db_changed = ensure_database(env, req["database"]) if req.get("database") else False
    changed = sorted(k for k in env.keys() | before.keys() if env.get(k) != before.get(k))
    if changed or not path.exists():
        write_env(path, env)
    print(json.dumps({"changed": changed, "database": db_changed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
