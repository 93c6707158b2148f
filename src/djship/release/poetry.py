"""Poetry projects: the exact pins of poetry.lock as a requirements file (poetry not needed).

This is what ``poetry export`` does: start from the main dependencies in pyproject.toml
(``[project].dependencies`` for poetry 2, ``[tool.poetry.dependencies]`` before), follow
poetry.lock's dependency graph with its markers and extras, and write ``name==version``
with the locked file hashes. Development groups and extras are left out unless
project.groups or project.extras name them. uv installs the result and
verifies the hashes, so a release gets the versions the lock file pins, nothing newer.
Lock files of poetry 2 (``groups``/``markers`` per package) are read directly.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from djship.config.python import parse
from djship.errors import UsageError

REQUIREMENTS_FILE = ".djship-poetry-requirements.txt"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_MAX_MARKER = 600  # past this a package is installed unconditionally (markers grow per path)


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Need:
    """A package reached in the walk: under which markers, with which extras."""

    markers: set[str] = field(default_factory=set)
    extras: set[str] = field(default_factory=set)

    def marker(self) -> str:
        """The combined marker ("" when always needed)."""
        if "" in self.markers:
            return ""
        parts = sorted(self.markers)
        return parts[0] if len(parts) == 1 else " or ".join(f"({m})" for m in parts)


def _and(a: str, b: str) -> str:
    if not a or not b:
        return a or b
    return f"({a}) and ({b})"


def python_marker(constraint: str) -> str:
    """A poetry ``python = "..."`` constraint as a PEP 508 marker ("" for any)."""
    req = parse(constraint, "python constraint")
    alts = []
    for alt in req.clauses:
        parts = []
        for c in alt:
            version = ".".join(map(str, c.version))
            if c.wild:
                version += ".*"
            var = "python_full_version" if len(c.version) > 2 else "python_version"
            parts.append(f'{var} {c.op} "{version}"')
        alts.append(" and ".join(parts))
    if not any(alts):
        return ""
    return alts[0] if len(alts) == 1 else " or ".join(f"({a})" for a in alts)


def _edge_marker(spec: Any) -> str:
    if not isinstance(spec, dict):
        return ""
    marker = str(spec.get("markers", "") or "")
    if spec.get("python"):
        marker = _and(marker, python_marker(str(spec["python"])))
    return marker


def _specs(spec: Any) -> list[Any]:
    """Poetry allows a list of constraint tables for one dependency (by marker)."""
    return spec if isinstance(spec, list) else [spec]


def _add_lines(roots: dict[str, Need], lines: list[Any]) -> None:
    """PEP 508 lines ("django[bcrypt]>=5 ; python_version >= '3.11'") as roots."""
    for line in lines:
        m = _NAME.match(line) if isinstance(line, str) else None
        if m:
            need = roots.setdefault(normalize(m.group(1)), Need())
            need.markers.add(line.split(";", 1)[1].strip() if ";" in line else "")
            need.extras |= {e.strip() for e in (m.group(2) or "").split(",") if e.strip()}


def _add_table(roots: dict[str, Need], table: dict[str, Any], *, optional: bool = False,
               only: set[str] | None = None) -> None:
    """A poetry dependency table as roots (optional ones only with ``optional``)."""
    for name, spec in table.items():
        if name.lower() == "python" or (only is not None and normalize(name) not in only):
            continue
        for one in _specs(spec):
            if isinstance(one, dict) and one.get("optional") and not optional:
                continue
            need = roots.setdefault(normalize(name), Need())
            need.markers.add(_edge_marker(one))
            if isinstance(one, dict):
                need.extras |= set(one.get("extras", []))


def root_dependencies(pyproject: dict[str, Any], groups: Sequence[str] = (),
                      extras: Sequence[str] = ()) -> dict[str, Need]:
    """The main (non-optional) dependencies with their markers and extras, plus those of
    the named dependency groups and extras."""
    roots: dict[str, Need] = {}
    project = pyproject.get("project", {})
    poetry = pyproject.get("tool", {}).get("poetry", {})
    if isinstance(project.get("dependencies"), list):
        _add_lines(roots, project["dependencies"])
    else:
        _add_table(roots, poetry.get("dependencies", {}))
    for group in groups:
        table = poetry.get("group", {}).get(group, {}).get("dependencies")
        lines = pyproject.get("dependency-groups", {}).get(group)
        if table is None and lines is None:
            raise _unknown("group", group, [*poetry.get("group", {}),
                                            *pyproject.get("dependency-groups", {})])
        _add_table(roots, table or {})
        _add_lines(roots, lines or [])
    for extra in extras:
        lines = project.get("optional-dependencies", {}).get(extra)
        names = poetry.get("extras", {}).get(extra)
        if lines is None and names is None:
            raise _unknown("extra", extra, [*project.get("optional-dependencies", {}),
                                            *poetry.get("extras", {})])
        _add_lines(roots, lines or [])
        _add_table(roots, poetry.get("dependencies", {}), optional=True,
                   only={normalize(n) for n in names or []})
    return roots


def _unknown(kind: str, name: str, known: list[str]) -> UsageError:
    listed = ", ".join(sorted(set(known))) or "none"
    return UsageError(f"project.{kind}s: pyproject.toml has no {kind} {name!r} "
                      f"(its {kind}s: {listed})",
                      hint=f"fix project.{kind}s in djship.toml")


def _lock_packages(lock: dict[str, Any]) -> dict[str, dict[str, Any]]:
    packages = {normalize(p["name"]): p for p in lock.get("package", [])}
    legacy_files = lock.get("metadata", {}).get("files", {})  # lock-version 1.x
    for name, files in legacy_files.items():
        pkg = packages.get(normalize(name))
        if pkg is not None and not pkg.get("files"):
            pkg["files"] = files
    return packages


def walk(roots: dict[str, Need], packages: dict[str, dict[str, Any]]) -> dict[str, Need]:
    """Every package the roots need, following the lock's dependency tables."""
    needed: dict[str, Need] = {}
    queue = [(name, marker, frozenset(need.extras)) for name, need in roots.items()
             for marker in need.markers]
    while queue:
        name, marker, extras = queue.pop()
        pkg = packages.get(name)
        if pkg is None:
            raise UsageError(f"poetry.lock has no entry for {name}, which pyproject.toml needs",
                             hint="poetry.lock is out of date: run `poetry lock` and commit it")
        need = needed.setdefault(name, Need())
        if len(marker) > _MAX_MARKER or len(need.marker()) > _MAX_MARKER:
            marker = ""
        if (marker in need.markers or "" in need.markers) and extras <= need.extras:
            continue
        need.markers.add(marker)
        need.extras |= extras
        wanted_by_extra = {normalize(_NAME.match(x).group(1))  # type: ignore[union-attr]
                           for e in need.extras for x in pkg.get("extras", {}).get(e, [])
                           if _NAME.match(x)}
        for dep, spec in pkg.get("dependencies", {}).items():
            for one in _specs(spec):
                optional = isinstance(one, dict) and one.get("optional")
                if optional and normalize(dep) not in wanted_by_extra:
                    continue
                sub = frozenset(one.get("extras", [])) if isinstance(one, dict) else frozenset()
                queue.append((normalize(dep), _and(marker, _edge_marker(one)), sub))
    return needed


