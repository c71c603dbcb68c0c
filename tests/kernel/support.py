"""Small pure-Python node types and a snapshot factory for kernel tests (no torch needed).

Values are plain Python numbers and lists, so the kernel's behaviour is tested on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from nodeloom.kernel import NodeSpec, ParamSpec, PortSpec, RegistrySnapshot
from nodeloom.kernel.registry import NodeEntry, PresetEntry


def _start(call):
    return {}


def _const(call):
    return {"value": call.params["value"]}


def _add(call):
    return {"value": call.inputs["a"] + call.inputs.get("b", 0)}


def _scale(call):
    return {"value": call.inputs["value"] * call.params["factor"]}


def _print(call):
    value = call.inputs.get("value")
    return {"value": value, "__log__": f"[{call.params['label']}] {value!r}"}


def _fail(call):
    raise RuntimeError(call.params["message"])


def _sleep(call):
    # Cooperative: checks cancellation every 10 ms like a training loop checks per batch.
    deadline = time.monotonic() + call.params["seconds"]
    while time.monotonic() < deadline:
        call.check_cancelled()
        time.sleep(0.01)
    return {"value": call.inputs.get("value", 0)}


def _split(call):
    n = call.params["chunks"]
    return {f"chunk_{i}": i for i in range(n)}


def _split_outputs(params: Mapping[str, Any]):
    return tuple(PortSpec(f"chunk_{i}", "SCALAR") for i in range(int(params.get("chunks", 2))))


def _rand(call):
    return {"value": call.seed % 1000}


def _progress(call):
    for i in range(call.params["steps"]):
        call.progress({"event": "step", "current": i + 1, "total": call.params["steps"]})
    return {"value": call.params["steps"]}


class FlakyCounter:
    """Fails the first ``failures`` calls then succeeds; shared through a param-free closure."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, call):
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise ValueError(f"flaky failure {self.calls}")
        return {"value": self.calls}


SCALAR = "SCALAR"

START = NodeSpec(
    name="Start",
    category="Control",
    execute=_start,
    outputs=(PortSpec("trigger", "TRIGGER"),),
)
CONST = NodeSpec(
    name="Const",
    category="Test",
    execute=_const,
    outputs=(PortSpec("value", SCALAR),),
    params=(ParamSpec("value", "float", 1.0),),
)
ADD = NodeSpec(
    name="Add",
    category="Test",
    execute=_add,
    inputs=(PortSpec("a", SCALAR), PortSpec("b", SCALAR, optional=True)),
    outputs=(PortSpec("value", SCALAR),),
)
SCALE = NodeSpec(
    name="Scale",
    category="Test",
    execute=_scale,
    inputs=(PortSpec("value", SCALAR),),
    outputs=(PortSpec("value", SCALAR),),
    params=(
        ParamSpec("factor", "float", 2.0, min_value=-100, max_value=100),
        ParamSpec("mode", "select", "fast", options=("fast", "slow")),
        ParamSpec("count", "int", 1, min_value=0),
        ParamSpec("enabled", "bool", True),
    ),
)
PRINT = NodeSpec(
    name="Print",
    category="Utility",
    execute=_print,
    inputs=(PortSpec("value", "ANY"),),
    outputs=(PortSpec("value", "ANY"),),
    params=(ParamSpec("label", "string", "Output"),),
)
FAIL = NodeSpec(
    name="Fail",
    category="Test",
    execute=_fail,
    inputs=(PortSpec("value", "ANY", optional=True),),
    outputs=(PortSpec("value", SCALAR),),
    params=(ParamSpec("message", "string", "boom"),),
)
SLEEP = NodeSpec(
    name="Sleep",
    category="Test",
    execute=_sleep,
    inputs=(PortSpec("value", SCALAR, optional=True),),
    outputs=(PortSpec("value", SCALAR),),
    params=(ParamSpec("seconds", "float", 0.05, min_value=0),),
    cacheable=False,
)
SPLIT = NodeSpec(
    name="Split",
    category="Test",
    execute=_split,
    outputs=(PortSpec("chunk_0", SCALAR), PortSpec("chunk_1", SCALAR)),
    params=(ParamSpec("chunks", "int", 2, min_value=1, max_value=16),),
    dynamic_outputs=_split_outputs,
)
RAND = NodeSpec(
    name="Rand",
    category="Test",
    execute=_rand,
    outputs=(PortSpec("value", SCALAR),),
    random=True,
)
PROGRESS = NodeSpec(
    name="Progress",
    category="Test",
    execute=_progress,
    outputs=(PortSpec("value", SCALAR),),
    params=(ParamSpec("steps", "int", 3, min_value=0),),
)
TENSOR_SINK = NodeSpec(
    name="TensorSink",
    category="Test",
    execute=lambda call: {},
    inputs=(PortSpec("tensor", "TENSOR"),),
)

