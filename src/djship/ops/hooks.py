"""The project's local deploy hooks: commands run on this machine around a deploy.

They run through the user's shell in the project folder (they are the user's own commands,
like a Makefile's), with what they may want to know in their environment; never a secret.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from djship.errors import DjshipError
from djship.ui import UI


@dataclass(frozen=True)
class HookRun:
    """Where and with what the hooks of one deploy run."""

    ui: UI
    root: Path
    site: str
    release: str
    hosts: Sequence[str]

    def env(self, outcome: str | None = None) -> dict[str, str]:
        """What a hook is told: the site, the release id, the hosts (comma-separated) and,
        after the deploy, its outcome (deployed, unchanged or failed)."""
        told = {"DJSHIP_SITE": self.site, "DJSHIP_RELEASE": self.release,
                "DJSHIP_HOSTS": ",".join(self.hosts)}
        if outcome is not None:
            told["DJSHIP_OUTCOME"] = outcome
        return told

    def run(self, when: str, commands: Sequence[str], outcome: str | None = None) -> None:
        """Run each command in order; the first that fails raises, naming it."""
        env = self.env(outcome)
        for command in commands:
            self.ui.step("local", when, "run", command)
            status = run_hook(command, self.root, env)
            if status != 0:
                raise DjshipError(f"{when} hook `{command}` failed (exit {status})",
                                  hint=f"fix it, or remove it from hooks.{when} in djship.toml")


def run_hook(command: str, root: Path, told: Mapping[str, str]) -> int:
    """One hook command through the shell, its output the user's; its exit status."""
    done = subprocess.run(command, shell=True, cwd=root,  # noqa: S602 - the user's own command
                          env={**os.environ, **told}, stdin=subprocess.DEVNULL, check=False)
    return done.returncode
