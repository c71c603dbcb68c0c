"""Build an ``nn.Module`` from a SequentialModel v2 DAG spec (engine.md §4.17).

The builder checks the whole spec before constructing anything, then constructs the layers in spec
node order (so that, inside a seeded block, weights depend only on the spec and the seed) and
returns a :class:`GraphModel` that evaluates the DAG in topological order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

__all__ = [
    "DEFAULT_LAYERS",
    "GraphModel",
    "SpecError",
    "build_model",
    "check_graph_spec",
    "parse_layers",
]


class SpecError(ValueError):
    """A SequentialModel spec that breaks a build rule; ``str()`` is the user-facing message."""


TORCH_LAYERS = frozenset(
    {
        "Conv2d",
        "Conv1d",
        "ConvTranspose2d",
        "BatchNorm2d",
        "BatchNorm1d",
        "LayerNorm",
        "GroupNorm",
        "InstanceNorm2d",
        "MaxPool2d",
        "AvgPool2d",
        "AdaptiveAvgPool2d",
        "Dropout",
        "Linear",
        "Flatten",
        "Embedding",
    }
)
ACTIVATIONS = frozenset(
    {
        "ReLU",
        "GELU",
        "Sigmoid",
        "Tanh",
        "LeakyReLU",
        "ELU",
        "SiLU",
        "Mish",
        "SELU",
        "PReLU",
        "Hardswish",
        "Softmax",
    }
)
WRAPPERS = frozenset(
    {
        "Reshape",
        "SelectIndex",
        "TransformerEncoder",
        "TransformerDecoder",
        "LSTM",
        "GRU",
        "MultiHeadAttention",
    }
)
MERGES = frozenset({"Add", "Multiply", "Subtract", "Mean", "Concat", "Stack"})
BOUNDARIES = frozenset({"Input", "Output"})


def _default_spec() -> dict[str, Any]:
    chain = [
        ("conv1", "Conv2d", {"in_channels": 1, "out_channels": 32, "kernel_size": 3, "padding": 1}),
        ("relu1", "ReLU", None),
        ("pool1", "MaxPool2d", {"kernel_size": 2, "stride": 2}),
        (
            "conv2",
            "Conv2d",
            {"in_channels": 32, "out_channels": 64, "kernel_size": 3, "padding": 1},
        ),
        ("relu2", "ReLU", None),
        ("pool2", "MaxPool2d", {"kernel_size": 2, "stride": 2}),
        ("flatten", "Flatten", None),
        ("fc1", "Linear", {"in_features": 3136, "out_features": 128}),
        ("relu3", "ReLU", None),
        ("fc2", "Linear", {"in_features": 128, "out_features": 10}),
    ]
    nodes: list[dict[str, Any]] = [
        {"id": "in", "type": "Input", "ports": [{"id": "p_x", "name": "x"}]}
    ]
    for node_id, layer_type, params in chain:
        entry: dict[str, Any] = {"id": node_id, "type": layer_type}
        if params:
            entry["params"] = params
        nodes.append(entry)
    nodes.append({"id": "out", "type": "Output", "ports": [{"id": "p_y", "name": "y"}]})
    ids = [n["id"] for n in nodes]
    edges: list[dict[str, Any]] = []
    for i, (src, tgt) in enumerate(zip(ids, ids[1:]), start=1):
        edge: dict[str, Any] = {"id": f"e{i}", "source": src, "target": tgt}
        if src == "in":
            edge["sourceHandle"] = "p_x"
        if tgt == "out":
            edge["targetHandle"] = "p_y"
        edges.append(edge)
    return {"version": 2, "nodes": nodes, "edges": edges}


#: The palette default of ``SequentialModel.layers``: an MNIST CNN, [N,1,28,28] -> [N,10].
DEFAULT_LAYERS: str = json.dumps(_default_spec())


# -- parsing and checking -------------------------------------------------------------------------


@attrs.frozen
class Port:
    id: str
    name: str


@attrs.frozen
class Edge:
    source: str
    target: str
    source_handle: str | None
    target_handle: str | None


@attrs.frozen
class CheckedSpec:
    """A spec that passed every build rule, in the shape the builder needs."""

    nodes: tuple[Mapping[str, Any], ...]
    edges: tuple[Edge, ...]
    input_id: str
    output_id: str
    input_ports: tuple[Port, ...]
    output_ports: tuple[Port, ...]
    order: tuple[str, ...]


def parse_layers(raw: Any) -> Any:
    """The ``layers`` param as a Python object (JSON text, or an already-parsed object)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SpecError(f"SequentialModel: layers is not valid JSON: {exc}") from None


