"""Follow djship's own advice, as a new user would (issue 16, done-when 1).

A :class:`Follower` runs a djship command in a project; when it fails, it reads what djship
printed (each ``error:`` with its ``fix:`` and ``hint:`` lines, and the ``note:`` lines of
``init``), runs the first djship command an error names in backticks, exactly as written,
and runs the command again. A value the user alone knows (``djship env set NAME=...``) is
filled from the project's own values; a file value goes on stdin (``NAME=- < key.pem``), as
``djship env set --help`` says. It stops with the whole transcript when djship gives no way
forward (an error whose advice names no command) or when its advice goes round in a loop.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from helpers import DJSHIP, Run, djship_env

# Commands that change something; `djship check` and `djship config` only look.
_ACTING = ("init", "env", "provision", "deploy", "settings", "db")
_COMMAND = re.compile(r"`(djship [^`]+)`")
_PLACEHOLDERS = ("...", "…", "VALUE", "value", "<value>", "<VALUE>")
_STANDINS = re.compile(r"stand-in values?:? \(?(.*)")
_STANDIN_NAME = re.compile(r"\b([A-Z][A-Z0-9_]*)='")  # NAME='stand-in', as check lists them
_MAX_ROUNDS = 12


def _answers(words: list[str]) -> str | None:
    """What the user types at the command's question: init --settings asks before applying
    the change it shows; the user says yes."""
    return "y\n" if words[:1] in (["init"], ["settings"]) else None


class DeadEnd(AssertionError):
    """djship's advice led nowhere: the transcript says where."""


@dataclass
class Advice:
    """One message djship printed (an error or a note) with the lines that belong to it."""

    level: str
    text: str
    lines: list[str] = field(default_factory=list)

    def commands(self) -> list[str]:
        """The djship commands this advice names, in the order it names them."""
        found: list[str] = []
        for line in [self.text, *self.lines]:
            found += [c.strip() for c in _COMMAND.findall(line)]
        return [c for c in found if c.split()[1:2] and c.split()[1] in _ACTING]


def advice_of(output: str) -> list[Advice]:
    """Each top-level message (``error:``, ``warning:``, ``note:``, ``hint:``) and the indented
    ``fix:`` lines below it; a ``hint:`` line right after an error belongs to that error."""
    out: list[Advice] = []
    for raw in output.splitlines():
        line = raw.rstrip()
        m = re.match(r"^(error|warning|note|hint|fix): ?(.*)$", line.strip())
        if not m:
            if out and line.startswith("  "):
                out[-1].lines.append(line.strip())
            continue
        level, text = m.groups()
        indented = raw.startswith((" ", "\t"))
        if level == "fix" or (level == "hint" and out and out[-1].level == "error"
                              and not indented) or (indented and out):
            out[-1].lines.append(f"{level}: {text}")
        else:
            out.append(Advice(level, text))
    return out


@dataclass
class Step:
    """One command of the transcript."""

    why: str
    run: Run


