"""Utility nodes: shape plumbing, the Linear layer and the Visualize plot (nodes.md §2.1, §2.14)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from nodeloom.kernel import CodeFragment, Requirement, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal
from nodeloom.torchkit import StepRecorder, int_list, module_for, seeded
from torch import nn

from ._codegen import module_codegen, simple

CATEGORY = "Utility"


def flatten_codegen(gen: Any) -> CodeFragment:
    return simple(gen, "tensor", f"torch.flatten({gen.input('tensor')}, {gen.param('start_dim')}, -1)")


@node(
    name="Flatten",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("start_dim", 1, "First dim to flatten; later dims are merged into it.")],
    codegen=flatten_codegen,
)
def flatten(call: Any) -> dict[str, Any]:
    """Flatten every dim from `start_dim` to the last: `torch.flatten(x, start_dim, -1)`."""
    return {"tensor": torch.flatten(call.inputs["tensor"], call.params["start_dim"], -1)}


def reshape_codegen(gen: Any) -> CodeFragment:
    shape = int_list("Reshape", "shape", gen.params["shape"])
    return simple(gen, "tensor", f"{gen.input('tensor')}.reshape({py_literal(shape)})")


@node(
    name="Reshape",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.string(
            "shape", "-1,784", "Complete target shape, batch dim included; one -1 is inferred."
        )
    ],
    codegen=reshape_codegen,
)
def reshape(call: Any) -> dict[str, Any]:
    """Reshape to the comma-separated target shape (one `-1` allowed)."""
    shape = int_list("Reshape", "shape", call.params["shape"])
    return {"tensor": call.inputs["tensor"].reshape(shape)}


def build_linear(params: Mapping[str, Any]) -> nn.Module:
    return nn.Linear(params["in_features"], params["out_features"])



@node(
    name="Linear",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input whose last dim is in_features.")],
    outputs=[Out("tensor", "TENSOR", "Output whose last dim is out_features.")],
    params=[
        Param.int("in_features", 512, "Size of the input's last dim."),
        Param.int("out_features", 10, "Size of the output's last dim."),
    ],
    stateful=StatefulSpec(build=lambda call: build_linear(call.params)),
    codegen=module_codegen(build_linear, ("in_features", "out_features")),
)
def linear(call: Any) -> dict[str, Any]:
    """Fully connected layer $y = xW^T + b$ (`nn.Linear`); weights persist between runs."""
    x = call.inputs["tensor"]
    in_features = call.params["in_features"]
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(
            f"Linear: input shape {list(x.shape)} does not end with in_features={in_features}"
        )
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        y = m(x)
    if rec.enabled:
        rec.add("input", "The input tensor x.", {"input": x})
        rec.add("weight_matrix", "The learned weight matrix W (out x in).", {"weight": m.weight})
        if m.bias is not None:
            rec.add("bias_vector", "The learned bias b, one value per output.", {"bias": m.bias})
        rec.add("linear_output", "The output x W^T + b.", {"output": y})
    return rec.attach({"tensor": y})


def concat_codegen(gen: Any) -> CodeFragment:
    a, b = gen.input("tensor_a"), gen.input("tensor_b")
    return simple(gen, "tensor", f"torch.cat([{a}, {b}], {gen.param('dim')})")


@node(
    name="Concat",
    category=CATEGORY,
    inputs=[In("tensor_a", "TENSOR"), In("tensor_b", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("dim", 0, "Dim along which the two tensors are joined.")],
    codegen=concat_codegen,
)
def concat(call: Any) -> dict[str, Any]:
    """Concatenate two tensors along `dim`: `torch.cat([a, b], dim)`."""
    a, b = call.inputs["tensor_a"], call.inputs["tensor_b"]
    return {"tensor": torch.cat([a, b], call.params["dim"])}


# -- Visualize ----------------------------------------------------------------------------------

PLOT_TYPES = ("line", "histogram", "heatmap", "image")


def to_numpy(data: Any) -> np.ndarray:
    """Plot data as a numpy array (tensors detached and moved to the CPU)."""
    if isinstance(data, torch.Tensor):
        t = data.detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16
            t = t.float()
        return t.numpy()
    return np.array(data)


def heatmap_array(arr: np.ndarray) -> np.ndarray:
    """2-D data for a heatmap: 1-D padded to the next square, >2-D folded to (-1, last dim)."""
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    if arr.ndim == 1:
        side = math.ceil(math.sqrt(arr.size)) if arr.size else 1
        padded = np.zeros(side * side, dtype=arr.dtype)
        padded[: arr.size] = arr
        return padded.reshape(side, side)
    if arr.ndim > 2:
        return arr.reshape(-1, arr.shape[-1])
    return arr


def _tile(batch: np.ndarray) -> np.ndarray:
    """Tile (N, C, H, W) items into one grid with 1-pixel padding of the minimum value."""
    n, c, h, w = batch.shape
    items = batch.transpose(0, 2, 3, 1) if c in (1, 3, 4) else batch[:, :1].transpose(0, 2, 3, 1)
    if items.shape[-1] == 1:
        items = items[..., 0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = 1
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad) + items.shape[3:]
    grid = np.full(shape, batch.min(), dtype=batch.dtype)
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = items[i]
    return grid


def image_array(arr: np.ndarray) -> np.ndarray:
    """Image data ready for ``imshow`` (nodes.md §2.14 `image`)."""
    tiled = arr.ndim == 4 and arr.shape[0] > 1
    if arr.ndim == 4:
        arr = _tile(arr) if tiled else arr[0]
    # A tiled grid is already channels-last; only single items may be channels-first.
    if not tiled and arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.clip(arr, 0.0, 1.0)
    return arr


def render_plot(arr: np.ndarray, plot_type: str, title: str) -> str:
    """Draw ``arr`` and return the base64 text of the PNG (nodes.md N11)."""
    from matplotlib.figure import Figure  # heavy optional import, only when the node runs

    # A bare Figure (no pyplot) renders with Agg and keeps no global state, so it is thread-safe.
    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot(1, 1, 1)
    if plot_type == "line":
        ax.plot(arr.ravel())
        ax.set_xlabel("Index")
        ax.set_ylabel("Value")
    elif plot_type == "histogram":
        ax.hist(arr.ravel(), bins=50, edgecolor="black", alpha=0.7)
        ax.set_xlabel("Value")
        ax.set_ylabel("Frequency")
    elif plot_type == "heatmap":
        im = ax.imshow(heatmap_array(arr), aspect="auto", cmap="viridis")
        fig.colorbar(im, ax=ax)
    else:
        img = image_array(arr)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


@node(
    name="Visualize",
    category=CATEGORY,
    inputs=[In("data", "ANY", "A tensor, array or list of numbers.")],
    outputs=[Out("image", "STRING", "Base64 PNG of the plot.")],
    params=[
        Param.string("title", "", "Plot title (none when empty)."),
        Param.select("plot_type", "line", PLOT_TYPES, "Kind of plot."),
    ],
    requires=(Requirement("matplotlib", "matplotlib", "plot"),),
    display_only=True,
)
def visualize(call: Any) -> dict[str, Any]:
    """Plot data as a line, histogram, heatmap or image; returns a base64 PNG."""
    plot_type = call.params["plot_type"]
    if plot_type not in PLOT_TYPES:
        raise ValueError(f"Unsupported plot type: {plot_type}")
    arr = to_numpy(call.inputs["data"])
    return {"image": render_plot(arr, plot_type, call.params.get("title", ""))}
