"""Errors djship reports to the user, each with where it happened and a hint."""

from __future__ import annotations

from dataclasses import dataclass, field


class DjshipError(Exception):
    """Base for errors shown to the user without a traceback."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def where(self) -> dict[str, str]:
        """Context labels such as host, site and step."""
        return {}

    def details(self) -> list[str]:
        """Extra lines printed below the headline."""
        return []


@dataclass
class ConfigIssue:
    """One problem in the configuration, located by key path and, if known, file and line."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}: " if self.file and self.line else ""
        return f"{loc}{self.path}: {self.message}" if self.path else f"{loc}{self.message}"


class ConfigError(DjshipError):
    """The configuration is invalid; every issue is reported at once (exit status 2)."""

    exit_code = 2

    def __init__(self, issues: list[ConfigIssue], *, hint: str | None = None) -> None:
        n = len(issues)
        super().__init__(
            f"invalid configuration ({n} problem{'s' if n != 1 else ''})",
            hint=hint or "fix the keys above; `djship init` writes an annotated example",
        )
        self.issues = issues

    def details(self) -> list[str]:
        return [f"  {i}" for i in self.issues]


class UsageError(DjshipError):
    """The command line or project layout does not allow the requested action."""

    exit_code = 2


@dataclass
class RemoteFailure(DjshipError):
    """A command on a host failed: which host, step, command, exit code and stderr tail."""

    host: str
    step: str
    command: str
    exit_status: int
    stderr: str = ""
    stdout: str = ""
    site: str | None = None
    hint_text: str | None = None
    tail_lines: int = field(default=15)

    def __post_init__(self) -> None:
        super().__init__(f"{self.step} failed on {self.host} (exit {self.exit_status})",
                         hint=self.hint_text)

    def where(self) -> dict[str, str]:
        labels = {"host": self.host}
        if self.site:
            labels["site"] = self.site
        labels["step"] = self.step
        return labels

    def details(self) -> list[str]:
        out = [f"  command: {self.command.strip().splitlines()[-1] if self.command else ''}"]
        out.append(f"  exit status: {self.exit_status}")
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-self.tail_lines:]
        if tail:
            out.append("  output (last lines):")
            out.extend(f"    {line}" for line in tail)
        return out


class ConnectionFailure(DjshipError):
    """A host could not be reached or refused our key."""

    def __init__(self, host: str, message: str, *, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.host = host

    def where(self) -> dict[str, str]:
        return {"host": self.host}
