"""Validation (engine.md §5): every code with its exact message, the scope rule and the order."""

from __future__ import annotations

import pytest

from nodeloom.kernel import NodeSpec, PortSpec
from nodeloom.kernel.prepare import validate_graph
from nodeloom.kernel.registry import PackInfo

from .support import e, entry, example_graph, example_snapshot, make_snapshot, n, start_graph

SNAP = make_snapshot()


def issues(raw, snapshot=SNAP):
    return [(i.code, i.severity, i.message, i.draft) for i in validate_graph(raw, snapshot).issues]


def only(raw, code, snapshot=SNAP):
    """The issues of one code as (severity, message, draft)."""
    return [(sev, msg, draft) for c, sev, msg, draft in issues(raw, snapshot) if c == code]


def trig(source, target, edge_id):
    return {"id": edge_id, "source": source, "sourceHandle": "trigger", "target": target, "targetHandle": "", "type": "trigger"}


DOUBLE = {
    "preset_name": "Double",
    "nodes": [{"id": "a", "type": "Scale", "params": {"factor": 2.0}}],
    "edges": [],
    "exposed_inputs": [{"name": "in", "internal_node": "a", "internal_port": "value"}],
    "exposed_outputs": [{"name": "out", "internal_node": "a", "internal_port": "value"}],
}


def test_example_graph_is_valid_with_one_draft_warning():
    report = validate_graph(example_graph(), example_snapshot())
    assert report.valid
    assert report.errors == []
    assert [(i.code, i.severity, i.node_id, i.port, i.draft) for i in report.issues] == [
        ("missing_required_input", "warning", "draft", "tensor", True)
    ]
    assert report.warnings == ["Missing required input 'tensor' on node draft (Linear)"]


def test_phase0_errors_stop_validation():
    report = validate_graph({"nodes": [{"id": "a"}], "edges": []}, SNAP)
    assert not report.valid
    assert [i.code for i in report.issues] == ["invalid_node"]


# -- phase 1 ----------------------------------------------------------------------------------


def test_phase1_codes():
    assert only(start_graph(n("p", "preset:Ghost"), trigger=["p"]), "unknown_preset") == [
        ("error", "Unknown preset: Ghost (node p)", False)
    ]
    raw = start_graph(n("c", "Const"), n("p", "preset:Double"), edges=[e("c", "value", "p", "zz", "e1")], trigger=["c"])
    assert only(raw, "preset_port_unknown", make_snapshot(presets=[DOUBLE])) == [
        ("error", "Edge e1 uses handle 'zz' which preset node p (preset:Double) does not expose", False)
    ]
    loop = {"preset_name": "Loop", "nodes": [{"id": "me", "type": "preset:Loop"}], "edges": []}
    raw = {**start_graph(n("p", "preset:Loop"), trigger=["p"]), "presets": [loop]}
    assert only(raw, "preset_recursion") == [("error", "Preset 'Loop' contains itself (Loop -> Loop)", False)]
    chain = [
        {"preset_name": f"L{i}", "nodes": [{"id": "n", "type": f"preset:L{i + 1}"}], "edges": []} for i in range(1, 12)
    ]
    raw = {**start_graph(n("p", "preset:L1"), trigger=["p"]), "presets": chain}
    assert only(raw, "preset_depth") == [("error", "Preset nesting exceeds the maximum depth of 10", False)]
    raw = start_graph(n("p__a", "Const"), n("p", "preset:Double"), trigger=["p__a", "p"])
    assert only(raw, "expanded_id_collision", make_snapshot(presets=[DOUBLE])) == [
        ("error", "Expanded id p__a of preset node p collides with an existing node id", False)
    ]
    other = dict(DOUBLE, nodes=[{"id": "a", "type": "Scale", "params": {"factor": 5.0}}])
    raw = {**start_graph(n("p", "preset:Double"), trigger=["p"]), "presets": [other]}
    assert only(raw, "preset_embedded_differs", make_snapshot(presets=[DOUBLE])) == [
        ("warning", "Preset 'Double' embedded in the graph differs from the installed one; the installed one is used", False)
    ]


def test_edges_touching_an_unexpanded_instance_are_skipped():
    raw = start_graph(n("c", "Const"), n("p", "preset:Ghost"), edges=[e("c", "value", "p", "whatever")], trigger=["c"])
    assert [c for c, *_ in issues(raw)] == ["unknown_preset"]


def test_broken_preset_internals_surface_as_node_issues():
    broken = {"preset_name": "B", "nodes": [{"id": "x", "type": "Nope"}], "edges": []}
    raw = {**start_graph(n("p", "preset:B"), trigger=["p"]), "presets": [broken]}
    assert only(raw, "unknown_node_type") == [("error", "Unknown node type: Nope (node p__x)", False)]


