"""The ``executor`` run option through the real WebSocket: a live server, real clients, real Ray."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
import pytest

ray = pytest.importorskip(
    "ray", reason="the ray extra is not installed (pip install 'nodeloom[ray]')", exc_type=ImportError
)

import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from nodeloom.api.server import prepare_executors  # noqa: E402
from nodeloom.api.settings import SettingsError  # noqa: E402
from tests.api.support import LiveServer, make_settings  # noqa: E402
from tests.api.ws_helpers import WsClient, execute, node_events, ws_url  # noqa: E402
from tests.ray.support import graph  # noqa: E402


@pytest.fixture(scope="module")
def server(kernel) -> Iterator[LiveServer]:
    """A server whose default executor is ``ray``."""
    live = LiveServer(kernel, make_settings(kernel.data_dir, executor="ray")).start(timeout=60)
    try:
        yield live
    finally:
        live.stop(timeout=60)


@asynccontextmanager
async def socket(server: LiveServer) -> AsyncIterator[WsClient]:
    async with connect(ws_url(server.url, server.token), open_timeout=10) as conn:
        ws = WsClient(conn)
        assert (await ws.recv())["type"] == "connected"
        yield ws


async def test_a_ray_run_streams_like_a_local_one_and_its_outputs_are_served(server: LiveServer) -> None:
    body = graph(("o", "raytest:Ones", {"size": 4}), ("w", "raytest:Pid", {}))
    async with socket(server) as ws:
        await ws.send(execute(body, run_id="ws-ray", record_outputs=True, seed=3))
        events = await ws.run_events("ws-ray", timeout=60)
        await ws.send(execute(body, run_id="ws-local", executor="local"))
        local = await ws.run_events("ws-local", timeout=60)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "execution_start" and events[0]["seed"] == 3 and events[0]["record_outputs"] is True
    assert events[-1]["type"] == "execution_complete", events[-1]
    completed = node_events(events, "o")[-1]
    assert completed["status"] in ("completed", "cached")
    assert completed["output_summary"]["tensor"]["shape"] == [4]
    # The default executor ran it on a worker; "executor": "local" ran in the server process.
    ray_pid = node_events(events, "w")[-1]["output_summary"]["pid"]["value"]
    local_pid = node_events(local, "w")[-1]["output_summary"]["pid"]["value"]
    assert local_pid == os.getpid() != ray_pid

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        listing = (await http.get("/api/execution/outputs/ws-ray")).json()
        assert {"node_id": "o", "port": "tensor", "type": "tensor", "full_shape": [4]} in listing
        tensor = (await http.get("/api/execution/outputs/ws-ray/o/tensor")).json()
        assert tensor["values"] == [1.0, 1.0, 1.0, 1.0]

    # Replay after the fact: attach gives back the very same stream.
    async with socket(server) as ws:
        await ws.send({"action": "attach", "run_id": "ws-ray", "after_seq": 0})
        attached = await ws.recv()
        replay = await ws.run_events("ws-ray", timeout=30)
    assert attached["type"] == "attached" and attached["state"] == "completed"
    assert attached["last_seq"] == events[-1]["seq"]
    assert replay == events


async def test_an_unknown_executor_is_an_invalid_run_option(server: LiveServer) -> None:
    async with socket(server) as ws:
        await ws.send(execute(graph(("w", "raytest:Pid", {})), run_id="ws-bad", executor="nope"))
        error = await ws.recv()
    assert error["type"] == "error" and error["code"] == "invalid_run_option"
    assert error["run_id"] == "ws-bad" and error["action"] == "execute"
    assert "unknown executor 'nope' (available:" in error["error"]
    assert error["details"][0]["loc"] == ["executor"]


def test_serving_with_an_unavailable_executor_is_a_settings_error(kernel, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(SettingsError, match=r"pip install 'nodeloom\[ray\]'"):
        prepare_executors(kernel, make_settings(kernel.data_dir, executor="ray"))
    with pytest.raises(SettingsError, match="unknown executor 'nope'"):
        prepare_executors(kernel, make_settings(kernel.data_dir, executor="nope"))
