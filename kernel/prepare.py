"""Steps 1 to 6 of a run (engine.md §4.1): normalise, expand, find E, validate, params, seeds.

Validation, runs, export and contract derivation all go through :func:`analyse`, so a graph that
validates is exactly a graph that runs. :func:`prepare` adds effective params, node seeds and the
Kahn levels and hands the executor a :class:`~nodeloom.kernel.prepared.PreparedGraph`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .graph import Graph, GraphEdge, GraphNode, parse_graph, strip_notes
from .prepared import PreparedEdge, PreparedGraph, PreparedNode, ValidationReport
from .presets import Expansion, expand_presets
from .registry import RegistrySnapshot
from .seeds import check_run_seed, draw_run_seed, node_seed
from .validation import Resolution, resolve_nodes, validate

__all__ = [
    "Analysis",
    "analyse",
    "executable_set",
    "expanded_graph",
    "levels",
    "normalise",
    "prepare",
    "validate_graph",
]


@attrs.frozen
class Analysis:
    """Everything steps 1 to 5 produce. ``graph``/``expansion`` are None after a phase-0 error."""

    report: ValidationReport
    graph: Graph | None = None  # normalised (notes stripped), before expansion
    expansion: Expansion | None = None
    entry_points: tuple[str, ...] = ()
    executable: frozenset[str] = frozenset()  # E; every node when there are no entry points
    resolution: Resolution | None = None


def normalise(raw: Any) -> tuple[Graph | None, ValidationReport]:
    """Step 1: parse (phase 0) and drop notes. ``raw`` may be a JSON mapping or a parsed Graph."""
    if isinstance(raw, Graph):
        return strip_notes(raw), ValidationReport()
    graph, issues = parse_graph(raw)
    if graph is None:
        return None, ValidationReport(issues=tuple(issues))
    return strip_notes(graph), ValidationReport()


def executable_set(
    nodes: Sequence[GraphNode],
    edges: Iterable[GraphEdge],
    origins: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[tuple[str, ...], frozenset[str]]:
    """Entry points (node order) and the executable set E of an expanded graph (engine.md §4.3).

    E holds the entry points, everything reachable from them along data edges, and the sources of
    trigger edges into E; when any member of a preset instance (per ``origins``) is in E, all its
    members join and reachability continues from them. With no entry points E is every node.
    Trigger edges never extend reachability.
    """
    ids = [n.id for n in nodes]
    present = set(ids)
    edges = list(edges)
    targets = {e.target for e in edges if e.is_trigger and e.target in present}
    entries = tuple(dict.fromkeys(i for i in ids if i in targets))
    if not entries:
        return (), frozenset(present)
    succ: dict[str, list[str]] = {}
    for e in edges:
        if e.is_data and e.source in present and e.target in present:
            succ.setdefault(e.source, []).append(e.target)
    trigger_sources: dict[str, list[str]] = {}
    for e in edges:
        if e.is_trigger and e.source in present and e.target in present:
            trigger_sources.setdefault(e.target, []).append(e.source)
    groups: dict[str, list[str]] = {}
    for node_id, (instance, _member) in (origins or {}).items():
        if node_id in present:
            groups.setdefault(instance, []).append(node_id)

    executable: set[str] = set()
    frontier = list(entries)
    while frontier:
        while frontier:
            node_id = frontier.pop()
            if node_id in executable:
                continue
            executable.add(node_id)
            frontier.extend(succ.get(node_id, ()))
        # Trigger sources join E without extending reachability (a Start has no data outputs).
        for target, sources in trigger_sources.items():
            if target in executable:
                executable.update(sources)
        for node_id in list(executable):
            origin = (origins or {}).get(node_id)
            if origin is not None:
                frontier.extend(m for m in groups[origin[0]] if m not in executable)
    return entries, frozenset(executable)


Levels = tuple[tuple[str, ...], ...]


def levels(node_ids: Sequence[str], edges: Iterable[tuple[str, str]]) -> tuple[Levels, tuple[str, ...]]:
    """Kahn levels of ``node_ids`` over data edges ``(source, target)`` among them (engine.md §4.4).

    Level 0 holds nodes without predecessors; within a level, ``node_ids`` order is kept. Returns
    ``(levels, leftovers)``; leftovers are nodes on or behind a cycle.
    """
    order = list(dict.fromkeys(node_ids))
    members = set(order)
    preds: dict[str, int] = {n: 0 for n in order}
    succ: dict[str, list[str]] = {n: [] for n in order}
    for source, target in edges:
        if source in members and target in members:
            succ[source].append(target)
            preds[target] += 1
    position = {n: i for i, n in enumerate(order)}
    current = [n for n in order if preds[n] == 0]
    out: list[tuple[str, ...]] = []
    placed = 0
    while current:
        out.append(tuple(current))
        placed += len(current)
        nxt: set[str] = set()
        for node in current:
            for target in succ[node]:
                preds[target] -= 1
                if preds[target] == 0:
                    nxt.add(target)
        current = sorted(nxt, key=position.__getitem__)
    leftovers = tuple(n for n in order if preds[n] > 0) if placed < len(order) else ()
    return tuple(out), leftovers


def expanded_graph(graph: Graph, expansion: Expansion) -> Graph:
    """The normalised graph with its nodes and edges replaced by the expanded ones."""
    return attrs.evolve(graph, nodes=expansion.nodes, edges=[ee.edge for ee in expansion.edges])


def analyse(raw: Any, snapshot: RegistrySnapshot) -> Analysis:
    """Steps 1 to 5: normalise, expand presets, find E, resolve types and validate."""
    graph, report = normalise(raw)
    if graph is None:
        return Analysis(report=report)
    expansion = expand_presets(graph, snapshot)
    edges = [ee.edge for ee in expansion.edges]
    entries, executable = executable_set(expansion.nodes, edges, expansion.origins)
    resolution = resolve_nodes(expansion, snapshot)
    report = validate(graph, expansion, snapshot, executable, entries, resolution=resolution)
    return Analysis(
        report=report,
        graph=graph,
        expansion=expansion,
        entry_points=entries,
        executable=executable,
        resolution=resolution,
    )


def validate_graph(raw: Any, snapshot: RegistrySnapshot) -> ValidationReport:
    """The validation report of ``raw`` exactly as a run would compute it."""
    return analyse(raw, snapshot).report


def prepare(raw_graph: Any, snapshot: RegistrySnapshot, *, run_seed: int | None = None) -> PreparedGraph:
    """Steps 1 to 6 of engine.md §4.1 for one run.

    Returns the executable nodes in (level, expanded order) with effective params and node seeds.
    When validation fails, the PreparedGraph carries the report and no nodes. ``run_seed`` None
    draws a fresh seed; it is reported back as ``PreparedGraph.run_seed``.
    """
    seed = draw_run_seed() if run_seed is None else check_run_seed(run_seed)
    analysis = analyse(raw_graph, snapshot)
    if analysis.graph is None or analysis.expansion is None or analysis.resolution is None:
        return PreparedGraph(snapshot=snapshot, report=analysis.report, run_seed=seed)
    graph, expansion = analysis.graph, analysis.expansion
    flat = expanded_graph(graph, expansion)
    base = PreparedGraph(
        snapshot=snapshot,
        report=analysis.report,
        expansion=dict(expansion.origins),
        graph=flat,
        name=graph.display_name,
        run_seed=seed,
    )
    if not analysis.report.valid:
        return base

    executable = analysis.executable
    order = [n.id for n in expansion.nodes if n.id in executable]
    data_edges = [
        ee.edge
        for ee in expansion.edges
        if ee.edge.is_data and ee.edge.source in executable and ee.edge.target in executable
    ]
    layered, leftovers = levels(order, [(e.source, e.target) for e in data_edges])
    if leftovers:  # validation reports cycles first; this guards against a rule gap
        raise RuntimeError(f"cycle among executable nodes: {', '.join(leftovers)}")
    level_of = {node_id: k for k, layer in enumerate(layered) for node_id in layer}
    by_id = {n.id: n for n in expansion.nodes}
    entries = analysis.resolution.entries
    prepared_nodes = []
    for layer in layered:
        for node_id in layer:
            node = by_id[node_id]
            entry = entries[node_id]
            origin = expansion.origins.get(node_id)
            prepared_nodes.append(
                PreparedNode(
                    id=node_id,
                    type=node.type,
                    entry=entry,
                    params=dict(analysis.resolution.params[node_id]),
                    seed=node_seed(seed, node_id),
                    level=level_of[node_id],
                    instance=origin[0] if origin else None,
                    member=origin[1] if origin else None,
                )
            )
    return attrs.evolve(
        base,
        nodes=tuple(prepared_nodes),
        edges=tuple(
            PreparedEdge(
                source=e.source,
                source_handle=e.source_handle,
                target=e.target,
                target_handle=e.target_handle,
                id=str(e.id) if e.id is not None else None,
            )
            for e in data_edges
        ),
        levels=layered,
    )