# -- phase 2 ----------------------------------------------------------------------------------


def test_phase2_codes():
    blur = NodeSpec(name="Blur", category="Img", execute=lambda c: {}, outputs=(PortSpec("value", "SCALAR"),))
    snap = make_snapshot(
        extra=[
            entry(blur, "alpha:Blur", pack="alpha"),
            entry(blur, "beta:Blur", pack="beta"),
            entry(blur, "Heavy", available=False, unavailable_reason="needs scipy (pip install 'nodeloom[sci]')"),
        ]
    )
    raw = start_graph(n("u", "Nope"), n("b", "Blur"), n("h", "Heavy"), n("q", "alpha:Nope"), trigger=["u", "b", "h", "q"])
    assert [(c, m) for c, _, m, _ in issues(raw, snap)] == [
        ("unknown_node_type", "Unknown node type: Nope (node u)"),
        ("ambiguous_node_type", "Ambiguous node type: Blur (node b) matches alpha:Blur, beta:Blur; use a qualified name"),
        ("node_unavailable", "Node type Heavy (node h) is unavailable: needs scipy (pip install 'nodeloom[sci]')"),
        ("unknown_node_type", "Unknown node type: alpha:Nope (node q)"),
    ]


def test_unresolved_nodes_skip_rules_3_to_5():
    raw = start_graph(n("u", "Nope", junk=1), n("a", "Add"), edges=[e("u", "bogus", "a", "a")], trigger=["u"])
    assert [c for c, *_ in issues(raw)] == ["unknown_node_type"]


# -- phase 3 ----------------------------------------------------------------------------------


def test_missing_required_input():
    raw = start_graph(n("a", "Add"), trigger=["a"])
    assert issues(raw) == [("missing_required_input", "error", "Missing required input 'a' on node a (Add)", False)]


def test_trigger_edge_never_satisfies_an_input():
    raw = start_graph(n("a", "Add"), edges=[{"source": "s", "sourceHandle": "trigger", "target": "a", "targetHandle": "a", "type": "trigger"}], trigger=["a"])
    assert [c for c, *_ in issues(raw)] == ["missing_required_input"]


def test_untriggered_upstream_replaces_missing_input():
    raw = start_graph(n("c", "Const"), n("a", "Add"), edges=[e("c", "value", "a", "a")], trigger=["a"])
    assert issues(raw) == [
        (
            "untriggered_upstream",
            "error",
            "Missing required input 'a' on node a (Add): its source node c is not reached by any trigger; "
            "connect a Start trigger to c",
            False,
        )
    ]
    # A source in E satisfies the port.
    raw = start_graph(n("c", "Const"), n("a", "Add"), edges=[e("c", "value", "a", "a")], trigger=["c", "a"])
    assert issues(raw) == []


def test_connected_draft_input_is_satisfied():
    raw = start_graph(n("c", "Const"), n("a", "Add"), n("k", "Const"), edges=[e("c", "value", "a", "a")], trigger=["k"])
    assert issues(raw) == []


# -- phase 4 ----------------------------------------------------------------------------------


def test_param_codes_in_declaration_order():
    raw = start_graph(
        n("x", "Scale", enabled="yes", count=-1, mode="medium", factor=101, extra_knob=3, another=None),
        n("y", "Scale", factor=-1000.5),
        n("z", "Scale", factor="big", count=2.0),
        n("c", "Const"),
        edges=[e("c", "value", "x", "value"), e("c", "value", "y", "value"), e("c", "value", "z", "value")],
        trigger=["c"],
    )
    assert [(c, m) for c, _, m, _ in issues(raw)] == [
        ("param_above_max", "Parameter 'factor' on node x (Scale): value 101 is above maximum 100.0"),
        ("param_not_in_options", "Parameter 'mode' on node x (Scale): \"medium\" is not one of ['fast', 'slow']"),
        ("param_below_min", "Parameter 'count' on node x (Scale): value -1 is below minimum 0.0"),
        ("param_type", "Parameter 'enabled' on node x (Scale): expected bool, got \"yes\""),
        ("unknown_param", "Parameter 'extra_knob' on node x (Scale) is not declared by the node and is ignored"),
        ("unknown_param", "Parameter 'another' on node x (Scale) is not declared by the node and is ignored"),
        ("param_below_min", "Parameter 'factor' on node y (Scale): value -1000.5 is below minimum -100.0"),
        ("param_type", "Parameter 'factor' on node z (Scale): expected float, got \"big\""),
    ]
    report = validate_graph(raw, SNAP)
    assert [i.param for i in report.issues][:2] == ["factor", "mode"]
    assert [i.severity for i in report.issues if i.code == "unknown_param"] == ["warning", "warning"]


