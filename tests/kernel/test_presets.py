"""Presets: normalisation, load checks (engine.md §7.1) and expansion (§4.2)."""

from __future__ import annotations

import pytest

from nodeloom.kernel.graph import graph_from_dict, strip_notes
from nodeloom.kernel.presets import (
    MAX_PRESET_DEPTH,
    PresetError,
    expand_presets,
    normalize_preset,
    resolve_preset,
)

from .support import (
    SCALAR_MULTIPLY,
    e,
    example_graph,
    example_snapshot,
    make_snapshot,
    n,
    start_graph,
)


def preset(name, nodes, edges=(), inputs=(), outputs=(), params=(), **extra):
    """A preset definition; ``inputs``/``outputs`` are (name, node, port) triples."""
    return {
        "preset_name": name,
        "nodes": [dict(x) for x in nodes],
        "edges": [
            {"source": s, "sourceHandle": sh, "target": t, "targetHandle": th} for s, sh, t, th in edges
        ],
        "exposed_inputs": [{"name": a, "internal_node": b, "internal_port": c} for a, b, c in inputs],
        "exposed_outputs": [{"name": a, "internal_node": b, "internal_port": c} for a, b, c in outputs],
        "exposed_params": [
            {"internal_node": b, "param_name": c, "display_name": c} for b, c in params
        ],
        **extra,
    }


def member(node_id, node_type, **params):
    return {"id": node_id, "type": node_type, "params": params}


DOUBLE = preset(
    "Double",
    [member("a", "Scale", factor=2.0), member("b", "Scale", factor=1.0)],
    [("a", "value", "b", "value")],
    inputs=[("in", "a", "value")],
    outputs=[("out", "b", "value")],
    params=[("a", "factor")],
)


def expand(raw, snapshot=None):
    graph = strip_notes(graph_from_dict(raw))
    return expand_presets(graph, snapshot or make_snapshot())


def codes(expansion):
    return [(f.issue.code, f.issue.message) for f in expansion.findings]


# -- normalize_preset --------------------------------------------------------------------------


def test_normalize_applies_defaults_and_keeps_unknown_keys():
    raw = {
        "preset_name": "P",
        "nodes": [{"id": "a", "type": "Const", "ui": 1}],
        "edges": [{"source": "a", "target": "a"}],
        "exposed_inputs": [{"name": "x", "internal_node": "a", "internal_port": "value"}],
        "exposed_params": [{"internal_node": "a", "param_name": "value", "display_name": "V"}],
        "source": "user",
        "available": True,
        "error": None,
        "icon": "star",
    }
    out = normalize_preset(raw)
    assert out["category"] == "Preset" and out["description"] == "" and out["tags"] == []
    assert out["nodes"] == [{"id": "a", "type": "Const", "params": {}, "ui": 1}]
    assert out["edges"] == [{"source": "a", "target": "a", "sourceHandle": "", "targetHandle": ""}]
    assert out["exposed_inputs"] == [
        {"name": "x", "internal_node": "a", "internal_port": "value", "data_type": "", "description": ""}
    ]
    assert out["exposed_outputs"] == []
    assert out["exposed_params"][0]["group"] == "" and out["exposed_params"][0]["param_def"] is None
    assert out["icon"] == "star"
    assert not {"source", "available", "error"} & set(out)
    out["nodes"][0]["params"]["x"] = 1
    assert "params" not in raw["nodes"][0]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"nodes": [], "edges": []}, "preset_name"),
        ({"preset_name": "", "nodes": [], "edges": []}, "preset_name"),
        ({"preset_name": "x" * 101, "nodes": [], "edges": []}, "1 to 100"),
        ({"preset_name": "a\nb", "nodes": [], "edges": []}, "control characters"),
        ({"preset_name": "P", "edges": []}, "'nodes' is required"),
        ({"preset_name": "P", "nodes": [], "edges": {}}, "'edges' must be a list"),
        ({"preset_name": "P", "nodes": [{"id": "a"}], "edges": []}, "nodes[0].type"),
        ({"preset_name": "P", "nodes": [{"id": "a", "type": "X"}, {"id": "a", "type": "Y"}], "edges": []}, "duplicate internal node id"),
        ({"preset_name": "P", "nodes": [{"id": "a", "type": "X", "params": []}], "edges": []}, "params must be an object"),
        ({"preset_name": "P", "nodes": [], "edges": [{"source": "a"}]}, "edges[0].target"),
        ({"preset_name": "P", "nodes": [], "edges": [], "tags": "t"}, "'tags'"),
        (
            {
                "preset_name": "P",
                "nodes": [],
                "edges": [],
                "exposed_outputs": [
                    {"name": "o", "internal_node": "a", "internal_port": "p"},
                    {"name": "o", "internal_node": "b", "internal_port": "p"},
                ],
            },
            "duplicate name 'o' in exposed_outputs",
        ),
        ({"preset_name": "P", "nodes": [], "edges": [], "exposed_inputs": [{"name": "i", "internal_node": "a"}]}, "internal_port"),
        ({"preset_name": "P", "nodes": [], "edges": [], "exposed_params": [{"internal_node": "a", "param_name": "p"}]}, "display_name"),
    ],
)
def test_normalize_rejects_malformed(raw, fragment):
    with pytest.raises(ValueError, match=None) as err:
        normalize_preset(raw)
    assert isinstance(err.value, PresetError)
    assert fragment in str(err.value)


