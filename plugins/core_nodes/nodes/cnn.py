"""Convolutional building blocks (nodes.md §2.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nodeloom.kernel import CodeFragment, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import StepRecorder, module_for, seeded

from ._codegen import module_codegen, simple
from ._norm_trace import record_norm_steps

CATEGORY = "CNN"

_PRELU_INIT = 0.25  # nn.PReLU's default single weight


def _prelu(x: torch.Tensor) -> torch.Tensor:
    # Same numbers as a fresh nn.PReLU() built on x's device and dtype, without a module object.
    return F.prelu(x, torch.full((1,), _PRELU_INIT, dtype=x.dtype, device=x.device))


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": lambda x: F.elu(x, alpha=1.0),
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "silu": F.silu,
    "mish": F.mish,
    "selu": F.selu,
    "softmax": lambda x: F.softmax(x, dim=-1),
    "hardswish": F.hardswish,
    "prelu": _prelu,
}


# The torch call of each function, as script code ("{x}" is the input); same ops as ACTIVATIONS.
ACTIVATION_CODE: dict[str, str] = {
    "relu": "F.relu({x})",
    "sigmoid": "torch.sigmoid({x})",
    "tanh": "torch.tanh({x})",
    "leaky_relu": "F.leaky_relu({x}, 0.01)",
    "elu": "F.elu({x}, alpha=1.0)",
    "gelu": "F.gelu({x}, approximate='none')",
    "silu": "F.silu({x})",
    "mish": "F.mish({x})",
    "selu": "F.selu({x})",
    "softmax": "F.softmax({x}, dim=-1)",
    "hardswish": "F.hardswish({x})",
    "prelu": f"F.prelu({{x}}, torch.full((1,), {_PRELU_INIT!r}, dtype={{x}}.dtype, device={{x}}.device))",
}


def activation_codegen(gen: Any) -> CodeFragment:
    code = ACTIVATION_CODE.get(gen.params["function"])
    if code is None:
        raise ValueError(f"Activation: unknown function '{gen.params['function']}'")
    return simple(gen, "tensor", code.replace("{x}", gen.input("tensor")))


@node(
    name="Activation",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.select("function", "relu", tuple(ACTIVATIONS), "The non-linearity.")],
    codegen=activation_codegen,
)
def activation(call: Any) -> dict[str, Any]:
    """Apply an element-wise non-linearity (softmax: over the last dim; prelu: slope 0.25)."""
    fn = ACTIVATIONS.get(call.params["function"])
    if fn is None:
        raise ValueError(f"Activation: unknown function '{call.params['function']}'")
    return {"tensor": fn(call.inputs["tensor"])}


def adaptive_avg_pool2d_codegen(gen: Any) -> CodeFragment:
    size = f"({gen.param('output_height')}, {gen.param('output_width')})"
    return simple(gen, "tensor", f"F.adaptive_avg_pool2d({gen.input('tensor')}, {size})")


@node(
    name="AdaptiveAvgPool2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("output_height", 1, "Output height."),
        Param.int("output_width", 1, "Output width."),
    ],
    codegen=adaptive_avg_pool2d_codegen,
)
def adaptive_avg_pool2d(call: Any) -> dict[str, Any]:
    """Average-pool to a fixed (height, width) whatever the input size."""
    size = (call.params["output_height"], call.params["output_width"])
    return {"tensor": F.adaptive_avg_pool2d(call.inputs["tensor"], size)}


def build_batchnorm2d(params: Mapping[str, Any]) -> nn.Module:
    return nn.BatchNorm2d(params["num_features"], eps=1e-5, momentum=0.1)



@node(
    name="BatchNorm2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C, H, W).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("num_features", 32, "Number of channels C.")],
    stateful=StatefulSpec(build=lambda call: build_batchnorm2d(call.params)),
    codegen=module_codegen(build_batchnorm2d),
)
def batchnorm2d(call: Any) -> dict[str, Any]:
    """Batch normalisation per channel with learned scale and shift (`nn.BatchNorm2d`).

    In `train` module mode it uses batch statistics and updates the running statistics.
    """
    x = call.inputs["tensor"]
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        y = m(x)
    if rec.enabled:
        record_norm_steps(
            rec, x, m, y, (0, 2, 3), ("per_channel_mean", "per_channel_var"),
            ("The input batch (N, C, H, W).", "Mean of each channel over batch and spatial positions.",
             "Population variance of each channel."),
        )
    return rec.attach({"tensor": y})


def build_conv2d(params: Mapping[str, Any]) -> nn.Module:
    return nn.Conv2d(
        params["in_channels"],
        params["out_channels"],
        params["kernel_size"],
        stride=params["stride"],
        padding=params["padding"],
    )



@node(
    name="Conv2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C, H, W) or (C, H, W).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("in_channels", 1, "Input channels."),
        Param.int("out_channels", 32, "Output channels (number of kernels)."),
        Param.int("kernel_size", 3, "Square kernel size."),
        Param.int("stride", 1, "Step between kernel positions."),
        Param.int("padding", 1, "Zero padding on each side."),
    ],
    stateful=StatefulSpec(build=lambda call: build_conv2d(call.params)),
    codegen=module_codegen(build_conv2d),
)
def conv2d(call: Any) -> dict[str, Any]:
    """2-D convolution with learned kernels and bias (`nn.Conv2d`)."""
    x = call.inputs["tensor"]
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        y = m(x)
    if rec.enabled:
        bias = m.bias if m.bias is not None else torch.zeros(m.out_channels, device=m.weight.device)
        rec.add("input_tensor", "The input feature maps.", {"input": x})
        rec.add(
            "kernel_weights",
            "The learned kernels (out, in, k, k) and one bias per output channel.",
            {"weight": m.weight, "bias": bias},
        )
        rec.add(
            "convolved_output", "Each kernel slid over the input, plus its bias.", {"output": y}
        )
    return rec.attach({"tensor": y})


def build_conv_transpose2d(params: Mapping[str, Any]) -> nn.Module:
    return nn.ConvTranspose2d(
        params["in_channels"],
        params["out_channels"],
        params["kernel_size"],
        stride=params["stride"],
        padding=params["padding"],
        output_padding=params["output_padding"],
    )



@node(
    name="ConvTranspose2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("in_channels", 64, "Input channels."),
        Param.int("out_channels", 32, "Output channels."),
        Param.int("kernel_size", 2, "Square kernel size."),
        Param.int("stride", 2, "Upsampling stride."),
        Param.int("padding", 0, "Implicit padding removed from the output."),
        Param.int("output_padding", 0, "Extra size added to one side of the output."),
    ],
    stateful=StatefulSpec(build=lambda call: build_conv_transpose2d(call.params)),
    codegen=module_codegen(build_conv_transpose2d),
)
def conv_transpose2d(call: Any) -> dict[str, Any]:
    """Transposed (up-sampling) 2-D convolution (`nn.ConvTranspose2d`)."""
    with seeded(call):
        m = module_for(call)
        y = m(call.inputs["tensor"])
    return {"tensor": y}


def dropout_codegen(gen: Any) -> CodeFragment:
    x, out = gen.input("tensor"), gen.var("tensor")
    return gen.fragment(
        "if module_mode == 'eval':",
        f"    {out} = {x}",
        "else:",
        f"    with seeded({gen.seed_expr}):",
        f"        {out} = F.dropout({x}, {gen.param('p')}, training=True)",
    )


@node(
    name="Dropout",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.float("p", 0.5, "Probability of zeroing an element.", min=0, max=1)],
    random=True,
    cacheable=False,
    codegen=dropout_codegen,
)
def dropout(call: Any) -> dict[str, Any]:
    """Zero elements with probability p and scale the rest by 1/(1-p) (identity in eval mode)."""
    x = call.inputs["tensor"]
    if call.options.get("module_mode", "train") == "eval":
        return {"tensor": x}
    with seeded(call):
        y = F.dropout(x, call.params["p"], training=True)
    return {"tensor": y}


def max_pool2d_codegen(gen: Any) -> CodeFragment:
    args = f"{gen.input('tensor')}, {gen.param('kernel_size')}, {gen.param('stride')}"
    return simple(gen, "tensor", f"F.max_pool2d({args})")


@node(
    name="MaxPool2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("kernel_size", 2, "Pooling window size."),
        Param.int("stride", 2, "Step between windows."),
    ],
    codegen=max_pool2d_codegen,
)
def max_pool2d(call: Any) -> dict[str, Any]:
    """Maximum over each window (no padding, floor mode)."""
    p = call.params
    return {"tensor": F.max_pool2d(call.inputs["tensor"], p["kernel_size"], p["stride"])}
