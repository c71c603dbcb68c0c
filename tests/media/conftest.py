"""Fixtures for the media plugin's route tests: a real Kernel with the api and media plugins, the app over it.

Shared by the image, files, chunked-upload and /temp tests; keep fixtures backwards compatible.
"""

from __future__ import annotations

import pytest

from nodeloom.kernel.host import Kernel
from nodeloom.kernel.paths import DataDir
from tests.api.support import auth_headers

@pytest.fixture
def plugin_entry_points() -> dict[str, str]:
    return {"media": "nodeloom.plugins.media"}


@pytest.fixture
def data_dir(kernel: Kernel) -> DataDir:
    return kernel.data_dir


@pytest.fixture
def token() -> dict[str, str]:
    return auth_headers()
