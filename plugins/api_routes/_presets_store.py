"""Creating user presets from a canvas selection (api.md §2.3.3, engine.md §7.3).

The kernel knows how to load, check and expand presets but not how to make one from canvas nodes;
that is what this module adds. :func:`read_request` checks the body schema, :func:`create_preset`
runs steps 2 to 13 in order (the first failure answers) under the presets lock, writes
``presets/<file>.json`` atomically and rebuilds the registry's presets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from nodeloom.api import ApiError, Fields, Problem
from nodeloom.kernel.build import preset_files
from nodeloom.kernel.fsutil import atomic_write_json
from nodeloom.kernel.graph import NOTE_TYPE, blank_secrets, graph_from_dict, preset_name_of
from nodeloom.kernel.presets import resolve_preset
from nodeloom.kernel.registry import NodeEntry, RegistrySnapshot
from nodeloom.kernel.validation import effective_params, output_ports

from nodeloom.api.files import confined, target_lock
from ._graph_schema import check_edge, check_node, edge_without_nulls, node_without_nulls

__all__ = ["CreateRequest", "ExposeSpec", "create_preset", "preset_file_stem", "read_request"]

NAME_MAX = 100
FILE_STEM_MAX = 100
_FILE_UNSAFE = re.compile(r"[^a-z0-9_-]+")
NOTHING_EXPOSED = "Subgraph has no unconnected ports — it needs at least one exposed input or output"


# ---------------------------------------------------------------------------- the request


@attrs.frozen
class ExposeSpec:
    """One entry of ``exposed_inputs`` / ``exposed_outputs`` (canvas node ids)."""

    node: str
    port: str
    name: str | None = None
    description: str | None = None


@attrs.frozen
class CreateRequest:
    """The checked body of ``POST /api/presets/create``; nodes and edges stay raw canvas JSON."""

    name: str
    nodes: tuple[Mapping[str, Any], ...]
    edges: tuple[Mapping[str, Any], ...]
    description: str = ""
    category: str = "Custom"
    tags: tuple[str, ...] = ()
    exposed_inputs: tuple[ExposeSpec, ...] | None = None
    exposed_outputs: tuple[ExposeSpec, ...] | None = None
    overwrite: bool = False


def read_request(body: Fields) -> CreateRequest:
    """Step 1: the schema. Raises the 422 ``validation_error`` listing every problem."""
    name = body.string("name")
    description = body.string("description", default="")
    category = body.string("category", default="Custom")
    tags = body.array("tags", default=[]) or []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str):
            body.problems.append(Problem((*body.loc, "tags", index), "Input should be a valid string", "wrong_type"))
    for _, node in body.items("nodes"):
        check_node(node)
    for _, edge in body.items("edges"):
        check_edge(edge)
    exposed = {key: _read_exposed(body, key) for key in ("exposed_inputs", "exposed_outputs")}
    overwrite = body.boolean("overwrite", default=False)
    body.raise_if_problems()
    return CreateRequest(
        name=name,
        nodes=tuple(node_without_nulls(n) for n in body.data["nodes"]),
        edges=tuple(edge_without_nulls(e) for e in body.data["edges"]),
        description=description,
        category=category,
        tags=tuple(tags),
        exposed_inputs=exposed["exposed_inputs"],
        exposed_outputs=exposed["exposed_outputs"],
        overwrite=overwrite,
    )


def _read_exposed(body: Fields, key: str) -> tuple[ExposeSpec, ...] | None:
    if body.data.get(key) is None:
        return None  # null or absent: automatic exposure (step 10)
    specs = []
    for _, item in body.items(key):
        node = item.string("node")
        port = item.string("port")
        name = item.string("name", default=None, min_length=1)
        description = item.string("description", default=None)
        specs.append(ExposeSpec(node=node, port=port, name=name, description=description))
    return tuple(specs)


# ---------------------------------------------------------------------------- names and files


def preset_file_stem(name: str) -> str:
    """Step 12: lower-cased, runs outside ``[a-z0-9_-]`` become one ``_``, cut to 100 characters."""
    return _FILE_UNSAFE.sub("_", name.lower())[:FILE_STEM_MAX]


def _is_control(ch: str) -> bool:
    # C1 controls too: the preset loader rejects them, so such a file would never load.
    return ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F


def check_preset_name(raw: str) -> str:
    """The trimmed name, or a 400 ``invalid_name``."""
    name = raw.strip()
    reason = None
    if not 1 <= len(name) <= NAME_MAX:
        reason = f"must have 1 to {NAME_MAX} characters after trimming"
    elif any(_is_control(ch) for ch in name):
        reason = "contains a control character"
    elif "/" in name or "\\" in name:
        reason = "contains '/' or '\\'"
    if reason is not None:
        raise ApiError(400, "invalid_name", f"Invalid name '{raw}': {reason}")
    return name


@attrs.frozen
class _UserPresets:
    """The user presets on disk: which file holds which name (None: unreadable)."""

    files: tuple[tuple[Path, str | None], ...]

    @classmethod
    def scan(cls, folder: Path) -> _UserPresets:
        found = []
        for path in preset_files(folder):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                name = data.get("preset_name") if isinstance(data, dict) else None
            except (OSError, ValueError):
                name = None
            found.append((path, name if isinstance(name, str) else None))
        return cls(tuple(found))

    def file_of(self, name: str) -> Path | None:
        return next((path for path, held in self.files if held == name), None)

    def holder_of(self, target: Path) -> tuple[bool, str | None]:
        """(exists, preset name) for ``target``; compared as files, so case-folding disks match."""
        for path, held in self.files:
            try:
                if path.samefile(target):
                    return True, held
            except OSError:
                continue
        return False, None


def _plugin_of(snapshot: RegistrySnapshot, name: str, source: str) -> str:
    if source.startswith("plugin:"):
        return source.partition(":")[2]
    owner = next((p.id for p in snapshot.packs.values() if name in p.presets), None)
    return owner or source


def _name_checks(req: CreateRequest, snapshot: RegistrySnapshot, folder: Path) -> tuple[str, Path, bool]:
    """Step 6: ``(name, file to write, whether it replaces an existing file)``."""
    name = check_preset_name(req.name)
    entry = snapshot.presets.get(name)
    if entry is not None and entry.source != "user":
        plugin = _plugin_of(snapshot, name, entry.source)
        raise ApiError(
            409,
            "preset_read_only",
            f"Preset '{name}' is provided by plugin '{plugin}' and cannot be overwritten",
        )
    on_disk = _UserPresets.scan(folder)
    existing = on_disk.file_of(name)
    if existing is not None and not req.overwrite:
        raise ApiError(409, "preset_exists", f"Preset '{name}' already exists")
    file_name = f"{preset_file_stem(name)}.json"
    computed = confined(folder, file_name, single_segment=True)
    taken, holder = on_disk.holder_of(computed)
    if computed.exists() and not computed.is_file():
        raise ApiError(
            409, "preset_file_conflict", f"Preset name '{name}' maps to '{file_name}', which is not a regular file"
        )
    if taken and holder != name:
        other = holder if holder is not None else "(unreadable file)"
        raise ApiError(
            409,
            "preset_file_conflict",
            f"Preset name '{name}' maps to file '{file_name}', which holds preset '{other}'",
        )
    if existing is not None:
        # An overwrite replaces the file the preset already lives in, whatever it is called.
        return name, confined(folder, existing.name, single_segment=True), True
    return name, computed, taken


# ---------------------------------------------------------------------------- the selection


def invalid_preset(detail: str, **extra: Any) -> ApiError:
    return ApiError(400, "invalid_preset", detail, **extra)


@attrs.frozen
class _Port:
    data_type: str
    description: str


@attrs.define
class _Member:
    """One selected canvas node and what it offers inside the preset."""

    client_id: str
    new_id: str
    type: str
    entry: NodeEntry | None  # plain nodes
    preset: str | None  # preset instances: the preset name
    params: dict[str, Any]
    internal_params: dict[str, Any] | None
    inputs: dict[str, _Port]
    outputs: dict[str, _Port]


def _member_ports(
    node_type: str, snapshot: RegistrySnapshot, params: Mapping[str, Any]
) -> tuple[NodeEntry | None, str | None, dict[str, _Port], dict[str, _Port]] | None:
    """What a canvas node type offers, or None when it does not resolve (step 5)."""
    preset = preset_name_of(node_type)
    if preset is not None:
        entry = snapshot.presets.get(preset)
        if entry is None:
            return None
        definition = entry.definition
        sides = []
        for key in ("exposed_inputs", "exposed_outputs"):
            side = {}
            for port in definition.get(key) or ():
                if isinstance(port, Mapping) and isinstance(port.get("name"), str):
                    side[port["name"]] = _Port(port.get("data_type") or "ANY", port.get("description") or "")
            sides.append(side)
        return None, preset, sides[0], sides[1]
    found = snapshot.lookup(node_type).entry
    if found is None:
        return None
    spec = found.spec
    outputs = output_ports(spec, effective_params(spec, params))
    return (
        found,
        None,
        {p.name: _Port(p.type, p.description) for p in spec.inputs},
        {p.name: _Port(p.type, p.description) for p in outputs},
    )


def _selection(req: CreateRequest, snapshot: RegistrySnapshot) -> tuple[list[_Member], list[Mapping[str, Any]]]:
    """Steps 2 to 5 and 8 to 9: notes dropped, ids unique, types resolved, secrets blanked."""
    nodes = [n for n in req.nodes if n["type"] != NOTE_TYPE]
    notes = {n["id"] for n in req.nodes if n["type"] == NOTE_TYPE}
    edges = [e for e in req.edges if e["source"] not in notes and e["target"] not in notes]
    if not nodes:
        raise invalid_preset("Graph must have at least one node")
    seen: set[str] = set()
    for node in nodes:
        if node["id"] in seen:
            raise invalid_preset(f"Duplicate node id: {node['id']}")
        seen.add(node["id"])
    # Secrets are blanked by the kernel's own rule (node params and preset internalParams).
    graph = blank_secrets(graph_from_dict({"nodes": nodes, "edges": []}), snapshot)
    members: list[_Member] = []
    unknown: list[tuple[str, str]] = []
    for index, node in enumerate(graph.nodes):
        resolved = _member_ports(node.type, snapshot, node.params)
        if resolved is None:
            unknown.append((node.type, node.id))
            continue
        entry, preset, inputs, outputs = resolved
        members.append(
            _Member(
                client_id=node.id,
                new_id=f"node_{index}",
                type=node.type,
                entry=entry,
                preset=preset,
                params={} if preset is not None else dict(node.params),
                internal_params=dict(node.internal_params) if preset is not None else None,
                inputs=inputs,
                outputs=outputs,
            )
        )
    if unknown:
        listed = ", ".join(f"{t} (node {i})" for t, i in unknown)
        raise invalid_preset(f"Unknown node type(s): {listed}", unknown_types=sorted({t for t, _ in unknown}))
    return members, edges


def _internal_edges(edges: Sequence[Mapping[str, Any]], by_id: Mapping[str, _Member]) -> list[dict[str, str]]:
    """Step 7: trigger edges and edges leaving the selection dropped; handles checked; remapped."""
    out = []
    for index, edge in enumerate(edges):
        if edge.get("type") == "trigger":
            continue
        source, target = by_id.get(edge["source"]), by_id.get(edge["target"])
        if source is None or target is None:
            continue
        label = edge["id"] if isinstance(edge.get("id"), str) else f"#{index}"
        s_handle = edge.get("sourceHandle") or ""
        t_handle = edge.get("targetHandle") or ""
        if s_handle not in source.outputs:
            raise invalid_preset(
                f"Edge {label}: '{s_handle}' is not an output port of node {source.client_id} ({source.type})"
            )
        if t_handle not in target.inputs:
            raise invalid_preset(
                f"Edge {label}: '{t_handle}' is not an input port of node {target.client_id} ({target.type})"
            )
        out.append(
            {"source": source.new_id, "sourceHandle": s_handle, "target": target.new_id, "targetHandle": t_handle}
        )
    return out


def _exposed_port(member: _Member, port: str, info: _Port, name: str | None, description: str | None) -> dict[str, Any]:
    return {
        "name": name if name is not None else f"{member.new_id}_{port}",
        "internal_node": member.new_id,
        "internal_port": port,
        "data_type": info.data_type,
        "description": description if description is not None else f"{member.type}: {info.description or port}",
    }


def _exposed_side(
    side: str,
    specs: tuple[ExposeSpec, ...] | None,
    members: Sequence[_Member],
    by_id: Mapping[str, _Member],
    wired: set[tuple[str, str]],
) -> list[dict[str, Any]]:
    """Step 10 for one side; ``wired`` holds the (new id, port) pairs internal edges use there."""
    kind = "input" if side == "exposed_inputs" else "output"
    out: list[dict[str, Any]] = []
    if specs is None:
        for member in members:
            ports = member.inputs if kind == "input" else member.outputs
            for port, info in ports.items():
                if (member.new_id, port) not in wired:
                    out.append(_exposed_port(member, port, info, None, None))
    else:
        for index, spec in enumerate(specs):
            where = f"{side}[{index}]"
            member = by_id.get(spec.node)
            if member is None:
                raise invalid_preset(f"{where}: node '{spec.node}' is not among the selected nodes")
            ports = member.inputs if kind == "input" else member.outputs
            if spec.port not in ports:
                raise invalid_preset(f"{where}: node {spec.node} ({member.type}) has no {kind} port '{spec.port}'")
            if kind == "input" and (member.new_id, spec.port) in wired:
                raise invalid_preset(
                    f"{where}: input '{spec.port}' of node {spec.node} is already fed by an internal edge"
                )
            out.append(_exposed_port(member, spec.port, ports[spec.port], spec.name, spec.description))
    names: set[str] = set()
    for item in out:
        if item["name"] in names:
            raise invalid_preset(f"Duplicate exposed {kind} name '{item['name']}'")
        names.add(item["name"])
    return out


def _exposed_params(members: Sequence[_Member]) -> list[dict[str, Any]]:
    """Step 11: every non-secret param of every plain internal node.

    Preset instances have no params of their own (their values live in ``internalParams``).
    """
    out = []
    for member in members:
        if member.entry is None:
            continue
        for param in member.entry.spec.params:
            if param.param_type == "secret":
                continue
            out.append(
                {
                    "internal_node": member.new_id,
                    "param_name": param.name,
                    "display_name": f"{member.type} - {param.name}",
                    "group": member.type,
                }
            )
    return out


def build_definition(
    req: CreateRequest, name: str, members: Sequence[_Member], edges: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Steps 7 to 11 on the selection of :func:`_selection`: the definition to store."""
    by_id = {m.client_id: m for m in members}
    internal = _internal_edges(edges, by_id)
    nodes = []
    for member in members:
        if member.preset is not None:
            nodes.append(
                {"id": member.new_id, "type": member.type, "params": {}, "internalParams": member.internal_params or {}}
            )
        else:
            nodes.append({"id": member.new_id, "type": member.type, "params": member.params})
    fed = {(e["target"], e["targetHandle"]) for e in internal}
    used = {(e["source"], e["sourceHandle"]) for e in internal}
    inputs = _exposed_side("exposed_inputs", req.exposed_inputs, members, by_id, fed)
    outputs = _exposed_side("exposed_outputs", req.exposed_outputs, members, by_id, used)
    params = _exposed_params(members)
    if not inputs and not outputs:
        raise invalid_preset(NOTHING_EXPOSED)
    return {
        "preset_name": name,
        "category": req.category,
        "description": req.description,
        "tags": list(req.tags),
        "nodes": nodes,
        "edges": internal,
        "exposed_inputs": inputs,
        "exposed_outputs": outputs,
        "exposed_params": params,
    }