def _poetry2_needed(packages: dict[str, dict[str, Any]]) -> dict[str, Need] | None:
    """Poetry 2 lock files say per package which groups need it and under which markers."""
    if not packages or not all("groups" in p for p in packages.values()):
        return None
    needed = {}
    for name, pkg in packages.items():
        if "main" not in pkg["groups"]:
            continue
        markers = pkg.get("markers", "")
        if isinstance(markers, dict):
            markers = markers.get("main", "")
        needed[name] = Need({str(markers)})
    return needed


def requirement_line(pkg: dict[str, Any], marker: str, root: Path) -> str:
    """One requirements.txt entry for a locked package."""
    name, version = pkg["name"], pkg["version"]
    source = pkg.get("source", {})
    kind = source.get("type")
    if kind == "git":
        ref = source.get("resolved_reference") or source.get("reference", "")
        spec = f"{name} @ git+{source['url']}@{ref}"
        if source.get("subdirectory"):
            spec += f"#subdirectory={source['subdirectory']}"
    elif kind == "url":
        spec = f"{name} @ {source['url']}"
    elif kind in ("directory", "file"):
        local = (root / source["url"]).resolve().relative_to(root.resolve()).as_posix()
        spec = f"{'-e ' if pkg.get('develop') else ''}./{local}"
    else:
        spec = f"{name}=={version}"
    if marker:
        spec += f" ; {marker}"
    hashes = [f["hash"] for f in pkg.get("files", []) if "hash" in f]
    if kind in (None, "legacy") and hashes:
        spec += "".join(f" \\\n    --hash={h}" for h in hashes)
    return spec


def export(root: Path, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> str:
    """requirements.txt text pinning the main dependencies (and those of ``groups`` and
    ``extras``) exactly as poetry.lock does."""
    lock_path, pyproject_path = root / "poetry.lock", root / "pyproject.toml"
    if not lock_path.is_file():
        raise UsageError(f"project.dependencies is \"poetry\" but there is no {lock_path}",
                         hint="run `poetry lock` and commit poetry.lock: djship installs the "
                              "versions it pins")
    try:
        lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
        pyproject = tomllib.loads(pyproject_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the poetry project files in {root}: {exc}") from None
    packages = _lock_packages(lock)
    roots = root_dependencies(pyproject, groups, extras)
    stale = sorted(set(roots) - set(packages))
    if stale:
        raise UsageError(f"poetry.lock has no entry for {', '.join(stale)}, which "
                         "pyproject.toml needs",
                         hint="poetry.lock is out of date: run `poetry lock` and commit it")
    # Poetry 2's per-package groups name the main group's closure; anything more is walked.
    needed = (None if groups or extras else _poetry2_needed(packages)) or walk(roots, packages)
    sources = sorted({p["source"]["url"] for n, p in packages.items() if n in needed
                      and p.get("source", {}).get("type") == "legacy"})
    chosen = "".join(f", group {g}" for g in groups) + "".join(f", extra {e}" for e in extras)
    lines = [f"# Generated by djship from poetry.lock: the main group's exact pins{chosen}."]
    lines += [f"--extra-index-url {url}" for url in sources]
    lines += [requirement_line(packages[n], needed[n].marker(), root) for n in sorted(needed)]
    return "\n".join(lines) + "\n"
