"""Presets: definition normalisation, load checks and graph expansion (engine.md §4.2, §7.1).

* :func:`normalize_preset` turns a raw definition into its canonical dict (defaults applied,
  unknown keys kept) or raises :class:`PresetError`.
* :func:`resolve_preset` runs the load checks and fills ``data_type``/``param_def``; a failing
  preset is returned with ``available=False`` and its ``error`` instead of being dropped.
* :func:`expand_presets` flattens every ``preset:<name>`` instance of a graph into its internal
  nodes, re-pointing edges through the exposed ports, and records where each expanded node came
  from. Problems are returned as :class:`Finding` objects; validation decides their severity.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .graph import Graph, GraphEdge, GraphNode, NodeData, edge_label, preset_name_of
from .ports import types_compatible
from .prepared import Issue
from .registry import PresetEntry

__all__ = [
    "MAX_PRESET_DEPTH",
    "ExpandedEdge",
    "Expansion",
    "Finding",
    "PresetError",
    "expand_presets",
    "find_cycle",
    "normalize_preset",
    "resolve_preset",
]

MAX_PRESET_DEPTH = 10
_OUTPUT_ONLY = ("source", "available", "error")


class PresetError(ValueError):
    """A preset definition that is malformed (wrong JSON shape)."""


# -- normalisation -----------------------------------------------------------------------------


def _require_str(value: Any, what: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and value == ""):
        kind = "a string" if empty_ok else "a non-empty string"
        raise PresetError(f"{what} must be {kind}, got {value!r}")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, default: str, what: str) -> str:
    value = obj.get(key)
    if value is None:
        return default
    return _require_str(value, f"{what}.{key}", empty_ok=True)


def _objects(raw: Mapping[str, Any], key: str, where: str, *, required: bool) -> list[Mapping[str, Any]]:
    if key not in raw or raw[key] is None:
        if required:
            raise PresetError(f"{where}: '{key}' is required")
        return []
    items = raw[key]
    if not isinstance(items, list):
        raise PresetError(f"{where}: '{key}' must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise PresetError(f"{where}: {key}[{i}] must be an object")
    return items


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise PresetError(f"preset_name must be a string of 1 to 100 characters, got {name!r}")
    if any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in name):
        raise PresetError(f"preset_name must not contain control characters: {name!r}")
    return name


def normalize_preset(raw: Any) -> dict[str, Any]:
    """The canonical form of a preset definition (engine.md §7.1, api.md §4.5).

    Applies the defaults (``category`` "Preset", ``description`` "", ``tags`` [], empty exposed
    lists, handles "", exposed ``data_type``/``description`` "", ``group`` "", ``param_def``
    None), keeps unknown keys, drops the output-only ``source``/``available``/``error`` and shares
    no objects with ``raw``. Raises :class:`PresetError` (a ValueError) when the shape is wrong.
    """
    if not isinstance(raw, Mapping):
        raise PresetError("a preset definition must be a JSON object")
    name = _check_name(raw.get("preset_name"))
    where = f"Preset '{name}'"
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k not in _OUTPUT_ONLY}
    out["preset_name"] = name
    out["category"] = _optional_str(raw, "category", "Preset", where)
    out["description"] = _optional_str(raw, "description", "", where)
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise PresetError(f"{where}: 'tags' must be a list of strings")
    out["tags"] = list(tags)

    nodes = []
    seen: set[str] = set()
    for i, node in enumerate(_objects(raw, "nodes", where, required=True)):
        what = f"{where}: nodes[{i}]"
        node_id = _require_str(node.get("id"), f"{what}.id")
        node_type = _require_str(node.get("type"), f"{what}.type")
        if node_id in seen:
            raise PresetError(f"{where}: duplicate internal node id {node_id!r}")
        seen.add(node_id)
        params = node.get("params")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise PresetError(f"{what}.params must be an object")
        item = {k: copy.deepcopy(v) for k, v in node.items()}
        item.update(id=node_id, type=node_type, params=copy.deepcopy(dict(params)))
        if "internalParams" in node:
            overrides = node["internalParams"]
            if overrides is None:
                item.pop("internalParams")
            elif not isinstance(overrides, Mapping):
                raise PresetError(f"{what}.internalParams must be an object")
        nodes.append(item)
    out["nodes"] = nodes

    edges = []
    for i, edge in enumerate(_objects(raw, "edges", where, required=True)):
        what = f"{where}: edges[{i}]"
        item = {k: copy.deepcopy(v) for k, v in edge.items()}
        item["source"] = _require_str(edge.get("source"), f"{what}.source")
        item["target"] = _require_str(edge.get("target"), f"{what}.target")
        item["sourceHandle"] = _optional_str(edge, "sourceHandle", "", what)
        item["targetHandle"] = _optional_str(edge, "targetHandle", "", what)
        edges.append(item)
    out["edges"] = edges

    for key in ("exposed_inputs", "exposed_outputs"):
        ports = []
        names: set[str] = set()
        for i, port in enumerate(_objects(raw, key, where, required=False)):
            what = f"{where}: {key}[{i}]"
            item = {k: copy.deepcopy(v) for k, v in port.items()}
            item["name"] = _require_str(port.get("name"), f"{what}.name")
            item["internal_node"] = _require_str(port.get("internal_node"), f"{what}.internal_node")
            item["internal_port"] = _require_str(port.get("internal_port"), f"{what}.internal_port")
            item["data_type"] = _optional_str(port, "data_type", "", what)
            item["description"] = _optional_str(port, "description", "", what)
            if item["name"] in names:
                raise PresetError(f"{where}: duplicate name {item['name']!r} in {key}")
            names.add(item["name"])
            ports.append(item)
        out[key] = ports

    exposed_params = []
    for i, param in enumerate(_objects(raw, "exposed_params", where, required=False)):
        what = f"{where}: exposed_params[{i}]"
        item = {k: copy.deepcopy(v) for k, v in param.items()}
        item["internal_node"] = _require_str(param.get("internal_node"), f"{what}.internal_node")
        item["param_name"] = _require_str(param.get("param_name"), f"{what}.param_name")
        item["display_name"] = _require_str(param.get("display_name"), f"{what}.display_name", empty_ok=True)
        item["group"] = _optional_str(param, "group", "", what)
        param_def = param.get("param_def")
        if param_def is not None and not isinstance(param_def, Mapping):
            raise PresetError(f"{what}.param_def must be an object or null")
        item["param_def"] = copy.deepcopy(param_def)
        exposed_params.append(item)
    out["exposed_params"] = exposed_params
    return out


# -- load checks -------------------------------------------------------------------------------


@attrs.define
class _Interface:
    """What a preset (or node) offers to its surroundings, plus the problems found on the way."""

    inputs: dict[str, str] = attrs.field(factory=dict)  # port -> type
    outputs: dict[str, str] = attrs.field(factory=dict)
    params: dict[str, dict[str, Any] | None] = attrs.field(factory=dict)  # name -> ParamDefinition
    errors: list[str] = attrs.field(factory=list)


def _node_interface(spec: Any, params: Mapping[str, Any]) -> _Interface:
    effective = {**spec.default_params(), **params}
    try:
        outputs = spec.output_ports(effective)
    except Exception:  # a dynamic_outputs that cannot read these params: fall back to the static list
        outputs = spec.outputs
    return _Interface(
        inputs={p.name: p.type for p in spec.inputs},
        outputs={p.name: p.type for p in outputs},
        params={p.name: p.wire() for p in spec.params},
    )


def find_cycle(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]`` (first found in node order), else None."""
    order = list(nodes)
    succ: dict[str, list[str]] = {n: [] for n in order}
    for a, b in edges:
        if a in succ and b in succ:
            succ[a].append(b)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in order:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(succ[node]):
                stack[-1] = (node, i + 1)
                nxt = succ[node][i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


class _Resolver:
    """Load checks for one preset, recursing into nested presets."""

    def __init__(self, snapshot: Any, embedded: Mapping[str, Mapping[str, Any]]) -> None:
        self.snapshot = snapshot
        self.embedded = embedded

    def definition(self, name: str) -> Mapping[str, Any] | None:
        entry = self.snapshot.presets.get(name)
        if entry is not None:
            try:
                return normalize_preset(entry.definition)
            except PresetError:
                pass
        raw = self.embedded.get(name)
        if raw is not None:
            try:
                return normalize_preset(raw)
            except PresetError:
                return None
        return None

    def member(self, member: Mapping[str, Any], chain: tuple[str, ...]) -> _Interface | None:
        """The interface of one internal node, or None (with errors) when its type fails."""
        node_type = member["type"]
        nested = preset_name_of(node_type)
        if nested is not None:
            if nested in chain:
                loop = " -> ".join(chain[chain.index(nested) :] + (nested,))
                return _Interface(errors=[f"Preset '{nested}' contains itself ({loop})"])
            if len(chain) >= MAX_PRESET_DEPTH:
                return _Interface(errors=[f"Preset nesting exceeds the maximum depth of {MAX_PRESET_DEPTH}"])
            definition = self.definition(nested)
            if definition is None:
                return _Interface(errors=[f"Unknown preset: {nested} (node {member['id']})"])
            inner = self.interface(definition, chain + (nested,))
            if inner.errors:
                inner.errors = [f"nested preset '{nested}' (node {member['id']}): {e}" for e in inner.errors]
            return inner
        found = self.snapshot.lookup(node_type)
        if found.entry is None:
            if found.error == "ambiguous_node_type":
                return _Interface(
                    errors=[
                        f"Ambiguous node type: {node_type} (node {member['id']}) matches "
                        f"{', '.join(found.candidates)}; use a qualified name"
                    ]
                )
            return _Interface(errors=[f"Unknown node type: {node_type} (node {member['id']})"])
        return _node_interface(found.entry.spec, member.get("params") or {})

    def interface(self, definition: Mapping[str, Any], chain: tuple[str, ...]) -> _Interface:
        """Check ``definition`` (normalised) and return its exposed interface."""
        errors: list[str] = []
        members: dict[str, _Interface | None] = {}
        types: dict[str, str] = {}
        for member in definition["nodes"]:
            info = self.member(member, chain)
            types[member["id"]] = member["type"]
            if info is not None and info.errors:
                errors.extend(info.errors)
                info = None
            members[member["id"]] = info

        def port_type(kind: str, node_id: str, port: str, what: str) -> str:
            if node_id not in members:
                errors.append(f"{what} names unknown internal node '{node_id}'")
                return "ANY"
            info = members[node_id]
            if info is None:
                return "ANY"  # the node's own failure is already reported
            ports = info.inputs if kind == "input" else info.outputs
            if port not in ports:
                errors.append(f"{what}: node '{node_id}' ({types[node_id]}) has no {kind} port '{port}'")
                return "ANY"
            return ports[port]

        result = _Interface()
        for item in definition["exposed_inputs"]:
            what = f"exposed input '{item['name']}'"
            result.inputs[item["name"]] = port_type("input", item["internal_node"], item["internal_port"], what)
        for item in definition["exposed_outputs"]:
            what = f"exposed output '{item['name']}'"
            result.outputs[item["name"]] = port_type("output", item["internal_node"], item["internal_port"], what)
        for item in definition["exposed_params"]:
            node_id, param = item["internal_node"], item["param_name"]
            if node_id not in members:
                errors.append(f"exposed param '{param}' names unknown internal node '{node_id}'")
                continue
            info = members[node_id]
            if info is None:
                continue
            if param not in info.params:
                errors.append(f"exposed param '{param}': node '{node_id}' ({types[node_id]}) has no param '{param}'")
                continue
            result.params[f"{node_id}.{param}"] = info.params[param]

        for i, edge in enumerate(definition["edges"]):
            src, dst = edge["source"], edge["target"]
            what = f"edge #{i} ({src}.{edge['sourceHandle']} -> {dst}.{edge['targetHandle']})"
            missing = [n for n in (src, dst) if n not in members]
            if missing:
                errors.append(f"{what} references missing node {', '.join(missing)}")
                continue
            s_info, t_info = members[src], members[dst]
            if s_info is None or t_info is None:
                continue
            s_type = s_info.outputs.get(edge["sourceHandle"])
            t_type = t_info.inputs.get(edge["targetHandle"])
            if s_type is None:
                errors.append(f"{what}: invalid output port '{edge['sourceHandle']}' on {types[src]} (node {src})")
            if t_type is None:
                errors.append(f"{what}: invalid input port '{edge['targetHandle']}' on {types[dst]} (node {dst})")
            if s_type is not None and t_type is not None and not types_compatible(s_type, t_type):
                errors.append(
                    f"Type mismatch: {types[src]}.{edge['sourceHandle']} ({s_type}) -> "
                    f"{types[dst]}.{edge['targetHandle']} ({t_type})"
                )
        cycle = find_cycle(members, ((e["source"], e["target"]) for e in definition["edges"]))
        if cycle is not None:
            errors.append(f"internal edges contain a cycle: {' -> '.join(cycle)}")
        result.errors = errors
        return result


def _fill(definition: dict[str, Any], resolver: _Resolver, chain: tuple[str, ...]) -> list[str]:
    """Fill ``data_type``/``param_def`` in place; returns the load-check errors."""
    info = resolver.interface(definition, chain)
    members = {m["id"]: m for m in definition["nodes"]}
    member_info: dict[str, _Interface | None] = {}
    for key, kind in (("exposed_inputs", "inputs"), ("exposed_outputs", "outputs")):
        for item in definition[key]:
            item["data_type"] = getattr(info, kind).get(item["name"], "ANY")
    for item in definition["exposed_params"]:
        node_id, param = item["internal_node"], item["param_name"]
        if node_id not in members:
            continue
        if node_id not in member_info:
            member_info[node_id] = resolver.member(members[node_id], chain)
        found = member_info[node_id]
        if found is not None and not found.errors and param in found.params:
            item["param_def"] = copy.deepcopy(found.params[param])
    return info.errors


def _fallback_definition(raw: Any) -> dict[str, Any]:
    """A wire-shaped stand-in for a definition too malformed to normalise."""
    base = dict(raw) if isinstance(raw, Mapping) else {}
    name = base.get("preset_name")
    out = {
        "category": "Preset",
        "description": "",
        "tags": [],
        "nodes": [],
        "edges": [],
        "exposed_inputs": [],
        "exposed_outputs": [],
        "exposed_params": [],
    }
    for key, value in base.items():
        if key not in _OUTPUT_ONLY and (key not in out or isinstance(value, type(out[key]))):
            out[key] = copy.deepcopy(value)
    out["preset_name"] = name if isinstance(name, str) else str(name)
    return out


def resolve_preset(
    definition: Any,
    snapshot: Any,
    source: str,
    *,
    embedded: Mapping[str, Mapping[str, Any]] | None = None,
) -> PresetEntry:
    """Run the load checks of engine.md §7.1 and return the resolved :class:`PresetEntry`.

    Internal node types resolve through ``snapshot.lookup``; nested ``preset:`` nodes through
    ``snapshot.presets`` then ``embedded`` (graph-embedded definitions by name). Exposed ports get
    ``data_type`` from the internal port (``ANY`` when unresolvable) and exposed params get
    ``param_def`` (ParamSpec wire form). Problems make the entry ``available=False`` with every
    message joined by ``"; "`` in ``error``; nothing is raised.
    """
    try:
        normalized = normalize_preset(definition)
    except PresetError as exc:
        return PresetEntry(definition=_fallback_definition(definition), source=source, available=False, error=str(exc))
    resolver = _Resolver(snapshot, embedded or {})
    errors = _fill(normalized, resolver, (normalized["preset_name"],))
    if errors:
        return PresetEntry(definition=normalized, source=source, available=False, error="; ".join(errors))
    return PresetEntry(definition=normalized, source=source)


# -- expansion ---------------------------------------------------------------------------------


@attrs.frozen
class Finding:
    """An issue found before the executable set is known, with the node ids it concerns.

    Validation keeps the issue an error when any subject is executable (a preset instance counts
    through its members); with no subjects the issue is graph-level and never downgraded.
    """

    issue: Issue
    subjects: frozenset[str] = frozenset()


@attrs.frozen
class ExpandedEdge:
    """An edge of the expanded graph.

    ``label`` is how messages name it (id, ``#<index>`` in the normalised graph, or
    ``<instance>__#<index>`` for a preset's internal edge); ``origin`` is the index of the graph
    edge it came from (None for internal edges; trigger fan-out repeats it).
    """

    edge: GraphEdge
    label: str
    origin: int | None = None


@attrs.frozen
class Expansion:
    nodes: tuple[GraphNode, ...]
    edges: tuple[ExpandedEdge, ...]
    # expanded id -> (top-level instance id, member path joined with "__")
    origins: Mapping[str, tuple[str, str]]
    # every expanded instance id (top-level and nested) -> its expanded descendants, in order
    groups: Mapping[str, tuple[str, ...]]
    # preset nodes left in place because they could not be expanded
    unexpanded: frozenset[str]
    findings: tuple[Finding, ...]

    def members_of(self, node_id: str) -> tuple[str, ...]:
        return self.groups.get(node_id, ())


@attrs.define
class _Block:
    nodes: list[GraphNode] = attrs.field(factory=list)
    edges: list[ExpandedEdge] = attrs.field(factory=list)
    inputs: dict[str, tuple[str, str]] = attrs.field(factory=dict)
    outputs: dict[str, tuple[str, str]] = attrs.field(factory=dict)


def _overlay(base: Mapping[str, Any], override: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    if isinstance(override, Mapping):
        out.update(copy.deepcopy(dict(override)))
    return out


def _merge_nested(own: Any, outer: Any) -> dict[str, Any]:
    """A nested instance's ``internalParams`` with the outer instance's overrides merged per node."""
    out: dict[str, Any] = copy.deepcopy(dict(own)) if isinstance(own, Mapping) else {}
    if isinstance(outer, Mapping) and all(isinstance(v, Mapping) for v in outer.values()):
        for inner_id, values in outer.items():
            out[inner_id] = _overlay(out.get(inner_id) or {}, values)
    return out


def _shape(definition: Mapping[str, Any]) -> tuple:
    """What two copies of a preset must share to count as the same (nodes, edges, exposed ports)."""
    return (
        [(n["id"], n["type"], n.get("params", {}), n.get("internalParams")) for n in definition["nodes"]],
        [(e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in definition["edges"]],
        [(p["name"], p["internal_node"], p["internal_port"]) for p in definition["exposed_inputs"]],
        [(p["name"], p["internal_node"], p["internal_port"]) for p in definition["exposed_outputs"]],
    )


class _Expander:
    def __init__(self, graph: Graph, snapshot: Any) -> None:
        self.snapshot = snapshot
        self.embedded: dict[str, dict[str, Any]] = {}
        for raw in graph.presets:
            try:
                definition = normalize_preset(raw)
            except PresetError:
                continue  # a malformed embedded copy is no candidate; an instance then reports unknown_preset
            self.embedded.setdefault(definition["preset_name"], definition)
        self.taken: set[str] = {n.id for n in graph.nodes}
        self.findings: list[Finding] = []
        self.origins: dict[str, tuple[str, str]] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        self.unexpanded: set[str] = set()
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._differs_reported: set[str] = set()

    def report(self, code: str, message: str, subjects: Iterable[str], **fields: Any) -> None:
        severity = "warning" if code == "preset_embedded_differs" else "error"
        issue = Issue(code=code, severity=severity, message=message, **fields)
        self.findings.append(Finding(issue, frozenset(subjects)))

    def definition(self, name: str, node_id: str) -> dict[str, Any] | None:
        if name not in self._cache:
            registry = None
            entry = self.snapshot.presets.get(name)
            if entry is not None:
                try:
                    registry = normalize_preset(entry.definition)
                except PresetError:
                    registry = None
            self._cache[name] = registry if registry is not None else self.embedded.get(name)
        chosen = self._cache[name]
        embedded = self.embedded.get(name)
        if (
            chosen is not None
            and embedded is not None
            and chosen is not embedded
            and name not in self._differs_reported
            and _shape(chosen) != _shape(embedded)
        ):
            self._differs_reported.add(name)
            self.report(
                "preset_embedded_differs",
                f"Preset '{name}' embedded in the graph differs from the installed one; the installed one is used",
                [node_id],
                node_id=node_id,
            )
        return chosen

    def claim(self, xid: str, instance: str) -> bool:
        if xid in self.taken:
            self.report(
                "expanded_id_collision",
                f"Expanded id {xid} of preset node {instance} collides with an existing node id",
                [instance, xid],
                node_id=instance,
            )
            return False
        self.taken.add(xid)
        return True

    def expand(
        self,
        instance: GraphNode,
        overrides: Mapping[str, Any],
        chain: tuple[str, ...],
        top: str,
        path: tuple[str, ...],
    ) -> _Block | None:
        """Expand one instance (its id is already expanded); None when it cannot be expanded."""
        name = instance.preset_name
        assert name is not None
        if name in chain:
            loop = " -> ".join(chain[chain.index(name) :] + (name,))
            message = f"Preset '{name}' contains itself ({loop})"
            self.report("preset_recursion", message, [instance.id], node_id=instance.id)
            return None
        if len(chain) >= MAX_PRESET_DEPTH:
            self.report(
                "preset_depth",
                f"Preset nesting exceeds the maximum depth of {MAX_PRESET_DEPTH}",
                [instance.id],
                node_id=instance.id,
            )
            return None
        definition = self.definition(name, instance.id)
        if definition is None:
            message = f"Unknown preset: {name} (node {instance.id})"
            self.report("unknown_preset", message, [instance.id], node_id=instance.id)
            return None

        block = _Block()
        nested_blocks: dict[str, _Block] = {}
        nested_edges: list[ExpandedEdge] = []
        descendants: list[str] = []
        for member in definition["nodes"]:
            xid = f"{instance.id}__{member['id']}"
            member_path = path + (member["id"],)
            override = overrides.get(member["id"]) if isinstance(overrides, Mapping) else None
            nested = preset_name_of(member["type"])
            if nested is not None:
                inner_overrides = _merge_nested(member.get("internalParams"), override)
                node = GraphNode(
                    id=xid,
                    type=member["type"],
                    position=instance.position,
                    data=NodeData(params={}, internal_params=inner_overrides),
                )
                sub = self.expand(node, inner_overrides, chain + (name,), top, member_path)
                if sub is not None:
                    nested_blocks[member["id"]] = sub
                    block.nodes.extend(sub.nodes)
                    nested_edges.extend(sub.edges)
                    descendants.extend(n.id for n in sub.nodes)
                    continue
                if not self.claim(xid, instance.id):
                    continue
                self.unexpanded.add(xid)
            else:
                if not self.claim(xid, instance.id):
                    continue
                node = GraphNode(
                    id=xid,
                    type=member["type"],
                    position=instance.position,
                    data=NodeData(params=_overlay(member.get("params") or {}, override)),
                )
            self.origins[xid] = (top, "__".join(member_path))
            block.nodes.append(node)
            descendants.append(xid)
        self.groups[instance.id] = tuple(descendants)

        def endpoint(node_id: str, port: str, kind: str) -> tuple[str, str] | None:
            sub = nested_blocks.get(node_id)
            if sub is None:
                return f"{instance.id}__{node_id}", port
            ports = sub.inputs if kind == "input" else sub.outputs
            return ports.get(port)

        for i, raw in enumerate(definition["edges"]):
            label = f"{instance.id}__#{i}"
            ends = []
            for node_id, port, kind in (
                (raw["source"], raw["sourceHandle"], "output"),
                (raw["target"], raw["targetHandle"], "input"),
            ):
                end = endpoint(node_id, port, kind)
                if end is None:
                    inner = f"{instance.id}__{node_id}"
                    inner_type = next(m["type"] for m in definition["nodes"] if m["id"] == node_id)
                    self.report(
                        "preset_port_unknown",
                        f"Edge {label} uses handle '{port}' which preset node {inner} ({inner_type}) does not expose",
                        [inner, *self.groups.get(inner, ())],
                        node_id=inner,
                        port=port,
                    )
                ends.append(end)
            if ends[0] is None or ends[1] is None:
                continue
            edge = GraphEdge(source=ends[0][0], source_handle=ends[0][1], target=ends[1][0], target_handle=ends[1][1])
            block.edges.append(ExpandedEdge(edge=edge, label=label))
        block.edges.extend(nested_edges)

        for key, ports, kind in (
            ("exposed_inputs", block.inputs, "input"),
            ("exposed_outputs", block.outputs, "output"),
        ):
            for item in definition[key]:
                end = endpoint(item["internal_node"], item["internal_port"], kind)
                # A nested handle that does not exist cannot be followed: point at the nested
                # node itself, which then fails visibly as a missing node instead of vanishing.
                ports[item["name"]] = end or (f"{instance.id}__{item['internal_node']}", item["internal_port"])
        return block


def expand_presets(graph: Graph, snapshot: Any) -> Expansion:
    """Flatten every ``preset:<name>`` node of ``graph`` (notes already stripped), engine.md §4.2.

    Definitions come from ``snapshot.presets`` first, then the graph's ``presets[]``. An instance
    that cannot be expanded (unknown preset, recursion, depth) stays in place as a node; edges
    touching it are kept unchanged. Data edges into/out of an expanded instance are re-pointed
    through its exposed ports (unknown handles are dropped with ``preset_port_unknown``); a
    trigger edge into it becomes one trigger edge per expanded member.
    """
    expander = _Expander(graph, snapshot)
    nodes: list[GraphNode] = []
    blocks: dict[str, _Block] = {}
    for node in graph.nodes:
        if node.preset_name is None:
            nodes.append(node)
            continue
        block = expander.expand(node, node.internal_params, (), node.id, ())
        if block is None:
            expander.unexpanded.add(node.id)
            nodes.append(node)
            continue
        blocks[node.id] = block
        nodes.extend(block.nodes)

    edges: list[ExpandedEdge] = []
    for index, edge in enumerate(graph.edges):
        label = edge_label(edge, index)
        if edge.is_trigger:
            if edge.target in blocks:
                for member in blocks[edge.target].nodes:
                    edges.append(ExpandedEdge(attrs.evolve(edge, target=member.id), label, index))
            else:
                edges.append(ExpandedEdge(edge, label, index))
            continue
        new = edge
        dropped = False
        for end, handle_attr, ports_attr in (
            ("source", "source_handle", "outputs"),
            ("target", "target_handle", "inputs"),
        ):
            node_id = getattr(edge, end)
            if node_id not in blocks:
                continue
            handle = getattr(edge, handle_attr)
            mapped = getattr(blocks[node_id], ports_attr).get(handle)
            if mapped is None:
                other = edge.target if end == "source" else edge.source
                instance_type = next(n.type for n in graph.nodes if n.id == node_id)
                expander.report(
                    "preset_port_unknown",
                    f"Edge {label} uses handle '{handle}' which preset node {node_id} ({instance_type}) "
                    "does not expose",
                    [node_id, other, *expander.groups.get(node_id, ())],
                    node_id=node_id,
                    edge_id=str(edge.id) if edge.id is not None else None,
                    port=handle,
                )
                dropped = True
                continue
            new = attrs.evolve(new, **{end: mapped[0], handle_attr: mapped[1]})
        if not dropped:
            edges.append(ExpandedEdge(new, label, index))
    for node in graph.nodes:
        if node.id in blocks:
            edges.extend(blocks[node.id].edges)

    return Expansion(
        nodes=tuple(nodes),
        edges=tuple(edges),
        origins=dict(expander.origins),
        groups=dict(expander.groups),
        unexpanded=frozenset(expander.unexpanded),
        findings=tuple(expander.findings),
    )
