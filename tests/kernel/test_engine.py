"""The execution engine and the local executor (engine.md §4.4-§4.13, api.md §3.4-§3.5).

Every graph goes through the real ``prepare()``; node bodies are the pure-Python test nodes of
``tests.kernel.support`` plus a few engine-specific ones defined here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager

import attrs
import pytest

from nodeloom.kernel import NodeSpec, ParamSpec, PortSpec, Requirement, StatefulSpec
from nodeloom.kernel import engine as engine_module
from nodeloom.kernel.cache import OutputCache
from nodeloom.kernel.engine import LocalExecutor, RunEnvironment, RunIdInUse, RunSpec, run_graph
from nodeloom.kernel.events import TERMINAL_TYPES, wire_event
from nodeloom.kernel.options import RunOptions
from nodeloom.kernel.prepare import prepare
from nodeloom.kernel.seeds import node_seed
from nodeloom.kernel.state import ModuleStore, StateHandle

from .support import TEST_SPECS, FlakyCounter, e, make_snapshot, n, start_graph

SCALAR = "SCALAR"


# -- engine-specific test nodes ------------------------------------------------------------------


def _partial(call):
    return {"value": call.params["value"]}  # declares "extra" but never produces it


PARTIAL = NodeSpec(
    name="Partial",
    category="Test",
    execute=_partial,
    outputs=(PortSpec("value", SCALAR), PortSpec("extra", SCALAR)),
    params=(ParamSpec("value", "float", 1.0),),
)


async def _async_double(call):
    await asyncio.sleep(0.01)
    return {"value": call.inputs["value"] * 2, "thread": threading.get_ident()}


ASYNC_DOUBLE = NodeSpec(
    name="AsyncDouble",
    category="Test",
    execute=_async_double,
    inputs=(PortSpec("value", SCALAR),),
    outputs=(PortSpec("value", SCALAR),),
)


def _stubborn(call):
    time.sleep(call.params["seconds"])  # ignores cancellation on purpose
    call.progress({"event": "step", "current": 1, "total": 1, "message": "late"})
    return {"value": 1}


STUBBORN = NodeSpec(
    name="Stubborn",
    category="Test",
    execute=_stubborn,
    outputs=(PortSpec("value", SCALAR),),
    params=(ParamSpec("seconds", "float", 0.3),),
    cacheable=False,
)

BAD_RETURN = NodeSpec(name="BadReturn", category="Test", execute=lambda call: [1, 2])


def _needs_dep(call):
    import nodeloom_test_missing_module  # noqa: F401

    return {}


NEEDS_DEP = NodeSpec(
    name="NeedsDep",
    category="Test",
    execute=_needs_dep,
    requires=(Requirement("nodeloom_test_missing_module", "missing-dist", "extra"),),
)

STATEFUL = NodeSpec(
    name="Layer",
    category="Test",
    execute=lambda call: {"module": call.state.get_or_build("h", object)},
    outputs=(PortSpec("module", "MODEL"),),
    params=(ParamSpec("size", "int", 4),),
    stateful=StatefulSpec(build=lambda call: object()),
)


def counting(name="Count", **flags):
    """A deterministic node adding ``offset`` to its optional input; counts its calls."""
    calls: list[str] = []

    def body(call):
        calls.append(call.node_id)
        return {"value": call.inputs.get("value", 0) + call.params["offset"]}

    spec = NodeSpec(
        name=name,
        category="Test",
        execute=body,
        inputs=(PortSpec("value", SCALAR, optional=True),),
        outputs=(PortSpec("value", SCALAR),),
        params=(ParamSpec("offset", "float", 1.0),),
        **flags,
    )
    return spec, calls


def snapshot(*extra_specs, **kw):
    return make_snapshot((*TEST_SPECS, PARTIAL, ASYNC_DOUBLE, STUBBORN, BAD_RETURN, NEEDS_DEP, STATEFUL, *extra_specs), **kw)


SNAP = snapshot()


def run(graph, snap=SNAP, env=None, **options):
    return run_graph(graph, snap, options, env)


def node_events(result, node_id=None):
    return [
        ev
        for ev in result.events
        if ev["type"] == "node_status" and (node_id is None or ev["node_id"] == node_id)
    ]


def assert_well_formed(events):
    """seq contiguous from 1, execution_start first, exactly one terminal and it is last."""
    assert [ev["seq"] for ev in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "execution_start"
    terminals = [ev for ev in events if ev["type"] in TERMINAL_TYPES]
    assert len(terminals) == 1 and terminals[0] is events[-1]
    assert len({ev["run_id"] for ev in events}) == 1


def chain(*nodes, trigger=None):
    """Nodes wired value -> value in sequence, the first triggered by Start."""
    edges = [e(a["id"], "value", b["id"], "value") for a, b in zip(nodes, nodes[1:])]
    return start_graph(*nodes, edges=edges, trigger=[trigger or nodes[0]["id"]])


# -- basics ---------------------------------------------------------------------------------------


def test_linear_run_events_results_and_start_fields():
    graph = chain(n("c", "Const", value=3.0), n("x", "Scale", factor=2.0), n("p", "Print", label="out"))
    result = run(graph, seed=42, graph_id="tab", record_outputs=True)
    assert_well_formed(result.events)
    start = result.events[0]
    assert start["seed"] == 42 and start["device"] == "cpu" and start["generation"] == SNAP.generation
    assert start["graph_id"] == "tab" and start["record_outputs"] is True and start["warnings"] == []
    assert result.ok and result.state == "completed"
    assert result.results["x"] == {"value": 6.0}
    assert [(ev["node_id"], ev["status"]) for ev in node_events(result) if ev["node_id"] != "s"] == [
        ("c", "running"),
        ("c", "completed"),
        ("x", "running"),
        ("x", "completed"),
        ("p", "running"),
        ("p", "completed"),
    ]
    done = node_events(result, "p")[-1]
    assert done["log"] == "[out] 6.0" and isinstance(done["elapsed_ms"], int)
    assert done["outputs"]["value"] == 6.0
    assert "outputs" not in wire_event(done) and wire_event(done)["log"] == "[out] 6.0"
    terminal = result.terminal
    assert terminal["type"] == "execution_complete"
    assert terminal["failed_nodes"] == [] and terminal["warnings"] == [] and isinstance(terminal["elapsed_ms"], int)


def test_seed_is_drawn_when_absent_and_node_seeds_follow_it():
    graph = start_graph(n("r", "Rand"), trigger=["r"])
    first, second = run(graph), run(graph)
    assert 0 <= first.events[0]["seed"] < 2**63
    assert first.events[0]["seed"] != second.events[0]["seed"]
    same = run(graph, seed=first.events[0]["seed"])
    assert same.results["r"] == first.results["r"]


def test_invalid_graph_gets_start_then_error_with_all_messages():
    graph = start_graph(n("a", "Nope"), n("b", "AlsoNope"), trigger=["a", "b"])
    result = run(graph)
    assert [ev["type"] for ev in result.events] == ["execution_start", "execution_error"]
    err = result.terminal
    assert err["node_id"] is None and len(err["errors"]) == 2
    assert err["error"] == "; ".join(err["errors"]) and "Unknown node type: Nope" in err["error"]


def test_validation_warnings_reach_execution_start():
    graph = start_graph(n("c", "Const", value=1.0, alpha=3), trigger=["c"])
    result = run(graph)
    assert result.ok
    assert any("alpha" in w for w in result.events[0]["warnings"])
    assert result.results["c"] == {"value": 1.0}


def test_node_call_carries_options_extras_state_and_seed():
    seen = {}

    def probe(call):
        seen.update(
            options=dict(call.options),
            extras=dict(call.extras),
            state=call.state,
            seed=call.seed,
            device=call.device,
            node_type=call.node_type,
            paths=call.paths,
            thread=threading.get_ident(),
        )
        return {}

    spec = NodeSpec(name="Probe", category="Test", execute=probe)
    env = RunEnvironment(paths="PATHS")
    result = run(
        start_graph(n("pr", "Probe"), trigger=["pr"]),
        snapshot(spec),
        env=env,
        graph_id="g1",
        verbose_mode=True,
        module_mode="eval",
        seed=7,
    )
    assert result.ok
    opts = seen["options"]
    assert opts["verbose"] is True and opts["graph_id"] == "g1" and opts["module_mode"] == "eval"
    assert opts["backward_mode"] is False and opts["weights_persistent"] is True and opts["record_outputs"] is False
    extras = seen["extras"]
    assert extras["spec"] is spec and extras["type_key"] == "Probe"
    assert extras["code_digest"] == "d" * 64 and extras["pack_version"] == "0.1.0"
    assert isinstance(seen["state"], StateHandle) and seen["state"].node_id == "pr" and seen["state"].active
    assert seen["device"] == "cpu" and seen["node_type"] == "Probe" and seen["paths"] == "PATHS"
    assert seen["seed"] == node_seed(7, "pr")
    assert seen["thread"] != threading.get_ident()  # bodies run in worker threads


def test_coroutine_bodies_are_awaited_on_the_loop():
    graph = chain(n("c", "Const", value=2.0), n("d", "AsyncDouble"))
    result = run(graph)
    assert result.ok and result.results["d"]["value"] == 4.0
    # run_graph runs its loop in the calling thread when none is running there
    assert result.results["d"]["thread"] == threading.get_ident()


async def test_coroutine_body_runs_on_the_executor_loop_thread():
    executor = LocalExecutor()
    graph = chain(n("c", "Const", value=2.0), n("d", "AsyncDouble"))
    run_ = await executor.submit(RunSpec(graph, SNAP))
    await run_.wait()
    assert run_.results["d"]["thread"] == threading.get_ident()


def test_non_mapping_result_fails_the_node():
    result = run(start_graph(n("b", "BadReturn"), trigger=["b"]))
    err = node_events(result, "b")[-1]
    assert err["status"] == "error" and err["error_type"] == "TypeError" and "list" in err["error"]
    assert result.terminal["type"] == "execution_error" and result.terminal["node_id"] == "b"


def test_missing_optional_dependency_is_reported_as_dependency_missing():
    result = run(start_graph(n("d", "NeedsDep"), trigger=["d"]))
    err = node_events(result, "d")[-1]
    assert err["code"] == "dependency_missing" and err["error_type"] == "ModuleNotFoundError"


def test_traceback_only_in_debug_mode():
    graph = start_graph(n("f", "Fail", message="kaput"), trigger=["f"])
    plain = node_events(run(graph), "f")[-1]
    debug = node_events(run(graph, env=RunEnvironment(debug=True)), "f")[-1]
    assert "traceback" not in plain
    assert "RuntimeError: kaput" in debug["traceback"] and "_fail" in debug["traceback"]


# -- inputs ---------------------------------------------------------------------------------------


def test_input_not_produced_fails_the_node_with_the_spec_message():
    graph = start_graph(
        n("p", "Partial"),
        n("a", "Add"),
        edges=[e("p", "extra", "a", "a")],
        trigger=["p"],
    )
    result = run(graph)
    assert [ev["status"] for ev in node_events(result, "a")] == ["running", "error"]
    err = node_events(result, "a")[-1]
    assert err["code"] == "input_not_produced"
    assert err["error"] == "Input 'a' on node a (Add) was not produced by p.extra"
    assert result.terminal["node_id"] == "a"


def test_optional_input_not_produced_is_simply_absent():
    graph = start_graph(
        n("p", "Partial", value=5.0),
        n("a", "Add"),
        edges=[e("p", "value", "a", "a"), e("p", "extra", "a", "b")],
        trigger=["p"],
    )
    result = run(graph)
    assert result.ok and result.results["a"] == {"value": 5.0}  # b absent -> default 0


def test_last_edge_with_a_value_wins_for_a_port():
    graph = start_graph(
        n("one", "Const", value=1.0),
        n("two", "Const", value=2.0),
        n("a", "Add"),
        edges=[e("one", "value", "a", "a"), e("two", "value", "a", "a")],
        trigger=["one", "two"],
    )
    assert run(graph).results["a"] == {"value": 2.0}


# -- ordering and parallelism ---------------------------------------------------------------------


def two_sleeps(seconds=0.15):
    return start_graph(
        n("a", "Sleep", seconds=seconds), n("b", "Sleep", seconds=seconds), trigger=["a", "b"]
    )


def order_of(result, ids=("a", "b")):
    return [(ev["node_id"], ev["status"]) for ev in node_events(result) if ev["node_id"] in ids]


def test_two_branches_overlap_with_two_workers():
    t0 = time.perf_counter()
    result = run(two_sleeps(), max_workers=2)
    elapsed = time.perf_counter() - t0
    assert result.ok
    assert order_of(result)[:2] == [("a", "running"), ("b", "running")]
    assert elapsed < 0.28  # sequential would need 0.30 s


def test_one_worker_runs_strictly_sequentially_in_level_order():
    t0 = time.perf_counter()
    result = run(two_sleeps(), max_workers=1)
    elapsed = time.perf_counter() - t0
    assert order_of(result) == [("a", "running"), ("a", "completed"), ("b", "running"), ("b", "completed")]
    assert elapsed >= 0.3


def test_ready_nodes_start_in_level_then_graph_order():
    # z is declared first but sits on level 1; x and y are level-0 roots.
    graph = start_graph(
        n("z", "Add"),
        n("y", "Const", value=1.0),
        n("x", "Const", value=2.0),
        edges=[e("x", "value", "z", "a")],
        trigger=["y", "x"],
    )
    result = run(graph, max_workers=1)
    started = [ev["node_id"] for ev in node_events(result) if ev["status"] == "running"]
    assert started == ["s", "y", "x", "z"]


def test_dependency_driven_scheduling_does_not_wait_for_the_level():
    # slow (level 0) runs while fast -> after (level 1) completes.
    graph = start_graph(
        n("slow", "Sleep", seconds=0.2),
        n("fast", "Const", value=1.0),
        n("after", "Scale"),
        edges=[e("fast", "value", "after", "value")],
        trigger=["slow", "fast"],
    )
    result = run(graph, max_workers=4)
    sequence = order_of(result, ("slow", "after"))
    assert sequence.index(("after", "completed")) < sequence.index(("slow", "completed"))


def test_never_more_bodies_at_once_than_max_workers():
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def busy(call):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return {"value": call.inputs.get("value", 0) + 1}

    spec = NodeSpec(
        name="Busy",
        category="Test",
        execute=busy,
        inputs=(PortSpec("value", SCALAR, optional=True),),
        outputs=(PortSpec("value", SCALAR),),
    )
    # 12 independent two-node branches
    nodes = [n(f"a{i}", "Busy") for i in range(12)] + [n(f"b{i}", "Busy") for i in range(12)]
    edges = [e(f"a{i}", "value", f"b{i}", "value") for i in range(12)]
    result = run(start_graph(*nodes, edges=edges, trigger=[f"a{i}" for i in range(12)]), snapshot(spec), max_workers=3)
    assert result.ok and all(result.results[f"b{i}"] == {"value": 2} for i in range(12))
    assert state["peak"] == 3


def test_wide_diamond_graph_computes_every_value_once():
    # c fans out to 30 Scale nodes, pairs of which are summed by Add nodes.
    nodes = [n("c", "Const", value=1.0)]
    edges = []
    for i in range(30):
        nodes.append(n(f"s{i}", "Scale", factor=float(i)))
        edges.append(e("c", "value", f"s{i}", "value"))
    for i in range(15):
        nodes.append(n(f"p{i}", "Add"))
        edges += [e(f"s{2 * i}", "value", f"p{i}", "a"), e(f"s{2 * i + 1}", "value", f"p{i}", "b")]
    result = run(start_graph(*nodes, edges=edges, trigger=["c"]), max_workers=4)
    assert_well_formed(result.events)
    assert result.ok
    assert [result.results[f"p{i}"]["value"] for i in range(15)] == [float(4 * i + 1) for i in range(15)]
    for node_id in result.results:
        if node_id != "s":
            assert [ev["status"] for ev in node_events(result, node_id)] == ["running", "completed"]


def test_progress_from_worker_threads_arrives_in_order_between_running_and_completed():
    result = run(start_graph(n("p", "Progress", steps=40), trigger=["p"]))
    events = node_events(result, "p")
    assert events[0]["status"] == "running" and events[-1]["status"] == "completed"
    currents = [ev["progress"]["current"] for ev in events[1:-1]]
    assert currents == list(range(1, 41))


def test_chain_of_200_cheap_nodes_has_low_engine_overhead():
    nodes = [n("c", "Const", value=1.0)] + [n(f"a{i}", "Add") for i in range(200)]
    edges = [e("c", "value", "a0", "a")] + [e(f"a{i}", "value", f"a{i + 1}", "a") for i in range(199)]
    graph = start_graph(*nodes, edges=edges, trigger=["c"])
    prepared = prepare(graph, SNAP, run_seed=1)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result = run_graph(prepared, SNAP)
        best = min(best, time.perf_counter() - t0)
    assert result.ok and result.results["a199"] == {"value": 1.0}
    # Measured ~65 µs/node on 2 cores (most of it the thread hop); generous bound for CI noise.
    assert best / 201 < 400e-6


# -- error modes ----------------------------------------------------------------------------------


def failing_graph():
    """f fails and feeds p; c -> x is an independent branch."""
    return start_graph(
        n("f", "Fail", message="boom"),
        n("p", "Print"),
        n("c", "Const", value=1.0),
        n("x", "Scale"),
        edges=[e("f", "value", "p", "value"), e("c", "value", "x", "value")],
        trigger=["f", "c"],
    )


def test_fail_fast_stops_scheduling_and_ends_with_execution_error():
    result = run(failing_graph(), max_workers=1)
    assert_well_formed(result.events)
    err = node_events(result, "f")[-1]
    assert err["status"] == "error" and err["error"] == "boom" and err["error_type"] == "RuntimeError"
    assert err["code"] == "node_error" and err["attempts"] == 1
    assert result.terminal["type"] == "execution_error"
    assert result.terminal["node_id"] == "f" and result.terminal["error"] == "boom" and result.terminal["errors"] == []
    # nothing after the failing node started: with one worker, c/x/p were never started
    assert node_events(result, "p") == [] and node_events(result, "x") == []
    assert result.events.index(err) == len(result.events) - 2


def test_fail_fast_awaits_running_bodies_which_stop_silently_on_request():
    graph = start_graph(n("slow", "Sleep", seconds=5.0), n("f", "Fail"), trigger=["slow", "f"])
    t0 = time.perf_counter()
    result = run(graph, max_workers=3)
    assert time.perf_counter() - t0 < 2.0  # Sleep honoured the cancellation request
    assert [ev["status"] for ev in node_events(result, "slow")] == ["running"]
    assert result.terminal["type"] == "execution_error" and result.terminal["node_id"] == "f"


def test_fail_fast_bodies_finishing_in_grace_still_complete():
    graph = start_graph(n("stub", "Stubborn", seconds=0.1), n("f", "Fail"), trigger=["stub", "f"])
    result = run(graph, max_workers=3, cancel_grace_s=5)
    assert [ev["status"] for ev in node_events(result, "stub")][0] == "running"
    assert node_events(result, "stub")[-1]["status"] == "completed"
    assert result.terminal["type"] == "execution_error"


def test_continue_skips_downstream_and_finishes_independent_branches():
    graph = failing_graph()
    graph["nodes"].append(n("q", "Print"))
    graph["edges"].append(e("p", "value", "q", "value"))
    result = run(graph, error_mode="continue")
    assert_well_formed(result.events)
    assert [ev["status"] for ev in node_events(result, "p")] == ["skipped"]
    assert node_events(result, "p")[0]["reason"] == "upstream node failed"
    assert [ev["status"] for ev in node_events(result, "q")] == ["skipped"]  # transitively
    assert node_events(result, "x")[-1]["status"] == "completed"
    assert result.terminal["type"] == "execution_complete" and result.terminal["failed_nodes"] == ["f"]
    assert "p" not in result.results and result.results["x"] == {"value": 2.0}


def test_retry_succeeds_after_a_failure_with_retry_progress():
    flaky = FlakyCounter(1)
    spec = NodeSpec(name="Flaky", category="Test", execute=flaky, outputs=(PortSpec("value", SCALAR),), cacheable=False)
    t0 = time.perf_counter()
    result = run(start_graph(n("k", "Flaky"), trigger=["k"]), snapshot(spec), error_mode="retry", max_retries=2)
    elapsed = time.perf_counter() - t0
    statuses = [ev["status"] for ev in node_events(result, "k")]
    assert statuses == ["running", "progress", "completed"]
    progress = node_events(result, "k")[1]["progress"]
    assert progress == {"event": "retry", "attempt": 2, "max_attempts": 3, "error": "flaky failure 1"}
    assert result.results["k"] == {"value": 2} and flaky.calls == 2
    assert elapsed >= 0.5  # 0.5 s x attempt 1


def test_retry_exhausted_reports_only_the_last_failure(monkeypatch):
    monkeypatch.setattr(engine_module, "RETRY_DELAY_S", 0.01)
    flaky = FlakyCounter(10)
    spec = NodeSpec(name="Flaky", category="Test", execute=flaky, outputs=(PortSpec("value", SCALAR),))
    graph = start_graph(n("k", "Flaky"), n("p", "Print"), edges=[e("k", "value", "p", "value")], trigger=["k"])
    result = run(graph, snapshot(spec), error_mode="retry", max_retries=3)
    events = node_events(result, "k")
    assert [ev["status"] for ev in events] == ["running"] + ["progress"] * 3 + ["error"]
    assert [ev["progress"]["attempt"] for ev in events[1:-1]] == [2, 3, 4]
    assert events[-1]["attempts"] == 4 and events[-1]["error"] == "flaky failure 4"
    assert flaky.calls == 4
    assert [ev["status"] for ev in node_events(result, "p")] == ["skipped"]
    assert result.terminal["type"] == "execution_complete" and result.terminal["failed_nodes"] == ["k"]


def test_max_retries_is_ignored_outside_retry_mode():
    flaky = FlakyCounter(1)
    spec = NodeSpec(name="Flaky", category="Test", execute=flaky, outputs=(PortSpec("value", SCALAR),))
    result = run(start_graph(n("k", "Flaky"), trigger=["k"]), snapshot(spec), error_mode="continue", max_retries=5)
    assert [ev["status"] for ev in node_events(result, "k")] == ["running", "error"]
    assert flaky.calls == 1


# -- cancellation and timeout ---------------------------------------------------------------------


async def start_and_wait_for(executor, graph, status_of, snap=SNAP, **options):
    """Submit, then return (run, collected events) once ``status_of`` = (node, status) appears."""
    run_ = await executor.submit(RunSpec(graph, snap, RunOptions(**options)))
    seen: list[dict] = []
    reached = asyncio.Event()

    def collect(ev):
        seen.append(ev)
        if ev["type"] == "node_status" and (ev["node_id"], ev["status"]) == status_of:
            reached.set()

    run_.subscribe(collect)
    await asyncio.wait_for(reached.wait(), 5)
    return run_, seen


async def test_cancel_mid_node_ends_with_execution_stopped():
    executor = LocalExecutor()
    graph = chain(n("a", "Sleep", seconds=5.0), n("b", "Print"))
    run_, seen = await start_and_wait_for(executor, graph, ("a", "running"))
    t0 = time.perf_counter()
    terminal = await run_.cancel("stop")
    assert time.perf_counter() - t0 < 1.0
    assert terminal["type"] == "execution_stopped" and terminal["reason"] == "stop" and terminal["warnings"] == []
    assert run_.state == "stopped" and seen[-1] is terminal
    assert_well_formed(seen)
    assert not any(ev["type"] == "node_status" and ev["node_id"] == "b" for ev in seen)
    assert [ev["status"] for ev in seen if ev.get("node_id") == "a"] == ["running"]
    # a second cancel is a no-op returning the same terminal
    assert await run_.cancel("superseded") is terminal


async def test_abandoned_body_is_dropped_after_the_grace_period():
    executor = LocalExecutor()
    graph = start_graph(n("st", "Stubborn", seconds=0.3), trigger=["st"])
    run_, seen = await start_and_wait_for(executor, graph, ("st", "running"), cancel_grace_s=0.05)
    t0 = time.perf_counter()
    terminal = await run_.cancel("superseded")
    assert time.perf_counter() - t0 < 0.25
    assert terminal["reason"] == "superseded"
    await asyncio.sleep(0.45)  # the stubborn body finishes and reports progress meanwhile
    assert seen[-1] is terminal and len(run_.event_log) == len(seen)
    assert "st" not in run_.results


async def test_cancel_awaits_a_running_body_for_the_grace_period_and_caches_its_result():
    # c completes first (the run is briefly idle between nodes), then the stubborn body runs.
    env = RunEnvironment(cache=OutputCache())
    spec = NodeSpec(
        name="SlowCached",
        category="Test",
        execute=lambda call: (time.sleep(0.2), {"value": 9})[1],
        inputs=(PortSpec("value", SCALAR),),
        outputs=(PortSpec("value", SCALAR),),
    )
    executor = LocalExecutor(env)
    graph = chain(n("c", "Const"), n("sc", "SlowCached"))
    run_, seen = await start_and_wait_for(executor, graph, ("sc", "running"), snap=snapshot(spec), cancel_grace_s=5)
    t0 = time.perf_counter()
    terminal = await run_.cancel()
    assert 0.1 < time.perf_counter() - t0 < 1.0  # waited for the body, not the whole grace
    assert terminal["type"] == "execution_stopped"
    assert run_.results["sc"] == {"value": 9}
    assert not any(ev.get("node_id") == "sc" and ev["status"] == "completed" for ev in seen)
    # the valid result written during the grace period serves the next run
    again = await executor.submit(RunSpec(graph, snapshot(spec)))
    await again.wait()
    assert [ev["status"] for ev in again.event_log if ev.get("node_id") == "sc"] == ["cached"]


async def test_cancel_during_retry_sleep_is_immediate(monkeypatch):
    monkeypatch.setattr(engine_module, "RETRY_DELAY_S", 0.15)
    flaky = FlakyCounter(10)
    spec = NodeSpec(name="Flaky", category="Test", execute=flaky, outputs=(PortSpec("value", SCALAR),))
    executor = LocalExecutor()
    graph = start_graph(n("k", "Flaky"), trigger=["k"])
    run_, _ = await start_and_wait_for(
        executor, graph, ("k", "progress"), snap=snapshot(spec), error_mode="retry", max_retries=5
    )
    t0 = time.perf_counter()
    terminal = await run_.cancel()
    assert time.perf_counter() - t0 < 0.1 and terminal["type"] == "execution_stopped"
    await asyncio.sleep(0.25)
    assert flaky.calls == 1  # no further attempt after the flag


def test_timeout_stops_the_run():
    t0 = time.perf_counter()
    result = run(chain(n("a", "Sleep", seconds=5.0), n("b", "Print")), timeout_s=0.1)
    assert time.perf_counter() - t0 < 1.5
    assert result.terminal["type"] == "execution_stopped" and result.terminal["reason"] == "timeout"
    assert_well_formed(result.events)
    assert node_events(result, "b") == []


def test_linked_cancel_event_stops_a_nested_run():
    flag = threading.Event()
    threading.Timer(0.1, flag.set).start()
    result = run_graph(chain(n("a", "Sleep", seconds=5.0), n("b", "Print")), SNAP, cancel_event=flag)
    assert result.terminal["type"] == "execution_stopped"
    assert node_events(result, "b") == []


async def test_executor_rejects_active_run_id_and_shuts_down_runs():
    executor = LocalExecutor()
    graph = start_graph(n("a", "Sleep", seconds=5.0), trigger=["a"])
    run_, _ = await start_and_wait_for(executor, graph, ("a", "running"), run_id="r-1")
    with pytest.raises(RunIdInUse):
        await executor.submit(RunSpec(graph, SNAP, RunOptions(run_id="r-1")))
    assert executor.get("r-1") is run_
    await executor.shutdown()
    assert run_.terminal["reason"] == "shutdown"
    assert executor.get("r-1") is None
    # a finished run id may be reused
    again = await executor.submit(RunSpec(start_graph(n("c", "Const"), trigger=["c"]), SNAP, RunOptions(run_id="r-1")))
    assert (await again.wait())["type"] == "execution_complete"


async def test_cancel_by_id_through_the_executor():
    executor = LocalExecutor()
    run_, _ = await start_and_wait_for(executor, start_graph(n("a", "Sleep", seconds=5.0), trigger=["a"]), ("a", "running"))
    terminal = await executor.cancel(run_.run_id, "stop")
    assert terminal["type"] == "execution_stopped"
    assert await executor.cancel("unknown") is None


# -- consumers --------------------------------------------------------------------------------------


async def test_independent_event_iterators_and_subscribers_see_the_same_stream():
    executor = LocalExecutor()
    graph = start_graph(n("c", "Const"), n("p", "Progress", steps=5), trigger=["c", "p"])
    run_ = await executor.submit(RunSpec(graph, SNAP))
    pushed = []
    run_.subscribe(pushed.append)

    async def consume(after=0):
        return [ev async for ev in executor.events(run_, after)]

    first, second = await asyncio.gather(consume(), consume())
    late = await consume()
    replay = []
    run_.subscribe(replay.append, after_seq=3)
    assert first == second == late == pushed == run_.event_log
    assert replay == run_.event_log[3:]
    assert_well_formed(first)


# -- cache ------------------------------------------------------------------------------------------


def test_second_run_with_the_same_cache_serves_cached_results():
    spec, calls = counting()
    snap = snapshot(spec)
    env = RunEnvironment(cache=OutputCache())
    graph = chain(n("a", "Count", offset=1.0), n("b", "Count", offset=2.0), n("p", "Print", label="x"))
    first = run(graph, snap, env)
    assert calls == ["a", "b"]
    second = run(graph, snap, env, record_outputs=True)
    assert calls == ["a", "b"]
    for node_id in ("a", "b", "p"):
        events = node_events(second, node_id)
        assert [ev["status"] for ev in events] == ["cached"]
        assert "elapsed_ms" not in events[0]
    assert node_events(second, "p")[0]["log"] == "[x] 3.0"
    assert second.results == first.results
    assert env.outputs.get(second.run_id, "b", "value") == 3.0


def test_param_change_misses_and_propagates_to_downstream_keys():
    spec, calls = counting()
    snap = snapshot(spec)
    env = RunEnvironment(cache=OutputCache())
    run(chain(n("a", "Count", offset=1.0), n("b", "Count", offset=2.0)), snap, env)
    calls.clear()
    result = run(chain(n("a", "Count", offset=5.0), n("b", "Count", offset=2.0)), snap, env)
    assert calls == ["a", "b"]  # b's key covers a's key
    assert result.results["b"] == {"value": 7.0}


def test_changed_nodes_force_a_run_and_refresh_the_entry():
    spec, calls = counting()
    snap = snapshot(spec)
    env = RunEnvironment(cache=OutputCache())
    graph = chain(n("a", "Count"), n("b", "Count"))
    run(graph, snap, env)
    calls.clear()
    result = run(graph, snap, env, changed_nodes=["b"])
    assert calls == ["b"]
    assert [ev["status"] for ev in node_events(result, "a")] == ["cached"]
    assert [ev["status"] for ev in node_events(result, "b")] == ["running", "completed"]
    calls.clear()
    run(graph, snap, env)
    assert calls == []


def test_verbose_mode_skips_lookup_but_stores_and_backward_mode_bypasses_entirely():
    spec, calls = counting()
    snap = snapshot(spec)
    graph = start_graph(n("a", "Count"), trigger=["a"])
    verbose_env = RunEnvironment(cache=OutputCache())
    run(graph, snap, verbose_env, verbose_mode=True)
    run(graph, snap, verbose_env, verbose_mode=True)
    assert len(calls) == 2 and len(verbose_env.cache) == 2  # Start and a
    run(graph, snap, verbose_env)
    assert len(calls) == 2  # stored by the verbose run

    backward_env = RunEnvironment(cache=OutputCache())
    run(graph, snap, backward_env, backward_mode=True)
    assert len(backward_env.cache) == 0
    run(graph, snap, backward_env)
    run(graph, snap, backward_env, backward_mode=True)
    assert len(calls) == 5  # backward mode never looks up


def test_random_and_uncacheable_nodes_are_never_cached_and_taint_downstream():
    spec, calls = counting()
    snap = snapshot(spec)
    env = RunEnvironment(cache=OutputCache())
    graph = start_graph(
        n("r", "Rand"), n("a", "Count"), n("sl", "Sleep", seconds=0.0), n("b", "Count"),
        edges=[e("r", "value", "a", "value"), e("sl", "value", "b", "value")],
        trigger=["r", "sl"],
    )
    run(graph, snap, env, seed=1)
    second = run(graph, snap, env, seed=1)
    assert len(calls) == 4 and len(env.cache) == 1  # only Start has a key
    assert [ev["status"] for ev in node_events(second, "r")] == ["running", "completed"]


def test_no_cache_means_no_cached_events():
    spec, calls = counting()
    graph = start_graph(n("a", "Count"), trigger=["a"])
    run(graph, snapshot(spec))
    run(graph, snapshot(spec))
    assert len(calls) == 2


def test_non_json_params_run_uncached():
    spec, calls = counting()
    snap = snapshot(spec)
    env = RunEnvironment(cache=OutputCache())
    prepared = prepare(start_graph(n("a", "Count"), trigger=["a"]), snap, run_seed=1)
    odd = next(p for p in prepared.nodes if p.id == "a")
    odd = attrs.evolve(odd, params={**odd.params, "blob": object()})
    prepared = attrs.evolve(prepared, nodes=tuple(odd if p.id == "a" else p for p in prepared.nodes))
    assert run_graph(prepared, snap, None, env).ok
    assert run_graph(prepared, snap, None, env).ok
    assert calls == ["a", "a"]


def test_cache_key_includes_the_device():
    spec, calls = counting()
    snap = snapshot(spec)

    class Devices:
        def resolve_device(self, requested):
            return ("cuda:0", None) if requested.startswith("cuda") else None

    env = RunEnvironment(cache=OutputCache(), extensions=[Devices()])
    graph = start_graph(n("a", "Count"), trigger=["a"])
    run(graph, snap, env, device="cpu")
    cuda = run(graph, snap, env, device="cuda")
    assert cuda.events[0]["device"] == "cuda:0"
    assert len(calls) == 2


# -- presets ----------------------------------------------------------------------------------------


DOUBLE = {
    "preset_name": "Double",
    "nodes": [
        {"id": "a", "type": "Scale", "params": {"factor": 2.0}},
        {"id": "b", "type": "Progress", "params": {"steps": 2}},
        {"id": "c", "type": "Scale", "params": {"factor": 1.0}},
    ],
    "edges": [{"source": "a", "sourceHandle": "value", "target": "c", "targetHandle": "value"}],
    "exposed_inputs": [{"name": "in", "internal_node": "a", "internal_port": "value"}],
    "exposed_outputs": [{"name": "out", "internal_node": "c", "internal_port": "value"}],
    "exposed_params": [],
}


def preset_graph(preset=DOUBLE):
    return start_graph(
        n("k", "Const", value=3.0),
        {"id": "p", "type": "preset:Double", "data": {"params": {}}},
        n("o", "Print"),
        edges=[e("k", "value", "p", "in"), e("p", "out", "o", "value")],
        trigger=["k"],
    ) | {"presets": [preset]}


def test_preset_members_are_aggregated_under_the_instance():
    result = run(preset_graph(), record_outputs=True)
    assert result.ok
    instance = node_events(result, "p")
    statuses = [ev["status"] for ev in instance]
    assert statuses[0] == "running" and statuses[-1] == "completed"
    assert statuses.count("running") == 1 and statuses.count("completed") == 1
    assert instance[0]["member"] in ("a", "b")
    assert "outputs" not in instance[-1] and "member" not in instance[-1]
    progress = [ev for ev in instance if ev["status"] == "progress"]
    assert len(progress) == 2 and all(ev["member"] == "b" for ev in progress)
    assert not any(ev["node_id"].startswith("p__") for ev in node_events(result))
    assert result.results["p__c"] == {"value": 6.0} and result.results["o"]["value"] == 6.0
    assert result.results["p__b"] == {"value": 2}


def test_preset_outputs_are_recorded_under_expanded_ids():
    env = RunEnvironment()
    result = run(preset_graph(), env=env, record_outputs=True)
    ports = env.outputs.ports(result.run_id)
    assert ports["p__c"] == ["value"] and ports["p__a"] == ["value"] and "p" not in ports


def test_preset_member_failure_is_reported_under_the_instance():
    broken = dict(DOUBLE, nodes=[*DOUBLE["nodes"][:2], {"id": "c", "type": "Fail", "params": {"message": "inner"}}])
    broken["edges"] = [{"source": "a", "sourceHandle": "value", "target": "c", "targetHandle": "value"}]
    broken["exposed_outputs"] = [{"name": "out", "internal_node": "c", "internal_port": "value"}]
    result = run(preset_graph(broken))
    err = [ev for ev in node_events(result, "p") if ev["status"] == "error"]
    assert len(err) == 1 and err[0]["member"] == "c" and err[0]["error"] == "inner"
    assert result.terminal["node_id"] == "p" and result.terminal["error"] == "inner"

    result = run(preset_graph(broken), error_mode="continue")
    assert result.terminal["failed_nodes"] == ["p"]
    assert [ev["status"] for ev in node_events(result, "o")] == ["skipped"]
    assert "completed" not in [ev["status"] for ev in node_events(result, "p")]


def test_changed_nodes_naming_an_instance_force_its_members():
    env = RunEnvironment(cache=OutputCache())
    run(preset_graph(), env=env)
    again = run(preset_graph(), env=env, changed_nodes=["p"])
    statuses = [ev["status"] for ev in node_events(again, "p")]
    assert "progress" in statuses  # b ran again instead of being served from the cache
    assert [ev["status"] for ev in node_events(again, "k")] == ["cached"]


# -- extensions, warnings, recording -------------------------------------------------------------


class Recorder:
    name = "recorder"

    def __init__(self):
        self.calls = []
        self.threads = []

    def resolve_device(self, requested):
        return None

    def before_run(self, run):
        self.calls.append(("before_run", run.run_id))

    @contextmanager
    def _ctx(self, call):
        self.threads.append(threading.get_ident())
        self.calls.append(("enter", call.node_id))
        yield
        self.calls.append(("exit", call.node_id))

    def node_context(self, call, run):
        return self._ctx(call)

    def after_node(self, run, node_id, result):
        self.calls.append(("after_node", node_id))

    def after_run(self, run):
        self.calls.append(("after_run", tuple(run.executed)))
        run.record("c", "extra__grad", 42)
        return ["backward_failed: nothing to do"]

    def value_nbytes(self, value):
        return 1000


def test_run_extensions_are_called_around_nodes_and_the_run():
    rec = Recorder()
    env = RunEnvironment(extensions=[rec], cache=OutputCache(max_bytes=1500))
    result = run(chain(n("c", "Const"), n("x", "Scale")), env=env, max_workers=1)
    names = [c[0] for c in rec.calls]
    assert names[0] == "before_run" and names[-1] == "after_run"
    assert ("enter", "c") in rec.calls and rec.calls.index(("exit", "c")) < rec.calls.index(("after_node", "c"))
    assert rec.calls[-1] == ("after_run", ("s", "c", "x"))
    assert threading.get_ident() not in rec.threads
    assert result.terminal["warnings"] == ["backward_failed: nothing to do"]
    assert env.outputs.get(result.run_id, "c", "extra__grad") == 42
    # value_nbytes feeds the byte budget: c and x hold 1000 bytes each, so storing x evicts
    # least recently used entries (Start, then c) until the total fits
    assert env.cache.nbytes == 1000 and len(env.cache) == 1


def test_failing_extension_hooks_become_warnings_not_failures():
    class Broken:
        name = "broken"

        def before_run(self, run):
            raise RuntimeError("before")

        def after_node(self, run, node_id, result):
            raise RuntimeError("after")

    result = run(start_graph(n("c", "Const"), trigger=["c"]), env=RunEnvironment(extensions=[Broken()]))
    assert result.ok
    assert "extension_error: broken.before_run: before" in result.terminal["warnings"]
    assert any("broken.after_node" in w for w in result.terminal["warnings"])


def test_device_fallback_and_weights_not_persisted_warnings():
    graph = start_graph(n("l", "Layer"), trigger=["l"])
    result = run(graph, device="cuda")
    warnings = result.events[0]["warnings"]
    assert result.events[0]["device"] == "cpu"
    assert any(w.startswith("device_fallback") for w in warnings)
    assert any(w.startswith("weights_not_persisted") for w in warnings)
    with_id = run(graph, graph_id="tab")
    assert not any(w.startswith("weights_not_persisted") for w in with_id.events[0]["warnings"])


def test_stateful_modules_persist_per_graph_id():
    env = RunEnvironment(modules=ModuleStore())
    graph = start_graph(n("l", "Layer"), trigger=["l"])
    one = run(graph, env=env, graph_id="tab")
    two = run(graph, env=env, graph_id="tab")
    assert one.results["l"]["module"] is two.results["l"]["module"]
    fresh = run(graph, env=env, graph_id="tab", weights_persistent=False)
    assert fresh.results["l"]["module"] is not one.results["l"]["module"]
    assert env.modules.node_ids("tab") == ["l"]


def test_record_outputs_writes_visible_ports_and_reused_run_id_starts_clean():
    env = RunEnvironment()
    graph = chain(n("c", "Const", value=2.0), n("p", "Print"))
    result = run(graph, env=env, record_outputs=True, run_id="rec-1")
    assert env.outputs.ports("rec-1") == {"c": ["value"], "p": ["value"]}
    assert env.outputs.get("rec-1", "p", "__log__") is None
    assert result.ok
    run(start_graph(n("c", "Const"), trigger=["c"]), env=env, record_outputs=True, run_id="rec-1")
    assert "p" not in env.outputs.ports("rec-1")
    run(graph, env=env, run_id="rec-2")
    assert not env.outputs.has_run("rec-2")


def test_step_traces_are_flattened_when_recording():
    def traced(call):
        steps = [{"name": "s0", "description": "d", "tensors": {"T": [1, 2]}, "scalars": {"k": 1.0}}]
        return {"value": 1, "__steps__": steps if call.options["verbose"] else []}

    spec = NodeSpec(name="Traced", category="Test", execute=traced, outputs=(PortSpec("value", SCALAR),))
    env = RunEnvironment()
    result = run(start_graph(n("t", "Traced"), trigger=["t"]), snapshot(spec), env, record_outputs=True, verbose_mode=True)
    assert env.outputs.get(result.run_id, "t", "__step__0__T") == [1, 2]
    assert env.outputs.get(result.run_id, "t", "__step__0__meta") == {
        "name": "s0",
        "description": "d",
        "scalars": {"k": 1.0},
        "tensor_keys": ["T"],
    }


def test_long_logs_are_truncated():
    def chatty(call):
        return {"__log__": "x" * 70_000}

    spec = NodeSpec(name="Chatty", category="Test", execute=chatty)
    result = run(start_graph(n("c", "Chatty"), trigger=["c"]), snapshot(spec))
    text = node_events(result, "c")[-1]["log"]
    assert len(text) == 65_536 and text.endswith("…[truncated]")
    assert result.results["c"]["__log__"] == "x" * 70_000


async def test_run_graph_inside_a_running_loop_uses_its_own_thread():
    result = run_graph(start_graph(n("c", "Const", value=4.0), trigger=["c"]), SNAP)
    assert result.ok and result.results["c"] == {"value": 4.0}


def test_a_crash_while_preparing_still_gives_start_then_error():
    # RunOptions built directly skips parsing; prepare() rejects the seed by raising.
    result = run_graph(start_graph(n("c", "Const"), trigger=["c"]), SNAP, RunOptions(seed=-1))
    assert [ev["type"] for ev in result.events] == ["execution_start", "execution_error"]
    assert result.terminal["error"].startswith("Graph preparation failed")
    assert result.terminal["node_id"] is None and result.terminal["errors"] == [result.terminal["error"]]


async def test_cancel_threadsafe_from_another_thread():
    executor = LocalExecutor()
    run_, _ = await start_and_wait_for(executor, start_graph(n("a", "Sleep", seconds=5.0), trigger=["a"]), ("a", "running"))
    threading.Timer(0.05, run_.cancel_threadsafe, args=("disconnect",)).start()
    terminal = await asyncio.wait_for(run_.wait(), 2)
    assert terminal["type"] == "execution_stopped" and terminal["reason"] == "disconnect"


def test_release_callback_runs_once_when_the_run_ends():
    released = []

    async def main():
        executor = LocalExecutor()
        spec = RunSpec(start_graph(n("c", "Const"), trigger=["c"]), SNAP, release=lambda: released.append(1))
        run_ = await executor.submit(spec)
        await run_.wait()
        await run_.cancel()

    asyncio.run(main())
    assert released == [1]


def test_executor_registry():
    from nodeloom.kernel.executors import ExecutorRegistry

    registry = ExecutorRegistry()
    local = LocalExecutor()
    registry.register("local", local)
    assert registry.get() is local and registry.names() == ["local"] and "local" in registry
    with pytest.raises(ValueError):
        registry.register("local", LocalExecutor())
    with pytest.raises(TypeError):
        registry.register("bogus", object())
    with pytest.raises(KeyError):
        registry.get("ray")


async def test_a_subscriber_may_cancel_from_inside_its_callback():
    executor = LocalExecutor()
    graph = chain(n("a", "Const"), n("b", "Sleep", seconds=5.0), n("c", "Print"))
    run_ = await executor.submit(RunSpec(graph, SNAP))

    def on_event(ev):
        if ev["type"] == "node_status" and ev["node_id"] == "a" and ev["status"] == "completed":
            run_.request_cancel("stop")  # re-entrant: called while the sink delivers events

    run_.subscribe(on_event)
    terminal = await asyncio.wait_for(run_.wait(), 2)
    assert terminal["type"] == "execution_stopped"
    assert_well_formed(run_.event_log)
    assert not any(ev.get("node_id") == "c" for ev in run_.event_log)


async def test_event_sink_orders_concurrent_emits_and_closes_on_the_terminal():
    from nodeloom.kernel.events import EventSink, truncate_log

    sink = EventSink("r")
    sink.bind(asyncio.get_running_loop())
    got = []
    sink.subscribe(got.append)

    def spam(tag):
        for i in range(200):
            sink.emit("node_status", {"node_id": tag, "status": "progress", "progress": {"i": i}})

    threads = [threading.Thread(target=spam, args=(t,)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.emit("execution_complete", {"elapsed_ms": 1, "failed_nodes": [], "warnings": []})
    assert sink.emit("node_status", {"node_id": "late"}) is None
    await asyncio.sleep(0.05)  # deliveries posted by the threads run on the loop
    assert [ev["seq"] for ev in got] == list(range(1, 602))
    for tag in "abc":
        assert [ev["progress"]["i"] for ev in got if ev.get("node_id") == tag] == list(range(200))
    assert got[-1]["type"] == "execution_complete" and sink.terminal is got[-1]
    late = []
    sink.subscribe(late.append, after_seq=599)
    assert [ev["seq"] for ev in late] == [600, 601]
    assert truncate_log("abc") == "abc" and len(truncate_log("x" * 70_000)) == 65_536
