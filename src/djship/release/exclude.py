"""What a release leaves out unless the project asks for it, and what it warns about.

A project without a .gitignore yet (or outside git) would otherwise ship its virtualenv, its
node_modules, bytecode, the developer's SQLite database and .env file. Files git tracks are
the project's choice and ship; a secret-looking file that ships is named in a warning.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

VENV_NAMES = frozenset({".venv", "venv", "env"})
SQLITE_HEADER = b"SQLite format 3\0"
# Templates of .env files document the variables; they hold no secret.
ENV_TEMPLATES = frozenset({"example", "sample", "template", "dist", "defaults", "tpl"})
_SQLITE_NAME = re.compile(r"\.(sqlite3?|db)(-journal|-wal|-shm)?$")
_SECRET_NAMES = ("*.pem", "*.key", "id_rsa*", "id_ed25519*", "id_ecdsa*", ".env", ".env.*",
                 "*credentials*.json", "secrets.*")
# The kinds, in the order their warnings appear: (name in the warning, why it stays here).
KINDS = {
    "venv": ("virtualenvs", "the server builds each release's own"),
    "node_modules": ("node_modules folders", "install packages where they are built"),
    "bytecode": ("Python bytecode caches", "Python writes its own on the server"),
    "sqlite": ("local SQLite databases", "the server keeps its own data"),
    "dotenv": (".env files", "secrets belong in `djship env set`"),
}


def is_env_file(name: str) -> bool:
    """``.env`` or ``.env.<something>``, but not a template such as ``.env.example``."""
    if name == ".env":
        return True
    return name.startswith(".env.") and name.rsplit(".", 1)[-1].lower() not in ENV_TEMPLATES


def is_sqlite(root: Path, rel: str) -> bool:
    """A local SQLite database: named like one, and a ``.db`` file only with its header."""
    m = _SQLITE_NAME.search(rel)
    if not m:
        return False
    if m.group(1) != "db" or m.group(2):
        return True
    try:
        with (root / rel).open("rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def folder_kind(root: Path, folder: str) -> str | None:
    """The kind of a folder left out as a whole (``folder`` relative to root), or None."""
    name = PurePosixPath(folder).name
    if name in VENV_NAMES or (root / folder / "pyvenv.cfg").is_file():
        return "venv"
    if name == "node_modules":
        return "node_modules"
    if name == "__pycache__":
        return "bytecode"
    return None


def file_kind(root: Path, rel: str) -> str | None:
    """The kind of a file left out on its own, or None."""
    name = PurePosixPath(rel).name
    if name.endswith((".pyc", ".pyo")):
        return "bytecode"
    if is_env_file(name):
        return "dotenv"
    if is_sqlite(root, rel):
        return "sqlite"
    return None


def included(rel: str, patterns: Iterable[str]) -> bool:
    """Does a ``project.include`` glob name this path or one of its folders?"""
    parts = PurePosixPath(rel).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(c, p.rstrip("/")) for p in patterns for c in candidates)


class Excluder:
    """Sorts paths into shipped and left out (by kind), remembering what it left out."""

    def __init__(self, root: Path, include: Iterable[str]) -> None:
        self.root = root
        self.include = tuple(include)
        self.left_out: dict[str, dict[str, None]] = {}  # kind -> folders/files, in order
        self._folders: dict[str, str | None] = {}

    def skip_folder(self, folder: str) -> bool:
        """Leave a whole folder out? (Only when no include glob could reach inside it.)"""
        kind = self._folder(folder)
        if kind is None or included(folder, self.include) \
                or any(p.startswith(folder + "/") for p in self.include):
            return False
        self.left_out.setdefault(kind, {})[folder + "/"] = None
        return True

    def keep(self, rel: str) -> bool:
        """Ship this file? Records it (or its folder) as left out when not."""
        if included(rel, self.include):
            return True
        parts = PurePosixPath(rel).parts
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            kind = self._folder(folder)
            if kind:
                self.left_out.setdefault(kind, {})[folder + "/"] = None
                return False
        kind = file_kind(self.root, rel)
        if kind:
            self.left_out.setdefault(kind, {})[rel] = None
            return False
        return True

    def _folder(self, folder: str) -> str | None:
        if folder not in self._folders:
            self._folders[folder] = folder_kind(self.root, folder)
        return self._folders[folder]

    def warnings(self, *, in_git: bool) -> list[str]:
        """One line for each kind left out: what, why, and how to ship it anyway (or, in
        git, how to stop hearing about it)."""
        out = []
        for kind, (label, why) in KINDS.items():
            paths = sorted(self.left_out.get(kind, ()))
            if paths:
                quiet = "; or add them to .gitignore" if in_git else ""
                out.append(f"not shipped: {label} {listing(paths)} ({why}); to ship one "
                           f'anyway: [project] include = ["{paths[0].rstrip("/")}"] in '
                           f"djship.toml{quiet}")
        return out


def listing(paths: list[str], most: int = 3) -> str:
    """``a, b, c and 4 more``."""
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def secret_looking(files: Iterable[str], include: Iterable[str]) -> list[str]:
    """Shipped files whose names look like keys or secrets (public keys and .env templates
    aside), unless an include glob says they ship on purpose."""
    include = tuple(include)
    found = []
    for rel in files:
        name = PurePosixPath(rel).name
        if name.endswith(".pub") or (name.startswith(".env.") and not is_env_file(name)):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in _SECRET_NAMES) \
                and not included(rel, include):
            found.append(rel)
    return found


def secret_warning(files: list[str]) -> list[str]:
    """The warning naming secret-looking files that ship (none when there are none)."""
    if not files:
        return []
    return [f"shipping secret-looking files: {listing(files, 5)}: if they hold secrets, "
            "remove them (and add them to .gitignore) and use `djship env set` instead; "
            'if they ship on purpose, say so: [project] include = ["' + files[0] + '"]']
