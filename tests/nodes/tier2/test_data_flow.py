"""Data Flow nodes (nodes.md §3.6): Map through the real engine, Reduce and Switch."""

from __future__ import annotations

import json
import threading
from typing import Any

import attrs
import pytest
import torch
import torch.nn.functional as F

from nodeloom.kernel import DataDir, NodePaths, NodeSpec, PortSpec
from nodeloom.kernel.engine import RunEnvironment, RunResult, run_graph
from nodeloom.kernel.options import parse_run_options
from nodeloom.kernel.outputs import RunOutputStore
from nodeloom.kernel.registry import NodeEntry
from nodeloom.kernel.seeds import node_seed
from nodeloom.kernel.state import ModuleStore
from nodeloom.plugins.core_nodes.nodes import data_flow
from nodeloom.testing import NodeRunFailed, make_kernel, run_node
from nodeloom.torchkit import seeded

from ..helpers import call_node

DOUBLE_DROP = {
    "preset_name": "Double Then Drop",
    "nodes": [
        {"id": "m", "type": "ScalarMultiply", "params": {"scalar": 2.0}},
        {"id": "d", "type": "Dropout", "params": {"p": 0.5}},
    ],
    "edges": [{"source": "m", "sourceHandle": "tensor", "target": "d", "targetHandle": "tensor"}],
    "exposed_inputs": [{"name": "x", "internal_node": "m", "internal_port": "tensor"}],
    "exposed_outputs": [{"name": "y", "internal_node": "d", "internal_port": "tensor"}],
}
LINEAR = {
    "preset_name": "Tiny Linear",
    "nodes": [{"id": "fc", "type": "Linear", "params": {"in_features": 3, "out_features": 2}}],
    "edges": [],
    "exposed_inputs": [{"name": "x", "internal_node": "fc", "internal_port": "tensor"}],
    "exposed_outputs": [{"name": "y", "internal_node": "fc", "internal_port": "tensor"}],
}
NO_OUTPUT = {
    "preset_name": "Sink",
    "nodes": [{"id": "p", "type": "Print", "params": {}}],
    "edges": [],
    "exposed_inputs": [{"name": "x", "internal_node": "p", "internal_port": "value"}],
    "exposed_outputs": [],
}
SPLITTER = {
    "preset_name": "Halves",
    "nodes": [{"id": "s", "type": "Split", "params": {"chunks": 2, "dim": 0}}],
    "edges": [],
    "exposed_inputs": [{"name": "x", "internal_node": "s", "internal_port": "tensor"}],
    "exposed_outputs": [{"name": "second", "internal_node": "s", "internal_port": "chunk_1"}],
}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = DataDir(tmp_path_factory.mktemp("map") / "data").ensure()
    for preset in (DOUBLE_DROP, LINEAR, NO_OUTPUT):
        (data.area("presets") / f"{preset['preset_name']}.json").write_text(json.dumps(preset))
    return make_kernel(builtin=True, data_dir=data)


def _feeder(value: Any) -> NodeEntry:
    spec = NodeSpec(name="ListFeeder", category="Testing", execute=lambda call: {"value": value},
                    outputs=(PortSpec("value", "LIST"),), cacheable=False)
    return NodeEntry(spec=spec, key="ListFeeder", provider="builtin", pack_id="nodeloom",
                     pack_version="test", code_digest="0" * 64)


