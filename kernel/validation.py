"""Graph validation: every rule of engine.md §5 after phase 0, with the draft scope rule.

:func:`validate` works on a normalised graph that has already been expanded
(:func:`nodeloom.kernel.presets.expand_presets`) and whose executable set is known
(:func:`nodeloom.kernel.prepare.executable_set`). Rules are evaluated on the whole expanded graph;
an issue whose subjects all lie outside the executable set becomes a ``draft`` warning.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .graph import FORMAT_VERSION, Graph, GraphNode
from .params import check_value, describe_problem, normalize, type_accepts
from .ports import types_compatible
from .prepared import Issue, ValidationReport
from .presets import ExpandedEdge, Expansion, Finding, find_cycle
from .registry import NodeEntry, RegistrySnapshot
from .spec import NodeSpec, PortSpec

__all__ = [
    "NO_ENTRY_POINTS_MESSAGE",
    "Resolution",
    "effective_params",
    "output_ports",
    "resolve_nodes",
    "validate",
]

NO_ENTRY_POINTS_MESSAGE = (
    "Graph has no entry points. Add a Start node and connect it to the node you want to start "
    "execution from."
)


def effective_params(spec: NodeSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Declared defaults overlaid with the graph's values, normalised; undeclared keys kept (§4.6).

    A value its param type rejects is passed through unchanged (validation reports it); defaults
    are copied so a node cannot mutate the spec's default objects.
    """
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name in values:
            value = values[p.name]
            out[p.name] = normalize(p.param_type, value) if type_accepts(p.param_type, value) else value
        else:
            out[p.name] = copy.deepcopy(p.default)
    for key, value in values.items():
        if key not in out:
            out[key] = value
    return out


def output_ports(spec: NodeSpec, params: Mapping[str, Any]) -> tuple[PortSpec, ...]:
    """The node's output ports for these effective params; static ones if ``dynamic_outputs`` fails."""
    try:
        return tuple(spec.output_ports(params))
    except Exception:  # invalid params are reported by rule 4; port checks still need a port list
        return spec.outputs


@attrs.frozen
class Resolution:
    """Phase 2 outcome: the entries of the nodes whose type resolved, and their effective params."""

    entries: Mapping[str, NodeEntry]
    params: Mapping[str, Mapping[str, Any]]
    findings: tuple[Finding, ...]


def _finding(code: str, severity: str, message: str, subjects: Iterable[str] = (), **fields: Any) -> Finding:
    return Finding(Issue(code=code, severity=severity, message=message, **fields), frozenset(subjects))


def resolve_nodes(expansion: Expansion, snapshot: RegistrySnapshot) -> Resolution:
    """Rules 2.1 to 2.3: look every expanded node's type up in ``snapshot``."""
    entries: dict[str, NodeEntry] = {}
    params: dict[str, Mapping[str, Any]] = {}
    findings: list[Finding] = []
    for node in expansion.nodes:
        if node.id in expansion.unexpanded or node.id in entries:
            continue
        found = snapshot.lookup(node.type)
        if found.entry is None:
            if found.error == "ambiguous_node_type":
                findings.append(
                    _finding(
                        "ambiguous_node_type",
                        "error",
                        f"Ambiguous node type: {node.type} (node {node.id}) matches "
                        f"{', '.join(found.candidates)}; use a qualified name",
                        [node.id],
                        node_id=node.id,
                    )
                )
            else:
                findings.append(
                    _finding(
                        "unknown_node_type",
                        "error",
                        f"Unknown node type: {node.type} (node {node.id})",
                        [node.id],
                        node_id=node.id,
                    )
                )
            continue
        entry = found.entry
        if not entry.available:
            reason = entry.unavailable_reason or "unavailable"
            findings.append(
                _finding(
                    "node_unavailable",
                    "error",
                    f"Node type {node.type} (node {node.id}) is unavailable: {reason}",
                    [node.id],
                    node_id=node.id,
                )
            )
        entries[node.id] = entry
        params[node.id] = effective_params(entry.spec, node.params)
    return Resolution(entries=entries, params=params, findings=tuple(findings))