# -- resolve_preset ----------------------------------------------------------------------------


def test_resolve_fills_data_type_and_param_def():
    definition = example_graph()["presets"][0]
    definition["exposed_inputs"][0]["data_type"] = ""  # filled from the internal port
    resolved = resolve_preset(definition, example_snapshot(), "user")
    assert resolved.available and resolved.error is None and resolved.source == "user"
    d = resolved.definition
    assert [p["data_type"] for p in d["exposed_inputs"] + d["exposed_outputs"]] == ["TENSOR", "TENSOR"]
    assert d["exposed_params"][0]["param_def"] == SCALAR_MULTIPLY.param("scalar").wire()
    wire = resolved.wire()
    assert wire["available"] is True and wire["source"] == "user" and wire["preset_name"] == "Scale Then Softmax"


def test_resolve_uses_dynamic_outputs_for_exposed_ports():
    definition = preset("Chunks", [member("s", "Split", chunks=3)], outputs=[("last", "s", "chunk_2")])
    resolved = resolve_preset(definition, make_snapshot(), "builtin")
    assert resolved.available, resolved.error
    assert resolved.definition["exposed_outputs"][0]["data_type"] == "SCALAR"


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        (preset("P", [member("n", "Nope")]), "Unknown node type: Nope (node n)"),
        (preset("P", [member("n", "Const")], inputs=[("x", "ghost", "value")]), "exposed input 'x' names unknown internal node 'ghost'"),
        (preset("P", [member("n", "Const")], outputs=[("y", "n", "nope")]), "exposed output 'y': node 'n' (Const) has no output port 'nope'"),
        (preset("P", [member("n", "Scale")], inputs=[("x", "n", "factor")]), "has no input port 'factor'"),
        (preset("P", [member("n", "Const")], params=[("n", "nope")]), "exposed param 'nope': node 'n' (Const) has no param 'nope'"),
        (preset("P", [member("n", "Const")], params=[("m", "value")]), "exposed param 'value' names unknown internal node 'm'"),
        (preset("P", [member("n", "Const")], [("n", "value", "ghost", "value")]), "references missing node ghost"),
        (preset("P", [member("c", "Const"), member("s", "Scale")], [("c", "nope", "s", "value")]), "invalid output port 'nope' on Const (node c)"),
        (preset("P", [member("c", "Const"), member("s", "Scale")], [("c", "value", "s", "nope")]), "invalid input port 'nope' on Scale (node s)"),
        (
            preset("P", [member("c", "Const"), member("t", "TensorSink")], [("c", "value", "t", "tensor")]),
            "Type mismatch: Const.value (SCALAR) -> TensorSink.tensor (TENSOR)",
        ),
        (
            preset("P", [member("a", "Scale"), member("b", "Scale")], [("a", "value", "b", "value"), ("b", "value", "a", "value")]),
            "internal edges contain a cycle: a -> b -> a",
        ),
        (preset("Loop", [{"id": "me", "type": "preset:Loop"}]), "Preset 'Loop' contains itself (Loop -> Loop)"),
        (preset("P", [{"id": "q", "type": "preset:Missing"}]), "Unknown preset: Missing (node q)"),
    ],
)
def test_resolve_reports_failures(definition, fragment):
    resolved = resolve_preset(definition, make_snapshot(presets=[DOUBLE]), "builtin")
    assert resolved.available is False
    assert fragment in resolved.error
    # Still listed with a proper wire shape.
    assert resolved.wire()["preset_name"] == definition["preset_name"]


def test_resolve_unresolvable_port_type_is_any():
    definition = preset("P", [member("n", "Nope")], inputs=[("x", "n", "value")])
    resolved = resolve_preset(definition, make_snapshot(), "user")
    assert not resolved.available
    assert resolved.definition["exposed_inputs"][0]["data_type"] == "ANY"


def test_resolve_malformed_definition_is_listed_unavailable():
    resolved = resolve_preset({"preset_name": "Broken", "nodes": "x"}, make_snapshot(), "user")
    assert not resolved.available and "'nodes' must be a list" in resolved.error
    wire = resolved.wire()
    assert wire["preset_name"] == "Broken" and wire["nodes"] == [] and wire["category"] == "Preset"


