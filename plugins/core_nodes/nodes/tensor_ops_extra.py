"""Tier-2 tensor operations (nodes.md §3.3): Argmax, MatMul, Split, Squeeze, Stack.

``ScalarMultiply`` (also §3.3) lives in :mod:`.tensor_ops` with Tier 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nodeloom.kernel import PortSpec
from nodeloom.kernel.api import In, Out, Param, node

CATEGORY = "Tensor Operations"

SPLIT_MAX_CHUNKS = 32
_SPLIT_DEFAULT_CHUNKS = 2


@node(
    name="Argmax",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Values (numbers and lists are converted to a tensor).")],
    outputs=[Out("tensor", "TENSOR", "Indices of the maxima (int64).")],
    params=[
        Param.int("dim", -1, "Dim to reduce."),
        Param.bool("keepdim", False, "Keep the reduced dim with size 1."),
    ],
)
def argmax(call: Any) -> dict[str, Any]:
    """Index of the largest value along `dim`: `torch.argmax(x, dim, keepdim)`."""
    x = call.inputs["tensor"]
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    return {"tensor": torch.argmax(x, dim=call.params["dim"], keepdim=call.params["keepdim"])}


@node(
    name="MatMul",
    category=CATEGORY,
    inputs=[In("tensor_a", "TENSOR"), In("tensor_b", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
)
def matmul(call: Any) -> dict[str, Any]:
    """Matrix product with batch broadcasting: `torch.matmul(a, b)`."""
    return {"tensor": torch.matmul(call.inputs["tensor_a"], call.inputs["tensor_b"])}


def split_count(raw: Any) -> int:
    """The number of chunks of ``Split``: clamped to 1..32, a non-integer value counts as 2."""
    if isinstance(raw, bool):
        return _SPLIT_DEFAULT_CHUNKS
    try:
        n = int(raw)
    except (TypeError, ValueError):
        return _SPLIT_DEFAULT_CHUNKS
    if isinstance(raw, float) and not raw.is_integer():
        return _SPLIT_DEFAULT_CHUNKS
    return max(1, min(SPLIT_MAX_CHUNKS, n))


def split_ports(params: Mapping[str, Any]) -> tuple[PortSpec, ...]:
    """Dynamic outputs of one ``Split`` instance: ``chunk_0 .. chunk_{n-1}``."""
    n = split_count(params.get("chunks", _SPLIT_DEFAULT_CHUNKS))
    return tuple(PortSpec(f"chunk_{i}", "TENSOR", f"Piece {i}.") for i in range(n))


@node(
    name="Split",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("chunk_0", "TENSOR", "Piece 0."), Out("chunk_1", "TENSOR", "Piece 1.")],
    params=[
        Param.int("chunks", 2, "Number of pieces (one output port each).", min=1, max=32),
        Param.int("dim", 0, "Dim to split along."),
    ],
    dynamic_outputs=split_ports,
)
def split(call: Any) -> dict[str, Any]:
    """Split into `chunks` pieces along `dim` (`torch.chunk`); piece i goes to `chunk_i`.

    When the dim is too small torch returns fewer pieces and the missing ports are not produced.
    """
    pieces = torch.chunk(call.inputs["tensor"], split_count(call.params["chunks"]), call.params["dim"])
    return {f"chunk_{i}": piece for i, piece in enumerate(pieces)}


@node(
    name="Squeeze",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("dim", -1, "Size-1 dim to remove; -1 removes every size-1 dim.")],
)
def squeeze(call: Any) -> dict[str, Any]:
    """Remove size-1 dims. `dim = -1` means *all* of them (`x.squeeze()`), not the last one."""
    x = call.inputs["tensor"]
    dim = call.params["dim"]
    return {"tensor": x.squeeze() if dim == -1 else x.squeeze(dim)}


@node(
    name="Stack",
    category=CATEGORY,
    inputs=[In("tensor_a", "TENSOR"), In("tensor_b", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("dim", 0, "Position of the new dim.")],
)
def stack(call: Any) -> dict[str, Any]:
    """Join two same-shaped tensors along a new dim: `torch.stack([a, b], dim)`."""
    a, b = call.inputs["tensor_a"], call.inputs["tensor_b"]
    return {"tensor": torch.stack([a, b], call.params["dim"])}
