"""The graph model (engine.md §1): attrs classes (un)structured with one cattrs converter.

Loading keeps every key the user saved. Keys the model does not know, at every level (graph, node,
node ``data``, edge, position, segment group), land in an ``extra`` dict and are written back
unchanged, so a load/save round trip drops nothing. ``presets`` entries are kept as raw mappings:
they are normalised only where they are used (:mod:`nodeloom.kernel.presets`).

Phase-0 schema rules (engine.md §5, 0.1 to 0.6) are checked on the raw JSON before structuring.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .fsutil import atomic_write_json
from .params import render_value
from .prepared import Issue

__all__ = [
    "FORMAT_VERSION",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "GraphSchemaError",
    "NodeData",
    "Position",
    "SegmentGroup",
    "blank_secrets",
    "converter",
    "edge_label",
    "graph_from_dict",
    "graph_pack_versions",
    "graph_to_dict",
    "load_graph_file",
    "parse_graph",
    "preset_name_of",
    "save_graph_file",
    "strip_notes",
]

FORMAT_VERSION = 1
PRESET_PREFIX = "preset:"
NOTE_TYPE = "note"


# -- model -------------------------------------------------------------------------------------


@attrs.frozen
class Position:
    """Canvas position; the engine ignores it. Values are kept as written (ints stay ints)."""

    x: Any = 0
    y: Any = 0
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class NodeData:
    """A node's ``data`` object.

    ``params`` / ``internal_params`` are None when the key was absent, so that saving does not
    insert them (api.md §2.4.2); :attr:`GraphNode.params` gives the ``{}`` default for readers.
    """

    params: dict[str, Any] | None = None
    internal_params: dict[str, Any] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class GraphNode:
    id: str
    type: str
    position: Position = attrs.field(factory=Position)
    data: NodeData = attrs.field(factory=NodeData)
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        """The node's stored params (``{}`` when absent). Treat as read-only."""
        return self.data.params if self.data.params is not None else {}

    @property
    def internal_params(self) -> dict[str, Any]:
        """Preset overrides ``{internal node id: {param: value}}`` (``{}`` when absent)."""
        return self.data.internal_params if self.data.internal_params is not None else {}

    @property
    def is_note(self) -> bool:
        return self.type == NOTE_TYPE

    @property
    def preset_name(self) -> str | None:
        """The preset name when this is a ``preset:<name>`` instance, else None."""
        return preset_name_of(self.type)


@attrs.frozen
class GraphEdge:
    source: str
    target: str
    source_handle: str = ""
    target_handle: str = ""
    type: str = "data"
    id: Any = None  # usually a string; None when the edge has no id
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def is_trigger(self) -> bool:
        return self.type == "trigger"

    @property
    def is_data(self) -> bool:
        return self.type == "data"


@attrs.frozen
class SegmentGroup:
    id: Any = None
    head_node_id: Any = None
    tail_node_id: Any = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Graph:
    nodes: tuple[GraphNode, ...] = attrs.field(default=(), converter=tuple)
    edges: tuple[GraphEdge, ...] = attrs.field(default=(), converter=tuple)
    name: Any = None  # None when absent; see display_name
    description: Any = ""
    presets: list[Any] = attrs.field(factory=list)  # raw preset definitions (engine.md §7.1)
    segment_groups: list[SegmentGroup] = attrs.field(factory=list)
    format_version: Any = FORMAT_VERSION  # as read; always written back as 1
    nodeloom: Any = None  # the metadata object of §1.8, None when absent
    extra: dict[str, Any] = attrs.field(factory=dict)

    @property
    def display_name(self) -> str:
        return self.name if isinstance(self.name, str) and self.name else "Untitled"

    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]

    def node_map(self) -> dict[str, GraphNode]:
        """id -> node; the first node wins when ids repeat (a phase-0 error anyway)."""
        out: dict[str, GraphNode] = {}
        for node in self.nodes:
            out.setdefault(node.id, node)
        return out


class GraphSchemaError(ValueError):
    """A graph that breaks the phase-0 schema rules; ``issues`` holds every finding."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__("; ".join(i.message for i in self.issues) or "invalid graph")


def preset_name_of(node_type: Any) -> str | None:
    if isinstance(node_type, str) and node_type.startswith(PRESET_PREFIX):
        return node_type[len(PRESET_PREFIX) :]
    return None


def edge_label(edge: GraphEdge, index: int) -> str:
    """How messages name an edge: its id, or ``#<index>`` when it has none."""
    return str(edge.id) if edge.id is not None else f"#{index}"


# -- cattrs converter --------------------------------------------------------------------------

