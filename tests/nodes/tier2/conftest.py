"""Shared fixtures of the Tier-2 node tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import nodeloom.plugins.core_nodes as core_nodes
from nodeloom.kernel import DataDir, NodePaths

SAMPLES = Path(core_nodes.__file__).parent / "samples"


@pytest.fixture
def paths(tmp_path: Path) -> NodePaths:
    """A fresh data dir with the bundled samples, as the server gives node bodies."""
    return NodePaths(DataDir(tmp_path / "data").ensure(), samples=(SAMPLES,))