# ---------------------------------------------------------------------------- create


def _check_loads(definition: Mapping[str, Any], snapshot: RegistrySnapshot) -> None:
    """Refuse a preset the registry would list as unavailable (e.g. an edge of mismatched types)."""
    entry = resolve_preset(definition, snapshot, "user")
    if not entry.available:
        raise invalid_preset(f"Preset '{definition['preset_name']}' would not load: {entry.error}")


def create_preset(req: CreateRequest, kernel: Any) -> dict[str, Any]:
    """Steps 2 to 13; blocking (file I/O and a registry rebuild), so run it in a worker thread.

    Returns the PresetDefinition as the rebuilt registry holds it.
    """
    folder = kernel.data_dir.area("presets")
    folder.mkdir(parents=True, exist_ok=True)
    with target_lock("presets", str(folder.resolve())):
        snapshot = kernel.snapshot
        members, edges = _selection(req, snapshot)
        name, target, replaces = _name_checks(req, snapshot, folder)
        definition = build_definition(req, name, members, edges)
        _check_loads(definition, snapshot)
        atomic_write_json(target, definition)
        kernel.reload(sources={"presets"}, explicit=True)
        entry = kernel.snapshot.presets.get(name)
        if entry is None or entry.source != "user":
            # A plugin took the name between our check and the rebuild: leave no orphan file.
            if not replaces:
                target.unlink(missing_ok=True)
                kernel.reload(sources={"presets"}, explicit=True)
            raise ApiError(409, "preset_read_only", f"Preset '{name}' is provided by a plugin and cannot be overwritten")
        return entry.wire()
