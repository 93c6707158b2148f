"""Commands as argv tokens, quoted in exactly one place; secrets as a masked type.

Raw strings never reach a transport: a :class:`Command` is a token list and a
:class:`Script` is a list of commands rendered with ``set -eu``. A :class:`Secret` renders
as ``***`` everywhere except :meth:`Secret.reveal`, and refuses to be a command token,
because a remote command line is visible in the process list. Secrets travel on stdin.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MASK = "***"
FAILED_MARK = "djship-failed-command: "
# Names the failing command in stderr, so errors can say which line of a script broke.
# On one line (a `python -c` program spans many): what follows the marker line in the
# output is the command's own, not the rest of its text.
FAILED_TRAP = f"trap 'echo \"{FAILED_MARK}${{BASH_COMMAND//[[:cntrl:]]/ }}\" >&2' ERR"


class Secret:
    """A value that must never be printed, logged or put on a command line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the real value; call only where it goes to stdin or a 0600 file."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class Raw(str):
    """A shell fragment inserted unquoted (operators such as ``>``, ``&&``, ``|``).

    Only literals written in djship's own source may be Raw, never user input.
    """


Token = str | Raw


@dataclass(frozen=True)
class Command:
    """One command line as tokens; rendered by :func:`render`."""

    argv: tuple[Token, ...]

    def __init__(self, *argv: Token) -> None:
        for tok in argv:
            if isinstance(tok, Secret):  # pragma: no cover - defensive, typed away
                raise TypeError("a Secret cannot be a command token; send it on stdin")
        object.__setattr__(self, "argv", tuple(argv))

    def render(self) -> str:
        """The command as one shell line, each plain token quoted once."""
        return " ".join(t if isinstance(t, Raw) else shlex.quote(t) for t in self.argv)

    def __str__(self) -> str:
        return self.render()


def cmd(*argv: Token) -> Command:
    """Shorthand for :class:`Command`."""
    return Command(*argv)


def raw(fragment: str) -> Raw:
    """Mark a literal shell fragment (an operator) as unquoted."""
    return Raw(fragment)


@dataclass(frozen=True)
class Script:
    """Commands run in order by ``bash`` with ``set -eu -o pipefail``."""

    commands: tuple[Command, ...]
    sudo: bool = field(default=True, compare=False)

    @classmethod
    def of(cls, commands: Iterable[Command]) -> Script:
        """Build a script from commands."""
        return cls(tuple(commands))

    def render(self) -> str:
        """The script text, one command per line, with strict mode on."""
        lines = ["set -eu -o pipefail", FAILED_TRAP, *(c.render() for c in self.commands)]
        return "\n".join(lines) + "\n"

    def __add__(self, other: Script) -> Script:
        return Script(self.commands + other.commands)


def script(*commands: Command) -> Script:
    """Shorthand for a script of the given commands."""
    return Script(tuple(commands))


def mask(text: str, secrets: Sequence[Secret | str]) -> str:
    """Replace every occurrence of each secret's value in ``text`` by ``***``."""
    for s in secrets:
        value = s.reveal() if isinstance(s, Secret) else s
        if value:
            text = text.replace(value, MASK)
    return text


NGINX_PID = "/run/nginx.pid"
NGINX_APPLY_SECONDS = 30


def nginx_reload(verb: str = "reload", *, when: str = "") -> Command:
    """``systemctl VERB nginx`` that returns only once nginx routes by the new configuration
    (only if the shell condition ``when`` holds, when given).

    A reload only signals nginx's master. Until it has read the configuration, started new
    workers and told the old ones to stop, the old workers accept new connections and serve
    them by the old configuration: an upstream just switched away from (502 once that slot
    stops; on a first deploy, the placeholder), a certificate just replaced. So this waits,
    at most NGINX_APPLY_SECONDS, until every worker that ran before is gone or shutting
    down (their process titles say so); nginx's error log ends the message otherwise.
    """
    stuck = (f"nginx did not take up its new configuration within {NGINX_APPLY_SECONDS}s "
             "(its worker $busy still serves by the old one); see /var/log/nginx/error.log")
    reload = (
        f"nginx_master=$(cat {NGINX_PID} 2>/dev/null || true); nginx_old=; "
        'if [ -n "$nginx_master" ]; then nginx_old=$(cat '
        '"/proc/$nginx_master/task/$nginx_master/children" 2>/dev/null || true); fi; '
        f"systemctl {verb} nginx; deadline=$((SECONDS + {NGINX_APPLY_SECONDS})); "
        "while :; do busy=; for w in $nginx_old; do "
        "case \"$(tr '\\0' ' ' 2>/dev/null < \"/proc/$w/cmdline\" || true)\" in "
        "*'shutting down'*) ;; 'nginx: worker process'*) busy=$w;; esac; done; "
        'if [ -z "$busy" ]; then break; fi; '
        f'if [ $SECONDS -ge $deadline ]; then echo "{stuck}" >&2; '
        "tail -n 5 /var/log/nginx/error.log >&2 || true; exit 1; fi; sleep 0.05; done")
    return cmd(raw(f"if {when}; then {reload}; fi" if when else reload))