class _Checker:
    """Runs rules 3 to 8 over one expanded graph, collecting findings in report order."""

    def __init__(
        self,
        graph: Graph,
        expansion: Expansion,
        snapshot: RegistrySnapshot,
        resolution: Resolution,
        executable: frozenset[str],
        entry_points: Sequence[str],
    ) -> None:
        self.graph = graph
        self.expansion = expansion
        self.snapshot = snapshot
        self.res = resolution
        self.executable = executable
        self.has_entries = bool(entry_points)
        self.nodes: dict[str, GraphNode] = {}
        for node in expansion.nodes:
            self.nodes.setdefault(node.id, node)
        self.findings: list[Finding] = []
        # (target, port) -> data edges into it whose source exists, in expanded edge order
        self.incoming: dict[tuple[str, str], list[ExpandedEdge]] = {}
        for ee in expansion.edges:
            e = ee.edge
            if e.is_data and e.source in self.nodes and e.target in self.nodes:
                self.incoming.setdefault((e.target, e.target_handle), []).append(ee)

    def add(self, code: str, severity: str, message: str, subjects: Iterable[str] = (), **fields: Any) -> None:
        self.findings.append(_finding(code, severity, message, subjects, **fields))

    def resolved(self) -> list[tuple[GraphNode, NodeSpec]]:
        return [(n, self.res.entries[n.id].spec) for n in self.expansion.nodes if n.id in self.res.entries]

    # -- rule 3 ---------------------------------------------------------------------------------

    def inputs(self) -> None:
        for node, spec in self.resolved():
            for port in spec.inputs:
                if port.optional:
                    continue
                feeding = self.incoming.get((node.id, port.name), [])
                if not feeding:
                    self.add(
                        "missing_required_input",
                        "error",
                        f"Missing required input '{port.name}' on node {node.id} ({node.type})",
                        [node.id],
                        node_id=node.id,
                        port=port.name,
                    )
                elif (
                    self.has_entries
                    and node.id in self.executable
                    and all(ee.edge.source not in self.executable for ee in feeding)
                ):
                    src = feeding[-1].edge.source
                    self.add(
                        "untriggered_upstream",
                        "error",
                        f"Missing required input '{port.name}' on node {node.id} ({node.type}): its source "
                        f"node {src} is not reached by any trigger; connect a Start trigger to {src}",
                        [node.id],
                        node_id=node.id,
                        port=port.name,
                    )

    # -- rule 4 ---------------------------------------------------------------------------------

    def params(self) -> None:
        for node, spec in self.resolved():
            values = node.params
            where = f"on node {node.id} ({node.type})"
            for p in spec.params:
                if p.name not in values:
                    continue
                problem = check_value(p, values[p.name])
                if problem is not None:
                    code, details = problem
                    self.add(
                        code,
                        "error",
                        describe_problem(p, values[p.name], code, details, where),
                        [node.id],
                        node_id=node.id,
                        param=p.name,
                    )
            declared = {p.name for p in spec.params}
            for key in values:
                if key not in declared:
                    self.add(
                        "unknown_param",
                        "warning",
                        f"Parameter '{key}' {where} is not declared by the node and is ignored",
                        [node.id],
                        node_id=node.id,
                        param=key,
                    )

    # -- rule 5 ---------------------------------------------------------------------------------

    def _checkable(self, node_id: str) -> bool:
        return node_id in self.res.entries and node_id not in self.expansion.unexpanded

    def edges(self) -> None:
        seen_ids: set[Any] = set()
        seen_origins: set[int] = set()
        for ee in self.expansion.edges:
            e, eid = ee.edge, ee.label
            edge_id = str(e.id) if e.id is not None else None
            ends = [e.source, e.target]
            if e.is_trigger:
                self._trigger_edge(ee, edge_id)
            else:
                self._data_edge(ee, edge_id)
            if e.id is not None and (ee.origin is None or ee.origin not in seen_origins):
                if e.id in seen_ids:
                    self.add("duplicate_edge_id", "warning", f"Duplicate edge id: {eid}", ends, edge_id=edge_id)
                seen_ids.add(e.id)
            if ee.origin is not None:
                seen_origins.add(ee.origin)
        for node, spec in self.resolved():
            for port in spec.inputs:
                feeding = self.incoming.get((node.id, port.name), [])
                if len(feeding) > 1:
                    self.add(
                        "multiple_input_edges",
                        "warning",
                        f"Input '{port.name}' on node {node.id} ({node.type}) has {len(feeding)} incoming "
                        f"edges; the last one ({feeding[-1].label}) is used",
                        [node.id],
                        node_id=node.id,
                        port=port.name,
                    )

    def _data_edge(self, ee: ExpandedEdge, edge_id: str | None) -> None:
        e, eid = ee.edge, ee.label
        ends = [e.source, e.target]
        if e.source not in self.nodes or e.target not in self.nodes:
            self.add(
                "edge_missing_node",
                "error",
                f"Edge references missing node: {eid} ({e.source} -> {e.target})",
                ends,
                edge_id=edge_id,
            )
            return
        if not (self._checkable(e.source) and self._checkable(e.target)):
            return
        src, dst = self.nodes[e.source], self.nodes[e.target]
        src_spec, dst_spec = self.res.entries[src.id].spec, self.res.entries[dst.id].spec
        out_port = next(
            (p for p in output_ports(src_spec, self.res.params[src.id]) if p.name == e.source_handle), None
        )
        in_port = dst_spec.input(e.target_handle)
        if out_port is None:
            self.add(
                "invalid_output_port",
                "error",
                f"Invalid output port '{e.source_handle}' on {src.type} (node {src.id})",
                ends,
                node_id=src.id,
                edge_id=edge_id,
                port=e.source_handle,
            )
        if in_port is None:
            self.add(
                "invalid_input_port",
                "error",
                f"Invalid input port '{e.target_handle}' on {dst.type} (node {dst.id})",
                ends,
                node_id=dst.id,
                edge_id=edge_id,
                port=e.target_handle,
            )
        if out_port is not None and in_port is not None and not types_compatible(out_port.type, in_port.type):
            self.add(
                "type_mismatch",
                "error",
                f"Type mismatch: {src.type}.{e.source_handle} ({out_port.type}) -> "
                f"{dst.type}.{e.target_handle} ({in_port.type})",
                ends,
                node_id=dst.id,
                edge_id=edge_id,
                port=e.target_handle,
            )

    def _trigger_edge(self, ee: ExpandedEdge, edge_id: str | None) -> None:
        e, eid = ee.edge, ee.label
        ends = [e.source, e.target]
        if e.source not in self.nodes or e.target not in self.nodes:
            self.add(
                "dangling_trigger_edge",
                "warning",
                f"Trigger edge {eid} references missing node: {e.source} -> {e.target}",
                ends,
                edge_id=edge_id,
            )
            return
        if not self._checkable(e.source):
            return
        src = self.nodes[e.source]
        ports = output_ports(self.res.entries[src.id].spec, self.res.params[src.id])
        if not any(p.type == "TRIGGER" for p in ports):
            self.add(
                "trigger_source_not_trigger",
                "warning",
                f"Trigger edge {eid} starts at node {src.id} ({src.type}), which has no TRIGGER output",
                ends,
                node_id=src.id,
                edge_id=edge_id,
            )

    # -- rules 6 to 8 ---------------------------------------------------------------------------

    def entry_points(self) -> None:
        if not self.has_entries:
            self.add("no_entry_points", "error", NO_ENTRY_POINTS_MESSAGE)

    def cycles(self) -> None:
        order = list(self.nodes)
        position = {n: i for i, n in enumerate(order)}
        pairs = [
            (ee.edge.source, ee.edge.target)
            for ee in self.expansion.edges
            if ee.edge.is_data and ee.edge.source in self.nodes and ee.edge.target in self.nodes
        ]
        for component in _cyclic_components(order, pairs):
            members = set(component)
            inside = [p for p in pairs if p[0] in members and p[1] in members]
            cycle = find_cycle(sorted(members, key=position.__getitem__), inside)
            if cycle is None:  # cannot happen for a cyclic component; guards the message
                continue
            self.add(
                "cycle",
                "error",
                f"Graph contains a cycle: {' -> '.join(cycle)}",
                component,
                node_id=cycle[0],
            )

    def metadata(self) -> None:
        known = {n.id for n in self.graph.nodes}
        for group in self.graph.segment_groups:
            reported: set[Any] = set()
            for ref in (group.head_node_id, group.tail_node_id):
                if ref not in known and ref not in reported:
                    reported.add(ref)
                    self.add("segment_dangling", "warning", f"Segment group {group.id} references missing node {ref}")
        version = self.graph.format_version
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            self.add(
                "format_version_newer",
                "warning",
                f"Graph format_version {version} is newer than this nodeloom supports ({FORMAT_VERSION}); "
                "unknown fields are kept but ignored",
            )
        meta = self.graph.nodeloom
        packs = meta.get("packs") if isinstance(meta, Mapping) else None
        if isinstance(packs, Mapping):
            for pack, old in packs.items():
                new = installed_version(self.snapshot, pack)
                if new is not None and str(new) != str(old):
                    self.add(
                        "pack_version_changed",
                        "warning",
                        f"Graph was saved with {pack} {old}; installed is {new}",
                    )


