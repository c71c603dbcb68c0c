"""The execution WebSocket's messages, in process (api.md §3.1, §3.3, §3.4, §3.5).

End-to-end behaviour over a real server is in ``test_ws_e2e.py``; runs, owners, grace and
replay in ``test_ws_runs.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

import nodeloom
from nodeloom.kernel.host import Kernel
from tests.api.support import auth_headers, client_for
from tests.api.ws_helpers import QuartWsClient, execute, graph, install_nodes, is_terminal, node_events

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
async def ws_app(kernel: Kernel, make_app: Callable[..., Any]) -> AsyncIterator[Any]:
    install_nodes(kernel)
    app = make_app()
    async with app.test_app():
        yield app


@asynccontextmanager
async def open_socket(app: Any) -> AsyncIterator[QuartWsClient]:
    async with client_for(app).websocket("/ws/execution", headers=auth_headers()) as conn:
        ws = QuartWsClient(conn)
        hello = await ws.recv()
        assert hello["type"] == "connected"
        yield ws


async def assert_still_open(ws: QuartWsClient) -> None:
    await ws.send({"action": "ping"})
    assert await ws.recv() == {"type": "pong"}


# -- handshake --------------------------------------------------------------------------------------


async def test_connected_is_the_first_message(ws_app: Any, kernel: Kernel) -> None:
    async with client_for(ws_app).websocket("/ws/execution", query_string={"token": "test-token-0123456789abcdef"}) as conn:
        first = json.loads(await conn.receive())
    assert first == {"type": "connected", "protocol": 1, "version": nodeloom.__version__, "generation": kernel.generation}


async def test_upgrade_without_token_is_refused_with_403(ws_app: Any) -> None:
    from quart.testing.connections import WebsocketResponseError

    with pytest.raises(WebsocketResponseError) as info:
        async with client_for(ws_app).websocket("/ws/execution") as conn:
            await conn.receive()
    response = info.value.response
    assert response.status_code == 403
    assert (await response.get_json())["code"] == "invalid_token"


# -- bad messages --------------------------------------------------------------------------------------


BAD_MESSAGES: list[tuple[Any, str, str, Any]] = [
    # (frame, code, error text prefix, action)
    (b"\x00\x01binary", "invalid_message", "Binary frames are not supported", None),
    ("not json", "invalid_message", "Message is not valid JSON: ", None),
    ('{"action": "ping", "x": NaN}', "invalid_message", "Message is not valid JSON: ", None),
    ('{"action": "ping", "x": -Infinity}', "invalid_message", "Message is not valid JSON: ", None),
    ('{"action": "ping", "x": 1e999}', "invalid_message", "Message is not valid JSON: ", None),
    ('{"action": "ping", "x": "\\ud800"}', "invalid_message", "Message is not valid JSON: ", None),
    ("[1, 2]", "invalid_message", "Message must be a JSON object", None),
    ('"ping"', "invalid_message", "Message must be a JSON object", None),
    ("{}", "invalid_message", "Message has no 'action' string", None),
    ('{"action": 5}', "invalid_message", "Message has no 'action' string", None),
    ('{"action": null}', "invalid_message", "Message has no 'action' string", None),
    ('{"action": "fly"}', "unknown_action", "Unknown action: fly", "fly"),
    ('{"action": "Execute"}', "unknown_action", "Unknown action: Execute", "Execute"),
]


@pytest.mark.parametrize(("frame", "code", "text", "action"), BAD_MESSAGES)
async def test_bad_frames_get_one_error_and_the_socket_stays_open(
    ws_app: Any, frame: Any, code: str, text: str, action: Any
) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(frame)
        reply = await ws.recv()
        assert reply["type"] == "error" and reply["code"] == code
        assert reply["error"].startswith(text) and reply["action"] == action
        assert "details" not in reply and "run_id" not in reply
        await assert_still_open(ws)


FIELD_ERRORS: list[tuple[dict[str, Any], str, list[Any], str]] = [
    # (message, code, loc, type)
    ({"action": "execute", "record_outputs": "yes"}, "invalid_run_option", ["record_outputs"], "wrong_type"),
    ({"action": "execute", "record_outputs": 1}, "invalid_run_option", ["record_outputs"], "wrong_type"),
    ({"action": "execute", "error_mode": "sometimes"}, "invalid_run_option", ["error_mode"], "not_in_enum"),
    ({"action": "execute", "device": "tpu"}, "invalid_run_option", ["device"], "invalid_value"),
    ({"action": "execute", "max_workers": 0}, "invalid_run_option", ["max_workers"], "out_of_range"),
    ({"action": "execute", "max_retries": 1.0}, "invalid_run_option", ["max_retries"], "wrong_type"),
    ({"action": "execute", "seed": -1}, "invalid_run_option", ["seed"], "out_of_range"),
    ({"action": "execute", "timeout_s": 0}, "invalid_run_option", ["timeout_s"], "out_of_range"),
    ({"action": "execute", "changed_nodes": ["a", 3]}, "invalid_run_option", ["changed_nodes", 1], "wrong_type"),
    ({"action": "execute", "grad_health": {"vanish_norm": "x"}}, "invalid_run_option", ["grad_health", "vanish_norm"], "wrong_type"),
    ({"action": "execute", "run_id": "bad id!"}, "invalid_run_option", ["run_id"], "invalid_value"),
    ({"action": "execute", "nodes": {}}, "invalid_message", ["nodes"], "wrong_type"),
    ({"action": "execute", "nodes": [5]}, "invalid_message", ["nodes", 0], "wrong_type"),
    ({"action": "execute", "nodes": [{"type": "Start"}]}, "invalid_message", ["nodes", 0, "id"], "missing"),
    ({"action": "execute", "nodes": [{"id": "", "type": "Start"}]}, "invalid_message", ["nodes", 0, "id"], "out_of_range"),
    ({"action": "execute", "nodes": [{"id": "a", "type": "X", "data": {"params": []}}]}, "invalid_message",
     ["nodes", 0, "data", "params"], "wrong_type"),
    ({"action": "execute", "edges": [{"source": "a"}]}, "invalid_message", ["edges", 0, "target"], "missing"),
    ({"action": "execute", "edges": [{"source": "a", "target": "b", "type": "weird"}]}, "invalid_message",
     ["edges", 0, "type"], "not_in_enum"),
    ({"action": "execute", "presets": [{"nodes": [], "edges": []}]}, "invalid_message",
     ["presets", 0, "preset_name"], "missing"),
    ({"action": "attach"}, "invalid_message", ["run_id"], "missing"),
    ({"action": "attach", "run_id": 7}, "invalid_message", ["run_id"], "wrong_type"),
    ({"action": "attach", "run_id": "r", "after_seq": -1}, "invalid_message", ["after_seq"], "out_of_range"),
    ({"action": "attach", "run_id": "r", "after_seq": "3"}, "invalid_message", ["after_seq"], "wrong_type"),
    ({"action": "stop", "run_id": 5}, "invalid_message", ["run_id"], "wrong_type"),
    ({"action": "cancel", "run_id": []}, "invalid_message", ["run_id"], "wrong_type"),
]


@pytest.mark.parametrize(("message", "code", "loc", "type_"), FIELD_ERRORS)
async def test_field_errors(ws_app: Any, message: dict[str, Any], code: str, loc: list[Any], type_: str) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(message)
        reply = await ws.recv()
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert reply["action"] == message["action"]
        assert reply["error"].startswith(f"Invalid '{message['action']}' message: ")
        assert any(d["loc"] == loc and d["type"] == type_ for d in reply["details"]), reply["details"]
        if isinstance(message.get("run_id"), str):
            assert reply["run_id"] == message["run_id"]
        else:
            assert "run_id" not in reply
        await assert_still_open(ws)


async def test_option_and_graph_problems_together_report_both(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send({"action": "execute", "verbose_mode": "no", "nodes": "x"})
        reply = await ws.recv()
    assert reply["code"] == "invalid_run_option"
    assert {tuple(d["loc"]) for d in reply["details"]} == {("verbose_mode",), ("nodes",)}


async def test_null_options_mean_defaults_and_unknown_fields_are_ignored(ws_app: Any) -> None:
    body = execute(graph(("a", "Arange", {})), record_outputs=None, seed=None, name="x", segmentGroups=5)
    async with open_socket(ws_app) as ws:
        await ws.send(body)
        events = await ws.until(is_terminal)
    assert events[0]["type"] == "execution_start" and events[-1]["type"] == "execution_complete"


# -- simple actions ------------------------------------------------------------------------------------


async def test_ping_pong_and_idle_stop(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await assert_still_open(ws)
        await ws.send({"action": "stop"})
        assert await ws.recv() == {"type": "execution_stopped", "run_id": None, "reason": "not_running"}
        await ws.send({"action": "cancel", "run_id": "nope"})
        assert await ws.recv() == {"type": "execution_stopped", "run_id": "nope", "reason": "not_running"}


async def test_attach_to_an_unknown_run(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send({"action": "attach", "run_id": "ghost"})
        assert await ws.recv() == {
            "type": "error",
            "code": "unknown_run",
            "error": "Unknown run 'ghost'",
            "action": "attach",
            "run_id": "ghost",
        }
        await assert_still_open(ws)


async def test_clear_cache_empties_the_shared_cache(ws_app: Any, kernel: Kernel) -> None:
    body = execute(graph(("a", "Arange", {"shape": "3"})))
    async with open_socket(ws_app) as ws:
        await ws.send(body)
        first = await ws.until(is_terminal)
        await ws.send(body)
        second = await ws.until(is_terminal)
        assert [e["status"] for e in node_events(first, "a")] == ["running", "completed"]
        assert [e["status"] for e in node_events(second, "a")] == ["cached"]
        cached = node_events(second, "a")[0]
        assert cached["output_summary"]["tensor"]["values"] == [0.0, 1.0, 2.0] and "elapsed_ms" not in cached
        assert len(kernel.run_environment.cache) > 0
        await ws.send({"action": "clear_cache"})
        assert await ws.recv() == {"type": "cache_cleared"}
        assert len(kernel.run_environment.cache) == 0
        await ws.send(body)
        third = await ws.until(is_terminal)
        assert [e["status"] for e in node_events(third, "a")] == ["running", "completed"]


async def test_the_cache_is_shared_between_sockets(ws_app: Any) -> None:
    body = execute(graph(("a", "Arange", {"shape": "4"})))
    async with open_socket(ws_app) as one:
        await one.send(body)
        await one.until(is_terminal)
    async with open_socket(ws_app) as two:
        await two.send(body)
        events = await two.until(is_terminal)
    assert [e["status"] for e in node_events(events, "a")] == ["cached"]


# -- runs -------------------------------------------------------------------------------------------------


async def test_a_run_from_start_to_complete(ws_app: Any, kernel: Kernel) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(execute(graph(("a", "Arange", {"shape": "2,2"}), ("w", "Weird", {})), graph_id="tab-1", seed=5))
        events = await ws.until(is_terminal)
    run_id = events[0]["run_id"]
    assert UUID4.match(run_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["run_id"] == run_id for e in events)
    start = events[0]
    assert start == {
        "type": "execution_start",
        "run_id": run_id,
        "seq": 1,
        "generation": kernel.generation,
        "device": "cpu",
        "seed": 5,
        "graph_id": "tab-1",
        "record_outputs": False,
        "warnings": [],
    }
    done = events[-1]
    assert done["type"] == "execution_complete" and done["failed_nodes"] == [] and done["warnings"] == []
    assert isinstance(done["elapsed_ms"], int)
    for node_id in ("s", "a", "w"):
        statuses = [e["status"] for e in node_events(events, node_id)]
        assert statuses == ["running", "completed"]
    assert "output_summary" not in node_events(events, "s")[1]  # Start produces no visible output


async def test_completed_events_carry_summaries_log_and_image(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(execute(graph(("w", "Weird", {}))))
        events = await ws.until(is_terminal)
    completed = node_events(events, "w")[-1]
    assert completed["status"] == "completed" and isinstance(completed["elapsed_ms"], int)
    assert "outputs" not in completed
    summary = completed["output_summary"]
    assert summary["tensor"] == {
        "type": "tensor",
        "shape": [2, 2],
        "dtype": "torch.float32",
        "min": -2.5,
        "max": 1.0,
        "mean": -0.75,
        "nan_count": 1,
        "inf_count": 1,
        "values": [[1.0, None], [None, -2.5]],
    }
    assert summary["ratio"] == {"type": "scalar", "value": None, "nonfinite": "nan"}
    assert summary["inf"] == {"type": "scalar", "value": None, "nonfinite": "-inf"}
    assert summary["count"] == {"type": "scalar", "value": 7}
    assert summary["pairs"]["values"] == [[1, 2.5], [3, 4]]
    assert summary["array"]["dtype"] == "numpy.int16" and summary["array"]["values"] == [1, 2, 3]
    assert summary["model"] == {"type": "model", "class": "Linear", "params": 8, "trainable": 8}
    assert completed["log"] == "line one\nline two"
    assert completed["image"].startswith("iVBORw0KGgo") and len(completed["image"]) > 200


async def test_invalid_graph_gets_start_then_error(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(execute(graph(("x", "NoSuchNode", {}))))
        events = await ws.until(is_terminal)
    assert [e["type"] for e in events] == ["execution_start", "execution_error"]
    error = events[1]
    assert error["node_id"] is None and error["errors"] and error["error"] == "; ".join(error["errors"])
    assert "NoSuchNode" in error["error"]


async def test_node_failure_in_fail_fast_mode(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(execute(graph(("f", "Fail", {}))))
        events = await ws.until(is_terminal)
    failed = node_events(events, "f")[-1]
    assert failed["status"] == "error" and failed["error"] == "boom"
    assert failed["error_type"] == "ValueError" and failed["code"] == "node_error" and failed["attempts"] == 1
    assert "traceback" not in failed
    assert events[-1]["type"] == "execution_error" and events[-1]["node_id"] == "f" and events[-1]["errors"] == []


async def test_run_id_in_use_leaves_the_running_run_alone(ws_app: Any) -> None:
    slow = execute(graph(("z", "Slow", {"seconds": 0.4})), run_id="busy")
    async with open_socket(ws_app) as ws, open_socket(ws_app) as other:
        await ws.send(slow)
        await ws.until(lambda m: m["type"] == "execution_start")
        await ws.send(slow)  # the socket's own running id
        await other.send(slow)  # and from another socket
        expected = {"type": "error", "code": "run_id_in_use", "error": "Run 'busy' is already running",
                    "action": "execute", "run_id": "busy"}
        assert await other.recv() == expected
        seen = await ws.until(is_terminal)
        assert expected in seen
        assert seen[-1]["type"] == "execution_complete" and seen[-1]["run_id"] == "busy"
        # A finished run id may be reused.
        await ws.send(execute(graph(("a", "Arange", {})), run_id="busy"))
        again = await ws.until(is_terminal)
        assert again[0]["seq"] == 1 and again[-1]["type"] == "execution_complete"


async def test_an_invalid_execute_does_not_stop_the_run_in_progress(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(execute(graph(("z", "Slow", {"seconds": 0.3}))))
        await ws.until(lambda m: m["type"] == "execution_start")
        await ws.send({"action": "execute", "error_mode": "whatever"})
        seen = await ws.until(is_terminal)
    assert any(m["type"] == "error" and m["code"] == "invalid_run_option" for m in seen)
    assert seen[-1]["type"] == "execution_complete"


async def test_superseding_execute_stops_the_old_run_first(ws_app: Any) -> None:
    async with open_socket(ws_app) as ws:
        await ws.send(execute(graph(("z", "Slow", {"seconds": 10})), run_id="old"))
        await ws.until(lambda m: m.get("status") == "progress")
        await ws.send(execute(graph(("a", "Arange", {})), run_id="new"))
        seen = await ws.until(lambda m: m.get("run_id") == "new" and is_terminal(m))
    stopped = next(i for i, m in enumerate(seen) if m["type"] == "execution_stopped")
    assert seen[stopped] == {"type": "execution_stopped", "run_id": "old", "seq": seen[stopped]["seq"],
                             "reason": "superseded", "warnings": []}
    first_new = next(i for i, m in enumerate(seen) if m.get("run_id") == "new")
    assert stopped < first_new
    assert all(m.get("run_id") != "old" for m in seen[stopped + 1 :])
    assert seen[first_new]["type"] == "execution_start" and seen[-1]["type"] == "execution_complete"


async def test_stop_by_run_id_from_another_socket(ws_app: Any) -> None:
    async with open_socket(ws_app) as owner, open_socket(ws_app) as other:
        await owner.send(execute(graph(("z", "Slow", {"seconds": 10})), run_id="target"))
        await owner.until(lambda m: m.get("status") == "progress")
        await other.send({"action": "stop", "run_id": "target"})
        seen = await owner.until(is_terminal)
        assert seen[-1]["reason"] == "stop"
        await other.send({"action": "stop", "run_id": "target"})  # finished now
        assert await other.recv() == {"type": "execution_stopped", "run_id": "target", "reason": "not_running"}


async def test_registry_changed_goes_to_every_socket(ws_app: Any, kernel: Kernel) -> None:
    async with open_socket(ws_app) as one, open_socket(ws_app) as two:
        await asyncio.to_thread(kernel.reload)
        expected = {"type": "registry_changed", "generation": kernel.generation}
        assert await one.recv() == expected
        assert await two.recv() == expected
        await asyncio.to_thread(kernel.reload)
        assert (await one.recv())["generation"] == expected["generation"] + 1


SLOW_PAIR = {
    "preset_name": "Slow Pair",
    "nodes": [
        {"id": "x", "type": "Arange", "params": {"shape": "2"}},
        {"id": "y", "type": "Slow", "params": {"seconds": 0.05}},
    ],
    "edges": [],
    "exposed_inputs": [],
    "exposed_outputs": [{"name": "out", "internal_node": "x", "internal_port": "tensor"}],
    "exposed_params": [],
}


async def test_preset_members_are_reported_under_the_instance(ws_app: Any, kernel: Kernel) -> None:
    body = {
        "action": "execute",
        "run_id": "pre",
        "record_outputs": True,
        "nodes": [{"id": "s", "type": "Start"}, {"id": "p", "type": "preset:Slow Pair"}],
        "edges": [{"source": "s", "sourceHandle": "trigger", "target": "p", "targetHandle": "", "type": "trigger"}],
        "presets": [SLOW_PAIR],
    }
    async with open_socket(ws_app) as ws:
        await ws.send(body)
        events = await ws.until(is_terminal)
    assert events[-1]["type"] == "execution_complete"
    assert not any(e.get("node_id", "").startswith("p__") for e in events)
    instance = node_events(events, "p")
    statuses = [e["status"] for e in instance]
    assert statuses[0] == "running" and statuses[-1] == "completed"
    assert statuses.count("running") == 1 and statuses.count("completed") == 1
    assert instance[0]["member"] in ("x", "y")
    assert all(e["member"] == "y" for e in instance if e["status"] == "progress")
    completed = instance[-1]
    assert "output_summary" not in completed and "log" not in completed and "member" not in completed
    ports = kernel.run_environment.outputs.ports("pre")
    assert ports["p__x"] == ["tensor"] and "p" not in ports


async def test_large_messages_are_checked_like_small_ones(ws_app: Any) -> None:
    notes = [{"id": f"note-{i}", "type": "note", "data": {"text": "x" * 100}} for i in range(3000)]
    body = execute(graph(("a", "Arange", {"shape": "2"})))
    body["nodes"] = body["nodes"] + notes
    assert len(json.dumps(body)) > 256 * 1024
    async with open_socket(ws_app) as ws:
        await ws.send(body)
        events = await ws.until(is_terminal)
        assert events[-1]["type"] == "execution_complete"
        assert not any(e.get("node_id", "").startswith("note-") for e in events)  # notes never run
        body["nodes"][-1] = {"type": "note"}
        await ws.send(body)
        reply = await ws.recv()
        assert reply["code"] == "invalid_message"
        assert reply["details"] == [{"loc": ["nodes", 3001, "id"], "msg": "Field required", "type": "missing"}]