def run_map(kernel: Any, items: Any, subgraph: str, *, presets: list | None = None,
            on_event: Any = None, cancel_event: threading.Event | None = None,
            modules: ModuleStore | None = None, outputs: RunOutputStore | None = None,
            **options: Any) -> RunResult:
    """Run start -> ListFeeder(items) -> Map through the engine with the kernel's extensions."""
    snapshot = attrs.evolve(kernel.snapshot, nodes={**kernel.snapshot.nodes, "ListFeeder": _feeder(items)})
    graph = {
        "nodes": [
            {"id": "start", "type": "Start"},
            {"id": "feed", "type": "ListFeeder"},
            {"id": "map", "type": "Map", "data": {"params": {"subgraph": subgraph}}},
        ],
        "edges": [
            {"source": "start", "sourceHandle": "trigger", "target": "feed", "type": "trigger"},
            {"source": "feed", "sourceHandle": "value", "target": "map", "targetHandle": "items"},
        ],
        "presets": presets or [],
    }
    env = RunEnvironment(extensions=list(kernel.run_extensions), paths=NodePaths(kernel.data_dir),
                         modules=modules if modules is not None else ModuleStore(),
                         outputs=outputs if outputs is not None else RunOutputStore())
    opts = parse_run_options({"seed": 0, **options})
    return run_graph(graph, snapshot, opts, env, on_event, cancel_event=cancel_event)


def test_map_runs_the_preset_once_per_item_with_sub_run_node_seeds(kernel):
    items = [torch.ones(6), torch.full((6,), 3.0)]
    out = run_node(kernel, "Map", {"items": items}, {"subgraph": "Double Then Drop"})
    assert out["count"] == 2.0 and isinstance(out["count"], float)
    for i, item in enumerate(items):
        # engine.md §4.10: Map sub-run nodes are named <map id>[<i>]__<internal id>.
        with seeded(node_seed(0, f"node[{i}]__d")):
            expected = F.dropout(item * 2, 0.5, training=True)
        assert torch.equal(out["results"][i], expected)


def test_map_reports_progress_after_each_item(kernel):
    events: list[dict] = []
    result = run_map(kernel, [torch.ones(2)] * 3, "Double Then Drop", on_event=events.append)
    assert result.ok, result.terminal
    progress = [e["progress"] for e in events if e.get("status") == "progress" and e["node_id"] == "map"]
    assert progress == [{"event": "map", "index": i, "total": 3} for i in range(3)]


def test_map_uses_presets_embedded_in_the_graph(kernel):
    result = run_map(kernel, [torch.arange(4.0), torch.arange(6.0)], "Halves", presets=[SPLITTER])
    assert result.ok, result.terminal
    got = result.results["map"]["results"]
    assert [t.tolist() for t in got] == [[2.0, 3.0], [3.0, 4.0, 5.0]]


def test_map_persists_one_module_per_item_under_sub_run_ids(kernel):
    store = ModuleStore()
    x = torch.ones(1, 3)
    result = run_map(kernel, [x, x], "Tiny Linear", modules=store, graph_id="g1")
    assert result.ok, result.terminal
    assert sorted(store.node_ids("g1")) == ["map[0]__fc", "map[1]__fc"]
    first, second = result.results["map"]["results"]
    assert not torch.equal(first, second)  # different node seeds build different weights
    again = run_map(kernel, [x, x], "Tiny Linear", modules=store, graph_id="g1", seed=99)
    assert torch.equal(again.results["map"]["results"][0], first)  # persisted, not rebuilt


def test_map_results_carry_gradients_to_sub_run_modules(kernel):
    store, outputs = ModuleStore(), RunOutputStore()
    result = run_map(kernel, [torch.ones(1, 3), torch.ones(2, 3)], "Tiny Linear", modules=store,
                     outputs=outputs, graph_id="g2", backward_mode=True, auto_backward=True, run_id="bw-map")
    assert result.ok, result.terminal
    assert all(t.requires_grad for t in result.results["map"]["results"])
    # auto_backward sums the largest output (item 1: two rows), so d/dW = 2 for every weight.
    grad = outputs.get("bw-map", "map[1]__fc", "__weight_grad__weight")
    assert torch.equal(grad, torch.full((2, 3), 2.0))
    assert outputs.get("bw-map", "map[0]__fc", "__weight_grad__weight") is None


def test_map_of_an_empty_list_runs_nothing(kernel):
    out = run_node(kernel, "Map", {"items": []}, {"subgraph": "Double Then Drop"})
    assert out == {"results": [], "count": 0.0}


