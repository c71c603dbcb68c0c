"""Data-flow nodes (nodes.md §3.6): ``Map`` a preset over a list, ``Reduce`` a list, ``Switch``."""

from __future__ import annotations

from typing import Any

import torch

from nodeloom.kernel.api import In, Out, Param, node

from ._subgraph import SubgraphRunner, find_preset

CATEGORY = "Data Flow"


def embedded_presets(ctx: Any) -> list[Any]:
    """The preset copies embedded in the running graph (engine.md §1.1 ``presets``)."""
    graph = getattr(getattr(ctx, "prepared", None), "graph", None)
    return list(getattr(graph, "presets", None) or [])


@node(
    name="Map",
    category=CATEGORY,
    inputs=[In("items", "LIST", "The items; each one is fed to the preset's first exposed input.")],
    outputs=[
        Out("results", "LIST", "The preset's first exposed output for each item, in order."),
        Out("count", "SCALAR", "Number of results (float)."),
    ],
    params=[Param.string("subgraph", "", "Name of the preset to run once per item.")],
    cacheable=False,
)
def map_node(call: Any) -> dict[str, Any]:
    """Run a preset once per list item, sequentially, and collect the results.

    Each item runs as a nested engine run (same snapshot, device, options and cancellation, no
    cache); its nodes are named `<map id>[<i>]__<internal id>` for seeds and weights. A `map`
    progress event follows every item.
    """
    items = call.inputs["items"]
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"Map expects a list input, got {type(items).__name__}")
    ctx = call.extras.get("run")
    if ctx is None:
        raise ValueError("Map: no run context; Map runs only inside the engine")
    embedded = embedded_presets(ctx)
    definition = find_preset(call.params["subgraph"], ctx.snapshot, embedded)
    runner = SubgraphRunner(call.node_id, definition, ctx, call.cancel_event, embedded)
    results: list[Any] = []
    total = len(items)
    for index, item in enumerate(items):
        call.check_cancelled()
        results.append(runner.run_item(index, item))
        call.progress({"event": "map", "index": index, "total": total})
    return {"results": results, "count": float(len(results))}


REDUCE_OPS = ("sum", "mean", "min", "max", "concat", "stack", "first", "last")


def _as_tensor(item: Any, index: int) -> torch.Tensor:
    if isinstance(item, torch.Tensor):
        return item
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return torch.tensor(float(item), dtype=torch.float32)
    raise ValueError(
        f"Reduce: item {index} is a {type(item).__name__}; only tensors and numbers can be reduced"
    )


def reduce_items(items: list[Any] | tuple[Any, ...], operation: str, dim: int) -> Any:
    """Combine a non-empty list of tensors/numbers with one of :data:`REDUCE_OPS`."""
    if operation == "first":
        return items[0]
    if operation == "last":
        return items[-1]
    tensors = [_as_tensor(item, i) for i, item in enumerate(items)]
    if operation == "concat":
        return torch.cat(tensors, dim)
    if operation == "stack":
        return torch.stack(tensors, dim)
    stacked = torch.stack(tensors, 0)
    if operation == "sum":
        return stacked.sum(0)
    if operation == "mean":
        return stacked.mean(0)
    if operation == "min":
        return stacked.min(0).values
    if operation == "max":
        return stacked.max(0).values
    raise ValueError(f"Reduce: unknown operation '{operation}'")


@node(
    name="Reduce",
    category=CATEGORY,
    inputs=[In("items", "LIST", "Tensors or numbers.")],
    outputs=[
        Out("result", "ANY", "The combined value."),
        Out("count", "SCALAR", "Number of items (float)."),
    ],
    params=[
        Param.select("operation", "mean", REDUCE_OPS, "How the items are combined."),
        Param.int("dim", 0, "Dim for concat and stack."),
    ],
)
def reduce_node(call: Any) -> dict[str, Any]:
    """Combine a list: element-wise sum/mean/min/max, concat or stack along `dim`, first or last.

    Numbers become float32 0-d tensors; `first`/`last` return the item unchanged.
    """
    items = call.inputs["items"]
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"Reduce expects a list input, got {type(items).__name__}")
    if not items:
        raise ValueError("Reduce received an empty list")
    result = reduce_items(items, call.params["operation"], call.params["dim"])
    return {"result": result, "count": float(len(items))}


SWITCH_INPUTS = 4


def selector_index(selector: Any) -> int:
    """The selector as an int: tensors via ``.item()``, then truncated with ``int()``."""
    if isinstance(selector, torch.Tensor):
        selector = selector.item()
    return int(selector)


@node(
    name="Switch",
    category=CATEGORY,
    inputs=[
        In("selector", "SCALAR", "Which input to forward (0 to 3)."),
        In("input_0", "ANY", "Forwarded when selected, and the fallback."),
        In("input_1", "ANY", optional=True),
        In("input_2", "ANY", optional=True),
        In("input_3", "ANY", optional=True),
    ],
    outputs=[Out("output", "ANY")],
)
def switch(call: Any) -> dict[str, Any]:
    """Forward `input_<selector>`; an absent or None choice (or an out-of-range selector) gives `input_0`."""
    index = selector_index(call.inputs["selector"])
    chosen = call.inputs.get(f"input_{index}") if 0 <= index < SWITCH_INPUTS else None
    return {"output": chosen if chosen is not None else call.inputs.get("input_0")}