def _ports(node: Mapping[str, Any], kind: str) -> tuple[Port, ...]:
    raw = node.get("ports") or []
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{kind} node must have at least one port")
    ports = []
    for item in raw:
        if not isinstance(item, Mapping) or "id" not in item or "name" not in item:
            raise SpecError(f"{kind} node ports need an 'id' and a 'name'")
        ports.append(Port(str(item["id"]), str(item["name"])))
    names = [p.name for p in ports]
    if len(set(names)) != len(names):
        raise SpecError(f"{kind} port names must be unique")
    return tuple(ports)


def _nodes(spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    raw = spec.get("nodes") or []
    if not isinstance(raw, list):
        raise SpecError("SequentialModel: 'nodes' must be a list")
    seen: set[str] = set()
    for node in raw:
        if not isinstance(node, Mapping) or "id" not in node or "type" not in node:
            raise SpecError("SequentialModel: every node needs an 'id' and a 'type'")
        if node["id"] in seen:
            raise SpecError(f"SequentialModel: duplicate node id '{node['id']}'")
        if not isinstance(node.get("params") or {}, Mapping):
            raise SpecError(f"SequentialModel: params of node '{node['id']}' must be an object")
        seen.add(node["id"])
    return tuple(raw)


def _edges(spec: Mapping[str, Any], known: set[str]) -> tuple[Edge, ...]:
    raw = spec.get("edges") or []
    if not isinstance(raw, list):
        raise SpecError("SequentialModel: 'edges' must be a list")
    edges = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise SpecError("SequentialModel: every edge must be an object")
        src, tgt = item.get("source"), item.get("target")
        if src not in known or tgt not in known:
            raise SpecError(f"Edge references unknown node: {src} -> {tgt}")
        edges.append(Edge(src, tgt, item.get("sourceHandle"), item.get("targetHandle")))
    return tuple(edges)


def _single(nodes: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any]:
    found = [n for n in nodes if n["type"] == kind]
    if len(found) != 1:
        raise SpecError(f"Graph must have exactly one {kind} node, found {len(found)}")
    return found[0]


def _topological_order(
    nodes: Sequence[Mapping[str, Any]], edges: Sequence[Edge]
) -> tuple[str, ...]:
    # Kahn's algorithm; ties broken by spec node order so the evaluation order is reproducible.
    position = {n["id"]: i for i, n in enumerate(nodes)}
    indegree = {n["id"]: 0 for n in nodes}
    for e in edges:
        indegree[e.target] += 1
    ready = sorted((nid for nid, d in indegree.items() if d == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        nid = ready.pop(0)
        order.append(nid)
        for e in edges:
            if e.source == nid:
                indegree[e.target] -= 1
                if indegree[e.target] == 0:
                    ready.append(e.target)
        ready.sort(key=position.__getitem__)
    if len(order) != len(nodes):
        raise SpecError("Graph contains a cycle")
    return tuple(order)


_MERGE_ARITY: dict[str, tuple[int, int | None, str]] = {
    "Add": (2, None, "2+"),
    "Multiply": (2, None, "2+"),
    "Mean": (2, None, "2+"),
    "Subtract": (2, 2, "exactly 2"),
    "Concat": (1, None, "1+"),
    "Stack": (1, None, "1+"),
}


def check_graph_spec(spec: Any) -> CheckedSpec:
    """Apply every build rule of engine.md §4.17; raise :class:`SpecError` on the first violation."""
    if not isinstance(spec, Mapping):
        # The list form is the retired v1 layout.
        raise SpecError(f"Unsupported graph spec version: {1 if isinstance(spec, list) else None}")
    if spec.get("version") != 2:
        raise SpecError(f"Unsupported graph spec version: {spec.get('version')}")
    nodes = _nodes(spec)
    input_node = _single(nodes, "Input")
    output_node = _single(nodes, "Output")
    input_ports = _ports(input_node, "Input")
    output_ports = _ports(output_node, "Output")
    edges = _edges(spec, {n["id"] for n in nodes})
    in_id, out_id = input_node["id"], output_node["id"]

    in_port_ids = {p.id for p in input_ports}
    out_port_ids = {p.id for p in output_ports}
    for e in edges:
        if e.target == in_id:
            raise SpecError("Input node cannot have incoming edges")
        if e.source == out_id:
            raise SpecError("Output node cannot have outgoing edges")
        if e.source == in_id and e.source_handle not in in_port_ids:
            raise SpecError(f"Edge from Input references unknown port id: {e.source_handle}")
        if e.target == out_id and e.target_handle not in out_port_ids:
            raise SpecError(f"Edge into Output references unknown port id: {e.target_handle}")
    for port in output_ports:
        count = sum(1 for e in edges if e.target == out_id and e.target_handle == port.id)
        if count != 1:
            raise SpecError(
                f"Output port '{port.name}' must have exactly one incoming edge, got {count}"
            )
    for port in input_ports:
        if not any(e.source == in_id and e.source_handle == port.id for e in edges):
            raise SpecError(f"Input port '{port.name}' is unused")

    for node in nodes:
        kind = node["type"]
        if kind in BOUNDARIES:
            continue
        if kind not in TORCH_LAYERS | ACTIVATIONS | WRAPPERS | MERGES:
            raise SpecError(f"SequentialModel: unknown layer type '{kind}'")
        count = sum(1 for e in edges if e.target == node["id"])
        if kind in MERGES:
            low, high, wording = _MERGE_ARITY[kind]
            if count < low or (high is not None and count > high):
                raise SpecError(f"{kind} requires {wording} inputs")
        elif count != 1:
            raise SpecError(
                f"Plain layer '{node['id']}' ({kind}) must have exactly 1 incoming edge, got {count}"
            )
    order = _topological_order(nodes, edges)
    return CheckedSpec(nodes, edges, in_id, out_id, input_ports, output_ports, order)


# -- layers ---------------------------------------------------------------------------------------


class Reshape(nn.Module):
    """``x.view(batch, *shape)``: the batch dim is always kept."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), *self.shape)


class SelectIndex(nn.Module):
    """``x.select(dim, index)``, e.g. the CLS token of a sequence."""

    def __init__(self, dim: int = 1, index: int = 0) -> None:
        super().__init__()
        self.dim, self.index = int(dim), int(index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.select(self.dim, self.index)


class SelfDecoder(nn.Module):
    """A transformer decoder used as a self-attending block: ``decoder(x, x)``."""

    def __init__(self, decoder: nn.TransformerDecoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(x, x)


class SequenceOnly(nn.Module):
    """Keeps only the output sequence of an RNN (``LSTM``/``GRU`` return a tuple)."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class SelfAttention(nn.Module):
    """Batch-first multi-head self-attention returning the attended values only."""

    def __init__(self, attention: nn.MultiheadAttention) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=False)[0]


def _shape_list(raw: Any) -> list[int]:
    if isinstance(raw, (list, tuple)):
        return [int(v) for v in raw]
    items = [s.strip() for s in str(raw).split(",") if s.strip()]
    try:
        return [int(s) for s in items]
    except ValueError:
        raise SpecError(f"Reshape: shape must be comma-separated integers, got '{raw}'") from None


def _transformer(params: dict[str, Any], decoder: bool) -> nn.Module:
    num_layers = int(params.pop("num_layers", 1))
    params.setdefault("dim_feedforward", 2048)
    params["batch_first"] = True
    if decoder:
        return SelfDecoder(nn.TransformerDecoder(nn.TransformerDecoderLayer(**params), num_layers))
    # Nested-tensor fast paths change numerics between train and eval; keep one code path.
    layer = nn.TransformerEncoderLayer(**params)
    return nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)


def _activation(kind: str) -> nn.Module:
    if kind == "Softmax":
        return nn.Softmax(dim=-1)
    # Never in place: another branch of the DAG may still read the input tensor.
    return getattr(nn, kind)()


def _wrapper(kind: str, params: dict[str, Any]) -> nn.Module:
    if kind == "Reshape":
        return Reshape(_shape_list(params.get("shape", "")))
    if kind == "SelectIndex":
        return SelectIndex(params.get("dim", 1), params.get("index", 0))
    if kind in ("TransformerEncoder", "TransformerDecoder"):
        return _transformer(params, decoder=kind == "TransformerDecoder")
    if kind in ("LSTM", "GRU"):
        # Layers inside a SequentialModel see batch-first tensors, like its transformer blocks.
        params.setdefault("batch_first", True)
        return SequenceOnly(getattr(nn, kind)(**params))
    params = {"batch_first": True, **params}
    return SelfAttention(nn.MultiheadAttention(**params))


def build_layer(node_id: str, kind: str, params: Mapping[str, Any]) -> nn.Module:
    """Construct one non-merge layer; constructor errors name the spec node."""
    kwargs = dict(params)
    try:
        if kind in ACTIVATIONS:
            return _activation(kind)
        if kind in WRAPPERS:
            return _wrapper(kind, kwargs)
        return getattr(nn, kind)(**kwargs)
    except SpecError:
        raise
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise SpecError(
            f"SequentialModel: cannot build layer '{node_id}' ({kind}): {exc}"
        ) from None


# -- the module -----------------------------------------------------------------------------------


def _fold(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], xs: list[torch.Tensor]
) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out


