"""Fixtures for API tests: a real Kernel on a tmp data dir, the app over it, and a live server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from tests.api.support import LiveServer, client_for, make_kernel, make_settings


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_kernel(tmp_path)
    yield k
    k.close()


@pytest.fixture
def make_app(kernel: Kernel) -> Callable[..., Any]:
    """``make_app(env={...}, host=..., interfaces=...)`` -> a Quart app over the test kernel."""

    def factory(env: Mapping[str, str] | None = None, interfaces: Callable[[], frozenset[str]] | None = None,
                **flags: Any) -> Any:
        settings = make_settings(kernel.data_dir, env, **flags)
        return create_app(kernel, settings, interfaces=interfaces or (lambda: frozenset({"192.168.7.7"})))

    return factory


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    """A Quart test client with the app's startup and shutdown hooks run around it."""
    async with app.test_app():
        yield client_for(app)


@pytest.fixture
def live_server(kernel: Kernel) -> Iterator[LiveServer]:
    server = LiveServer(kernel, make_settings(kernel.data_dir)).start()
    try:
        yield server
    finally:
        server.stop()
