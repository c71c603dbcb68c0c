"""Fixtures for the media plugin's route tests: a real Kernel with the api and media plugins, the app over it.

Shared by the image, files, chunked-upload and /temp tests; keep fixtures backwards compatible.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from nodeloom.kernel.paths import DataDir
from tests.api.support import auth_headers, client_for, make_kernel, make_settings

MEDIA_PLUGINS = {"api": "nodeloom.plugins.api_routes", "media": "nodeloom.plugins.media"}

__all__ = ["MEDIA_PLUGINS", "auth_headers"]


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_kernel(tmp_path, first_party=MEDIA_PLUGINS, third_party={})
    yield k
    k.close()


@pytest.fixture
def data_dir(kernel: Kernel) -> DataDir:
    return kernel.data_dir


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Extra settings environment (limits, ...); override in a test module or with indirect params."""
    return {}


@pytest.fixture
def app(kernel: Kernel, settings_env: dict[str, str]) -> Any:
    return create_app(kernel, make_settings(kernel.data_dir, settings_env))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    """A Quart test client with the app's startup and shutdown hooks run around it."""
    async with app.test_app():
        yield client_for(app)


@pytest.fixture
def token() -> dict[str, str]:
    return auth_headers()
