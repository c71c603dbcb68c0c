"""The execution WebSocket end to end: a real Hypercorn server on a free loopback port, real
WebSocket clients (``websockets``) and real HTTP (``httpx``) — api.md §3, §2.10, §4.8."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nodeloom.kernel.host import Kernel
from tests.api.support import LiveServer, make_settings
from tests.api.ws_helpers import WsClient, execute, graph, install_nodes, is_terminal, node_events, ws_url

VERSIONED = '''
import time
from nodeloom.kernel.api import Out, Param, node

@node(name="Versioned", category="Test", outputs=[Out("value", "SCALAR")],
      params=[Param.float("seconds", 0.0)], cacheable=False)
def versioned(call):
    """Waits, then reports the version of this file it came from."""
    deadline = time.monotonic() + call.params["seconds"]
    while time.monotonic() < deadline:
        call.check_cancelled()
        time.sleep(0.01)
    return {{"value": {version}}}
'''


def start_server(kernel: Kernel, **env: str) -> LiveServer:
    install_nodes(kernel)
    return LiveServer(kernel, make_settings(kernel.data_dir, env)).start()


@pytest.fixture
def server(kernel: Kernel) -> Iterator[LiveServer]:
    live = start_server(kernel)
    try:
        yield live
    finally:
        live.stop()


@asynccontextmanager
async def open_socket(server: LiveServer, **kwargs: Any) -> AsyncIterator[WsClient]:
    async with connect(ws_url(server.url, server.token), open_timeout=5, **kwargs) as conn:
        ws = WsClient(conn)
        hello = await ws.recv()
        assert hello["type"] == "connected" and hello["protocol"] == 1
        yield ws


# -- a whole run, then its outputs over REST ------------------------------------------------------------


async def test_run_then_fetch_recorded_outputs_as_json_and_npy(server: LiveServer) -> None:
    body = execute(graph(("a", "Arange", {"shape": "2,3,4"}), ("w", "Weird", {})), record_outputs=True, run_id="e2e-1")
    async with open_socket(server) as ws:
        await ws.send(body)
        events = await ws.run_events("e2e-1")
    assert events[0]["type"] == "execution_start" and events[0]["record_outputs"] is True
    assert events[-1]["type"] == "execution_complete"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    expected = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        listing = (await http.get("/api/execution/outputs/e2e-1")).json()
        assert {"node_id": "a", "port": "tensor", "type": "tensor", "full_shape": [2, 3, 4]} in listing
        assert {"node_id": "w", "port": "model", "type": "model", "full_shape": None} in listing

        sliced = await http.get("/api/execution/outputs/e2e-1/a/tensor", params={"slice": "1,:,1:3"})
        assert sliced.status_code == 200
        data = sliced.json()
        assert data["sliced_shape"] == [3, 2] and data["slice"] == "1,:,1:3"
        assert data["values"] == expected[1, :, 1:3].tolist()
        assert data["run_id"] == "e2e-1" and data["node_id"] == "a" and data["port"] == "tensor"

        npy = await http.get("/api/execution/outputs/e2e-1/a/tensor", params={"format": "npy", "slice": "::1,0"})
        assert npy.status_code == 200
        assert npy.headers["content-type"] == "application/octet-stream"
        assert npy.headers["content-disposition"] == 'attachment; filename="a.tensor.npy"'
        assert npy.headers["x-nodeloom-dtype"] == "torch.float32"
        assert npy.headers["x-nodeloom-full-shape"] == "2,3,4"
        array = np.load(io.BytesIO(npy.content), allow_pickle=False)
        np.testing.assert_array_equal(array, expected[:, 0].numpy())
        assert array.dtype == np.dtype("<f4")

        weird = await http.get("/api/execution/outputs/e2e-1/w/tensor", params={"format": "npy"})
        raw = np.load(io.BytesIO(weird.content))
        assert np.isnan(raw[0, 1]) and np.isinf(raw[1, 0])  # IEEE values kept in .npy
        as_json = (await http.get("/api/execution/outputs/e2e-1/w/tensor")).json()
        assert as_json["values"] == [[1.0, None], [None, -2.5]] and as_json["nan_count"] == 1
        assert (await http.get("/api/execution/outputs/e2e-1/w/ratio")).json()["nonfinite"] == "nan"


# -- stop, attach ---------------------------------------------------------------------------------------


async def test_stop_mid_run_ends_with_execution_stopped_and_nothing_after(server: LiveServer) -> None:
    async with open_socket(server) as ws:
        await ws.send(execute(graph(("z", "Slow", {"seconds": 30})), run_id="long"))
        seen = await ws.until(lambda m: m.get("status") == "progress")
        await ws.send({"action": "stop"})
        seen += await ws.until(lambda m: is_terminal(m))
        stopped = seen[-1]
        assert stopped["type"] == "execution_stopped" and stopped["reason"] == "stop" and stopped["run_id"] == "long"
        await asyncio.sleep(0.3)  # a late progress event of the stopped body would show up here
        await ws.send({"action": "ping"})
        after = await ws.until(lambda m: m["type"] == "pong")
        assert after == [{"type": "pong"}]
        await ws.send({"action": "stop", "run_id": "long"})
        assert await ws.recv() == {"type": "execution_stopped", "run_id": "long", "reason": "not_running"}
    statuses = [e["status"] for e in node_events(seen, "z")]
    assert statuses[0] == "running" and set(statuses[1:]) <= {"progress"}


async def test_attach_from_a_second_socket_after_the_first_disconnects(server: LiveServer) -> None:
    async with open_socket(server) as first:
        await first.send(execute(graph(("z", "Slow", {"seconds": 0.8})), run_id="resume"))
        seen = await first.until(lambda m: m.get("status") == "progress")
    last_seq = seen[-1]["seq"]
    async with open_socket(server) as second:
        await second.send({"action": "attach", "run_id": "resume", "after_seq": last_seq})
        attached = await second.recv()
        rest = await second.run_events("resume")
    assert attached["type"] == "attached" and attached["state"] == "running"
    assert attached["owner"] is True and attached["gap"] is False and attached["first_seq"] == 1
    assert [e["seq"] for e in rest] == list(range(last_seq + 1, rest[-1]["seq"] + 1))
    assert rest[-1]["type"] == "execution_complete"
    assert node_events(rest, "z")[-1]["output_summary"]["value"] == {"type": "scalar", "value": 1}


# -- hot reload --------------------------------------------------------------------------------------------


async def test_hot_reload_during_a_run(server: LiveServer, kernel: Kernel) -> None:
    path = kernel.data_dir.area("custom_nodes") / "versioned.py"
    path.write_text(VERSIONED.format(version=1), encoding="utf-8")
    await asyncio.to_thread(kernel.reload)
    old_generation = kernel.generation
    v1_module = kernel.snapshot.nodes["Versioned"].spec.execute.__module__
    async with open_socket(server) as runner, open_socket(server) as watcher:
        await runner.send(execute(graph(("v", "Versioned", {"seconds": 0.8})), run_id="pinned"))
        await runner.until(lambda m: m.get("run_id") == "pinned" and m.get("status") == "running")
        path.write_text(VERSIONED.format(version=2), encoding="utf-8")
        await asyncio.to_thread(kernel.reload)
        changed = await watcher.until(lambda m: m["type"] == "registry_changed")
        assert changed[-1]["generation"] > old_generation
        seen = await runner.until(lambda m: m.get("run_id") == "pinned" and is_terminal(m))
        assert any(m["type"] == "registry_changed" and m["generation"] > old_generation for m in seen)
        run = [m for m in seen if m.get("run_id") == "pinned"]
        assert run[-1]["type"] == "execution_complete"
        assert node_events(run, "v")[-1]["output_summary"]["value"]["value"] == 1  # the pinned code ran
        # The run released its pin: the retired file's module is dropped once nothing uses it.
        for _ in range(100):
            if v1_module not in sys.modules:
                break
            await asyncio.sleep(0.02)
        assert v1_module not in sys.modules

        await runner.send(execute(graph(("v", "Versioned", {})), run_id="fresh"))
        fresh = await runner.run_events("fresh")
    assert fresh[0]["generation"] >= old_generation + 1
    assert node_events(fresh, "v")[-1]["output_summary"]["value"]["value"] == 2


# -- transport rules -----------------------------------------------------------------------------------------


async def test_bad_frames_over_a_real_socket(server: LiveServer) -> None:
    async with open_socket(server) as ws:
        await ws.send(b"\x89PNG")
        reply = await ws.recv()
        assert reply["code"] == "invalid_message" and reply["error"] == "Binary frames are not supported"
        await ws.send("{not json")
        assert (await ws.recv())["code"] == "invalid_message"
        await ws.send({"action": "execute", "backward_mode": "true"})
        assert (await ws.recv())["code"] == "invalid_run_option"
        await ws.send({"action": "ping"})
        assert await ws.recv() == {"type": "pong"}


async def test_refused_upgrade_is_an_http_error(server: LiveServer) -> None:
    url = server.url.replace("http://", "ws://") + "/ws/execution?token=wrong-token-xxxxxxxx"
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=5):
            pass
    assert info.value.response.status_code == 403
    assert json.loads(info.value.response.body)["code"] == "invalid_token"


async def test_oversized_message_closes_with_1009(kernel: Kernel) -> None:
    live = start_server(kernel, NODELOOM_MAX_WS_MESSAGE_BYTES="2048")
    try:
        async with open_socket(live) as ws:
            await ws.send({"action": "ping", "pad": "x" * 1000})
            assert await ws.recv() == {"type": "pong"}
            await ws.send({"action": "ping", "pad": "x" * 4096})
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    finally:
        live.stop()


async def test_shutdown_stops_runs_then_closes_with_1001(kernel: Kernel) -> None:
    live = start_server(kernel)
    stopped = False
    try:
        async with open_socket(live) as ws, open_socket(live) as idle:
            await ws.send(execute(graph(("z", "Slow", {"seconds": 30})), run_id="bye"))
            await ws.until(lambda m: m.get("status") == "progress")
            stopping = asyncio.ensure_future(asyncio.to_thread(live.stop))
            seen = await ws.until(lambda m: is_terminal(m))
            assert seen[-1] == {"type": "execution_stopped", "run_id": "bye", "seq": seen[-1]["seq"],
                                "reason": "shutdown", "warnings": []}
            for sock in (ws, idle):
                with pytest.raises(ConnectionClosed) as info:
                    while True:
                        await sock.recv()
                assert info.value.rcvd is not None and info.value.rcvd.code == 1001
            await stopping
            stopped = True
    finally:
        if not stopped:
            live.stop()