def installed_version(snapshot: RegistrySnapshot, pack: str) -> str | None:
    """The installed version of ``pack``: its PackInfo, else any node entry it provides."""
    info = snapshot.packs.get(pack)
    if info is not None and info.version:
        return info.version
    for entry in snapshot.nodes.values():
        if entry.pack_id == pack and entry.pack_version:
            return entry.pack_version
    return None


def _cyclic_components(order: Sequence[str], pairs: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components that contain a cycle, ordered by their first node.

    Iterative Tarjan, so deep chains cannot hit the recursion limit.
    """
    succ: dict[str, list[str]] = {n: [] for n in order}
    self_loops: set[str] = set()
    for a, b in pairs:
        succ[a].append(b)
        if a == b:
            self_loops.add(a)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in order:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, i = work[-1]
            if i < len(succ[node]):
                work[-1] = (node, i + 1)
                nxt = succ[node][i]
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    item = stack.pop()
                    on_stack.discard(item)
                    component.append(item)
                    if item == node:
                        break
                if len(component) > 1 or node in self_loops:
                    found.append(component)
    position = {n: i for i, n in enumerate(order)}
    for component in found:
        component.sort(key=position.__getitem__)
    found.sort(key=lambda c: position[c[0]])
    return found


def _scoped(
    findings: Iterable[Finding],
    expansion: Expansion,
    executable: frozenset[str],
    has_entries: bool,
) -> list[Issue]:
    """Apply the scope rule: issues with no subject in E become draft warnings."""

    def in_scope(subjects: frozenset[str]) -> bool:
        if not has_entries or not subjects:
            return True
        for subject in subjects:
            if subject in executable:
                return True
            if any(member in executable for member in expansion.members_of(subject)):
                return True
        return False

    out = []
    for f in findings:
        if in_scope(f.subjects):
            out.append(f.issue)
        else:
            out.append(attrs.evolve(f.issue, severity="warning", draft=True))
    return out


def validate(
    graph: Graph,
    expansion: Expansion,
    snapshot: RegistrySnapshot,
    executable: frozenset[str],
    entry_points: Sequence[str],
    *,
    resolution: Resolution | None = None,
) -> ValidationReport:
    """Rules 1 to 8 of engine.md §5 (phase 0 is :func:`nodeloom.kernel.graph.parse_graph`).

    ``graph`` is the normalised graph before expansion (for segment groups and metadata),
    ``expansion`` its expansion, ``executable`` the set E and ``entry_points`` the entry points
    (empty: no entry points, and E must then be every node). ``resolution`` may be passed when the
    caller already ran :func:`resolve_nodes`.
    """
    res = resolution if resolution is not None else resolve_nodes(expansion, snapshot)
    checker = _Checker(graph, expansion, snapshot, res, executable, entry_points)
    checker.inputs()
    checker.params()
    checker.edges()
    checker.entry_points()
    checker.cycles()
    checker.metadata()
    findings = [*expansion.findings, *res.findings, *checker.findings]
    return ValidationReport(issues=tuple(_scoped(findings, expansion, executable, bool(entry_points))))