def merge(kind: str, params: Mapping[str, Any], xs: list[torch.Tensor]) -> torch.Tensor:
    """Combine the inputs of a merge node (in spec edge order)."""
    if kind == "Add":
        return _fold(torch.add, xs)
    if kind == "Multiply":
        return _fold(torch.mul, xs)
    if kind == "Subtract":
        return xs[0] - xs[1]
    if kind == "Mean":
        return torch.stack(xs, dim=0).mean(dim=0)
    if kind == "Concat":
        return torch.cat(xs, dim=int(params.get("dim", 1)))
    return torch.stack(xs, dim=int(params.get("dim", 1)))


def _module_keys(node_ids: list[str]) -> dict[str, str]:
    """ModuleDict keys for spec node ids: the id itself when torch allows it (readable state_dicts)."""
    reserved = set(dir(nn.ModuleDict()))
    keys: dict[str, str] = {}
    for index, nid in enumerate(node_ids):
        text = str(nid)
        ok = text and "." not in text and text not in reserved and text not in keys.values()
        keys[nid] = text if ok else f"layer_{index}"
    return keys


class GraphModel(nn.Module):
    """Evaluates a checked v2 spec: layers keyed by spec node id, merges applied in edge order."""

    def __init__(self, spec: CheckedSpec, layers: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.layer_keys = _module_keys(list(layers))
        self.layers = nn.ModuleDict({self.layer_keys[nid]: layer for nid, layer in layers.items()})
        self.input_id = spec.input_id
        self.output_id = spec.output_id
        self.input_names = [p.name for p in spec.input_ports]
        self.input_port_names = {p.id: p.name for p in spec.input_ports}
        self.output_port_names = {p.id: p.name for p in spec.output_ports}
        self.order = list(spec.order)
        self.kinds = {n["id"]: n["type"] for n in spec.nodes}
        self.merge_params = {
            n["id"]: dict(n.get("params") or {}) for n in spec.nodes if n["type"] in MERGES
        }
        self.incoming: dict[str, list[tuple[str, str | None, str | None]]] = {
            nid: [] for nid in self.order
        }
        for e in spec.edges:
            self.incoming[e.target].append((e.source, e.source_handle, e.target_handle))

    def _named_inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if args and kwargs:
            raise TypeError("SequentialModel: pass inputs either positionally or by name, not both")
        if args:
            if len(args) != len(self.input_names):
                raise TypeError(
                    f"SequentialModel: expected {len(self.input_names)} inputs "
                    f"({', '.join(self.input_names)}), got {len(args)}"
                )
            return dict(zip(self.input_names, args))
        missing = [n for n in self.input_names if n not in kwargs]
        extra = sorted(set(kwargs) - set(self.input_names))
        if missing or extra:
            raise TypeError(f"SequentialModel: missing inputs {missing}, unexpected inputs {extra}")
        return dict(kwargs)

    def _value(
        self, values: dict[str, Any], named: dict[str, Any], src: str, handle: str | None
    ) -> Any:
        if src == self.input_id:
            return named[self.input_port_names[handle]]  # type: ignore[index]
        # Layer results are keyed by node id alone; a sourceHandle there carries no meaning.
        return values[src]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        named = self._named_inputs(args, kwargs)
        values: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for nid in self.order:
            if nid == self.input_id:
                continue
            feeds = self.incoming[nid]
            if nid == self.output_id:
                for src, handle, port_id in feeds:
                    name = self.output_port_names[port_id]  # type: ignore[index]
                    outputs[name] = self._value(values, named, src, handle)
                continue
            xs = [self._value(values, named, src, handle) for src, handle, _ in feeds]
            kind = self.kinds[nid]
            if kind in MERGES:
                values[nid] = merge(kind, self.merge_params[nid], xs)
            else:
                values[nid] = self.layers[self.layer_keys[nid]](xs[0])
        ordered = {name: outputs[name] for name in self.output_port_names.values()}
        if len(ordered) == 1:
            return next(iter(ordered.values()))
        return ordered


def build_model(layers: Any) -> GraphModel:
    """Check and build a spec (JSON text or parsed). Call inside a seeded block for reproducibility."""
    spec = check_graph_spec(parse_layers(layers))
    built = {
        n["id"]: build_layer(n["id"], n["type"], n.get("params") or {})
        for n in spec.nodes
        if n["type"] not in BOUNDARIES and n["type"] not in MERGES
    }
    return GraphModel(spec, built)
