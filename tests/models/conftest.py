"""Fixtures for the models plugin: a real kernel with the ``api`` and ``models`` plugins, its app,
a test client, and a loopback HTTP server standing in for the internet (tests never leave the machine).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from tests.api.support import client_for, make_kernel, make_settings
from tests.models.support import FakeRemote

FIRST_PARTY = {"api": "nodeloom.plugins.api_routes", "models": "nodeloom.plugins.models"}


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real Hub or proxy, whatever the machine's environment says."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_kernel(tmp_path, first_party=FIRST_PARTY, third_party={})
    yield k
    k.close()


@pytest.fixture
def models_dir(kernel: Kernel) -> Path:
    return kernel.data_dir.area("models")


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Extra environment for the app's settings (limits); tests override it."""
    return {}


@pytest.fixture
def app(kernel: Kernel, settings_env: dict[str, str]) -> Any:
    return create_app(kernel, make_settings(kernel.data_dir, settings_env))


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    async with app.test_app():
        yield client_for(app)


@pytest.fixture
def remote() -> Iterator[FakeRemote]:
    server = FakeRemote().start()
    try:
        yield server
    finally:
        server.stop()
