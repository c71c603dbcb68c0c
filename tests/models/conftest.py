"""Fixtures for the models plugin: a real kernel with the ``api`` and ``models`` plugins, its app,
a test client, and a loopback HTTP server standing in for the internet (tests never leave the machine).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeloom.kernel.host import Kernel
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
def plugin_entry_points() -> dict[str, str]:
    return {"models": FIRST_PARTY["models"]}


@pytest.fixture
def models_dir(kernel: Kernel) -> Path:
    return kernel.data_dir.area("models")


@pytest.fixture
def remote() -> Iterator[FakeRemote]:
    server = FakeRemote().start()
    try:
        yield server
    finally:
        server.stop()
