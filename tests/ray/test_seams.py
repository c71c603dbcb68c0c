"""The generic kernel seams the Ray executor is built on, exercised without Ray.

A :class:`~nodeloom.kernel.executors.NodeRunner` on the run environment takes the nodes it wants
and everything else about the run (events, retries, cancellation) stays the engine's; the
``executor`` run option is parsed by shape only; executor names are checked against a mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from nodeloom.kernel import NodeSpec, PortSpec, RegistrySnapshot
from nodeloom.kernel.engine import RunEnvironment, run_graph
from nodeloom.kernel.executors import NodeRunner, executor_problem
from nodeloom.kernel.options import InvalidRunOption, parse_run_options
from nodeloom.kernel.registry import NodeEntry


def _entry(spec: NodeSpec) -> NodeEntry:
    return NodeEntry(spec=spec, key=spec.name, provider="builtin", pack_id="nodeloom", pack_version="t",
                     code_digest="0" * 64)


START = NodeSpec(name="Start", category="Control", execute=lambda c: {}, outputs=(PortSpec("trigger", "TRIGGER"),))
SOURCE = NodeSpec(name="Source", category="T", execute=lambda c: {"value": 20}, outputs=(PortSpec("value", "SCALAR"),))


def _placed(call: Any) -> dict[str, Any]:
    if call.inputs["value"] < 0:
        raise ArithmeticError("negative")
    return {"value": call.inputs["value"] + 1}


async def _placed_async(call: Any) -> dict[str, Any]:
    return {"value": call.inputs["value"] * 2}


PLACED = NodeSpec(name="Placed", category="T", execute=_placed, resources={"gpu": 1},
                  inputs=(PortSpec("value", "SCALAR"),), outputs=(PortSpec("value", "SCALAR"),))
PLACED_ASYNC = NodeSpec(name="PlacedAsync", category="T", execute=_placed_async, resources={"gpu": 1},
                        inputs=(PortSpec("value", "SCALAR"),), outputs=(PortSpec("value", "SCALAR"),))
SNAP = RegistrySnapshot(generation=1, nodes={s.name: _entry(s) for s in (START, SOURCE, PLACED, PLACED_ASYNC)})


class Recorder:
    """Runs taken bodies in the worker thread, as a remote runner would block it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def takes(self, entry: NodeEntry) -> bool:
        return bool(entry.spec.resources)

    def run(self, call: Any, entry: NodeEntry, run: Any) -> Mapping[str, Any]:
        self.calls.append((call.node_id, threading.current_thread().name))
        result = entry.spec.execute(call)
        if hasattr(result, "__await__"):
            import asyncio

            result = asyncio.run(_wait(result))
        return result


async def _wait(awaitable: Any) -> Any:
    return await awaitable


def _graph(*chain: str) -> dict[str, Any]:
    nodes = [{"id": "s", "type": "Start"}, {"id": "src", "type": "Source"}]
    edges = [{"source": "s", "sourceHandle": "trigger", "target": "src", "targetHandle": "", "type": "trigger"}]
    prev = "src"
    for i, node_type in enumerate(chain):
        nodes.append({"id": f"n{i}", "type": node_type})
        edges.append({"source": prev, "sourceHandle": "value", "target": f"n{i}", "targetHandle": "value"})
        prev = f"n{i}"
    return {"nodes": nodes, "edges": edges}


def test_a_node_runner_takes_hinted_nodes_and_the_engine_does_the_rest() -> None:
    runner = Recorder()
    assert isinstance(runner, NodeRunner)
    result = run_graph(_graph("Placed", "PlacedAsync"), SNAP, {"seed": 0}, env=RunEnvironment(node_runner=runner))
    assert result.ok, result.terminal
    assert [c[0] for c in runner.calls] == ["n0", "n1"]
    assert all(name.startswith("nodeloom-") for _, name in runner.calls)  # a run worker thread
    assert result.results["n1"] == {"value": 42}
    assert result.statuses("n0") == ["running", "completed"]
    plain = run_graph(_graph("Placed", "PlacedAsync"), SNAP, {"seed": 0})  # no runner: same outcome
    assert plain.results["n1"] == result.results["n1"]


def test_what_a_runner_raises_is_the_nodes_error() -> None:
    negative = NodeSpec(name="Source", category="T", execute=lambda c: {"value": -5},
                        outputs=(PortSpec("value", "SCALAR"),))
    snap = RegistrySnapshot(generation=1, nodes={**SNAP.nodes, "Source": _entry(negative)})
    result = run_graph(_graph("Placed"), snap, {"seed": 0}, env=RunEnvironment(node_runner=Recorder()))
    error = result.node_events("n0")[-1]
    assert error["status"] == "error" and error["error_type"] == "ArithmeticError" and error["error"] == "negative"
    assert result.terminal["type"] == "execution_error" and result.terminal["node_id"] == "n0"


def test_the_executor_option_is_parsed_by_shape_and_names_are_checked_by_the_caller() -> None:
    assert parse_run_options({"executor": " ray "}).executor == "ray"
    assert parse_run_options({"executor": ""}).executor is None
    assert parse_run_options({}).executor is None
    with pytest.raises(InvalidRunOption) as bad:
        parse_run_options({"executor": 3})
    assert bad.value.problems[0]["loc"] == ["executor"]
    opts = parse_run_options({"executor": "ray", "seed": 1})
    assert parse_run_options(opts.as_dict()) == opts

    class Off:
        unavailable_reason = "needs a cluster"

    executors = {"local": object(), "off": Off()}
    assert executor_problem(executors, "local") is None
    assert executor_problem(executors, "nope") == "unknown executor 'nope' (available: local, off)"
    assert executor_problem(executors, "off") == "executor 'off' is unavailable: needs a cluster"
