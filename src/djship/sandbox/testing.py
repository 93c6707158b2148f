"""Helpers for test suites that boot sandboxes (used by tests/integration/conftest.py)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from djship.sandbox import machine
from djship.sandbox.records import SandboxInfo
from djship.steps import packages

_counter = itertools.count(1)


def host_entry(sandbox: SandboxInfo, roles: Sequence[str] = ("web", "db")) -> str:
    """The [[hosts]] TOML entry that points djship at a sandbox."""
    return sandbox.host_entry(roles)


def provision_packages() -> list[str]:
    """Every Debian package a web+db provision installs: what a warm image preinstalls."""
    return list(dict.fromkeys([*packages.BASE, *packages.WEB, *packages.DB]))


class SandboxFactory:
    """Boots sandboxes with unique names and remembers them for teardown."""

    def __init__(self, release: str = "bookworm", preinstall: Sequence[str] = ()) -> None:
        self.release = release
        self.preinstall = list(preinstall)
        self.created: list[SandboxInfo] = []
        self.names: list[str] = []

    def new_name(self) -> str:
        """A sandbox name unique to this test process."""
        return f"t{os.getpid() % 100000}-{next(_counter)}"

    def __call__(self, *, internet: bool = False) -> SandboxInfo:
        """Boot one sandbox and wait until SSH answers."""
        name = self.new_name()
        self.names.append(name)
        info = machine.up(name, self.release, internet=internet,
                          preinstall=self.preinstall or None)
        self.created.append(info)
        return info

    def many(self, count: int) -> list[SandboxInfo]:
        """Boot count sandboxes in parallel."""
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda _: self(), range(count)))

    def destroy_all(self) -> None:
        """Take down, in parallel, every sandbox this factory started that still exists."""
        alive = {m.name for m in machine.list_machines()}
        doomed = [n for n in self.names if n in alive]

        def down(name: str) -> str | None:
            try:
                machine.down(name)
            except Exception as e:  # keep tearing down the others
                return f"{name}: {e}"
            return None

        with ThreadPoolExecutor(max(1, len(doomed))) as pool:
            errors = [e for e in pool.map(down, doomed) if e]
        if errors:
            raise RuntimeError("sandbox teardown failed: " + "; ".join(errors))