def test_resolve_nested_preset_types_flow_through():
    outer = preset(
        "Outer",
        [{"id": "inner", "type": "preset:Double"}, member("c", "Const")],
        [("c", "value", "inner", "in")],
        outputs=[("result", "inner", "out")],
        params=[("inner", "a.factor")],
    )
    resolved = resolve_preset(outer, make_snapshot(presets=[DOUBLE]), "user")
    assert resolved.available, resolved.error
    assert resolved.definition["exposed_outputs"][0]["data_type"] == "SCALAR"
    assert resolved.definition["exposed_params"][0]["param_def"]["name"] == "factor"
    bad = preset("Outer", [{"id": "inner", "type": "preset:Double"}], outputs=[("r", "inner", "nope")])
    resolved = resolve_preset(bad, make_snapshot(presets=[DOUBLE]), "user")
    assert not resolved.available and "has no output port 'nope'" in resolved.error


# -- expansion ---------------------------------------------------------------------------------


def test_example_expansion_ids_order_edges_and_bookkeeping():
    x = expand(example_graph(), example_snapshot())
    assert [node.id for node in x.nodes] == ["start", "x", "blk__scale", "blk__sm", "show", "result", "draft"]
    by_id = {node.id: node for node in x.nodes}
    assert by_id["blk__scale"].type == "ScalarMultiply" and by_id["blk__scale"].params == {"scalar": 0.5}
    assert by_id["blk__sm"].params == {"dim": -1}
    assert by_id["blk__scale"].position.x == 380  # the instance's position
    assert [(ee.label, ee.edge.source, ee.edge.source_handle, ee.edge.target, ee.edge.target_handle) for ee in x.edges] == [
        ("t0", "start", "trigger", "x", ""),
        ("d1", "x", "tensor", "blk__scale", "tensor"),
        ("d2", "blk__sm", "tensor", "show", "value"),
        ("d3", "show", "value", "result", "value"),
        ("blk__#0", "blk__scale", "tensor", "blk__sm", "tensor"),
    ]
    assert x.edges[1].edge.id == "d1" and x.edges[4].edge.id is None
    assert x.origins == {"blk__scale": ("blk", "scale"), "blk__sm": ("blk", "sm")}
    assert x.groups == {"blk": ("blk__scale", "blk__sm")}
    assert x.findings == () and x.unexpanded == frozenset()


def test_trigger_edge_into_instance_fans_out_to_every_member():
    raw = start_graph(n("p", "preset:Double"), trigger=["p"])
    x = expand(raw, make_snapshot(presets=[DOUBLE]))
    triggers = [(ee.edge.source, ee.edge.target, ee.label) for ee in x.edges if ee.edge.is_trigger]
    assert triggers == [("s", "p__a", "t_p"), ("s", "p__b", "t_p")]
    assert {ee.origin for ee in x.edges if ee.edge.is_trigger} == {0}


def test_unknown_handle_is_preset_port_unknown_and_edge_dropped():
    raw = start_graph(
        n("c", "Const"), n("p", "preset:Double"),
        edges=[e("c", "value", "p", "nope", "bad"), e("c", "value", "p", "in", "good")],
        trigger=["c"],
    )
    x = expand(raw, make_snapshot(presets=[DOUBLE]))
    assert codes(x) == [
        ("preset_port_unknown", "Edge bad uses handle 'nope' which preset node p (preset:Double) does not expose")
    ]
    finding = x.findings[0]
    assert finding.issue.edge_id == "bad" and finding.issue.port == "nope"
    assert [ee.label for ee in x.edges] == ["t_c", "good", "p__#0"]


def test_unknown_preset_stays_in_place():
    raw = start_graph(n("p", "preset:Ghost"), n("c", "Const"), edges=[e("c", "value", "p", "in")])
    x = expand(raw)
    assert codes(x) == [("unknown_preset", "Unknown preset: Ghost (node p)")]
    assert [node.id for node in x.nodes] == ["s", "p", "c"]
    assert x.unexpanded == frozenset({"p"})
    assert x.edges[0].edge.target == "p"  # kept unchanged


def test_registry_copy_wins_and_differing_embedded_copy_warns():
    registry = preset("Twice", [member("a", "Scale", factor=3.0)], inputs=[("in", "a", "value")])
    embedded = preset("Twice", [member("a", "Scale", factor=9.0)], inputs=[("in", "a", "value")])
    raw = {**start_graph(n("p", "preset:Twice"), n("q", "preset:Twice")), "presets": [embedded]}
    x = expand(raw, make_snapshot(presets=[registry]))
    assert {node.id: node.params["factor"] for node in x.nodes if node.id != "s"} == {"p__a": 3.0, "q__a": 3.0}
    assert codes(x) == [
        (
            "preset_embedded_differs",
            "Preset 'Twice' embedded in the graph differs from the installed one; the installed one is used",
        )
    ]
    assert x.findings[0].issue.severity == "warning"
    # Same content (descriptions and data types may differ): no warning.
    same = dict(registry, description="other words")
    x = expand({**start_graph(n("p", "preset:Twice")), "presets": [same]}, make_snapshot(presets=[registry]))
    assert x.findings == ()


