"""Output: per-host, per-step progress lines; colour only on a terminal, never with NO_COLOR."""

from __future__ import annotations

import os
import sys
import threading

from rich.console import Console
from rich.markup import escape

from djship.shell import MASK


class UI:
    """Thread-safe progress and message printing; data goes to stdout, progress to stderr."""

    def __init__(self, *, verbose: bool = False, quiet: bool = False,
                 color: bool | None = None) -> None:
        if color is None:
            color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        self.verbose = verbose
        self.quiet = quiet
        self.err = Console(stderr=True, no_color=not color, highlight=False,
                           force_terminal=color, soft_wrap=True)
        self.out = Console(no_color=not color, highlight=False, soft_wrap=True)
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def add_secret(self, value: str) -> None:
        """Mask this value in everything printed from now on."""
        if value and value not in self._secrets:
            self._secrets.append(value)

    def mask(self, text: str) -> str:
        """Replace known secret values with ***."""
        for value in self._secrets:
            text = text.replace(value, MASK)
        return text

    def step(self, host: str, step: str, status: str, detail: str = "",
             seconds: float | None = None) -> None:
        """One progress line: host, step, status (ok/changed/failed/skip), detail, timing."""
        if self.quiet and status in ("ok", "skip"):
            return
        colour = {"ok": "green", "changed": "yellow", "failed": "red bold",
                  "skip": "dim", "plan": "cyan"}.get(status, "none")
        took = f" [dim]{seconds:.1f}s[/dim]" if seconds is not None else ""
        line = (f"[bold]{escape(host):<12}[/bold] {escape(step):<18} "
                f"[{colour}]{status:<8}[/{colour}]{took} {escape(self.mask(detail))}")
        with self._lock:
            self.err.print(line)

    def info(self, message: str) -> None:
        """A plain message on stderr."""
        if not self.quiet:
            with self._lock:
                self.err.print(escape(self.mask(message)))

    def warn(self, message: str) -> None:
        """A warning on stderr."""
        with self._lock:
            self.err.print(f"[yellow]warning:[/yellow] {escape(self.mask(message))}")

    def debug(self, message: str) -> None:
        """Shown only with -v."""
        if self.verbose:
            with self._lock:
                self.err.print(f"[dim]{escape(self.mask(message))}[/dim]")

    def data(self, text: str) -> None:
        """Program output meant for stdout (pipes, scripts)."""
        with self._lock:
            self.out.print(escape(self.mask(text)))
