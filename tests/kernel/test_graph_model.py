"""Graph model: round trips, phase-0 schema rules, notes, secrets, files and atomic writes."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from nodeloom.kernel import NodeSpec, ParamSpec, PortSpec
from nodeloom.kernel.fsutil import atomic_write_bytes, atomic_write_json, json_dumps_safe
from nodeloom.kernel.graph import (
    Graph,
    GraphSchemaError,
    blank_secrets,
    graph_from_dict,
    graph_pack_versions,
    graph_to_dict,
    load_graph_file,
    parse_graph,
    save_graph_file,
    strip_notes,
)

from .support import START, entry, example_graph, make_snapshot

FIXTURES = sorted((Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "graphs").glob("*.json"))


def _expected_after_save(raw: dict) -> dict:
    """The documented defaults (api.md §2.4.2), applied independently of the model."""
    out = copy.deepcopy(raw)
    out.setdefault("description", "")
    out.setdefault("presets", [])
    out.setdefault("segmentGroups", [])
    out["format_version"] = 1
    for node in out["nodes"]:
        node.setdefault("position", {"x": 0, "y": 0})
        node.setdefault("data", {})
    for edge in out["edges"]:
        edge.setdefault("sourceHandle", "")
        edge.setdefault("targetHandle", "")
        edge.setdefault("type", "data")
    return out


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.skipif(not FIXTURES, reason="shared fixtures not present")
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_round_trip_keeps_everything(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = graph_to_dict(graph_from_dict(raw))
    assert out == _expected_after_save(raw)
    # A second round trip is a fixed point.
    assert graph_to_dict(graph_from_dict(out)) == out


def test_unknown_keys_survive_at_every_level():
    raw = {
        "nodes": [
            {
                "id": "a",
                "type": "Custom",
                "selected": True,
                "extra": {"user": "owns this key"},
                "position": {"x": 1.5, "y": -2, "z": 9},
                "data": {"params": {"k": [1, 2]}, "label": "Mine", "collapsed": False},
            },
            {"id": "p", "type": "preset:P", "data": {"internalParams": {"n": {"v": 1}}}},
        ],
        "edges": [{"source": "a", "target": "p", "animated": True, "style": {"stroke": "red"}}],
        "segmentGroups": [{"id": "s", "headNodeId": "a", "tailNodeId": "p", "color": "blue"}],
        "presets": [{"preset_name": "P", "nodes": [], "edges": [], "whatever": 1}],
        "nodeloom": {"packs": {"nodeloom": "0.1.0"}, "other": 2},
        "layout_missing": True,
        "viewport": {"zoom": 2},
    }
    out = graph_to_dict(graph_from_dict(raw))
    assert out == _expected_after_save(raw)
    node = out["nodes"][0]
    assert node["selected"] is True and node["extra"] == {"user": "owns this key"}
    assert node["position"] == {"x": 1.5, "y": -2, "z": 9}
    assert node["data"]["label"] == "Mine"
    assert out["edges"][0]["style"] == {"stroke": "red"}
    assert out["viewport"] == {"zoom": 2} and out["layout_missing"] is True
    assert out["nodeloom"]["other"] == 2
    # data.params is not inserted when absent (api.md §2.4.2).
    assert "params" not in out["nodes"][1]["data"]


def test_defaults_and_model_fields():
    graph = graph_from_dict(
        {"nodes": [{"id": "a", "type": "X"}], "edges": [{"source": "a", "target": "a", "sourceHandle": None}]}
    )
    node, edge = graph.nodes[0], graph.edges[0]
    assert (node.position.x, node.position.y) == (0, 0)
    assert node.params == {} and node.internal_params == {}
    assert (edge.source_handle, edge.target_handle, edge.type, edge.id) == ("", "", "data", None)
    assert graph.display_name == "Untitled" and graph.description == "" and graph.presets == []
    assert graph.format_version == 1
    out = graph_to_dict(graph)
    assert "name" not in out and "id" not in out["edges"][0]


def test_newer_format_version_loads_and_is_written_as_1():
    graph = graph_from_dict({"nodes": [], "edges": [], "format_version": 3, "future": {"x": 1}})
    assert graph.format_version == 3
    out = graph_to_dict(graph)
    assert out["format_version"] == 1 and out["future"] == {"x": 1}


def test_parse_does_not_share_objects_with_input():
    raw = example_graph()
    before = copy.deepcopy(raw)
    graph = graph_from_dict(raw)
    graph.nodes[1].params["shape"] = "changed"
    assert raw == before


def test_malformed_segment_groups_and_presets_are_kept_verbatim():
    raw = {"nodes": [], "edges": [], "segmentGroups": "oops", "presets": {"not": "a list"}}
    graph = graph_from_dict(raw)
    assert graph.segment_groups == [] and graph.presets == []
    out = graph_to_dict(graph)
    assert out["segmentGroups"] == "oops" and out["presets"] == {"not": "a list"}


# -- phase 0 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], {"nodes": []}, {"edges": []}, {"nodes": {}, "edges": []}])
def test_invalid_graph(raw):
    graph, issues = parse_graph(raw)
    assert graph is None
    assert [(i.code, i.severity, i.message) for i in issues] == [
        ("invalid_graph", "error", "Graph must be a JSON object with 'nodes' and 'edges' arrays")
    ]


def test_every_phase0_rule_is_collected_in_order():
    raw = {
        "nodes": [
            {"id": "a", "type": "X"},
            {"id": "", "type": "X"},
            "not a node",
            {"id": "b", "type": 3},
            {"id": "a", "type": "Y"},
        ],
        "edges": [
            {"source": "a", "target": "a"},
            {"source": "a"},
            {"id": "e9", "source": "a", "target": "a", "type": "control"},
            {"source": "a", "target": "a", "type": 7},
        ],
        "format_version": "1",
    }
    graph, issues = parse_graph(raw)
    assert graph is None
    assert all(i.severity == "error" and not i.draft for i in issues)
    assert [(i.code, i.message) for i in issues] == [
        ("invalid_node", "Node at index 1 must be an object with non-empty string 'id' and 'type'"),
        ("invalid_node", "Node at index 2 must be an object with non-empty string 'id' and 'type'"),
        ("invalid_node", "Node at index 3 must be an object with non-empty string 'id' and 'type'"),
        ("duplicate_node_id", "Duplicate node id: a"),
        ("invalid_edge", "Edge at index 1 must be an object with string 'source' and 'target'"),
        ("invalid_edge_type", "Edge e9: type must be 'data' or 'trigger', got \"control\""),
        ("invalid_edge_type", "Edge #3: type must be 'data' or 'trigger', got 7"),
        ("invalid_format_version", 'format_version must be an integer >= 1, got "1"'),
    ]
    with pytest.raises(GraphSchemaError) as err:
        graph_from_dict(raw)
    assert [i.code for i in err.value.issues] == [i.code for i in issues]
    assert isinstance(err.value, ValueError)


def test_duplicate_ids_can_be_allowed_for_storage():
    raw = {"nodes": [{"id": "a", "type": "X"}, {"id": "a", "type": "Y"}], "edges": []}
    with pytest.raises(GraphSchemaError):
        graph_from_dict(raw)
    graph = graph_from_dict(raw, allow_duplicate_ids=True)
    assert [n.type for n in graph.nodes] == ["X", "Y"]
    assert graph_to_dict(graph)["nodes"][1]["type"] == "Y"


@pytest.mark.parametrize("value", [0, -1, 1.0, True, None])
def test_invalid_format_version_values(value):
    _, issues = parse_graph({"nodes": [], "edges": [], "format_version": value})
    assert [i.code for i in issues] == ["invalid_format_version"]


# -- notes and secrets ------------------------------------------------------------------------


def test_strip_notes_removes_notes_and_their_edges():
    graph = graph_from_dict(
        {
            **example_graph(),
            "edges": [*example_graph()["edges"], {"id": "n1", "source": "memo", "target": "blk"}],
        }
    )
    stripped = strip_notes(graph)
    assert "memo" not in stripped.node_ids()
    assert [e.id for e in stripped.edges] == ["t0", "d1", "d2", "d3"]
    # The original keeps them: save/load never drops notes.
    assert "memo" in graph.node_ids() and len(graph.edges) == 5


SECRET_NODE = NodeSpec(
    name="Api",
    category="LLM",
    execute=lambda call: {},
    outputs=(PortSpec("text", "STRING"),),
    params=(ParamSpec("api_key", "secret", ""), ParamSpec("model", "string", "m")),
)


def _secret_graph() -> dict:
    inner = {
        "preset_name": "Inner",
        "nodes": [{"id": "llm", "type": "Api", "params": {"api_key": "sk-inner", "model": "x"}}],
        "edges": [],
    }
    outer = {
        "preset_name": "Outer",
        "nodes": [
            {"id": "call", "type": "Api", "params": {"api_key": "sk-def"}},
            {"id": "nest", "type": "preset:Inner", "internalParams": {"llm": {"api_key": "sk-nested-own"}}},
        ],
        "edges": [],
    }
    return {
        "nodes": [
            {"id": "a", "type": "Api", "data": {"params": {"api_key": "sk-1", "model": "gpt"}}},
            {"id": "u", "type": "Unknown", "data": {"params": {"api_key": "kept"}}},
            {
                "id": "p",
                "type": "preset:Outer",
                "data": {"internalParams": {"call": {"api_key": "sk-2"}, "nest": {"llm": {"api_key": "sk-3"}}}},
            },
        ],
        "edges": [],
        "presets": [outer, inner],
    }


def test_blank_secrets_everywhere():
    snapshot = make_snapshot((START, SECRET_NODE))
    raw = _secret_graph()
    blanked = graph_to_dict(blank_secrets(graph_from_dict(raw), snapshot))
    nodes = {n["id"]: n for n in blanked["nodes"]}
    assert nodes["a"]["data"]["params"] == {"api_key": "", "model": "gpt"}
    assert nodes["u"]["data"]["params"] == {"api_key": "kept"}  # unknown type: unchanged
    assert nodes["p"]["data"]["internalParams"] == {"call": {"api_key": ""}, "nest": {"llm": {"api_key": ""}}}
    outer, inner = blanked["presets"]
    assert outer["nodes"][0]["params"] == {"api_key": ""}
    assert outer["nodes"][1]["internalParams"] == {"llm": {"api_key": ""}}
    assert inner["nodes"][0]["params"] == {"api_key": "", "model": "x"}
    # The input is not modified.
    assert raw == _secret_graph()
    assert "sk-" not in json.dumps(blanked)


def test_graph_pack_versions_lists_providers_of_used_types():
    plug = NodeSpec(name="Blur", category="Img", execute=lambda c: {})
    snapshot = make_snapshot(
        (START, SECRET_NODE), extra=[entry(plug, "mypack:Blur", pack="mypack", pack_version="2.0")]
    )
    graph = graph_from_dict(_secret_graph())
    assert graph_pack_versions(graph, snapshot) == {"nodeloom": "0.1.0"}
    graph = graph_from_dict({"nodes": [{"id": "b", "type": "Blur"}, {"id": "s", "type": "Start"}], "edges": []})
    assert graph_pack_versions(graph, snapshot) == {"mypack": "2.0", "nodeloom": "0.1.0"}


# -- files ------------------------------------------------------------------------------------


def test_save_and_load_file(tmp_path):
    graph = graph_from_dict({**example_graph(), "name": "Réseau ✓"})
    path = save_graph_file(tmp_path / "g.json", graph)
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "Réseau ✓" in text and '\n  "nodes": [' in text
    assert graph_to_dict(load_graph_file(path)) == graph_to_dict(graph)
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_load_graph_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_graph_file(bad)
    bad.write_text('{"nodes": 1}', encoding="utf-8")
    with pytest.raises(GraphSchemaError):
        load_graph_file(bad)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old", encoding="utf-8")
    atomic_write_json(target, {"ü": [1, 2]})
    assert target.read_text(encoding="utf-8") == '{\n  "ü": [\n    1,\n    2\n  ]\n}\n'
    assert os.listdir(tmp_path) == ["f.json"]


def test_atomic_write_failure_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    target.write_bytes(b"previous")
    seen = []

    def boom(src, dst):
        seen.append(Path(src).name)
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["f.txt"]
    # The temp file was named .<final name>.<hex>.tmp in the same folder.
    assert seen and seen[0].startswith(".f.txt.") and seen[0].endswith(".tmp")


def test_atomic_write_json_unserialisable_touches_nothing(tmp_path):
    target = tmp_path / "f.json"
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert os.listdir(tmp_path) == []


def test_json_dumps_safe():
    out = json.loads(json_dumps_safe({"a": float("nan"), "b": {1, 2}, "c": (1, float("inf")), "d": object()}))
    assert out["a"] is None and out["b"] == [1, 2] and out["c"] == [1, None] and out["d"].startswith("<object")


def test_graph_accepts_plain_construction():
    graph = Graph(nodes=[], edges=[])
    assert graph_to_dict(graph)["nodes"] == [] and graph_to_dict(graph)["format_version"] == 1