def test_embedded_preset_used_when_registry_lacks_it():
    raw = {**start_graph(n("p", "preset:Double")), "presets": [{"preset_name": "broken"}, DOUBLE]}
    x = expand(raw)
    assert [node.id for node in x.nodes] == ["s", "p__a", "p__b"]


INNER = preset(
    "Inner",
    [member("x", "Scale", factor=1.0, count=1), member("y", "Scale")],
    [("x", "value", "y", "value")],
    inputs=[("i", "x", "value")],
    outputs=[("o", "y", "value")],
)
OUTER = preset(
    "Outer",
    [
        member("c", "Const", value=4.0),
        {"id": "mid", "type": "preset:Inner", "params": {}, "internalParams": {"x": {"factor": 5.0, "count": 2}}},
        member("z", "Scale"),
    ],
    [("c", "value", "mid", "i"), ("mid", "o", "z", "value")],
    inputs=[("in", "mid", "i")],
    outputs=[("out", "mid", "o")],
)


def test_nested_presets_expand_recursively_with_merged_overrides():
    raw = start_graph(
        n("k", "Const"),
        {"id": "p", "type": "preset:Outer", "data": {"internalParams": {"mid": {"x": {"factor": 7.0}}, "z": {"factor": 0.5}}}},
        n("out", "Print"),
        edges=[e("k", "value", "p", "in", "e1"), e("p", "out", "out", "value", "e2")],
        trigger=["k"],
    )
    x = expand(raw, make_snapshot(presets=[INNER, OUTER]))
    assert x.findings == ()
    assert [node.id for node in x.nodes] == ["s", "k", "p__c", "p__mid__x", "p__mid__y", "p__z", "out"]
    params = {node.id: node.params for node in x.nodes}
    # Outer overrides merge per inner node on top of the nested node's own internalParams.
    assert params["p__mid__x"] == {"factor": 7.0, "count": 2}
    assert params["p__z"] == {"factor": 0.5}
    assert x.origins["p__mid__x"] == ("p", "mid__x")
    assert x.groups["p"] == ("p__c", "p__mid__x", "p__mid__y", "p__z")
    assert x.groups["p__mid"] == ("p__mid__x", "p__mid__y")
    assert [(ee.label, ee.edge.source, ee.edge.target) for ee in x.edges if ee.edge.is_data] == [
        ("e1", "k", "p__mid__x"),
        ("e2", "p__mid__y", "out"),
        ("p__#0", "p__c", "p__mid__x"),
        ("p__#1", "p__mid__y", "p__z"),
        ("p__mid__#0", "p__mid__x", "p__mid__y"),
    ]


def test_recursion_is_reported_with_its_chain():
    a = preset("A", [member("c", "Const"), {"id": "b", "type": "preset:B"}])
    b = preset("B", [{"id": "a", "type": "preset:A"}])
    x = expand({"nodes": [n("p", "preset:A")], "edges": [], "presets": [a, b]})
    assert codes(x) == [("preset_recursion", "Preset 'A' contains itself (A -> B -> A)")]
    assert x.findings[0].issue.node_id == "p__b__a"
    assert "p__b__a" in x.unexpanded
    assert [node.id for node in x.nodes] == ["p__c", "p__b__a"]


def _chain(levels):
    presets = []
    for i in range(1, levels + 1):
        inner = {"id": "n", "type": f"preset:L{i + 1}"} if i < levels else member("c", "Const")
        presets.append(preset(f"L{i}", [inner]))
    return {"nodes": [n("p", "preset:L1")], "edges": [], "presets": presets}


def test_depth_limit():
    ok = expand(_chain(MAX_PRESET_DEPTH))
    assert ok.findings == ()
    assert [node.id for node in ok.nodes] == ["p" + "__n" * (MAX_PRESET_DEPTH - 1) + "__c"]
    too_deep = expand(_chain(MAX_PRESET_DEPTH + 1))
    assert codes(too_deep) == [("preset_depth", "Preset nesting exceeds the maximum depth of 10")]


def test_expanded_id_collision():
    raw = {"nodes": [n("p__a", "Const"), n("p", "preset:Double")], "edges": []}
    x = expand(raw, make_snapshot(presets=[DOUBLE]))
    assert codes(x) == [
        ("expanded_id_collision", "Expanded id p__a of preset node p collides with an existing node id")
    ]
    assert [node.id for node in x.nodes] == ["p__a", "p__b"]