TEST_SPECS = (START, CONST, ADD, SCALE, PRINT, FAIL, SLEEP, SPLIT, RAND, PROGRESS, TENSOR_SINK)


def entry(spec: NodeSpec, key: str | None = None, *, pack: str = "nodeloom", **kw: Any) -> NodeEntry:
    key = key or spec.name
    provider = "builtin" if pack == "nodeloom" else f"plugin:{pack}"
    return NodeEntry(
        spec=spec,
        key=key,
        provider=kw.pop("provider", provider),
        pack_id=pack,
        pack_version=kw.pop("pack_version", "0.1.0"),
        code_digest=kw.pop("code_digest", "d" * 64),
        **kw,
    )


def make_snapshot(
    specs: Iterable[NodeSpec] = TEST_SPECS,
    *,
    extra: Iterable[NodeEntry] = (),
    presets: Iterable[Mapping[str, Any]] = (),
    generation: int = 1,
) -> RegistrySnapshot:
    """A snapshot holding ``specs`` as first-party nodes plus ``extra`` entries and presets.

    Presets are stored as given (unresolved); tests of preset loading call the preset module.
    """
    nodes = {s.name: entry(s) for s in specs}
    for e in extra:
        nodes[e.key] = e
    preset_entries = {p["preset_name"]: PresetEntry(definition=dict(p), source="builtin") for p in presets}
    return RegistrySnapshot(generation=generation, nodes=nodes, presets=preset_entries)


def start_graph(*nodes: Mapping[str, Any], edges: Iterable[Mapping[str, Any]] = (), trigger: Iterable[str] = ()) -> dict:
    """A graph with a Start node ``s`` triggering each id in ``trigger``."""
    all_nodes = [{"id": "s", "type": "Start"}, *nodes]
    all_edges = [
        {"id": f"t_{t}", "source": "s", "sourceHandle": "trigger", "target": t, "targetHandle": "", "type": "trigger"}
        for t in trigger
    ]
    all_edges.extend(edges)
    return {"nodes": all_nodes, "edges": all_edges}


def n(node_id: str, node_type: str, **params: Any) -> dict:
    return {"id": node_id, "type": node_type, "data": {"params": params}}


def e(source: str, sport: str, target: str, tport: str, edge_id: str | None = None) -> dict:
    out = {"source": source, "sourceHandle": sport, "target": target, "targetHandle": tport}
    if edge_id is not None:
        out["id"] = edge_id
    return out


# -- engine.md §1.9 example (added for the graph/preset/prepare tests) ----------------------------
#
# Pure-Python stand-ins for the example's node types: tensors are nested lists of floats, so the
# example's numbers can be checked without torch.


def _map_nested(value: Any, fn) -> Any:
    return [_map_nested(v, fn) for v in value] if isinstance(value, list) else fn(value)


def _softmax_rows(value: Any) -> Any:
    import math

    if value and not isinstance(value[0], list):
        top = max(value)
        exps = [math.exp(v - top) for v in value]
        total = sum(exps)
        return [v / total for v in exps]
    return [_softmax_rows(row) for row in value]


TENSOR_INPUT = NodeSpec(
    name="TensorInput",
    category="Data",
    execute=lambda call: {"tensor": _map_nested(call.params["values"], float)},
    outputs=(PortSpec("tensor", "TENSOR"),),
    params=(
        ParamSpec("shape", "string", "1"),
        ParamSpec("dtype", "select", "float32", options=("float32", "float64")),
        ParamSpec("value_mode", "select", "zeros", options=("zeros", "explicit")),
        ParamSpec("values", "tensor_grid", None),
        ParamSpec("seed", "int", 0, min_value=0),
    ),
)
SCALAR_MULTIPLY = NodeSpec(
    name="ScalarMultiply",
    category="Tensor Operations",
    execute=lambda call: {"tensor": _map_nested(call.inputs["tensor"], lambda v: v * call.params["scalar"])},
    inputs=(PortSpec("tensor", "TENSOR"),),
    outputs=(PortSpec("tensor", "TENSOR"),),
    params=(ParamSpec("scalar", "float", 1.0),),
)
SOFTMAX = NodeSpec(
    name="Softmax",
    category="Tensor Operations",
    execute=lambda call: {"tensor": _softmax_rows(call.inputs["tensor"])},
    inputs=(PortSpec("tensor", "TENSOR"),),
    outputs=(PortSpec("tensor", "TENSOR"),),
    params=(ParamSpec("dim", "int", -1),),
)
GRAPH_OUTPUT = NodeSpec(
    name="GraphOutput",
    category="Data Flow",
    execute=lambda call: {"value": call.inputs["value"]},
    inputs=(PortSpec("value", "ANY"),),
    params=(ParamSpec("name", "string", "output"), ParamSpec("description", "string", "")),
)
LINEAR = NodeSpec(
    name="Linear",
    category="Layers",
    execute=lambda call: {"tensor": call.inputs["tensor"]},
    inputs=(PortSpec("tensor", "TENSOR"),),
    outputs=(PortSpec("tensor", "TENSOR"),),
    params=(ParamSpec("in_features", "int", 1, min_value=1), ParamSpec("out_features", "int", 1, min_value=1)),
)
EXAMPLE_SPECS = (START, PRINT, TENSOR_INPUT, SCALAR_MULTIPLY, SOFTMAX, GRAPH_OUTPUT, LINEAR)


