"""Find, read, overlay and validate djship's configuration, reporting every error at once."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from djship.config.schema import Config
from djship.errors import ConfigError, ConfigIssue

CONFIG_NAME = "djship.toml"


@dataclass(frozen=True)
class Source:
    """Where the configuration came from."""

    path: Path
    table: tuple[str, ...] = ()
    overlay: Path | None = None


def find_source(start: Path, environment: str | None = None) -> Source:
    """Locate djship.toml (or [tool.djship] in pyproject.toml) from ``start`` upwards."""
    for folder in [start, *start.parents]:
        if (folder / CONFIG_NAME).is_file():
            src = Source(folder / CONFIG_NAME)
        elif _has_tool_table(folder / "pyproject.toml"):
            src = Source(folder / "pyproject.toml", ("tool", "djship"))
        else:
            continue
        if environment:
            overlay = folder / f"djship.{environment}.toml"
            if not overlay.is_file():
                raise ConfigError([ConfigIssue("", f"no overlay file {overlay.name} for "
                                                   f"environment {environment!r}", str(overlay))])
            return Source(src.path, src.table, overlay)
        return src
    raise ConfigError([ConfigIssue("", f"no {CONFIG_NAME} (or [tool.djship] in pyproject.toml) "
                                       f"in {start} or its parents")],
                      hint="run `djship init` in the project root to write one")


def _has_tool_table(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return "djship" in tomllib.loads(path.read_text()).get("tool", {})
    except tomllib.TOMLDecodeError:
        return False


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a located ConfigIssue."""
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError([ConfigIssue("", f"TOML syntax error: {exc}", str(path),
                                       int(m.group(1)) if m else None)]) from exc
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read: {exc.strerror}", str(path))]) from exc


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` onto ``base``: tables merge, other values (and lists) replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load(start: Path, environment: str | None = None) -> tuple[Config, Source]:
    """Load and validate the configuration for the project at or above ``start``."""
    src = find_source(start, environment)
    data: Any = read_toml(src.path)
    for key in src.table:
        data = data.get(key, {})
    if src.overlay:
        overlay = read_toml(src.overlay)
        overlay.pop("environment", None)
        data = merge(data, overlay)
    return validate(data, src), src


def validate(data: dict[str, Any], src: Source | None = None) -> Config:
    """Validate raw config data; raise ConfigError listing every problem."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(err, src) for err in exc.errors()]
        raise ConfigError(issues) from None


def _issue(err: Any, src: Source | None) -> ConfigIssue:
    loc = tuple(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc and ": " in msg and msg.split(": ", 1)[0].replace(".", "").isidentifier():
        path_text, msg = msg.split(": ", 1)
        loc = tuple(path_text.split("."))
    path = format_path(loc)
    if err["type"] == "extra_forbidden":
        msg = "unknown key" + _suggest(loc)
    elif err["type"] == "missing":
        msg = "required key is missing"
    file, line = _locate(src, loc)
    return ConfigIssue(path, msg, file, line)


def format_path(loc: tuple[Any, ...]) -> str:
    """Render a location tuple as ``sites.blog.domains[1]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _suggest(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is not None:  # otherwise ``part`` is a key of a dict-valued field
            model = _model_of(field.annotation)
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _locate(src: Source | None, loc: tuple[Any, ...]) -> tuple[str | None, int | None]:
    """Best-effort file and line of a key path, for the error message."""
    if src is None:
        return None, None
    for path in [p for p in (src.overlay, src.path) if p is not None]:
        line = find_line(path.read_text().splitlines(), src.table + tuple(loc))
        if line:
            return str(path), line
    return str(src.path), None


def find_line(lines: list[str], loc: tuple[Any, ...]) -> int | None:
    """Line number of the deepest key of ``loc`` found under its enclosing table headers."""
    keys = [str(p) for p in loc if not isinstance(p, int)]
    indexes = [p for p in loc if isinstance(p, int)]
    best: int | None = None
    table: list[str] = []
    seen_arrays: dict[str, int] = {}
    for n, text in enumerate(lines, 1):
        s = text.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", s)
        if header:
            table = [k.strip().strip('"') for k in header.group(1).split(".")]
            if s.startswith("[["):
                name = ".".join(table)
                seen_arrays[name] = seen_arrays.get(name, -1) + 1
                if indexes and seen_arrays[name] != indexes[0]:
                    table = ["<other>"]
            if keys[: len(table)] == table and (best is None or len(table) == len(keys)):
                best = n
            continue
        m = re.match(r"^([A-Za-z0-9_\-\"]+)\s*=", s)
        if m and [*table, m.group(1).strip('"')] == keys[: len(table) + 1]:
            best = n
    return best