def test_params_checked_after_preset_overlay():
    raw = start_graph(
        n("c", "Const"),
        {"id": "p", "type": "preset:Double", "data": {"internalParams": {"a": {"factor": 500}}}},
        edges=[e("c", "value", "p", "in")],
        trigger=["c"],
    )
    assert only(raw, "param_above_max", make_snapshot(presets=[DOUBLE])) == [
        ("error", "Parameter 'factor' on node p__a (Scale): value 500 is above maximum 100.0", False)
    ]


# -- phase 5 ----------------------------------------------------------------------------------


def test_edge_codes():
    raw = start_graph(
        n("c", "Const"),
        n("a", "Add"),
        n("t", "TensorSink"),
        n("sp", "Split", chunks=3),
        edges=[
            e("c", "value", "a", "a", "ok"),
            e("c", "value", "ghost", "a", "m1"),
            e("c", "nope", "a", "b", "p1"),
            e("c", "value", "a", "zz", "p2"),
            e("c", "value", "t", "tensor", "tm"),
            e("sp", "chunk_2", "a", "b", "dyn"),
            e("sp", "chunk_3", "a", "b", "dyn2"),
            e("c", "value", "a", "a"),
            trig("s", "nowhere", "tg"),
            trig("c", "a", "tc"),
            trig("s", "a", "ok"),
        ],
        trigger=["c", "sp"],
    )
    assert [(c, sev, m) for c, sev, m, _ in issues(raw) if c != "cycle"] == [
        ("edge_missing_node", "error", "Edge references missing node: m1 (c -> ghost)"),
        ("invalid_output_port", "error", "Invalid output port 'nope' on Const (node c)"),
        ("invalid_input_port", "error", "Invalid input port 'zz' on Add (node a)"),
        ("type_mismatch", "error", "Type mismatch: Const.value (SCALAR) -> TensorSink.tensor (TENSOR)"),
        ("invalid_output_port", "error", "Invalid output port 'chunk_3' on Split (node sp)"),
        ("dangling_trigger_edge", "warning", "Trigger edge tg references missing node: s -> nowhere"),
        ("trigger_source_not_trigger", "warning", "Trigger edge tc starts at node c (Const), which has no TRIGGER output"),
        ("duplicate_edge_id", "warning", "Duplicate edge id: ok"),
        ("multiple_input_edges", "warning", "Input 'a' on node a (Add) has 2 incoming edges; the last one (#9) is used"),
        ("multiple_input_edges", "warning", "Input 'b' on node a (Add) has 3 incoming edges; the last one (dyn2) is used"),
    ]


def test_trigger_fan_out_is_not_a_duplicate_edge_id():
    raw = start_graph(n("p", "preset:Double"), trigger=["p"])
    double2 = dict(DOUBLE, nodes=[*DOUBLE["nodes"], {"id": "b", "type": "Const"}])
    result = issues({**raw, "presets": [double2]})
    assert [c for c, *_ in result] == ["missing_required_input"]


# -- phases 6 to 8 ----------------------------------------------------------------------------


def test_no_entry_points_makes_everything_count():
    raw = {"nodes": [n("a", "Add"), n("c", "Const")], "edges": []}
    assert issues(raw) == [
        ("missing_required_input", "error", "Missing required input 'a' on node a (Add)", False),
        (
            "no_entry_points",
            "error",
            "Graph has no entry points. Add a Start node and connect it to the node you want to start execution from.",
            False,
        ),
    ]


def test_cycle_in_executable_set_is_an_error_and_lists_one_cycle():
    raw = start_graph(
        n("a", "Add"), n("b", "Scale"), n("c", "Scale"),
        edges=[e("a", "value", "b", "value"), e("b", "value", "c", "value"), e("c", "value", "a", "a")],
        trigger=["a"],
    )
    assert issues(raw) == [("cycle", "error", "Graph contains a cycle: a -> b -> c -> a", False)]


def test_cycle_among_drafts_is_a_draft_warning():
    raw = start_graph(
        n("k", "Const"), n("x", "Scale"), n("y", "Scale"), n("z", "Scale"),
        edges=[e("x", "value", "y", "value"), e("y", "value", "x", "value"), e("z", "value", "z", "value")],
        trigger=["k"],
    )
    assert issues(raw) == [
        ("cycle", "warning", "Graph contains a cycle: x -> y -> x", True),
        ("cycle", "warning", "Graph contains a cycle: z -> z", True),
    ]


