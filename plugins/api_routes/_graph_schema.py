"""The JSON schema of Graph, GraphNode, GraphEdge and embedded presets (api.md §4.4, §4.5).

The checks keep the body as it is (unknown keys are kept where graphs are stored); every problem
is recorded on the :class:`~nodeloom.api.Fields` reader, so one 422 lists them all. After the
checks, :func:`without_nulls` turns ``null`` optional fields into absent ones (§1.3: null means
"use the default") before the body reaches the kernel.
"""

from __future__ import annotations

from typing import Any

from nodeloom.api import Fields, Problem

__all__ = ["check_edge", "check_graph", "check_node", "edge_without_nulls", "node_without_nulls", "without_nulls"]

EDGE_TYPES = ("data", "trigger")

# Optional keys whose ``null`` means "use the default" (api.md §1.3); the kernel's graph model
# expects them absent instead.
_GRAPH_OPTIONAL = ("name", "description", "presets", "segmentGroups", "format_version", "nodeloom")
_NODE_OPTIONAL = ("position", "data")
_DATA_OPTIONAL = ("params", "internalParams")
_EDGE_OPTIONAL = ("id", "sourceHandle", "targetHandle", "type")


def check_graph(body: Fields, *, name_required: bool = False) -> None:
    """Record every schema problem of a Graph body (it is not raised here)."""
    if name_required:
        body.string("name")
    else:
        body.string("name", default=None)
    body.string("description", default=None)
    for _, node in body.items("nodes"):
        check_node(node)
    for _, edge in body.items("edges"):
        check_edge(edge)
    for _, preset in body.items("presets", default=None):
        _check_preset(preset)
    for _, group in body.items("segmentGroups", default=None):
        for key in ("id", "headNodeId", "tailNodeId"):
            group.string(key)
    body.integer("format_version", default=None, ge=1)
    body.mapping("nodeloom", default=None)


def _drop(obj: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(obj, dict) or not any(k in obj and obj[k] is None for k in keys):
        return obj
    return {k: v for k, v in obj.items() if not (k in keys and v is None)}


def node_without_nulls(node: Any) -> Any:
    node = _drop(node, _NODE_OPTIONAL)
    if isinstance(node, dict) and isinstance(node.get("data"), dict):
        data = _drop(node["data"], _DATA_OPTIONAL)
        if data is not node["data"]:
            node = {**node, "data": data}
    return node


def edge_without_nulls(edge: Any) -> Any:
    return _drop(edge, _EDGE_OPTIONAL)


def without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """A schema-checked Graph body with ``null`` optional fields removed (shallow copies only)."""
    out = _drop(body, _GRAPH_OPTIONAL)
    out = {
        **out,
        "nodes": [node_without_nulls(n) for n in out["nodes"]],
        "edges": [edge_without_nulls(e) for e in out["edges"]],
    }
    return out


def check_node(node: Fields) -> None:
    """A GraphNode: non-empty ``id`` and ``type``; ``position`` and ``data`` shaped as §4.4 says."""
    node.string("id", min_length=1)
    node.string("type", min_length=1)
    position = node.nested("position", default=None)
    if position is not None:
        position.number("x")
        position.number("y")
    data = node.nested("data", default=None)
    if data is not None:
        data.mapping("params", default=None)
        overrides = data.nested("internalParams", default=None)
        if overrides is not None:
            for member, values in overrides.data.items():
                if not isinstance(values, dict):
                    overrides.problem(member, "Input should be an object", "wrong_type")


def check_edge(edge: Fields) -> None:
    """A GraphEdge: string ``source``/``target``; optional string handles and id; a known type."""
    edge.string("source")
    edge.string("target")
    edge.string("sourceHandle", default=None)
    edge.string("targetHandle", default=None)
    edge.choice("type", EDGE_TYPES, default=None)
    edge.string("id", default=None)


def _check_preset(preset: Fields) -> None:
    """A graph-embedded PresetDefinition (§4.5: ``preset_name``, ``nodes``, ``edges`` required)."""
    preset.string("preset_name", min_length=1)
    preset.string("category", default=None)
    preset.string("description", default=None)
    tags = preset.array("tags", default=None)
    for index, tag in enumerate(tags or ()):
        if not isinstance(tag, str):
            loc = (*preset.loc, "tags", index)
            preset.problems.append(Problem(loc, "Input should be a valid string", "wrong_type"))
    for _, member in preset.items("nodes"):
        member.string("id")
        member.string("type")
        member.mapping("params", default=None)
        member.mapping("internalParams", default=None)
    for _, edge in preset.items("edges"):
        for key in ("source", "sourceHandle", "target", "targetHandle"):
            edge.string(key)
    for side in ("exposed_inputs", "exposed_outputs"):
        for _, port in preset.items(side, default=None):
            for key in ("name", "internal_node", "internal_port"):
                port.string(key)
            port.string("data_type", default=None)
            port.string("description", default=None)
    for _, param in preset.items("exposed_params", default=None):
        for key in ("internal_node", "param_name", "display_name"):
            param.string(key)
        param.string("group", default=None)
        param.mapping("param_def", default=None)

