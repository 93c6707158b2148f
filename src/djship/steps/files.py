"""A step that keeps files in place: put what differs, then run follow-up commands.

Used for systemd units, nginx sites, the firewall, sshd and apt settings. A ``validate``
script (``nginx -t``, ``sshd -t``) runs after the new files are moved in; if it fails the
previous files are put back, so a bad template never replaces a working config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from djship.facts.files import FileStates, file_states
from djship.plan import Action, Plan, Put, Run, Step
from djship.shell import Command, Script, cmd, raw

NEW = ".djship-new"
OLD = ".djship-old"


@dataclass(frozen=True)
class File:
    """A file djship manages."""

    path: str
    content: bytes
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"

    @property
    def sha256(self) -> str:
        """Hash of the desired content."""
        return hashlib.sha256(self.content).hexdigest()


def differs(f: File, states: FileStates) -> bool:
    """True when the host's file is missing or has other content, mode or owner."""
    st = states.get(f.path)
    return st is None or (st.sha256, st.mode, st.owner, st.group) != (
        f.sha256, f.mode, f.owner, f.group)


def plan_files(files: Sequence[File], states: FileStates, *, then: Sequence[Command] = (),
               validate: Sequence[Command] = (), on_fail: Sequence[Command] = (),
               label: str = "") -> Plan:
    """Put changed files; with ``validate``, swap them in and roll back if validation fails."""
    changed = [f for f in files if differs(f, states)]
    if not changed:
        return Plan.nothing(f"{label or 'files'} up to date")
    names = ", ".join(f.path for f in changed)
    if not validate:
        puts: list[Action] = [Put(f.path, f.content, f"wrote {f.path}", f.mode, f.owner, f.group)
                              for f in changed]
        if then:
            puts.append(Run(Script.of(then), ""))
        return Plan(tuple(puts))
    staged: list[Action] = [Put(f.path + NEW, f.content, "", f.mode, f.owner, f.group)
                            for f in changed]
    return Plan((*staged, Run(swap_script(changed, validate, then, on_fail), f"updated {names}")))


def swap_script(files: Sequence[File], validate: Sequence[Command],
                then: Sequence[Command], on_fail: Sequence[Command] = ()) -> Script:
    """Move staged files in, validate, restore the old ones if validation fails."""
    backup = [cmd(raw("if [ -e"), f.path, raw("]; then"), "cp", "-a", "--", f.path,
                  f.path + OLD, raw("; else rm -f --"), f.path + OLD, raw("; fi"))
              for f in files]
    swap = [cmd("mv", "-f", "--", f.path + NEW, f.path) for f in files]
    restore = [cmd(raw("if [ -e"), f.path + OLD, raw("]; then"), "mv", "-f", "--", f.path + OLD,
                   f.path, raw("; else rm -f --"), f.path, raw("; fi")) for f in files]
    check = " && ".join(c.render() for c in validate)
    undo = "; ".join(c.render() for c in [*restore, *on_fail])
    guard = cmd(raw(f"if ! ( {check} ); then"), raw(undo),
                raw("; echo 'djship: validation failed, previous files restored' >&2; exit 1;"),
                raw("fi"))
    cleanup = cmd("rm", "-f", "--", *(f.path + OLD for f in files))
    return Script.of([*backup, *swap, guard, cleanup, *then])


def files_step(name: str, files: Sequence[File], *, then: Sequence[Command] = (),
               validate: Sequence[Command] = (), on_fail: Sequence[Command] = ()
               ) -> Step[FileStates]:
    """A step that keeps ``files`` as given."""
    return Step(name, file_states([f.path for f in files]),
                lambda states: plan_files(files, states, then=then, validate=validate,
                                          on_fail=on_fail, label=name))
