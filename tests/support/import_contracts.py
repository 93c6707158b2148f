"""An import-linter contract type: no import cycle between any two modules of a package.

import-linter's own ``acyclic_siblings`` looks at the children of one package at a time, so
a cycle through two packages (``tls.nginx -> steps.web -> tls.nginx``) passes it. This one
follows every import grimp finds, function-level ones included, so a lazy import cannot
hide a cycle. Registered in pyproject.toml (``contract_types``); lint-imports runs from the
repository root, which puts this module on the path.
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def module_cycles(graph: ImportGraph, package: str) -> list[tuple[str, ...]]:
    """One shortest cycle (first module repeated at the end) per set of modules in a cycle."""
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(m for m in graph.modules if _inside(m, package)):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported == importer or not _inside(imported, package):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                found.setdefault(frozenset(back), (importer, *back))
    return sorted(found.values())


class AcyclicModulesContract(Contract):
    """No module of ``packages`` reaches itself through imports."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Kept when no package has a cycle."""
        cycles = [c for p in self.packages for c in module_cycles(graph, p)]  # type: ignore[attr-defined]
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Each cycle on one line; break it by moving what both sides need further down."""
        for cycle in check.metadata["cycles"]:
            output.print_error(" -> ".join(cycle))
        output.new_line()
