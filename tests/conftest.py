"""Fixtures for the route tests of one first-party plugin: a real kernel with ``api`` and that plugin,
the app over it and a test client.

A test folder uses them by defining a ``plugin_entry_points`` fixture (``{"<id>": "<module>"}``,
the plugins besides ``api``). Folders with their own ``kernel``/``app``/``client`` fixtures (the
API tests, the engine tests) override these as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from tests.api.support import client_for, make_kernel, make_settings

API_PLUGIN = {"api": "nodeloom.plugins.api_routes"}


def plugin_kernel(tmp_path: Path, plugins: Mapping[str, str]) -> Kernel:
    """A started kernel whose only plugins are ``api`` and ``plugins`` (all first-party)."""
    return make_kernel(tmp_path, first_party={**API_PLUGIN, **plugins}, third_party={})


@pytest.fixture
def kernel(tmp_path: Path, plugin_entry_points: Mapping[str, str]) -> Iterator[Kernel]:
    made = plugin_kernel(tmp_path, plugin_entry_points)
    yield made
    made.close()


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Extra settings environment (limits, ...); a test module overrides it."""
    return {}


@pytest.fixture
def app(kernel: Kernel, settings_env: dict[str, str]) -> Any:
    return create_app(kernel, make_settings(kernel.data_dir, settings_env))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    """A Quart test client with the app's startup and shutdown hooks run around it."""
    async with app.test_app():
        yield client_for(app)