def test_metadata_warnings():
    snap = make_snapshot()
    snap.packs["mypack"] = PackInfo(id="mypack", name="mypack", version="2.0", source="entry-point")
    raw = {
        **start_graph(n("c", "Const"), trigger=["c"]),
        "segmentGroups": [{"id": "g1", "headNodeId": "c", "tailNodeId": "gone"}, {"id": "g2", "headNodeId": "x", "tailNodeId": "x"}],
        "format_version": 2,
        "nodeloom": {"packs": {"nodeloom": "0.0.9", "mypack": "1.0", "absent": "3.0", "same": "1"}},
    }
    assert issues(raw, snap) == [
        ("segment_dangling", "warning", "Segment group g1 references missing node gone", False),
        ("segment_dangling", "warning", "Segment group g2 references missing node x", False),
        (
            "format_version_newer",
            "warning",
            "Graph format_version 2 is newer than this nodeloom supports (1); unknown fields are kept but ignored",
            False,
        ),
        ("pack_version_changed", "warning", "Graph was saved with nodeloom 0.0.9; installed is 0.1.0", False),
        ("pack_version_changed", "warning", "Graph was saved with mypack 1.0; installed is 2.0", False),
    ]


# -- scope rule and order ---------------------------------------------------------------------


def test_draft_issues_are_downgraded_with_unchanged_messages():
    raw = start_graph(
        n("c", "Const"),
        n("d1", "Nope"),
        n("d2", "Scale", factor="x"),
        n("d3", "Const"),
        n("d4", "preset:Ghost"),
        edges=[e("d3", "value", "d2", "value"), e("d3", "bad", "d2", "value", "de"), e("d3", "value", "gone", "x", "dm")],
        trigger=["c"],
    )
    report = validate_graph(raw, SNAP)
    assert report.valid
    assert {(i.code, i.severity, i.draft) for i in report.issues} == {
        ("unknown_preset", "warning", True),
        ("unknown_node_type", "warning", True),
        ("param_type", "warning", True),
        ("invalid_output_port", "warning", True),
        ("edge_missing_node", "warning", True),
        ("multiple_input_edges", "warning", True),
    }
    assert "Unknown node type: Nope (node d1)" in report.warnings
    # The same problems inside E are errors.
    raw["edges"].append(trig("s", "d3", "t3"))
    raw["edges"].append(trig("s", "d1", "t4"))
    report = validate_graph(raw, SNAP)
    severities = {i.code: (i.severity, i.draft) for i in report.issues}
    assert severities["unknown_node_type"] == ("error", False)
    assert severities["param_type"] == ("error", False)
    assert severities["edge_missing_node"] == ("error", False)
    assert severities["unknown_preset"] == ("warning", True)


def test_preset_instance_scope_follows_its_members():
    raw = start_graph(
        n("c", "Const"),
        {"id": "p", "type": "preset:Double", "data": {"internalParams": {"a": {"factor": "x"}}}},
        edges=[e("c", "value", "p", "nope", "bad")],
        trigger=["c"],
    )
    # p is not reached (its only edge is dropped): its issues are drafts.
    got = {(c, sev, draft) for c, sev, _, draft in issues(raw, make_snapshot(presets=[DOUBLE]))}
    assert got == {
        ("preset_port_unknown", "error", False),  # the edge starts in E
        ("missing_required_input", "warning", True),
        ("param_type", "warning", True),
    }


def test_issue_order_follows_phases():
    raw = {
        **start_graph(
            n("x", "Scale", factor="bad"),
            n("u", "Nope"),
            n("p", "preset:Ghost"),
            n("a", "Add"),
            edges=[e("x", "value", "a", "zz")],
            trigger=["x", "u", "p"],
        ),
        "segmentGroups": [{"id": "g", "headNodeId": "nope", "tailNodeId": "x"}],
    }
    assert [c for c, *_ in issues(raw)] == [
        "unknown_preset",
        "unknown_node_type",
        "missing_required_input",
        "missing_required_input",
        "param_type",
        "invalid_input_port",
        "segment_dangling",
    ]


@pytest.mark.parametrize("graph_maker", [example_graph])
def test_report_wire_shape(graph_maker):
    wire = validate_graph(graph_maker(), example_snapshot()).wire()
    assert set(wire) == {"valid", "errors", "warnings", "issues"}
    assert wire["issues"][0]["draft"] is True and wire["issues"][0]["node_id"] == "draft"
