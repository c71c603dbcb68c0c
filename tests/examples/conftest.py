"""One real kernel with nodeloom's own plugins, shared by the example, preset and fixture tests.

Building the registry imports torch and every built-in node module (a few seconds), so it is done
once per session; the graphs these tests run never write to the registry.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodeloom.kernel.host import Kernel
from nodeloom.kernel.registry import RegistrySnapshot
from nodeloom.testing import make_kernel


@pytest.fixture(scope="session")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """A started kernel with the built-in plugins on a throw-away data dir."""
    made = make_kernel(builtin=True, data_dir=tmp_path_factory.mktemp("nodeloom-data"))
    yield made
    made.stop_watching()


@pytest.fixture(scope="session")
def snapshot(kernel: Kernel) -> RegistrySnapshot:
    return kernel.snapshot
