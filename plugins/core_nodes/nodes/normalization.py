"""Normalisation layers (nodes.md §2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from nodeloom.kernel import CodeFragment, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal
from nodeloom.torchkit import StepRecorder, int_list, module_for, seeded

from ._codegen import seeded_module
from ._norm_trace import record_norm_steps

CATEGORY = "Normalization"


def _shape(params: Mapping[str, Any]) -> list[int]:
    return int_list("LayerNorm", "normalized_shape", params["normalized_shape"])


def build_layernorm(params: Mapping[str, Any]) -> nn.Module:
    return nn.LayerNorm(_shape(params), eps=params["eps"])


def _normalize_layernorm(params: dict[str, Any]) -> dict[str, Any]:
    # "512" and " 512," build the same layer, so they must share the persisted module.
    return {**params, "normalized_shape": _shape(params)}


def layernorm_codegen(gen: Any) -> CodeFragment:
    build = f"nn.LayerNorm({py_literal(_shape(gen.params))}, eps={gen.param('eps')})"
    forward = f"{gen.var('tensor')} = {{m}}({gen.input('tensor')})"
    return gen.fragment(*seeded_module(gen, build, [forward]))


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
    codegen=layernorm_codegen,
)
def layernorm(call: Any) -> dict[str, Any]:
    """Layer normalisation over the trailing dims with learned scale and shift (`nn.LayerNorm`)."""
    x = call.inputs["tensor"]
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        y = m(x)
    if rec.enabled:
        record_norm_steps(
            rec, x, m, y, tuple(range(-len(m.normalized_shape), 0)), ("compute_mean", "compute_var"),
            ("The input tensor.", "Mean over the normalised trailing dims, per sample.",
             "Population variance over the same dims."),
        )
    return rec.attach({"tensor": y})
