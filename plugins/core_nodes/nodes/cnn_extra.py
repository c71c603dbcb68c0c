"""Tier-2 convolution nodes (nodes.md §3.1): AvgPool2d, Conv1d, Conv2dExplicit, Conv2dKernel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nodeloom.kernel import StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import module_for, seeded, to_device

CATEGORY = "CNN"


@node(
    name="AvgPool2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("kernel_size", 2, "Pooling window size."),
        Param.int("stride", 2, "Step between windows."),
        Param.int("padding", 0, "Zero padding on each side."),
    ],
)
def avg_pool2d(call: Any) -> dict[str, Any]:
    """Average over each window (zero padding counted, floor mode): `F.avg_pool2d`."""
    p = call.params
    return {
        "tensor": F.avg_pool2d(call.inputs["tensor"], p["kernel_size"], p["stride"], p["padding"])
    }


def build_conv1d(params: Mapping[str, Any]) -> nn.Module:
    return nn.Conv1d(
        params["in_channels"],
        params["out_channels"],
        params["kernel_size"],
        stride=params["stride"],
        padding=params["padding"],
    )


@node(
    name="Conv1d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C, L) or (C, L).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("in_channels", 1, "Input channels."),
        Param.int("out_channels", 32, "Output channels (number of kernels)."),
        Param.int("kernel_size", 3, "Kernel length."),
        Param.int("stride", 1, "Step between kernel positions."),
        Param.int("padding", 1, "Zero padding on each side."),
    ],
    stateful=StatefulSpec(build=lambda call: build_conv1d(call.params)),
)
def conv1d(call: Any) -> dict[str, Any]:
    """1-D convolution with learned kernels and bias (`nn.Conv1d`); weights persist between runs."""
    with seeded(call):
        m = module_for(call)
        y = m(call.inputs["tensor"])
    return {"tensor": y}


# -- Conv2dExplicit -----------------------------------------------------------------------------


def depthwise_weight(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    """The (C, 1, k, k) depthwise weight for a (k, k) or (o, 1, k, k) kernel (o = 1 or C)."""
    shape = list(kernel.shape)
    if kernel.dim() == 2:
        if shape[0] != shape[1]:
            raise ValueError(f"Conv2dExplicit: a 2-D kernel must be square (k, k); got shape {shape}.")
        return kernel.reshape(1, 1, *shape).expand(channels, 1, *shape)
    if kernel.dim() == 4:
        out, one, kh, kw = shape
        if one != 1 or kh != kw:
            raise ValueError(
                f"Conv2dExplicit: a 4-D kernel must have shape (o, 1, k, k) with a square k; got {shape}."
            )
        if out == 1:
            return kernel.expand(channels, 1, kh, kw)
        if out == channels:
            return kernel
        raise ValueError(
            f"Conv2dExplicit: kernel has {out} output channels but the input has {channels}; "
            f"use 1 (shared by every channel) or {channels}. Kernel shape {shape}."
        )
    raise ValueError(
        f"Conv2dExplicit: kernel must be (k, k) or (o, 1, k, k); got shape {shape}."
    )


def _clamped(value: Any, default: int, low: int) -> int:
    # CodefyUI's `max(low, int(value or default))`: 0 / None fall back to the default.
    return max(low, int(value or default))


@node(
    name="Conv2dExplicit",
    category=CATEGORY,
    inputs=[
        In("tensor", "TENSOR", "Input (N, C, H, W)."),
        In("kernel", "TENSOR", "A square (k, k) kernel, or (o, 1, k, k) with o = 1 or C."),
    ],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("stride", 1, "Step between kernel positions.", min=1),
        Param.int("padding", 1, "Zero padding on each side.", min=0),
    ],
)
def conv2d_explicit(call: Any) -> dict[str, Any]:
    """Depthwise convolution with a supplied kernel: every channel is filtered on its own.

    No learned weights: `F.conv2d(x, weight, None, stride, padding, groups=C)`.
    """
    x, kernel = call.inputs["tensor"], call.inputs["kernel"]
    if not isinstance(x, torch.Tensor) or not isinstance(kernel, torch.Tensor):
        raise ValueError(
            "Conv2dExplicit: both inputs must be tensors; got "
            f"{type(x).__name__} and {type(kernel).__name__}."
        )
    if x.dim() != 4:
        raise ValueError(
            f"Conv2dExplicit: input tensor must be 4D (N, C, H, W); got shape {list(x.shape)}. "
            "Use an Unsqueeze on dim=0 if you have a (C, H, W) tensor."
        )
    channels = x.shape[1]
    weight = depthwise_weight(kernel, channels).to(dtype=x.dtype, device=x.device)
    stride = _clamped(call.params["stride"], 1, 1)
    padding = _clamped(call.params["padding"], 0, 0)
    return {"tensor": F.conv2d(x, weight, None, stride, padding, groups=channels)}


# -- Conv2dKernel -------------------------------------------------------------------------------

PRESET_KERNELS: dict[str, list[list[float]]] = {
    "EdgeDetection3x3": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "Sharpen3x3": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "VerticalEdge3x3": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
}
KERNEL_PRESETS = (*PRESET_KERNELS, "Custom")
_IDENTITY_3X3 = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


def _flatten(values: Any) -> list[Any]:
    if isinstance(values, (list, tuple)):
        return [item for v in values for item in _flatten(v)]
    return [values]


def _kernel_side(raw: Any) -> int:
    if isinstance(raw, bool):
        return 3
    try:
        side = int(raw)
    except (TypeError, ValueError):
        return 3
    if isinstance(raw, float) and not raw.is_integer():
        return 3
    return max(1, min(15, side))


def kernel_tensor(preset: str, kernel_size: Any, weights: Any) -> torch.Tensor:
    """The float32 (k, k) kernel for ``Conv2dKernel``'s params (CPU)."""
    if preset in PRESET_KERNELS:
        return torch.tensor(PRESET_KERNELS[preset], dtype=torch.float32)
    if preset != "Custom":
        raise ValueError(f"Conv2dKernel: unknown preset '{preset}'")
    k = _kernel_side(kernel_size)
    if weights is None:
        raise ValueError("Conv2dKernel: weights are required when preset is 'Custom'.")
    flat = _flatten(weights)
    if len(flat) != k * k:
        raise ValueError(
            f"weights has {len(flat)} elements but kernel_size={k} expects {k * k} ({k}x{k}). "
            "Adjust kernel_size or re-fill the grid."
        )
    return torch.tensor([float(v) for v in flat], dtype=torch.float32).reshape(k, k)


@node(
    name="Conv2dKernel",
    category=CATEGORY,
    outputs=[Out("tensor", "TENSOR", "A float32 (k, k) kernel.")],
    params=[
        Param.select("preset", "EdgeDetection3x3", KERNEL_PRESETS, "A classic kernel, or Custom."),
        Param.int(
            "kernel_size", 3, "Side k of a Custom kernel.", min=1, max=15,
            visible_when={"preset": "Custom"},
        ),
        Param.tensor_grid(
            "weights", _IDENTITY_3X3, "The k x k values of a Custom kernel.",
            visible_when={"preset": "Custom"},
        ),
    ],
)
def conv2d_kernel(call: Any) -> dict[str, Any]:
    """A square convolution kernel: edge detection, sharpen, vertical edge, or typed in by hand."""
    p = call.params
    kernel = kernel_tensor(p["preset"], p["kernel_size"], p.get("weights"))
    return {"tensor": to_device(kernel, call.device)}