def example_graph() -> dict:
    """The graph of engine.md §1.9, verbatim (a fresh copy on every call)."""
    return {
        "format_version": 1,
        "name": "scaled-softmax",
        "description": "Halves a fixed 2x2 tensor inside an embedded preset, applies a row softmax, prints and returns it.",
        "nodes": [
            {"id": "start", "type": "Start", "position": {"x": 0, "y": 0}, "data": {"params": {}}},
            {"id": "x", "type": "TensorInput", "position": {"x": 180, "y": 0},
             "data": {"params": {"shape": "2,2", "dtype": "float32", "value_mode": "explicit",
                                 "values": [[1, 2], [3, 4]], "seed": 0}}},
            {"id": "blk", "type": "preset:Scale Then Softmax", "position": {"x": 380, "y": 0},
             "data": {"params": {}, "internalParams": {"scale": {"scalar": 0.5}}}},
            {"id": "show", "type": "Print", "position": {"x": 600, "y": 0}, "data": {"params": {"label": "probs"}}},
            {"id": "result", "type": "GraphOutput", "position": {"x": 800, "y": 0},
             "data": {"params": {"name": "probs", "description": "row-wise softmax of x/2"}}},
            {"id": "draft", "type": "Linear", "position": {"x": 380, "y": 220},
             "data": {"params": {"in_features": 2, "out_features": 3}}},
            {"id": "memo", "type": "note", "position": {"x": 380, "y": -140},
             "data": {"noteKind": "text", "noteContent": "0.5 keeps the softmax soft", "noteColor": "#c8e6c9",
                      "boundToNodeId": "blk", "boundOffset": {"x": 0, "y": -140}, "noteWidth": 200, "noteHeight": 70}},
        ],
        "edges": [
            {"id": "t0", "source": "start", "sourceHandle": "trigger", "target": "x", "targetHandle": "", "type": "trigger"},
            {"id": "d1", "source": "x", "sourceHandle": "tensor", "target": "blk", "targetHandle": "x"},
            {"id": "d2", "source": "blk", "sourceHandle": "probs", "target": "show", "targetHandle": "value"},
            {"id": "d3", "source": "show", "sourceHandle": "value", "target": "result", "targetHandle": "value", "type": "data"},
        ],
        "presets": [
            {"preset_name": "Scale Then Softmax", "category": "Custom",
             "description": "Multiply by a constant, then softmax over the last dim.", "tags": ["example"],
             "nodes": [{"id": "scale", "type": "ScalarMultiply", "params": {"scalar": 1.0}},
                       {"id": "sm", "type": "Softmax", "params": {"dim": -1}}],
             "edges": [{"source": "scale", "sourceHandle": "tensor", "target": "sm", "targetHandle": "tensor"}],
             "exposed_inputs": [{"name": "x", "internal_node": "scale", "internal_port": "tensor",
                                 "data_type": "TENSOR", "description": "input"}],
             "exposed_outputs": [{"name": "probs", "internal_node": "sm", "internal_port": "tensor",
                                  "data_type": "TENSOR", "description": "probabilities"}],
             "exposed_params": [{"internal_node": "scale", "param_name": "scalar", "display_name": "Scale",
                                 "group": "Scale"}]},
        ],
        "segmentGroups": [{"id": "seg-1", "headNodeId": "x", "tailNodeId": "blk"}],
    }


def example_snapshot(**kw: Any) -> RegistrySnapshot:
    """A snapshot with the §1.9 example's node types (plus ``kw`` as for :func:`make_snapshot`)."""
    return make_snapshot(EXAMPLE_SPECS, **kw)
