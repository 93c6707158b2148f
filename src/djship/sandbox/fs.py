"""Guarded file operations for the sandbox state directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from djship.errors import DjshipError


def _mount_points() -> list[Path]:
    """Mount points of this mount namespace (octal escapes decoded)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    points = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(Path(fields[4].encode().decode("unicode_escape")))
    return points


def check_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """Return path resolved, or raise unless it lies strictly inside root."""
    raw, raw_root = os.fspath(path), os.fspath(root)
    if not raw.strip() or not raw_root.strip():
        raise DjshipError("refusing to remove an empty path")
    resolved_root = Path(raw_root).resolve()
    if resolved_root == Path("/"):
        raise DjshipError("refusing to remove anything with / as the state directory")
    if Path(raw).is_symlink():
        raise DjshipError(f"refusing to remove {raw}: it is a symbolic link")
    target = Path(raw).resolve()
    if target == Path("/") or resolved_root not in target.parents:
        raise DjshipError(
            f"refusing to remove {target}: not strictly inside {resolved_root}",
            hint="this is a bug in djship's sandbox code; nothing was deleted",
        )
    return target


def remove_tree(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
    """Delete a directory tree, refusing anything not strictly inside root or still mounted."""
    target = check_inside(path, root)
    # A mount inside the tree could be a bind of host data (e.g. a wheel directory):
    # deleting through it would destroy files that are not ours.
    busy = [m for m in _mount_points() if m == target or target in m.parents]
    if busy:
        raise DjshipError(
            f"refusing to remove {target}: {busy[0]} is still mounted",
            hint=f"unmount it first: umount {busy[0]}",
        )
    if target.exists():
        shutil.rmtree(target)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write text to path through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
