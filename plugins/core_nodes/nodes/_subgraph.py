"""Running a preset once per item as a nested engine run (the machinery behind ``Map``).

engine.md §4.10 names the nodes of a Map sub-run ``<map id>[<i>]__<internal id>``: that is exactly
the id preset expansion gives the members of an instance called ``<map id>[<i>]``. So each item
runs a tiny graph ``start -> item feeder -> preset instance -> result collector`` through the
ordinary pipeline (expansion, validation, node seeds from the outer run seed), and nothing about
presets is re-implemented here.

The feeder and the collector are private node types added to a copy of the pinned snapshot, so
they never appear in the palette and the item value never has to pass through JSON params.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from nodeloom.kernel import NodeSpec, PortSpec, RunCancelled
from nodeloom.kernel.engine import RunEnvironment, RunResult, run_graph
from nodeloom.kernel.options import RunOptions, new_run_id
from nodeloom.kernel.prepare import prepare
from nodeloom.kernel.presets import PresetError, normalize_preset
from nodeloom.kernel.registry import NodeEntry, RegistrySnapshot

FEEDER_TYPE = "NodeloomMapItem"
COLLECTOR_TYPE = "NodeloomMapResult"
_START_TYPE = "Start"
_FEEDER_ID = "item"
_COLLECTOR_ID = "result"
_START_ID = "start"
_MISSING = object()


class SubgraphError(ValueError):
    """A preset that cannot be mapped, or an item whose sub-run failed."""


def find_preset(
    name: str, snapshot: RegistrySnapshot, embedded: Sequence[Any], node_name: str = "Map"
) -> dict[str, Any]:
    """The preset definition for ``name``: the pinned registry first, then the graph's copies.

    It must expose at least one input and one output.
    """
    if not name:
        raise SubgraphError(f"{node_name}: the subgraph param must name a preset")
    definition: dict[str, Any] | None = None
    entry = snapshot.presets.get(name)
    if entry is not None:
        if not entry.available:
            raise SubgraphError(f"{node_name}: preset '{name}' is not available: {entry.error}")
        definition = normalize_preset(entry.definition)
    else:
        for raw in embedded:
            try:
                candidate = normalize_preset(raw)
            except PresetError:
                continue
            if candidate["preset_name"] == name:
                definition = candidate
                break
    if definition is None:
        raise SubgraphError(f"{node_name}: preset '{name}' not found")
    if not definition["exposed_inputs"]:
        raise SubgraphError(f"{node_name}: preset '{name}' exposes no input to feed items into")
    if not definition["exposed_outputs"]:
        raise SubgraphError(f"{node_name}: preset '{name}' exposes no output to collect")
    return definition


def _private_entry(spec: NodeSpec) -> NodeEntry:
    return NodeEntry(
        spec=spec,
        key=spec.name,
        provider="builtin",
        pack_id="nodeloom",
        pack_version="subgraph",
        code_digest="0" * 64,
    )


def _collect(call: Any) -> dict[str, Any]:
    return {"value": call.inputs.get("value", _MISSING)}


def private_snapshot(snapshot: RegistrySnapshot, box: dict[str, Any]) -> RegistrySnapshot:
    """A copy of ``snapshot`` with the item feeder (reading ``box["item"]``) and the collector."""
    nodes = dict(snapshot.nodes)
    nodes[FEEDER_TYPE] = _private_entry(
        NodeSpec(
            name=FEEDER_TYPE,
            category="Data Flow",
            execute=lambda call: {"value": box["item"]},
            outputs=(PortSpec("value", "ANY"),),
            cacheable=False,
        )
    )
    nodes[COLLECTOR_TYPE] = _private_entry(
        NodeSpec(
            name=COLLECTOR_TYPE,
            category="Data Flow",
            execute=_collect,
            inputs=(PortSpec("value", "ANY", optional=True),),
            cacheable=False,
        )
    )
    if _START_TYPE not in nodes:  # a registry without core_nodes' Start still needs a trigger
        nodes[_START_TYPE] = _private_entry(
            NodeSpec(
                name=_START_TYPE,
                category="Control",
                execute=lambda call: {},
                outputs=(PortSpec("trigger", "TRIGGER"),),
            )
        )
    return attrs.evolve(snapshot, nodes=nodes)


def item_graph(
    instance_id: str, definition: Mapping[str, Any], embedded: Sequence[Any]
) -> dict[str, Any]:
    """The graph one item runs: start -> feeder -> preset instance -> collector."""
    name = definition["preset_name"]
    exposed_in = definition["exposed_inputs"][0]["name"]
    exposed_out = definition["exposed_outputs"][0]["name"]
    return {
        "nodes": [
            {"id": _START_ID, "type": _START_TYPE, "data": {"params": {}}},
            {"id": _FEEDER_ID, "type": FEEDER_TYPE, "data": {"params": {}}},
            {"id": instance_id, "type": f"preset:{name}", "data": {"params": {}}},
            {"id": _COLLECTOR_ID, "type": COLLECTOR_TYPE, "data": {"params": {}}},
        ],
        "edges": [
            {"source": _START_ID, "sourceHandle": "trigger", "target": _FEEDER_ID,
             "targetHandle": "", "type": "trigger"},
            {"source": _FEEDER_ID, "sourceHandle": "value", "target": instance_id,
             "targetHandle": exposed_in},
            {"source": instance_id, "sourceHandle": exposed_out, "target": _COLLECTOR_ID,
             "targetHandle": "value"},
        ],
        # The graph's own preset copies, so embedded presets (and presets nested in them) resolve.
        "presets": list(embedded),
    }


class _ForwardedExtension:
    """Passes the per-node parts of a run extension (device, grad mode, sizes) to a sub-run.

    The run-level hooks (``before_run``/``after_node``/``after_run``: gradient capture) are
    withheld: the outer run captures gradients through Map's own outputs, and a sub-run calling
    ``backward()`` on its own would free the autograd graph the outer run still needs.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)

    def resolve_device(self, requested: str) -> Any:
        fn = getattr(self._inner, "resolve_device", None)
        return fn(requested) if callable(fn) else None

    def node_context(self, call: Any, run: Any) -> Any:
        fn = getattr(self._inner, "node_context", None)
        return fn(call, run) if callable(fn) else None

    def value_nbytes(self, value: Any) -> Any:
        fn = getattr(self._inner, "value_nbytes", None)
        return fn(value) if callable(fn) else None


