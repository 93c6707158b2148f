"""The acyclic_modules contract type (tests/support/import_contracts.py) on small graphs."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # for tests.support, whichever way pytest was started
    sys.path.insert(0, str(REPO))

from tests.support.import_contracts import (  # noqa: E402
    AcyclicModulesContract,
    module_cycles,
)


def graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    g = grimp.ImportGraph()
    for importer, imported in imports:
        g.add_import(importer=importer, imported=imported)
    return g


def test_a_cycle_through_two_packages_is_found_once() -> None:
    g = graph(("p.steps.web", "p.tls.nginx"), ("p.tls.nginx", "p.steps.web"),
              ("p.steps.web", "p.steps.files"), ("p.tls.nginx", "p.steps.files"))
    assert module_cycles(g, "p") == [("p.steps.web", "p.tls.nginx", "p.steps.web")]


def test_a_longer_cycle_and_none_outside_the_package() -> None:
    g = graph(("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("q.x", "q.y"), ("q.y", "q.x"))
    assert module_cycles(g, "p") == [("p.a", "p.b", "p.c", "p.a")]


def test_contract_kept_without_cycles_and_broken_with_one() -> None:
    contract = AcyclicModulesContract("no cycles", {}, {"packages": ["p"]})
    assert contract.check(graph(("p.a", "p.b"), ("p.b", "p.c")), verbose=False).kept
    broken = contract.check(graph(("p.a", "p.b"), ("p.b", "p.a")), verbose=False)
    assert not broken.kept and broken.metadata["cycles"] == [("p.a", "p.b", "p.a")]
