"""Steps: the site's system user and its directory layout."""

from __future__ import annotations

from dataclasses import dataclass

from djship import paths
from djship.paths import SitePaths
from djship.plan import Fact, Plan, Run, Step
from djship.shell import Script, cmd, raw
from djship.transport.base import Result


@dataclass(frozen=True)
class UserFact:
    """The site user as the server has it."""

    exists: bool
    shell: str = ""
    nginx_in_group: bool = False


def probe_user(p: SitePaths) -> Script:
    """Print the passwd entry of the site user and www-data's groups."""
    return Script.of([
        cmd("getent", "passwd", p.user, raw("|| true")),
        cmd("echo", "groups:", raw("$(id -nG www-data 2>/dev/null || true)")),
    ])


def parse_user(p: SitePaths, result: Result) -> UserFact:
    """Read the passwd line and whether www-data is in the site's group."""
    shell, exists, in_group = "", False, False
    for line in result.stdout.splitlines():
        if line.startswith(p.user + ":"):
            exists, shell = True, line.split(":")[-1]
        elif line.startswith("groups:"):
            in_group = p.user in line.split()[1:]
    return UserFact(exists, shell, in_group)


NOLOGIN = "/usr/sbin/nologin"


def plan_user(p: SitePaths, fact: UserFact, has_nginx: bool) -> Plan:
    """Create the no-login system user; let nginx (www-data) reach the site's socket."""
    actions = []
    if not fact.exists:
        actions.append(Run(Script.of([cmd(
            "useradd", "--system", "--user-group", "--home-dir", p.root, "--no-create-home",
            "--shell", NOLOGIN, p.user)]), f"created user {p.user}"))
    elif fact.shell != NOLOGIN:
        actions.append(Run(Script.of([cmd("usermod", "--shell", NOLOGIN, p.user)]),
                           f"set {p.user}'s shell to nologin"))
    if has_nginx and not fact.nginx_in_group:
        actions.append(Run(Script.of([cmd("usermod", "-aG", p.user, "www-data")]),
                           f"added www-data to group {p.user}"))
    return Plan.of(*actions) if actions else Plan.nothing(f"user {p.user} in place")


def user_step(p: SitePaths, has_nginx: bool) -> Step[UserFact]:
    """Ensure the site user exists."""
    return Step("user", Fact(probe_user(p), lambda r: parse_user(p, r), UserFact(False)),
                lambda f: plan_user(p, f, has_nginx))


def layout(p: SitePaths) -> list[tuple[str, int, str]]:
    """Directories of a site: (path, mode, owner); the group is the owner's own."""
    return [
        (p.root, 0o755, "root"),
        (p.releases, 0o755, "root"),
        (p.shared, 0o755, "root"),
        (p.media, 0o755, p.user),
        (p.static, 0o755, p.user),
        (p.data, 0o750, p.user),
        (p.backups, 0o700, "root"),
        (p.uv_cache, 0o755, "root"),
        (paths.ETC, 0o700, "root"),
    ]


def plan_layout(p: SitePaths, stats: dict[str, tuple[int, str]]) -> Plan:
    """``install -d`` each directory whose mode or owner is not as wanted."""
    cmds = [cmd("install", "-d", "-m", f"{mode:o}", "-o", owner, "-g", owner, path)
            for path, mode, owner in layout(p) if stats.get(path) != (mode, owner)]
    if not cmds:
        return Plan.nothing("directories in place")
    return Plan.of(Run(Script.of(cmds), f"created or fixed {len(cmds)} directories"))


def layout_step(p: SitePaths) -> Step[dict[str, tuple[int, str]]]:
    """Ensure the site's directories exist with the right mode and owner."""
    dirs = [d for d, _m, _o in layout(p)]
    probe = Script.of([cmd("stat", "-c", "stat|%n|%a|%U|%G", "--", *dirs,
                           raw("2>/dev/null || true"))])

    def parse(result: Result) -> dict[str, tuple[int, str]]:
        out: dict[str, tuple[int, str]] = {}
        for line in result.stdout.splitlines():
            if line.startswith("stat|"):
                _, name, mode, owner, _group = line.split("|", 4)
                out[name] = (int(mode, 8), owner)
        return out

    return Step("layout", Fact(probe, parse, {}), lambda s: plan_layout(p, s))
