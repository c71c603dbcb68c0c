"""Fixtures of the end-to-end ML tests: one kernel with the built-in catalogue per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nodeloom.testing import make_kernel

from .support import Harness


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    kernel = make_kernel(builtin=True, data_dir=tmp_path_factory.mktemp("engine-ml-data"))
    yield Harness.create(kernel)
    kernel.stop_watching()
