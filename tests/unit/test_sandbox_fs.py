"""remove_tree refuses anything outside the state dir, and removes what is inside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from djship.errors import DjshipError
from djship.sandbox.fs import remove_tree, write_atomic


@pytest.fixture
def root(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    (state / "machines" / "s1" / "etc").mkdir(parents=True)
    (state / "machines" / "s1" / "etc" / "hostname").write_text("s1\n")
    return state


def test_removes_a_tree_inside_root(root: Path) -> None:
    remove_tree(root / "machines" / "s1", root)
    assert not (root / "machines" / "s1").exists()
    assert (root / "machines").is_dir()


@pytest.mark.parametrize("bad", ["", " ", "/", "."])
def test_refuses_empty_root_and_dot(root: Path, bad: str) -> None:
    with pytest.raises(DjshipError):
        remove_tree(bad, root)
    assert (root / "machines" / "s1" / "etc" / "hostname").exists()


def test_refuses_an_empty_or_slash_state_dir(root: Path) -> None:
    with pytest.raises(DjshipError):
        remove_tree(root / "machines", "")
    with pytest.raises(DjshipError):
        remove_tree(root / "machines", "/")
    assert (root / "machines").is_dir()


def test_refuses_the_root_itself_and_outside(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    for bad in (root, outside, tmp_path, root / ".." / "precious", root / "machines" / ".." / ".."):
        with pytest.raises(DjshipError):
            remove_tree(bad, root)
    assert outside.is_dir() and root.is_dir()


def test_refuses_a_symlink_leading_out(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data").write_text("keep")
    link = root / "machines" / "evil"
    link.symlink_to(outside)
    with pytest.raises(DjshipError):
        remove_tree(link, root)
    # A path through a symlinked directory resolves outside root too.
    with pytest.raises(DjshipError):
        remove_tree(link / "data", root)
    assert (outside / "data").read_text() == "keep"


def test_refuses_when_root_is_a_symlink_to_slash(tmp_path: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to("/")
    with pytest.raises(DjshipError):
        remove_tree(link / "tmp", link)


def test_missing_path_inside_root_is_fine(root: Path) -> None:
    remove_tree(root / "machines" / "gone", root)


def test_write_atomic_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f"
    write_atomic(target, "x\n", mode=0o600)
    assert target.read_text() == "x\n"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["f"]
