"""Where the sandbox keeps its image, key and machines, and the lock guarding them."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from djship.errors import UsageError

DEFAULT_STATE_DIR = Path("/var/tmp/djship-sandbox")
STATE_DIR_ENV = "DJSHIP_SANDBOX_DIR"
RELEASES = ("bookworm", "trixie")
# "vb-" + name must fit the 15 characters of a Linux interface name.
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")


def state_dir(option: str | os.PathLike[str] | None = None) -> Path:
    """The state directory: the option, else $DJSHIP_SANDBOX_DIR, else the default."""
    chosen = option or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return Path(chosen).absolute()


def check_name(name: str) -> str:
    """Return name if it is a valid sandbox name, else raise UsageError."""
    if not NAME_RE.match(name):
        raise UsageError(
            f"invalid sandbox name {name!r}",
            hint="use 1-12 characters: lowercase letters, digits and '-', starting with a letter",
        )
    return name


@dataclass(frozen=True)
class Layout:
    """Paths inside one state directory."""

    root: Path

    @property
    def key(self) -> Path:
        """Private SSH key for root in every sandbox."""
        return self.root / "id_ed25519"

    @property
    def images(self) -> Path:
        """Directory of cached base images, one per release."""
        return self.root / "images"

    def image_rootfs(self, release: str) -> Path:
        """Root file system of the cached base image for release."""
        return self.images / release / "rootfs"

    @property
    def machines(self) -> Path:
        """Directory holding one subdirectory per sandbox."""
        return self.root / "machines"

    def machine(self, name: str) -> Path:
        """Directory of one sandbox."""
        return self.machines / name

    @property
    def net(self) -> Path:
        """Host network state shared by all sandboxes (saved sysctl values)."""
        return self.root / "net"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock file, across processes and threads alike."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # flock locks belong to the open file, so two threads opening it separately exclude
    # each other as two processes would.
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
