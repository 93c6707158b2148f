"""Actions, facts and steps: the vocabulary planners speak.

A step reads a fact from the host right before it runs (a probe script plus a pure parser),
then a pure planner turns config and that fact into actions. An empty plan carries the
reason nothing changes. An action may carry its ``undo`` (more actions): the runner keeps
the undo of every action it carried out and, when a later one fails or the user interrupts,
runs them newest first, so a half-done deploy leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from djship.shell import Script
from djship.transport.base import Result

T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    """Run a script. ``stdin`` may carry secrets and is never printed."""

    script: Script
    summary: str
    stdin: bytes | None = None
    undo: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Put:
    """Put a file with this content, mode and owner (atomically)."""

    path: str
    content: bytes
    summary: str = ""
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    secret: bool = False
    undo: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Call:
    """Run local code against the transport (e.g. verify a fresh SSH login still works)."""

    fn: Callable[[Any], None]
    summary: str
    undo: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Sync:
    """Upload local files into a remote folder by content (never by size and mtime).

    ``link_dest`` names a remote folder whose files with equal content are hard-linked
    instead of sent (the live release), so an upload costs only what changed.
    """

    source: str
    files: tuple[str, ...]
    dest: str
    link_dest: str | None
    summary: str
    undo: tuple[Action, ...] = ()


Action = Run | Put | Call | Sync


@dataclass(frozen=True)
class Plan:
    """What a step will do; empty means no change, and ``reason`` says why."""

    actions: tuple[Action, ...] = ()
    reason: str = ""

    @property
    def changes(self) -> bool:
        """True when the plan does anything."""
        return bool(self.actions)

    @staticmethod
    def nothing(reason: str) -> Plan:
        """An empty plan with its reason."""
        return Plan((), reason)

    @staticmethod
    def of(*actions: Action) -> Plan:
        """A plan of the given actions (none means no change)."""
        return Plan(tuple(actions), "" if actions else "already in place")


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A probe script, the pure parser of its result, and the value assumed in a dry run."""

    probe: Script | None
    parse: Callable[[Result], T]
    assume: T


def no_fact() -> Fact[None]:
    """For steps that need to read nothing."""
    return Fact(None, lambda _r: None, None)


@dataclass(frozen=True)
class Step(Generic[T]):
    """A named unit of work: read ``fact``, then ``plan(fact)``."""

    name: str
    fact: Fact[T]
    plan: Callable[[T], Plan]
    labels: dict[str, str] = field(default_factory=dict)


AnyStep = Step[Any]
