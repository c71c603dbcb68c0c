"""Run preparation (engine.md §4.1 steps 1-6): E, levels, effective params, seeds."""

from __future__ import annotations

import hashlib
import math

import pytest

from nodeloom.kernel.call import NodeCall
from nodeloom.kernel.graph import GraphEdge, GraphNode, graph_from_dict
from nodeloom.kernel.prepare import analyse, executable_set, levels, prepare, validate_graph
from nodeloom.kernel.seeds import check_run_seed, draw_run_seed, node_seed

from .support import START, e, example_graph, example_snapshot, make_snapshot, n, start_graph


def reference_seed(run_seed: int, node_id: str) -> int:
    digest = hashlib.sha256(f"nodeloom-seed-v1:{run_seed}:{node_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


def run_sequentially(prepared):
    """A minimal single-worker executor over a PreparedGraph: level order, last edge wins."""
    outputs: dict[str, dict] = {}
    for node in prepared.nodes:
        inputs = {}
        for edge in prepared.edges:
            if edge.target == node.id and edge.source_handle in outputs.get(edge.source, {}):
                inputs[edge.target_handle] = outputs[edge.source][edge.source_handle]
        call = NodeCall(node_id=node.id, node_type=node.type, inputs=inputs, params=node.params, seed=node.seed)
        outputs[node.id] = dict(node.entry.spec.execute(call))
    return outputs


# -- seeds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("run_seed", "node_id"), [(0, "a"), (12345, "blk__scale"), (2**63 - 1, "map[3]__x"), (7, "ü")])
def test_node_seed_matches_the_formula(run_seed, node_id):
    assert node_seed(run_seed, node_id) == reference_seed(run_seed, node_id)


def test_node_seed_known_value():
    # sha256("nodeloom-seed-v1:42:n1")[:8] as a big-endian integer, reduced mod 2**63.
    digest = hashlib.sha256(b"nodeloom-seed-v1:42:n1").hexdigest()
    assert node_seed(42, "n1") == int(digest[:16], 16) & (2**63 - 1)
    assert node_seed(42, "n1") != node_seed(43, "n1") != node_seed(42, "n2")


def test_draw_and_check_run_seed():
    seeds = {draw_run_seed() for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= s < 2**63 for s in seeds)
    assert check_run_seed(5) == 5
    for bad in (-1, 2**63, True, 1.0, "3"):
        with pytest.raises(ValueError):
            check_run_seed(bad)


# -- the §1.9 example -------------------------------------------------------------------------


def test_example_prepares_in_level_order_with_bookkeeping():
    prepared = prepare(example_graph(), example_snapshot(), run_seed=1234)
    assert prepared.report.valid and prepared.run_seed == 1234
    assert prepared.name == "scaled-softmax"
    assert [(p.id, p.level) for p in prepared.nodes] == [
        ("start", 0), ("x", 0), ("blk__scale", 1), ("blk__sm", 2), ("show", 3), ("result", 4)
    ]
    assert prepared.levels == (("start", "x"), ("blk__scale",), ("blk__sm",), ("show",), ("result",))
    scale = prepared.node("blk__scale")
    assert (scale.instance, scale.member, scale.type) == ("blk", "scale", "ScalarMultiply")
    assert prepared.node("show").instance is None
    assert dict(scale.params) == {"scalar": 0.5}
    assert all(p.seed == reference_seed(1234, p.id) for p in prepared.nodes)
    assert [(x.source, x.target, x.id) for x in prepared.edges] == [
        ("x", "blk__scale", "d1"), ("blk__sm", "show", "d2"), ("show", "result", "d3"), ("blk__scale", "blk__sm", None)
    ]
    assert prepared.expansion == {"blk__scale": ("blk", "scale"), "blk__sm": ("blk", "sm")}
    # The expanded graph keeps the draft but not the note.
    assert prepared.graph.node_ids() == ["start", "x", "blk__scale", "blk__sm", "show", "result", "draft"]


def test_example_values():
    outputs = run_sequentially(prepare(example_graph(), example_snapshot(), run_seed=0))
    row = [math.exp(0.5) / (math.exp(0.5) + math.exp(1.0)), math.exp(1.0) / (math.exp(0.5) + math.exp(1.0))]
    result = outputs["result"]["value"]
    assert len(result) == 2 and all(r == pytest.approx(row) for r in result)
    assert result[0] == pytest.approx([0.37754068, 0.62245935], abs=1e-7)
    assert "[probs]" in outputs["show"]["__log__"]


def test_prepare_accepts_a_parsed_graph():
    graph = graph_from_dict(example_graph())
    prepared = prepare(graph, example_snapshot(), run_seed=9)
    assert [p.id for p in prepared.nodes][:2] == ["start", "x"]


def test_drawn_run_seed_is_reported_and_used():
    prepared = prepare(example_graph(), example_snapshot())
    assert 0 <= prepared.run_seed < 2**63
    assert prepared.node("x").seed == reference_seed(prepared.run_seed, "x")
    with pytest.raises(ValueError):
        prepare(example_graph(), example_snapshot(), run_seed=-5)


# -- invalid graphs ---------------------------------------------------------------------------


def test_invalid_graph_has_report_and_no_nodes():
    prepared = prepare(start_graph(n("a", "Add"), trigger=["a"]), make_snapshot(), run_seed=1)
    assert not prepared.report.valid
    assert prepared.nodes == () and prepared.edges == () and prepared.levels == ()
    assert prepared.report.errors == ["Missing required input 'a' on node a (Add)"]
    assert prepared.graph is not None


def test_schema_error_gives_report_only():
    prepared = prepare({"nodes": "x", "edges": []}, make_snapshot(), run_seed=1)
    assert [i.code for i in prepared.report.issues] == ["invalid_graph"]
    assert prepared.graph is None and prepared.nodes == ()


def test_validate_graph_matches_prepare():
    raw = start_graph(n("c", "Const"), n("a", "Add"), n("d", "Add"), edges=[e("c", "value", "a", "a")], trigger=["c"])
    assert validate_graph(raw, make_snapshot()) == prepare(raw, make_snapshot(), run_seed=1).report


# -- effective params -------------------------------------------------------------------------


def test_effective_params_defaults_normalisation_and_passthrough():
    raw = start_graph(
        n("c", "Const", value=3),
        n("x", "Scale", count=3.0, factor=2, extra=[1]),
        edges=[e("c", "value", "x", "value")],
        trigger=["c"],
    )
    prepared = prepare(raw, make_snapshot(), run_seed=1)
    assert prepared.report.valid
    params = dict(prepared.node("x").params)
    assert params == {"factor": 2.0, "mode": "fast", "count": 3, "enabled": True, "extra": [1]}
    assert type(params["count"]) is int and type(params["factor"]) is float
    assert type(prepared.node("c").params["value"]) is float
    assert [i.code for i in prepared.report.issues] == ["unknown_param"]


# -- executable set and levels ----------------------------------------------------------------


PIPE = {
    "preset_name": "Pipe",
    "nodes": [
        {"id": "src", "type": "Const", "params": {"value": 2.0}},
        {"id": "add", "type": "Add", "params": {}},
        {"id": "scale", "type": "Scale", "params": {}},
    ],
    "edges": [
        {"source": "src", "sourceHandle": "value", "target": "add", "targetHandle": "b"},
        {"source": "add", "sourceHandle": "value", "target": "scale", "targetHandle": "value"},
    ],
    "exposed_inputs": [{"name": "in", "internal_node": "add", "internal_port": "a"}],
    "exposed_outputs": [{"name": "out", "internal_node": "scale", "internal_port": "value"}],
}


def test_preset_members_without_inputs_join_e():
    raw = start_graph(
        n("c", "Const"),
        n("p", "preset:Pipe"),
        n("out", "Print"),
        n("draft", "Const"),
        edges=[e("c", "value", "p", "in"), e("p", "out", "out", "value")],
        trigger=["c"],
    )
    prepared = prepare(raw, make_snapshot(presets=[PIPE]), run_seed=3)
    assert prepared.report.valid, prepared.report.errors
    assert [(p.id, p.level) for p in prepared.nodes] == [
        ("s", 0), ("c", 0), ("p__src", 0), ("p__add", 1), ("p__scale", 2), ("out", 3)
    ]
    outputs = run_sequentially(prepared)
    assert outputs["out"]["value"] == (1.0 + 2.0) * 2.0


def test_executable_set_rules():
    nodes = [GraphNode(id=i, type="X") for i in ("s", "a", "b", "c", "d", "m1", "m2", "m3")]
    edges = [
        GraphEdge("s", "a", "trigger", "", "trigger"),
        GraphEdge("a", "b", "v", "v"),
        GraphEdge("b", "m1", "v", "v"),
        GraphEdge("m2", "m3", "v", "v"),
        GraphEdge("c", "d", "v", "v"),
        GraphEdge("b", "c", "trigger", "", "trigger"),  # trigger: c is an entry point, b a trigger source
        GraphEdge("d", "zzz", "v", "v"),
    ]
    origins = {"m1": ("inst", "m1"), "m2": ("inst", "m2"), "m3": ("inst", "m3")}
    entries, executable = executable_set(nodes, edges, origins)
    assert entries == ("a", "c")
    assert executable == {"s", "a", "b", "c", "d", "m1", "m2", "m3"}
    # Trigger edges never extend reachability; without the preset grouping m2/m3 stay drafts.
    entries, executable = executable_set(nodes, edges[:4], {})
    assert executable == {"s", "a", "b", "m1"}
    # No entry points: everything.
    assert executable_set(nodes, edges[1:5]) == ((), frozenset(n.id for n in nodes))


def test_trigger_edges_do_not_order():
    raw = start_graph(
        n("c", "Const"), n("a", "Add"), n("k", "Const"),
        edges=[e("c", "value", "a", "a"), {"source": "a", "sourceHandle": "value", "target": "k", "targetHandle": "", "type": "trigger"}],
        trigger=["c"],
    )
    prepared = prepare(raw, make_snapshot(), run_seed=1)
    assert prepared.report.valid
    assert [i.code for i in prepared.report.issues] == ["trigger_source_not_trigger"]
    assert prepared.levels == (("s", "c", "k"), ("a",))
    assert all(x.source != "a" or x.target != "k" for x in prepared.edges)


def test_levels_function():
    layered, leftovers = levels(["d", "a", "b", "c"], [("a", "b"), ("a", "c"), ("b", "c"), ("x", "a")])
    assert layered == (("d", "a"), ("b",), ("c",)) and leftovers == ()
    layered, leftovers = levels(["a", "b", "c", "z"], [("a", "b"), ("b", "c"), ("c", "b")])
    assert layered == (("a", "z"),) and leftovers == ("b", "c")


def test_analysis_exposes_pipeline_state():
    analysis = analyse(example_graph(), example_snapshot())
    assert analysis.entry_points == ("x",)
    assert analysis.executable == {"start", "x", "blk__scale", "blk__sm", "show", "result"}
    assert analysis.resolution.entries["blk__sm"].spec.name == "Softmax"
    assert "memo" not in analysis.graph.node_ids() and "blk" in analysis.graph.node_ids()


def test_start_alone_is_not_an_entry_point():
    snap = make_snapshot((START,))
    report = validate_graph({"nodes": [n("s", "Start")], "edges": []}, snap)
    assert [i.code for i in report.issues] == ["no_entry_points"]
