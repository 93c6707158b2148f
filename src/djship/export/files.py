"""The files an export writes: compare with what is there, refuse to clobber, write."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from djship.errors import UsageError
from djship.settings.fix import FileChange, SettingsPlan, apply_plan, write_atomic

MANIFEST = ".djship/export.json"
Kind = Literal["generated", "merged", "keep"]
Status = Literal["create", "update", "unchanged", "kept", "conflict"]


def sha256(text: str) -> str:
    """The hex SHA-256 of a text as written (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Planned:
    """One file an export wants: its path (relative to the root), text and who owns it.

    ``generated`` files are djship's (a user's edit is only overwritten with --force);
    ``merged`` files are the user's, which djship extends (the new text keeps theirs);
    ``keep`` files are written only when missing (.python-version).
    """

    path: str
    text: str
    kind: Kind = "generated"
    why: str = ""


@dataclass
class Decision:
    """What will happen to one planned file, and why."""

    planned: Planned
    status: Status
    old: str | None

    def change(self, root: Path) -> FileChange:
        """The write as a FileChange (for the diff and for applying it)."""
        return FileChange(root / self.planned.path, self.old, self.planned.text)


@dataclass
class ExportPlan:
    """Every planned file with its decision, and the notes and next steps to print."""

    root: Path
    platform: str
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def writes(self) -> list[Decision]:
        """The decisions that write a file."""
        return [d for d in self.decisions if d.status in ("create", "update")]

    def conflicts(self) -> list[Decision]:
        """Generated files changed since djship wrote them (or never written by djship)."""
        return [d for d in self.decisions if d.status == "conflict"]

    def diff(self) -> str:
        """A unified diff of every write (and of conflicts, which --force would overwrite)."""
        return "".join(d.change(self.root).diff(self.root) for d in self.decisions
                       if d.status in ("update", "conflict"))


def read_manifest(root: Path) -> dict[str, str]:
    """Path -> hash of the text djship last wrote there."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def decide(root: Path, planned: Planned, manifest: dict[str, str]) -> Decision:
    """Create, update, leave alone, or refuse (a generated file the user changed)."""
    path = root / planned.path
    try:
        old: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    if old is None:
        return Decision(planned, "create", None)
    if old == planned.text:
        return Decision(planned, "unchanged", old)
    if planned.kind == "keep":
        return Decision(planned, "kept", old)
    if planned.kind == "merged" or manifest.get(planned.path) == sha256(old):
        return Decision(planned, "update", old)
    return Decision(planned, "conflict", old)


def make_plan(root: Path, platform: str, files: list[Planned]) -> ExportPlan:
    """Decide every planned file against the project as it is now."""
    manifest = read_manifest(root)
    return ExportPlan(root, platform, [decide(root, f, manifest) for f in files])


def apply(plan: ExportPlan, force: bool) -> Path | None:
    """Write the plan (backups of replaced files under .djship/backups); None if no change."""
    if plan.conflicts() and not force:
        names = ", ".join(d.planned.path for d in plan.conflicts())
        raise UsageError(f"changed since djship wrote them (or not written by djship): {names}",
                         hint="keep your version (move it aside) or overwrite it with --force; "
                              "--dry-run shows the differences")
    todo = [*plan.writes(), *(plan.conflicts() if force else [])]
    if not todo:
        return None
    changes = SettingsPlan(f"export {plan.platform}",
                           changes=[d.change(plan.root) for d in todo])
    backup = apply_plan(plan.root, changes)
    manifest = read_manifest(plan.root)
    for d in todo:
        if d.planned.kind == "generated":
            manifest[d.planned.path] = sha256(d.planned.text)
    text = json.dumps({"files": dict(sorted(manifest.items()))}, indent=2) + "\n"
    manifest_path = plan.root / MANIFEST
    if not manifest_path.is_file() or manifest_path.read_text(encoding="utf-8") != text:
        write_atomic(manifest_path, text)
    return backup