# attribute -> JSON key, for the attributes whose JSON spelling differs.
_RENAMES: dict[type, dict[str, str]] = {
    NodeData: {"internal_params": "internalParams"},
    GraphEdge: {"source_handle": "sourceHandle", "target_handle": "targetHandle"},
    SegmentGroup: {"head_node_id": "headNodeId", "tail_node_id": "tailNodeId"},
    Graph: {"segment_groups": "segmentGroups"},
}
# attributes left out of the JSON when None (absent on load stays absent on save).
_OMIT_NONE: dict[type, tuple[str, ...]] = {
    NodeData: ("params", "internal_params"),
    GraphEdge: ("id",),
    Graph: ("name", "nodeloom"),
    SegmentGroup: ("id", "head_node_id", "tail_node_id"),
}


def _register_extra_keeping(conv: cattrs.Converter, cls: type) -> None:
    """Hooks for ``cls`` that route unknown JSON keys into ``extra`` and back out again."""
    renames = _RENAMES.get(cls, {})
    fields = [a.name for a in attrs.fields(cls) if a.name != "extra"]
    json_keys = {renames.get(name, name) for name in fields}
    omit_none = {renames.get(name, name) for name in _OMIT_NONE.get(cls, ())}
    overrides = {name: override(rename=key) for name, key in renames.items()}
    base_structure = make_dict_structure_fn(cls, conv, **overrides)
    base_unstructure = make_dict_unstructure_fn(cls, conv, extra=override(omit=True), **overrides)

    def structure(raw: Mapping[str, Any], _cls: type) -> Any:
        known: dict[str, Any] = {}
        # "extra" as a user key is just another unknown key; it never reaches the attribute.
        extra: dict[str, Any] = {}
        for k, v in raw.items():
            (known if k in json_keys else extra)[k] = v
        known["extra"] = extra
        return base_structure(known, cls)

    def unstructure(obj: Any) -> dict[str, Any]:
        out = base_unstructure(obj)
        for key in omit_none:
            if out.get(key) is None:
                out.pop(key, None)
        out.update(obj.extra)
        return out

    conv.register_structure_hook(cls, structure)
    conv.register_unstructure_hook(cls, unstructure)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    # Raw JSON values pass through untouched (no str()/int() coercion of user data).
    conv.register_structure_hook(Any, lambda value, _t: value)
    for cls in (Position, NodeData, GraphNode, GraphEdge, SegmentGroup, Graph):
        _register_extra_keeping(conv, cls)
    return conv


converter = _make_converter()


# -- phase 0 and defaults ----------------------------------------------------------------------


def _schema_issue(code: str, message: str, **subject: Any) -> Issue:
    return Issue(code=code, severity="error", message=message, **subject)