@dataclass
class Follower:
    """Runs djship in ``root`` with the test overlay and follows what it says."""

    root: Path
    known: dict[str, str | Path]  # values only the user knows: text, or a file to pipe in
    environment: str = "test"
    steps: list[Step] = field(default_factory=list)
    provisioned: bool = False

    # --- running ---------------------------------------------------------------------

    def djship(self, args: list[str], why: str, *, stdin: str | None = None,
               overlay: bool = True, timeout: float = 900) -> Run:
        """Run ``djship -C ROOT [-e test] ARGS`` and add it to the transcript."""
        argv = [DJSHIP, "-C", str(self.root), *(["-e", self.environment] if overlay else []),
                *args]
        began = time.monotonic()
        done = subprocess.run(argv, input=stdin if stdin is not None else "", text=True,
                              capture_output=True, timeout=timeout, env=djship_env(),
                              check=False)
        run = Run(argv, done.returncode, done.stdout, done.stderr, time.monotonic() - began)
        self.steps.append(Step(why, run))
        if args[:1] == ["provision"] and run.returncode == 0:
            self.provisioned = True
        return run

    def transcript(self) -> str:
        """Every command run so far, with why and what it printed."""
        parts = []
        for i, step in enumerate(self.steps, 1):
            argv = " ".join(step.run.argv[3:])
            parts.append(f"--- {i}. djship {argv}   ({step.why}; exit {step.run.returncode}, "
                         f"{step.run.seconds:.0f}s)\n{step.run.stdout[-2500:]}"
                         f"{step.run.stderr[-3500:]}")
        return "\n".join(parts)

    def fail(self, why: str) -> DeadEnd:
        """The error a test fails with: why, then the transcript."""
        return DeadEnd(f"{self.root.name}: {why}\n{self.transcript()}")

    # --- turning advice into commands -----------------------------------------------

    def command(self, text: str, advice: Advice) -> tuple[list[str], str | None]:
        """The argv (after ``djship``) and stdin for a command djship named."""
        redirect = None
        if "<" in text:
            text, redirect = (part.strip() for part in text.split("<", 1))
        words = shlex.split(text)[1:]
        if words[:2] != ["env", "set"]:
            return words, _answers(words)
        if not any("=" in w for w in words[2:]):
            raise self.fail(f"djship advises `{text}` without saying which variable: "
                            f"{advice.text} {' '.join(advice.lines)}")
        return self._env_set(words, redirect, advice)

    def _env_set(self, words: list[str], redirect: str | None, advice: Advice
                 ) -> tuple[list[str], str | None]:
        args, stdin = ["env", "set"], None
        for word in words[2:]:
            if word.startswith("-") or "=" not in word:
                args.append(word)
                continue
            name, value = word.split("=", 1)
            names = [name]
            if name == "NAME":  # "`djship env set NAME=...`" for the variables listed
                listed = next((m.group(1) for line in [advice.text, *advice.lines]
                               if (m := _STANDINS.search(line))), "")
                names = _STANDIN_NAME.findall(listed)
                if not names:
                    raise self.fail(f"djship asks for `env set NAME=...` without naming NAME: "
                                    f"{advice}")
            for one in names:
                if value not in _PLACEHOLDERS and value != "-" and name != "NAME":
                    args.append(word)  # djship gave the value itself
                    continue
                if one not in self.known:
                    raise self.fail(f"djship asks for a value of {one}, which this project "
                                    "does not have")
                given = self.known[one]
                if isinstance(given, Path) or value == "-" or redirect:
                    if stdin is not None:
                        raise self.fail("two values to pipe into one `env set`")
                    source = given if isinstance(given, Path) else None
                    stdin = source.read_text() if source else str(given)
                    args.append(f"{one}=-")
                else:
                    args.append(f"{one}={given}")
        return args, stdin

    # --- following --------------------------------------------------------------------

    def act(self, advice: Advice, done: Counter[str], depth: int = 0) -> None:
        """Run what ``advice`` says (provisioning first when it says it needs that)."""
        commands = advice.commands()
        if not commands:
            raise self.fail(f"no command to run for: {advice.level}: {advice.text} "
                            f"{' '.join(advice.lines)}")
        first = commands[0]
        # env set writes to the servers: djship says it needs `djship provision` first.
        needs_servers = "djship provision" in commands[1:] or first.startswith("djship env ")
        if needs_servers and not self.provisioned:
            self.ensure_provisioned()
        if first == "djship provision" and self.provisioned:
            first = next((c for c in commands[1:] if c != "djship provision"), first)
        done[first] += 1
        if done[first] > 2:
            raise self.fail(f"djship's advice loops: `{first}` again, for: {advice.text}")
        args, stdin = self.command(first, advice)
        run = self.djship(args, f"as told: {advice.text[:120]}", stdin=stdin)
        if run.returncode != 0:
            # What the user does next: read what it says, do that, and run it again.
            self.settle(args, stdin=stdin, failed=run, depth=depth + 1)

    def settle(self, args: list[str], *, stdin: str | None = None, failed: Run | None = None,
               depth: int = 0) -> Run:
        """Run ``args`` until it succeeds, doing what each failure says in between.
        ``failed``: a run of it that already failed (its advice is followed first)."""
        if depth > 3:
            raise self.fail(f"`djship {' '.join(args)}` failed, and so did what it advised")
        done: Counter[str] = Counter()
        for _ in range(_MAX_ROUNDS):
            run = failed or self.djship(args, "the user's command", stdin=stdin)
            failed = None
            if run.returncode == 0:
                return run
            errors = [a for a in advice_of(run.output) if a.level == "error"]
            if not errors:
                raise self.fail(f"`djship {' '.join(args)}` failed without an error message")
            actionable = [a for a in errors if a.commands()]
            if actionable:
                self.act(actionable[0], done, depth)
            elif args != ["check"] and any("`djship check`" in line for a in errors
                                           for line in [a.text, *a.lines]):
                self.settle(["check"], depth=depth + 1)  # "`djship check` shows it"
            else:
                self.act(errors[0], done, depth)
        raise self.fail(f"`djship {' '.join(args)}` still fails after {_MAX_ROUNDS} rounds")

    def ensure_provisioned(self) -> None:
        """`djship provision`, settled, once."""
        if not self.provisioned:
            self.settle(["provision"])

    def init(self) -> Run:
        """`djship init`, then each command its notes name (once each, in order)."""
        run = self.djship(["init"], "the user's command", overlay=False)
        if run.returncode != 0:
            raise self.fail("djship init failed")
        return run

    def follow_notes(self, run: Run) -> None:
        """Do what the notes and warnings of ``run`` say to run."""
        done: Counter[str] = Counter()
        seen: set[str] = set()
        for advice in advice_of(run.output):
            commands = [c for c in advice.commands() if c not in seen]
            if commands:
                seen.update(commands)
                self.act(advice, done)
