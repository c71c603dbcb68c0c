"""Runs across sockets (api.md §3.2, §3.5, §3.6): attach and replay, owners, grace, retention,
the replay buffer and the per-socket coalescing, in process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any


from nodeloom.kernel.host import Kernel
from nodeloom.plugins.api_routes import runs
from nodeloom.plugins.api_routes.event_buffer import EventBuffer
from nodeloom.plugins.api_routes.outbox import Outbox
from nodeloom.plugins.api_routes.wire import Frame
from tests.api.support import auth_headers, client_for
from tests.api.ws_helpers import QuartWsClient, execute, graph, install_nodes, is_terminal


@asynccontextmanager
async def serving(kernel: Kernel, make_app: Callable[..., Any], **env: str) -> AsyncIterator[Any]:
    install_nodes(kernel)
    app = make_app(env=env)
    async with app.test_app():
        yield app


@asynccontextmanager
async def open_socket(app: Any) -> AsyncIterator[QuartWsClient]:
    async with client_for(app).websocket("/ws/execution", headers=auth_headers()) as conn:
        ws = QuartWsClient(conn)
        assert (await ws.recv())["type"] == "connected"
        yield ws


def slow(run_id: str, seconds: float) -> dict[str, Any]:
    return execute(graph(("z", "Slow", {"seconds": seconds})), run_id=run_id)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# -- attach and replay --------------------------------------------------------------------------------


async def test_attach_replays_after_seq_then_follows_live(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app, open_socket(app) as owner, open_socket(app) as viewer:
        await owner.send(slow("r", 0.5))
        early = await owner.until(lambda m: m.get("status") == "progress")
        await viewer.send({"action": "attach", "run_id": "r", "after_seq": 2})
        attached = await viewer.recv()
        assert attached["type"] == "attached" and attached["run_id"] == "r" and attached["state"] == "running"
        assert attached["first_seq"] == 1 and attached["last_seq"] >= early[-1]["seq"]
        assert attached["gap"] is False and attached["owner"] is False
        stream = await viewer.run_events("r")
        full = early + await owner.run_events("r")
    assert [m["seq"] for m in stream] == list(range(3, stream[-1]["seq"] + 1))
    assert stream == [m for m in full if m["seq"] > 2]
    assert stream[-1]["type"] == "execution_complete"


async def test_attach_again_replaces_the_subscription(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app, open_socket(app) as owner, open_socket(app) as viewer:
        await owner.send(slow("r", 0.4))
        await owner.until(lambda m: m.get("status") == "progress")
        await viewer.send({"action": "attach", "run_id": "r"})
        await viewer.send({"action": "attach", "run_id": "r", "after_seq": 1})
        seen = await viewer.until(lambda m: m.get("run_id") == "r" and is_terminal(m))
    second = [i for i, m in enumerate(seen) if m["type"] == "attached"][-1]
    after = [m["seq"] for m in seen[second + 1 :]]
    assert after == list(range(2, after[-1] + 1))  # replay from the new after_seq, no duplicates


async def test_attach_to_a_finished_run_replays_to_its_terminal_event(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app:
        async with open_socket(app) as ws:
            await ws.send(execute(graph(("a", "Arange", {})), run_id="done"))
            original = await ws.run_events("done")
        async with open_socket(app) as later:
            await later.send({"action": "attach", "run_id": "done"})
            attached = await later.recv()
            replay = [await later.recv() for _ in original]
            await later.send({"action": "attach", "run_id": "done", "after_seq": original[-1]["seq"]})
            assert (await later.recv())["type"] == "attached"
            await later.send({"action": "ping"})
            assert await later.recv() == {"type": "pong"}  # nothing replayed after the last seq
        record = runs.manager_of(app).records["done"]
    assert attached == {"type": "attached", "run_id": "done", "state": "completed", "first_seq": 1,
                        "last_seq": original[-1]["seq"], "gap": False, "owner": False}
    assert replay == original
    assert record.run is None  # a retained run keeps its frames, not the node results


# -- ownership -------------------------------------------------------------------------------------------


async def test_ownership_moves_to_a_subscriber_when_the_owner_leaves(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app, open_socket(app) as viewer:
        async with open_socket(app) as owner:
            await owner.send(slow("r", 10))
            await owner.until(lambda m: m.get("status") == "progress")
            await viewer.send({"action": "attach", "run_id": "r", "after_seq": 10**6})
            assert (await viewer.recv())["owner"] is False
            await viewer.send({"action": "stop"})  # owns nothing yet
            await viewer.until(lambda m: m.get("reason") == "not_running")
        manager = runs.manager_of(app)
        await wait_for(lambda: manager.records["r"].owner is not None)
        await viewer.send({"action": "stop"})  # now it owns the run
        seen = await viewer.until(lambda m: m.get("run_id") == "r" and is_terminal(m))
    assert seen[-1]["reason"] == "stop"


async def test_an_ownerless_run_goes_to_the_next_socket_that_attaches(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app:
        async with open_socket(app) as owner:
            await owner.send(slow("r", 10))
            await owner.until(lambda m: m.get("status") == "progress")
        async with open_socket(app) as busy, open_socket(app) as free:
            await busy.send(slow("mine", 10))
            await busy.until(lambda m: m.get("run_id") == "mine")
            await busy.send({"action": "attach", "run_id": "r", "after_seq": 10**6})
            assert (await busy.until(lambda m: m["type"] == "attached"))[-1]["owner"] is False  # owns "mine"
            await free.send({"action": "attach", "run_id": "r", "after_seq": 10**6})
            assert (await free.recv())["owner"] is True
            await free.send({"action": "stop"})
            assert (await free.until(lambda m: m.get("run_id") == "r" and is_terminal(m)))[-1]["reason"] == "stop"


# -- grace -------------------------------------------------------------------------------------------------


async def test_grace_expiry_cancels_with_reason_disconnect(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app, NODELOOM_RUN_GRACE_S="0.3") as app:
        async with open_socket(app) as ws:
            await ws.send(slow("r", 10))
            await ws.until(lambda m: m.get("status") == "progress")
        record = runs.manager_of(app).records["r"]
        await asyncio.wait_for(record.finished.wait(), 5)
        async with open_socket(app) as later:
            await later.send({"action": "attach", "run_id": "r"})
            attached = await later.recv()
            replay = await later.run_events("r")
    assert attached["state"] == "stopped"
    assert replay[-1]["type"] == "execution_stopped" and replay[-1]["reason"] == "disconnect"


async def test_attaching_within_grace_keeps_the_run_going(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app, NODELOOM_RUN_GRACE_S="0.5") as app:
        async with open_socket(app) as ws:
            await ws.send(slow("r", 0.9))
            seen = await ws.until(lambda m: m.get("status") == "progress")
        async with open_socket(app) as back:
            await back.send({"action": "attach", "run_id": "r", "after_seq": seen[-1]["seq"]})
            attached = await back.recv()
            rest = await back.run_events("r")
    assert attached["owner"] is True and attached["gap"] is False
    assert rest[0]["seq"] == seen[-1]["seq"] + 1
    assert rest[-1]["type"] == "execution_complete"


async def test_zero_grace_cancels_at_once_and_a_run_ending_in_grace_completes(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app, NODELOOM_RUN_GRACE_S="0") as app:
        async with open_socket(app) as ws:
            await ws.send(slow("r", 10))
            await ws.until(lambda m: m.get("status") == "progress")
        record = runs.manager_of(app).records["r"]
        await asyncio.wait_for(record.finished.wait(), 5)
        assert record.buffer.terminal is not None and json.loads(record.buffer.terminal.text)["reason"] == "disconnect"
    async with serving(kernel, make_app, NODELOOM_RUN_GRACE_S="30") as app:
        async with open_socket(app) as ws:
            await ws.send(slow("q", 0.2))
            await ws.until(lambda m: m.get("run_id") == "q")
        record = runs.manager_of(app).records["q"]
        await asyncio.wait_for(record.finished.wait(), 5)
        assert record.state == "completed"


# -- retention --------------------------------------------------------------------------------------------


async def test_finished_runs_are_forgotten_after_the_retention_time(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app, NODELOOM_RUN_RETAIN_S="0.3") as app, open_socket(app) as ws:
        await ws.send(execute(graph(("a", "Arange", {})), run_id="r"))
        await ws.run_events("r")
        await ws.send({"action": "attach", "run_id": "r", "after_seq": 10**6})
        assert (await ws.recv())["state"] == "completed"
        await asyncio.sleep(0.5)
        await ws.send({"action": "attach", "run_id": "r"})
        assert (await ws.recv())["code"] == "unknown_run"


async def test_at_most_50_finished_runs_are_kept(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app, open_socket(app) as ws:
        body = {"action": "execute", "nodes": [{"id": "s", "type": "Start"}], "edges": []}
        for i in range(51):
            await ws.send({**body, "run_id": f"run-{i}"})
            await ws.run_events(f"run-{i}")
        await ws.send({"action": "attach", "run_id": "run-0"})
        assert (await ws.recv())["code"] == "unknown_run"
        await ws.send({"action": "attach", "run_id": "run-1", "after_seq": 10**6})
        assert (await ws.recv())["type"] == "attached"
        assert len(runs.manager_of(app).retained) == 50


async def test_recorded_runs_limit_comes_from_the_settings(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app, NODELOOM_MAX_RECORDED_RUNS="2") as app, open_socket(app) as ws:
        for run_id in ("a", "b", "c"):
            await ws.send(execute(graph(("n", "Arange", {})), run_id=run_id, record_outputs=True))
            await ws.run_events(run_id)
        client = client_for(app)
        assert (await client.get("/api/execution/outputs/a")).status_code == 404
        assert (await client.get("/api/execution/outputs/b")).status_code == 200
        assert (await client.get("/api/execution/outputs/c")).status_code == 200


# -- the buffer and the gap ---------------------------------------------------------------------------------


async def test_attach_reports_a_gap_when_the_buffer_dropped_events(kernel: Kernel, make_app: Any) -> None:
    async with serving(kernel, make_app) as app, open_socket(app) as ws:
        runs.manager_of(app).buffer_capacity = 6
        await ws.send(slow("r", 0.3))
        original = await ws.run_events("r")
        await ws.send({"action": "attach", "run_id": "r", "after_seq": 0})
        attached = await ws.recv()
        replay = [await ws.recv() for _ in range(6)]
    assert attached["gap"] is True and attached["first_seq"] == 1
    # Coalescible progress events were dropped first: every status change is still there.
    kept = [m for m in original if not (m["type"] == "node_status" and m["status"] == "progress")]
    assert len(kept) == 6 and replay == kept


def _frame(seq: int, kind: str = "node_status", key: tuple[str, str, str] | None = None) -> Frame:
    return Frame(text=str(seq), type=kind, run_id="r", seq=seq, merge_key=key)


def test_event_buffer_drop_order() -> None:
    buffer = EventBuffer(capacity=4)
    buffer.append(_frame(1, "execution_start"))
    buffer.append(_frame(2))
    buffer.append(_frame(3, key=("r", "n", "batch")))
    buffer.append(_frame(4))
    buffer.append(_frame(5))  # full: the coalescible one (3) goes first
    assert [f.seq for f in buffer.after(0)] == [1, 2, 4, 5]
    buffer.append(_frame(6))  # no coalescible left: the oldest other than execution_start (2)
    assert [f.seq for f in buffer.after(0)] == [1, 4, 5, 6]
    assert buffer.first_seq == 1 and buffer.last_seq == 6
    assert buffer.gap_after(0) and buffer.gap_after(2) and not buffer.gap_after(3)
    assert [f.seq for f in buffer.after(4)] == [5, 6]
    buffer.append(_frame(7, "execution_complete"))
    assert buffer.terminal is not None and buffer.terminal.seq == 7


def test_outbox_merges_coalescible_frames_only_for_lagging_subscribers() -> None:
    box = Outbox(lag_limit=3)
    key = ("r", "n", "batch")
    for seq in range(1, 4):
        box.put(_frame(seq, key=key))
    assert len(box) == 3  # not more than lag_limit behind: nothing merged
    box.put(_frame(4, key=key))
    box.put(_frame(5, key=key))  # 4 behind: merged into the newest
    assert len(box) == 4 and box.merged == 1
    box.put(_frame(6, key=("r", "other", "batch")))  # another node: never merged into 5
    box.put(_frame(7))  # not coalescible
    box.put(_frame(8, key=key))
    assert len(box) == 7
    box.purge_run("r")
    assert len(box) == 0


async def test_outbox_sends_queued_frames_before_closing() -> None:
    box = Outbox()
    box.put(_frame(1))
    box.close(1001)
    box.put(_frame(2))  # ignored once closing
    assert (await box.next()).seq == 1
    assert await box.next() is None and box.close_code == 1001


async def test_slow_subscribers_get_progress_coalesced(kernel: Kernel, make_app: Any) -> None:
    """A socket whose queue backs up gets merged progress, but every other event, in order."""

    class SlowSocket:
        def __init__(self, ws: Any) -> None:
            self.ws = ws

        async def send(self, text: str) -> None:
            await asyncio.sleep(0.05)  # a client on a slow link
            await self.ws.send(text)

        async def close(self, code: int) -> None:
            await self.ws.close(code)

    async with serving(kernel, make_app) as app:
        # Plugin reloads re-import route modules: patch the module the app's handler really uses.
        handler_globals = app.view_functions["api_execution.execution_socket"].__globals__
        original = handler_globals["_send_loop"]

        async def slow_send_loop(ws: Any, box: Outbox) -> None:
            await original(SlowSocket(ws), box)

        handler_globals["_send_loop"] = slow_send_loop
        try:
            async with open_socket(app) as ws:
                manager = runs.manager_of(app)
                await ws.send(slow("r", 0.4))
                await wait_for(lambda: "r" in manager.records)
                client = next(iter(manager.records["r"].subscribers))
                client.outbox.lag_limit = 2  # (1 000 in production)
                events = await ws.run_events("r")
        finally:
            handler_globals["_send_loop"] = original
    produced = manager.records["r"].buffer.last_seq
    seqs = [m["seq"] for m in events]
    assert seqs == sorted(seqs) and events[-1]["type"] == "execution_complete"
    assert client.outbox.merged > 0 and len(events) == produced - client.outbox.merged
    # Only progress events were merged: every status change and the terminal event arrived.
    kept = [json.loads(f.text) for f in manager.records["r"].buffer.after(0)]
    not_progress = [m for m in kept if m.get("status") != "progress"]
    assert [m for m in events if m.get("status") != "progress"] == not_progress