@pytest.mark.parametrize(
    ("items", "subgraph", "message"),
    [
        (torch.ones(3), "Double Then Drop", "Map expects a list input, got Tensor"),
        ([torch.ones(1)], "", "subgraph param must name a preset"),
        ([torch.ones(1)], "Nope", "preset 'Nope' not found"),
        ([torch.ones(1)], "Sink", "exposes no output"),
        (["text"], "Double Then Drop", "Map: item 0 failed at node[0]__m"),
    ],
)
def test_map_errors(kernel, items, subgraph, message):
    with pytest.raises(NodeRunFailed) as info:
        run_node(kernel, "Map", {"items": items}, {"subgraph": subgraph})
    assert message in str(info.value)


def test_map_reports_an_item_whose_output_was_not_produced(kernel):
    result = run_map(kernel, [torch.ones(1)], "Halves", presets=[SPLITTER])
    assert not result.ok
    assert "Subgraph did not produce output for item 0" in result.terminal["error"]


def test_map_stops_when_the_run_is_cancelled(kernel):
    cancel = threading.Event()

    def on_event(event: dict) -> None:
        if event.get("status") == "progress":
            cancel.set()

    result = run_map(kernel, [torch.ones(2)] * 20, "Double Then Drop", on_event=on_event,
                     cancel_event=cancel)
    assert result.terminal["type"] == "execution_stopped"
    assert "map" not in result.results


def test_map_needs_the_engine():
    with pytest.raises(ValueError, match="only inside the engine"):
        call_node(data_flow.map_node, {"items": [1]}, subgraph="x")


# -- Reduce ---------------------------------------------------------------------------------------

ITEMS = [torch.tensor([1.0, 5.0]), torch.tensor([3.0, -1.0]), torch.tensor([2.0, 2.0])]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("sum", torch.stack(ITEMS).sum(0)),
        ("mean", torch.stack(ITEMS).mean(0)),
        ("min", torch.stack(ITEMS).min(0).values),
        ("max", torch.stack(ITEMS).max(0).values),
        ("concat", torch.cat(ITEMS, 0)),
        ("stack", torch.stack(ITEMS, 0)),
    ],
)
def test_reduce_operations(operation, expected):
    out = call_node(data_flow.reduce_node, {"items": ITEMS}, operation=operation)
    assert torch.equal(out["result"], expected)
    assert out["count"] == 3.0


def test_reduce_first_and_last_return_items_unchanged():
    items = ["a", {"b": 1}, 3]
    assert call_node(data_flow.reduce_node, {"items": items}, operation="first")["result"] == "a"
    assert call_node(data_flow.reduce_node, {"items": items}, operation="last")["result"] == 3


def test_reduce_numbers_and_dim():
    out = call_node(data_flow.reduce_node, {"items": [1, 2.5, 4]}, operation="sum")["result"]
    assert out.dtype == torch.float32 and out.item() == 7.5
    a, b = torch.ones(2, 3), torch.zeros(2, 1)
    assert call_node(data_flow.reduce_node, {"items": [a, b]}, operation="concat", dim=1)["result"].shape == (2, 4)


def test_reduce_errors():
    with pytest.raises(ValueError, match="Reduce received an empty list"):
        call_node(data_flow.reduce_node, {"items": []})
    with pytest.raises(ValueError, match="item 1 is a str"):
        call_node(data_flow.reduce_node, {"items": [1, "x"]}, operation="sum")


# -- Switch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [(0, "zero"), (1, "one"), (2.9, "two"), (torch.tensor(1), "one"), (3, "zero"), (7, "zero"), (-1, "zero")],
)
def test_switch_forwards_the_selected_input(selector, expected):
    inputs = {"selector": selector, "input_0": "zero", "input_1": "one", "input_2": "two"}
    assert call_node(data_flow.switch, inputs)["output"] == expected


def test_switch_falls_back_when_the_choice_is_none():
    assert call_node(data_flow.switch, {"selector": 1, "input_0": 5, "input_1": None})["output"] == 5
