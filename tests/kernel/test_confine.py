"""Path confinement (api.md §1.12) at the kernel level: what every route and node path goes through."""

from __future__ import annotations

import os

import pytest

from nodeloom.kernel.paths import PathError, confine


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a//b", ".hidden", "a\\b", "c:x", "a\x00b", ""])
def test_textual_rules_refuse(tmp_path, bad):
    with pytest.raises(PathError):
        confine(tmp_path, bad)


def test_symlink_inside_is_fine_and_outside_is_refused(tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    os.symlink(root / "real", root / "alias")
    assert confine(root, "alias/file.txt") == root / "alias" / "file.txt"
    os.symlink(tmp_path, root / "escape")
    with pytest.raises(PathError, match="leaves its folder"):
        confine(root, "escape/secret")


def test_symlink_loop_is_a_path_error_not_a_crash(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(PathError, match="symlink loop"):
        confine(tmp_path, "a/file")