def sub_environment(env: RunEnvironment) -> RunEnvironment:
    """No cache, a private output store, the same module store, paths and per-node extensions."""
    return RunEnvironment(
        cache=None,
        modules=env.modules,
        extensions=[_ForwardedExtension(ext) for ext in env.extensions],
        paths=env.paths,
        debug=env.debug,
    )


def sub_options(options: RunOptions, device: str, seed: int) -> RunOptions:
    """The outer run's options for a sequential, uncached, unrecorded sub-run."""
    return attrs.evolve(
        options,
        run_id=new_run_id(),
        device=device,
        seed=seed,
        max_workers=1,
        error_mode="fail_fast",
        max_retries=0,
        changed_nodes=(),
        record_outputs=False,
        auto_backward=False,
        timeout_s=None,
    )


def _failed_node(result: RunResult) -> str | None:
    """The expanded id of the node that failed (preset members are reported as instance+member)."""
    for event in reversed(result.events):
        if event.get("status") == "error":
            member = event.get("member")
            return f"{event['node_id']}__{member}" if member else event.get("node_id")
    return result.terminal.get("node_id")


@attrs.define
class SubgraphRunner:
    """Runs one preset per item inside the run context ``ctx`` of the calling node."""

    node_id: str
    definition: dict[str, Any]
    ctx: Any  # nodeloom.kernel.engine.RunContext
    cancel_event: threading.Event
    embedded: Sequence[Any] = ()
    _box: dict[str, Any] = attrs.field(factory=dict)
    _snapshot: RegistrySnapshot | None = None

    def run_item(self, index: int, item: Any) -> Any:
        """The first exposed output of the preset fed with ``item`` (raises on failure)."""
        if self._snapshot is None:
            self._snapshot = private_snapshot(self.ctx.snapshot, self._box)
        self._box["item"] = item
        graph = item_graph(f"{self.node_id}[{index}]", self.definition, self.embedded)
        prepared = prepare(graph, self._snapshot, run_seed=self.ctx.seed)
        if not prepared.report.valid:
            raise SubgraphError(
                f"Map: preset '{self.definition['preset_name']}' cannot run: "
                + "; ".join(prepared.report.errors)
            )
        result = run_graph(
            prepared,
            self._snapshot,
            sub_options(self.ctx.options, self.ctx.device, self.ctx.seed),
            sub_environment(self.ctx.env),
            cancel_event=self.cancel_event,
        )
        return self._value(index, result)

    def _value(self, index: int, result: RunResult) -> Any:
        terminal = result.terminal or {}
        kind = terminal.get("type")
        if kind == "execution_stopped" or self.cancel_event.is_set():
            raise RunCancelled(f"run cancelled while {self.node_id} was mapping item {index}")
        if not result.ok:
            where = _failed_node(result)
            where = f" at {where}" if where else ""
            raise SubgraphError(f"Map: item {index} failed{where}: {terminal.get('error')}")
        value = result.results.get(_COLLECTOR_ID, {}).get("value", _MISSING)
        if value is _MISSING:
            raise SubgraphError(f"Subgraph did not produce output for item {index}")
        return value