def _phase0(raw: Any, *, allow_duplicate_ids: bool = False) -> list[Issue]:
    """Rules 0.1 to 0.6 on the raw JSON, every finding collected."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("nodes"), list) or not isinstance(
        raw.get("edges"), list
    ):
        return [
            _schema_issue(
                "invalid_graph", "Graph must be a JSON object with 'nodes' and 'edges' arrays"
            )
        ]
    issues: list[Issue] = []
    seen: set[str] = set()
    for i, node in enumerate(raw["nodes"]):
        ok = (
            isinstance(node, Mapping)
            and isinstance(node.get("id"), str)
            and node["id"] != ""
            and isinstance(node.get("type"), str)
            and node["type"] != ""
        )
        if not ok:
            issues.append(
                _schema_issue(
                    "invalid_node",
                    f"Node at index {i} must be an object with non-empty string 'id' and 'type'",
                )
            )
            continue
        if node["id"] in seen and not allow_duplicate_ids:
            issues.append(
                _schema_issue("duplicate_node_id", f"Duplicate node id: {node['id']}", node_id=node["id"])
            )
        seen.add(node["id"])
    for i, edge in enumerate(raw["edges"]):
        if not (
            isinstance(edge, Mapping)
            and isinstance(edge.get("source"), str)
            and isinstance(edge.get("target"), str)
        ):
            issues.append(
                _schema_issue(
                    "invalid_edge", f"Edge at index {i} must be an object with string 'source' and 'target'"
                )
            )
            continue
        kind = edge.get("type", "data")
        if kind not in ("data", "trigger"):
            eid = edge.get("id")
            label = str(eid) if eid is not None else f"#{i}"
            issues.append(
                _schema_issue(
                    "invalid_edge_type",
                    f"Edge {label}: type must be 'data' or 'trigger', got {render_value(kind)}",
                    edge_id=str(eid) if eid is not None else None,
                )
            )
    if "format_version" in raw:
        version = raw["format_version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            issues.append(
                _schema_issue(
                    "invalid_format_version",
                    f"format_version must be an integer >= 1, got {render_value(version)}",
                )
            )
    return issues


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), much cheaper than ``deepcopy``.

    Graphs are copied on every run, so this sits on the hot path; other objects are shared.
    """
    if isinstance(value, dict):
        return {k: copy_json(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _with_defaults(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A deep copy of a phase-0-clean graph with the JSON defaults of §1.1 to §1.3 applied.

    Returns ``(graph dict, parked)``: ``segmentGroups``/``presets`` values of the wrong shape are
    parked (to be kept verbatim in ``extra``) instead of being structured. Malformed node members
    (a ``position`` or ``params`` that is not an object) fall back to their defaults: the API
    rejects such bodies with 422 before they get here.
    """
    out = copy_json(dict(raw))
    nodes = []
    for node in out["nodes"]:
        node = dict(node)
        pos = node.get("position")
        node["position"] = dict(pos) if isinstance(pos, Mapping) else {"x": 0, "y": 0}
        node["position"].setdefault("x", 0)
        node["position"].setdefault("y", 0)
        data = dict(node["data"]) if isinstance(node.get("data"), Mapping) else {}
        for key in ("params", "internalParams"):
            if key in data:
                data[key] = _dict_or_none(data[key])
        node["data"] = data
        nodes.append(node)
    out["nodes"] = nodes
    edges = []
    for edge in out["edges"]:
        edge = dict(edge)
        for key in ("sourceHandle", "targetHandle"):
            # React Flow writes null handles; they mean "no handle".
            if not isinstance(edge.get(key), str):
                edge[key] = ""
        if edge.get("type") is None:
            edge["type"] = "data"
        edges.append(edge)
    out["edges"] = edges
    parked: dict[str, Any] = {}
    groups = out.get("segmentGroups", [])
    if not (isinstance(groups, list) and all(isinstance(g, Mapping) for g in groups)):
        parked["segmentGroups"] = out.pop("segmentGroups")
    if not isinstance(out.get("presets", []), list):
        parked["presets"] = out.pop("presets")
    out.setdefault("description", "")
    if out.get("format_version") is None:
        out["format_version"] = FORMAT_VERSION
    return out, parked


def parse_graph(raw: Any, *, allow_duplicate_ids: bool = False) -> tuple[Graph | None, list[Issue]]:
    """Check phase 0 and structure ``raw`` into a :class:`Graph` with defaults applied.

    Returns ``(None, issues)`` when any phase-0 rule fails (all findings listed), else
    ``(graph, [])``. ``raw`` is never modified; the graph shares no objects with it.

    ``allow_duplicate_ids`` skips rule 0.3 for callers that store graphs without validating them
    (saving: api.md treats duplicate ids as a validation error, not a schema error).
    """
    issues = _phase0(raw, allow_duplicate_ids=allow_duplicate_ids)
    if issues:
        return None, issues
    prepared, parked = _with_defaults(raw)
    graph = converter.structure(prepared, Graph)
    if parked:
        graph = attrs.evolve(graph, extra={**graph.extra, **parked})
    return graph, []


def graph_from_dict(raw: Any, *, allow_duplicate_ids: bool = False) -> Graph:
    """Like :func:`parse_graph` but raises :class:`GraphSchemaError` on phase-0 errors."""
    graph, issues = parse_graph(raw, allow_duplicate_ids=allow_duplicate_ids)
    if graph is None:
        raise GraphSchemaError(issues)
    return graph


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The JSON form of ``graph``: ``format_version`` 1, unknown keys kept, nothing shared."""
    out = converter.unstructure(graph)
    out["format_version"] = FORMAT_VERSION
    return copy_json(out)


# -- whole-graph transforms --------------------------------------------------------------------


def strip_notes(graph: Graph) -> Graph:
    """The graph without ``note`` nodes and without any edge touching one (engine.md §1.5)."""
    notes = {n.id for n in graph.nodes if n.is_note}
    if not notes:
        return graph
    return attrs.evolve(
        graph,
        nodes=[n for n in graph.nodes if n.id not in notes],
        edges=[e for e in graph.edges if e.source not in notes and e.target not in notes],
    )


def _secret_names(snapshot: Any, node_type: Any) -> frozenset[str]:
    if not isinstance(node_type, str) or preset_name_of(node_type) is not None:
        return frozenset()
    found = snapshot.lookup(node_type).entry
    if found is None:
        return frozenset()
    return frozenset(p.name for p in found.spec.params if p.param_type == "secret")


def _blank(params: Any, secrets: frozenset[str]) -> Any:
    if not isinstance(params, Mapping) or not secrets:
        return params
    return {k: ("" if k in secrets else v) for k, v in params.items()}


def _preset_definition(snapshot: Any, embedded: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    entry = snapshot.presets.get(name)
    if entry is not None and isinstance(entry.definition, Mapping):
        return entry.definition
    return embedded.get(name)


def _blank_overrides(
    overrides: Any,
    preset: str | None,
    snapshot: Any,
    embedded: Mapping[str, Any],
    depth: int = 0,
) -> Any:
    """Blank secrets inside an ``internalParams`` object of the preset ``preset``."""
    if not isinstance(overrides, Mapping) or preset is None or depth > 10:
        return overrides
    definition = _preset_definition(snapshot, embedded, preset)
    if definition is None:
        return overrides
    members = {
        m.get("id"): m.get("type")
        for m in definition.get("nodes", ())
        if isinstance(m, Mapping)
    }
    out: dict[str, Any] = {}
    for member_id, values in overrides.items():
        member_type = members.get(member_id)
        nested = preset_name_of(member_type)
        if nested is not None:
            out[member_id] = _blank_overrides(values, nested, snapshot, embedded, depth + 1)
        else:
            out[member_id] = _blank(values, _secret_names(snapshot, member_type))
    return out


def _blank_preset_definition(definition: Any, snapshot: Any, embedded: Mapping[str, Any]) -> Any:
    if not isinstance(definition, Mapping) or not isinstance(definition.get("nodes"), list):
        return definition
    nodes = []
    for member in definition["nodes"]:
        if isinstance(member, Mapping):
            member = dict(member)
            nested = preset_name_of(member.get("type"))
            if "params" in member:
                member["params"] = _blank(member["params"], _secret_names(snapshot, member.get("type")))
            if nested is not None and "internalParams" in member:
                member["internalParams"] = _blank_overrides(
                    member["internalParams"], nested, snapshot, embedded
                )
        nodes.append(member)
    return {**definition, "nodes": nodes}


def blank_secrets(graph: Graph, snapshot: Any) -> Graph:
    """The graph with every ``secret`` param value replaced by ``""`` (engine.md §2.3, §6.1).

    Covers node params, preset instances' ``internalParams`` (nested ones too) and embedded preset
    definitions. Params of node types the snapshot does not know are left unchanged.
    """
    embedded = {
        p["preset_name"]: p
        for p in graph.presets
        if isinstance(p, Mapping) and isinstance(p.get("preset_name"), str)
    }
    nodes = []
    for node in graph.nodes:
        data = node.data
        preset = node.preset_name
        if preset is not None:
            if data.internal_params is not None:
                data = attrs.evolve(
                    data, internal_params=_blank_overrides(data.internal_params, preset, snapshot, embedded)
                )
        elif data.params is not None:
            data = attrs.evolve(data, params=_blank(data.params, _secret_names(snapshot, node.type)))
        nodes.append(node if data is node.data else attrs.evolve(node, data=data))
    presets = [_blank_preset_definition(p, snapshot, embedded) for p in graph.presets]
    return attrs.evolve(graph, nodes=nodes, presets=presets)


def graph_pack_versions(graph: Graph, snapshot: Any) -> dict[str, str]:
    """``{pack id: version}`` for the packs providing the graph's node types (engine.md §1.8).

    Types inside used presets count too; unknown types are skipped. Keys are sorted.
    """
    embedded = {
        p["preset_name"]: p
        for p in graph.presets
        if isinstance(p, Mapping) and isinstance(p.get("preset_name"), str)
    }
    found: dict[str, str] = {}
    seen_presets: set[str] = set()

    def visit(node_type: Any) -> None:
        preset = preset_name_of(node_type)
        if preset is not None:
            if preset in seen_presets:
                return
            seen_presets.add(preset)
            definition = _preset_definition(snapshot, embedded, preset)
            for member in (definition or {}).get("nodes", ()):
                if isinstance(member, Mapping):
                    visit(member.get("type"))
            return
        if not isinstance(node_type, str) or node_type == NOTE_TYPE:
            return
        hit = snapshot.lookup(node_type).entry
        if hit is not None:
            found[hit.pack_id] = hit.pack_version

    for node in graph.nodes:
        visit(node.type)
    return dict(sorted(found.items()))


# -- files -------------------------------------------------------------------------------------


def load_graph_file(path: str | os.PathLike[str]) -> Graph:
    """Read and parse a graph file (UTF-8 JSON); raises GraphSchemaError or ValueError."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return graph_from_dict(raw)


def save_graph_file(
    path: str | os.PathLike[str],
    graph: Graph,
    *,
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Path:
    """Write ``graph`` atomically as JSON (indent 2, UTF-8); ``transform`` may edit the dict first."""
    data = graph_to_dict(graph)
    if transform is not None:
        data = transform(data)
    return atomic_write_json(path, data)
