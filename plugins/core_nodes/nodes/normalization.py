"""Normalisation layers (nodes.md §2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from nodeloom.kernel import StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import StepRecorder, int_list, module_for, seeded
from torch import nn

CATEGORY = "Normalization"


def _shape(params: Mapping[str, Any]) -> list[int]:
    return int_list("LayerNorm", "normalized_shape", params["normalized_shape"])


def build_layernorm(params: Mapping[str, Any]) -> nn.Module:
    return nn.LayerNorm(_shape(params), eps=params["eps"])


def _normalize_layernorm(params: dict[str, Any]) -> dict[str, Any]:
    # "512" and " 512," build the same layer, so they must share the persisted module.
    return {**params, "normalized_shape": _shape(params)}


@node(
    name="LayerNorm",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.string("normalized_shape", "512", "Trailing dims to normalise over, e.g. `512`."),
        Param.float("eps", 1e-05, "Added to the variance for numerical stability."),
    ],
    stateful=StatefulSpec(
        build=lambda call: build_layernorm(call.params), normalize=_normalize_layernorm
    ),
)
def layernorm(call: Any) -> dict[str, Any]:
    """Layer normalisation over the trailing dims with learned scale and shift (`nn.LayerNorm`)."""
    x = call.inputs["tensor"]
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        y = m(x)
    if rec.enabled:
        dims = tuple(range(-len(m.normalized_shape), 0))
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=False)
        normalized = (x - mean) / torch.sqrt(var + m.eps)
        rec.add("input", "The input tensor.", {"input": x})
        rec.add(
            "compute_mean",
            "Mean over the normalised trailing dims, per sample.",
            {"mean": mean},
            {"eps": m.eps},
        )
        rec.add("compute_var", "Population variance over the same dims.", {"var": var})
        rec.add(
            "normalize",
            "Subtract the mean and divide by sqrt(var + eps).",
            {"normalized": normalized},
        )
        rec.add(
            "scale_shift",
            "Scale by the learned gamma and shift by the learned beta.",
            {"gamma": m.weight, "beta": m.bias, "output": y},
        )
    return rec.attach({"tensor": y})
