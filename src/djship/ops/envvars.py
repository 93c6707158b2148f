"""`djship env`: edit the site's environment file on every host, values only on stdin."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from djship.config import Host
from djship.config.schema import PLACEHOLDER_ADDRESS
from djship.context import Context
from djship.errors import DjshipError, UsageError
from djship.paths import SitePaths
from djship.remote import envtool
from djship.runner import Runner
from djship.settings.envcheck import ServerEnv
from djship.shell import MASK, Script, cmd
from djship.steps.tools import ENVTOOL
from djship.ui import UI

PROTECTED = ("DATABASE_URL", "SECRET_KEY")
# Shorter values ("0", "yes", "INFO") are settings, not secrets: masking them would turn
# every digit of a release id or timing in the output into ***.
MIN_MASKED = 6


@dataclass(frozen=True)
class EnvChange:
    """What to set and unset."""

    set: dict[str, str]
    unset: list[str]


def parse_assignments(items: tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE arguments to a dict, refusing malformed ones."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"expected KEY=VALUE, got {item.split('=')[0]!r}",
                             hint="e.g. djship env set DEBUG=0 EMAIL_HOST=smtp.example.com")
        out[key] = value
    return out


def check_values(values: dict[str, str]) -> dict[str, str]:
    """Refuse values the app could not receive whole (line breaks are fine: the file quotes
    them the way systemd reads them)."""
    bad = envtool.unfit(values)
    if bad:
        raise UsageError(f"the value of {', '.join(bad)} cannot be passed to the app: it holds "
                         f"a NUL byte or text that is not UTF-8, or is over "
                         f"{(envtool.MAX_ENTRY + 1) // 1024} KiB",
                         hint="encode binary data (e.g. base64) and decode it in the app; "
                              "keep a large file on the server and pass its path")
    return values


def stdin_value(key: str, data: bytes) -> str:
    """The value ``KEY=-`` reads from stdin: all of it, byte for byte (a PEM key, a JSON
    file), except that a single line loses its line ending as `echo` and `printf` add one."""
    if not data:
        raise UsageError(f"{key}=- but stdin is empty",
                         hint=f"e.g. djship env set {key}=- < file, or "
                              f"printf '%s\\n' \"$VALUE\" | djship env set {key}=-")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"the value of {key} on stdin is not UTF-8 text (a binary file?)",
                         hint=f"encode it, e.g. base64 < file.der | djship env set {key}=-, "
                              "and decode it in the app") from None
    for ending in ("\r\n", "\n"):
        line = text.removesuffix(ending)
        if line != text and "\n" not in line and "\r" not in line:
            return line
    return text


def check_prompted(key: str, value: str) -> str:
    """Refuse a typed or pasted value that looks like the first line of a longer text: a
    terminal prompt reads one line and drops the rest of a paste."""
    head = value.strip()
    partial = head.startswith("-----BEGIN ") and "-----END " not in head
    if head.startswith(("{", "[")):
        try:
            json.loads(head)
        except ValueError:
            partial = True
    if partial:
        raise UsageError(f"the value typed for {key} looks like the first line of a longer "
                         "text (a PEM key, a JSON file): a prompt reads only one line",
                         hint=f"read it from the file: djship env set {key}=- < FILE")
    return value


def check_unset(keys: tuple[str, ...], force: bool,
                protected: tuple[str, ...] = PROTECTED) -> list[str]:
    """Refuse to drop the database URL or secret key unless forced."""
    risky = [k for k in keys if k in protected]
    if risky and not force:
        raise UsageError(f"refusing to unset {', '.join(risky)}: the site cannot run without it",
                         hint="add --force if you really mean it")
    return list(keys)


def apply_request(p: SitePaths, change: EnvChange) -> tuple[Script, bytes]:
    """The helper call and its stdin for a change (values never on the command line)."""
    body = {"file": p.env_file, "set": change.set, "unset": change.unset}
    return Script.of([cmd("python3", ENVTOOL)]), json.dumps(body).encode()


def get_request(p: SitePaths, keys: list[str] | None) -> tuple[Script, bytes]:
    """The helper call that prints the env file's values as JSON."""
    return file_request(p.env_file, keys)


def file_request(env_file: str, keys: list[str] | None) -> tuple[Script, bytes]:
    """The helper call that prints the values of any env file as JSON."""
    body: dict[str, object] = {"op": "get", "file": env_file}
    if keys:
        body["keys"] = keys
    return Script.of([cmd("python3", ENVTOOL)]), json.dumps(body).encode()


def server_env(ctx: Context, site: str) -> ServerEnv:
    """The variables set on the site's first app host, as stand-ins of the same shape (made
    on the server: the values stay there), or why they cannot be read."""
    hosts = [h for h in ctx.config.site_hosts(site) if {"web", "worker"} & set(h.roles)]
    if not hosts:
        return ServerEnv(None, f"site {site} has no web or worker host")
    host = hosts[0]
    if host.address == PLACEHOLDER_ADDRESS:
        return ServerEnv(None, f"host {host.name} still has the placeholder address "
                               f"{PLACEHOLDER_ADDRESS} in djship.toml")
    p = SitePaths(site)
    body = json.dumps({"op": "shapes", "file": p.env_file}).encode()
    script = Script.of([cmd("test", "-f", p.env_file), cmd("python3", ENVTOOL)])
    try:
        res = ctx.transport(host).run(script, stdin=body)
    except DjshipError as exc:
        return ServerEnv(None, f"{host.name} is not reachable: {exc.message}")
    if not res.ok:
        return ServerEnv(None, f"site {site} is not provisioned on {host.name} yet",
                         provisioned=False)
    shapes = json.loads(res.stdout or "{}")
    if not isinstance(shapes, dict) or not all(isinstance(v, str) for v in shapes.values()):
        # A helper from an older djship takes the request for an (empty) change.
        return ServerEnv(None, f"djship's env helper on {host.name} is out of date "
                               "(`djship provision` updates it)", provisioned=True)
    return ServerEnv(shapes, provisioned=True)


def mask_values(ui: UI, values: Iterable[str]) -> None:
    """Hide these values in everything printed from now on (all but the short ones)."""
    for value in values:
        # Each line of a multi-line secret too: an error may quote a single line of it.
        for part in [value, *value.splitlines()]:
            if len(part.strip()) >= MIN_MASKED:
                ui.add_secret(part)


def read_values(ctx: Context, host: Host, request: tuple[Script, bytes], *, site: str,
                missing_ok: bool = False) -> dict[str, str]:
    """Values from a host's env file, into memory only, and masked in all later output.

    With ``missing_ok``, a host without the helper or the file yet (a fresh server) gives {}.
    """
    script, stdin = request
    transport = ctx.transport(host)
    if missing_ok:
        res = transport.run(script, stdin=stdin)
        if not res.ok:
            return {}
    else:
        res = Runner(ctx.ui, site=site).check(transport, script, "env read", stdin=stdin,
                                              hint="is the site provisioned? `djship provision`")
    values: dict[str, str] = json.loads(res.stdout)
    mask_values(ctx.ui, values.values())
    return values


def render_list(values: dict[str, str], reveal: bool) -> list[str]:
    """KEY=VALUE lines, values masked unless revealed."""
    return [f"{k}={v if reveal else MASK}" for k, v in sorted(values.items())]
