"""Tier-2 normalisation layers (nodes.md §3.2): BatchNorm1d, GroupNorm, InstanceNorm2d.

All three are stateful (N4): the module persists between runs, so BatchNorm1d's running statistics
carry over exactly like BatchNorm2d's.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nodeloom.kernel import StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import module_for, seeded

CATEGORY = "Normalization"


def _forward(call: Any) -> dict[str, Any]:
    """The shared body: get the persisted module and run it inside one seeded block."""
    with seeded(call):
        m = module_for(call)
        y = m(call.inputs["tensor"])
    return {"tensor": y}


@node(
    name="BatchNorm1d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C) or (N, C, L).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("num_features", 128, "Number of features / channels C.")],
    stateful=StatefulSpec(build=lambda call: nn.BatchNorm1d(call.params["num_features"])),
)
def batchnorm1d(call: Any) -> dict[str, Any]:
    """Batch normalisation per feature with learned scale and shift (`nn.BatchNorm1d`)."""
    return _forward(call)


@node(
    name="GroupNorm",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C, ...).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("num_groups", 32, "Groups the channels are split into (must divide C)."),
        Param.int("num_channels", 256, "Number of channels C."),
    ],
    stateful=StatefulSpec(
        build=lambda call: nn.GroupNorm(call.params["num_groups"], call.params["num_channels"])
    ),
)
def groupnorm(call: Any) -> dict[str, Any]:
    """Normalise each group of channels per sample, with learned scale and shift (`nn.GroupNorm`)."""
    return _forward(call)


@node(
    name="InstanceNorm2d",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C, H, W) or (C, H, W).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.int("num_features", 64, "Number of channels C."),
        Param.bool("affine", False, "Learn a per-channel scale and shift."),
    ],
    stateful=StatefulSpec(
        build=lambda call: nn.InstanceNorm2d(
            call.params["num_features"], affine=call.params["affine"]
        )
    ),
)
def instancenorm2d(call: Any) -> dict[str, Any]:
    """Normalise every channel of every sample over its spatial positions (`nn.InstanceNorm2d`)."""
    return _forward(call)
