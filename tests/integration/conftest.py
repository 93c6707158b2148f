"""Sandbox fixtures: a session-wide base image and fresh sandbox servers per test module.

Use ``sandbox`` for one server per module, or ``sandbox_factory`` to boot several
(``sandbox_factory()`` or ``sandbox_factory.many(3)``). Each yields
:class:`djship.sandbox.records.SandboxInfo`: ``name``, ``address``, ``identity_file``,
``known_hosts_file``, ``run(cmd)`` over SSH and ``host_entry(roles)`` for djship.toml.
Everything booted is taken down at the end of the module, even when tests fail.

Tests that are not about installing packages use ``warm_sandbox`` / ``warm_factory``:
the same servers booted from a cached image with the packages provisioning installs
already there (built once per run), so a provision takes seconds, not a minute of apt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from djship.sandbox import machine, preflight
from djship.sandbox.records import SandboxInfo
from djship.sandbox.testing import SandboxFactory, host_entry, provision_packages

RELEASE = os.environ.get("DJSHIP_SANDBOX_RELEASE", "bookworm")
_HERE = Path(__file__).parent


# Tests that take the host over (every sandbox down, the host's FORWARD policy changed):
# they run after every other test, so nothing else shares the host with them.
HOST_TAKEOVER = ("test_works_behind_a_forward_policy_of_drop", "test_down_all_leaves_nothing_behind")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory as an integration test; host takeovers go last."""
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: item.name in HOST_TAKEOVER)


@pytest.fixture(scope="session")
def sandbox_image() -> Path:
    """The cached base image, built once per session; skips when the host cannot run it."""
    problems = preflight.problems()
    if problems:
        reason = "sandbox integration tests need: " + "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: missing prerequisites are an error)")
        pytest.skip(reason)
    return machine.ensure_base_image(RELEASE)


WARM_PACKAGES = provision_packages()


@pytest.fixture(scope="session")
def warm_image(sandbox_image: Path) -> Path:
    """The base image with every package a web+db provision installs (built once)."""
    return machine.ensure_preinstalled_image(RELEASE, WARM_PACKAGES)


@pytest.fixture(scope="module")
def warm_factory(warm_image: Path) -> Iterator[SandboxFactory]:
    """Like sandbox_factory, booting from the warm image."""
    factory = SandboxFactory(RELEASE, preinstall=WARM_PACKAGES)
    try:
        yield factory
    finally:
        factory.destroy_all()


@pytest.fixture(scope="module")
def warm_sandbox(warm_factory: SandboxFactory) -> SandboxInfo:
    """One fresh sandbox from the warm image for the module."""
    return warm_factory()


@pytest.fixture(scope="module")
def sandbox_factory(sandbox_image: Path) -> Iterator[SandboxFactory]:
    """A factory of fresh sandboxes, all torn down after the module."""
    factory = SandboxFactory(RELEASE)
    try:
        yield factory
    finally:
        factory.destroy_all()


@pytest.fixture(scope="module")
def sandbox(sandbox_factory: SandboxFactory) -> SandboxInfo:
    """One fresh sandbox server for the module."""
    return sandbox_factory()


@pytest.fixture
def sandbox_host_entry() -> Callable[[SandboxInfo, Sequence[str]], str]:
    """A function turning a sandbox into its djship.toml [[hosts]] entry."""
    return host_entry
