"""Tier-2 utility layer (nodes.md §3.4): the stateful ``Embedding`` lookup table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from nodeloom.kernel import StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import StepRecorder, module_for, seeded

CATEGORY = "Utility"


def padding_index(raw: Any) -> int | None:
    """``padding_idx`` as nn.Embedding takes it: every negative value means "no padding row"."""
    return None if raw is None or raw < 0 else int(raw)


def build_embedding(params: Mapping[str, Any]) -> nn.Module:
    return nn.Embedding(
        params["num_embeddings"],
        params["embedding_dim"],
        padding_idx=padding_index(params["padding_idx"]),
    )


def _normalize_embedding(params: dict[str, Any]) -> dict[str, Any]:
    # -1 and -5 build the same layer, so they must share one persisted module (nodes.md §3.4).
    return {**params, "padding_idx": padding_index(params.get("padding_idx"))}


@node(
    name="Embedding",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "int64 indices of any shape.")],
    outputs=[Out("tensor", "TENSOR", "One embedding_dim vector per index.")],
    params=[
        Param.int("num_embeddings", 10000, "Size of the table (number of distinct indices)."),
        Param.int("embedding_dim", 256, "Length of each vector."),
        Param.int("padding_idx", -1, "Index whose row stays zero and gets no gradient; < 0: none."),
    ],
    stateful=StatefulSpec(
        build=lambda call: build_embedding(call.params), normalize=_normalize_embedding
    ),
)
def embedding(call: Any) -> dict[str, Any]:
    """Look each index up in a learned table (`nn.Embedding`); the table persists between runs."""
    indices = call.inputs["tensor"]
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        y = m(indices)
    if rec.enabled:
        rec.add("indices", "The integer indices to look up.", {"indices": indices})
        rec.add(
            "embedding_table",
            "The learned table: one row per possible index.",
            {"weight": m.weight},
            {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim},
        )
        rec.add("lookup", "Each index replaced by its row of the table.", {"output": y})
    return rec.attach({"tensor": y})
