"""Attention and transformer layers, and the mixture-of-experts layer (nodes.md §2.6, §2.15)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from nodeloom.kernel import CodeFragment, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import StepRecorder, as_float32, module_for, seeded
from torch import nn

from ._codegen import params_literal, seeded_module, use

CATEGORY = "Transformer"


# -- MoELayer -----------------------------------------------------------------------------------


class MoE(nn.Module):
    """Top-k gated mixture of SiLU expert FFNs (nodes.md §2.15).

    Construction order (gate, then fc1/fc2 per expert) is part of the contract: it fixes which
    random numbers each weight gets for a given seed.
    """

    def __init__(self, hidden_dim: int, expert_hidden_dim: int, num_experts: int, top_k: int):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(hidden_dim, num_experts, bias=False)
        self.experts = nn.ModuleList()
        for _ in range(num_experts):
            self.experts.append(
                nn.ModuleDict(
                    {
                        "fc1": nn.Linear(hidden_dim, expert_hidden_dim),
                        "fc2": nn.Linear(expert_hidden_dim, hidden_dim),
                    }
                )
            )

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        block = self.experts[e]
        return block["fc2"](F.silu(block["fc1"](x)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, T, H] -> (output [B, T, H], routing weights [B, T, k], indices [B, T, k])."""
        b, t, h = x.shape
        logits = self.gate(x)
        vals, idx = torch.topk(logits, self.top_k, dim=-1)
        w = torch.softmax(vals, dim=-1)
        tokens = x.reshape(b * t, h)
        flat_w = w.reshape(b * t, self.top_k)
        flat_idx = idx.reshape(b * t, self.top_k)
        out = torch.zeros_like(tokens)
        for s in range(self.top_k):
            for e in range(len(self.experts)):
                mask = flat_idx[:, s] == e
                if mask.any():
                    out[mask] += flat_w[mask, s : s + 1] * self.expert(e, tokens[mask])
        return out.reshape(b, t, h), w, idx


def build_moe(
    seed: int, hidden_dim: int, expert_hidden_dim: int, num_experts: int, top_k: int
) -> MoE:
    """The MoE of ``seed``, with counts clamped as nodes.md §2.15 says."""
    num_experts = max(1, num_experts)
    top_k = min(max(1, top_k), num_experts)
    with seeded(seed):
        return MoE(hidden_dim, expert_hidden_dim, num_experts, top_k)


def moe_layer_codegen(gen: Any) -> CodeFragment:
    """Same construction as :func:`build_moe` (counts clamped, explicit seed), then the forward."""
    use(gen, as_float32, MoE)
    p = gen.params
    num_experts = max(1, p["num_experts"])
    top_k = min(max(1, p["top_k"]), num_experts)
    x, moe = gen.tmp("x"), gen.tmp("moe")
    hidden = p["hidden_dim"]
    outs = ", ".join(gen.var(port) for port in ("output", "routing_weights", "expert_indices"))
    return gen.fragment(
        f"{x} = as_float32({gen.input('x')})",
        f"if {x}.dim() == 2:",
        f"    {x} = {x}.unsqueeze(0)",
        f"if {x}.dim() != 3 or {x}.shape[-1] != {hidden!r}:",
        f"    raise ValueError(f\"MoELayer: input shape {{list({x}.shape)}} doesn't match "
        f"[batch, tokens, hidden_dim={hidden}].\")",
        f"with seeded({int(p['seed'])!r}):",
        f"    {moe} = MoE({hidden!r}, {p['expert_hidden_dim']!r}, {num_experts!r}, {top_k!r})",
        f"{outs} = {moe}.to({x}.device)({x})",
    )


@node(
    name="MoELayer",
    category=CATEGORY,
    inputs=[In("x", "TENSOR", "Tokens [B, T, H] or [T, H].")],
    outputs=[
        Out("output", "TENSOR", "Weighted sum of the chosen experts' outputs [B, T, H]."),
        Out("routing_weights", "TENSOR", "Softmax over the top-k gate logits [B, T, k]."),
        Out("expert_indices", "TENSOR", "Chosen experts per token [B, T, k] (int64)."),
    ],
    params=[
        Param.int("num_experts", 4, "Number of expert FFNs.", min=1),
        Param.int("top_k", 2, "Experts used per token.", min=1),
        Param.int("hidden_dim", 128, "Token features H.", min=1),
        Param.int("expert_hidden_dim", 256, "Inner size of each expert.", min=1),
        Param.int("seed", 42, "Seed of the (rebuilt every call) weights."),
    ],
    codegen=moe_layer_codegen,
)
def moe_layer(call: Any) -> dict[str, Any]:
    """Top-k gated mixture of experts: each token goes to its k best experts, softmax-weighted."""
    p = call.params
    x = as_float32(call.inputs["x"])
    shape = list(x.shape)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[-1] != p["hidden_dim"]:
        raise ValueError(
            f"MoELayer: input shape {shape} doesn't match "
            f"[batch, tokens, hidden_dim={p['hidden_dim']}]."
        )
    moe = build_moe(
        int(p["seed"]), p["hidden_dim"], p["expert_hidden_dim"], p["num_experts"], p["top_k"]
    ).to(x.device)
    with torch.no_grad():
        output, weights, indices = moe(x)
    return {"output": output, "routing_weights": weights, "expert_indices": indices}


# -- MultiHeadAttention -------------------------------------------------------------------------


def build_mha(params: Mapping[str, Any]) -> nn.Module:
    return nn.MultiheadAttention(
        params["embed_dim"],
        params["num_heads"],
        dropout=params["dropout"],
        batch_first=params["batch_first"],
    )


def _batch_first(t: torch.Tensor, seq_first: bool) -> torch.Tensor:
    return t.transpose(0, 1) if seq_first and t.dim() == 3 else t


def mha_codegen(gen: Any) -> CodeFragment:
    use(gen, build_mha)
    build = f"build_mha({params_literal(gen, ('embed_dim', 'num_heads', 'dropout', 'batch_first'))})"
    q, k, v = (gen.input(port) for port in ("query", "key", "value"))
    mask = f", attn_mask={gen.input('attn_mask')}" if gen.has_input("attn_mask") else ""
    outs = f"{gen.var('output')}, {gen.var('weights')}"
    forward = f"{outs} = {{m}}({q}, {k}, {v}{mask}, need_weights=True, average_attn_weights=True)"
    return gen.fragment(*seeded_module(gen, build, [forward]))


@node(
    name="MultiHeadAttention",
    category=CATEGORY,
    inputs=[
        In("query", "TENSOR"),
        In("key", "TENSOR"),
        In("value", "TENSOR"),
        # Not in CodefyUI's node: without it a decoder block cannot be causal.
        In("attn_mask", "TENSOR", "[L, S] mask; bool True (or -inf) blocks a position.", optional=True),
    ],
    outputs=[
        Out("output", "TENSOR", "Attended values, same layout as the query."),
        Out("weights", "TENSOR", "Attention weights averaged over heads (N, L, S)."),
    ],
    params=[
        Param.int("embed_dim", 512, "Model width E (split across the heads)."),
        Param.int("num_heads", 8, "Number of heads; must divide embed_dim."),
        Param.bool("batch_first", False, "Inputs are (N, L, E) instead of (L, N, E)."),
        Param.float("dropout", 0.0, "Dropout on the attention weights.", min=0, max=1),
    ],
    stateful=StatefulSpec(build=lambda call: build_mha(call.params)),
    codegen=mha_codegen,
)
def multi_head_attention(call: Any) -> dict[str, Any]:
    """Multi-head attention $\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$ with learned projections.

    With verbose steps, the trace illustrates single-head attention on the raw inputs (no learned
    projections): scores, their softmax, and the weighted sum of the values.
    """
    q, k, v = call.inputs["query"], call.inputs["key"], call.inputs["value"]
    mask = call.inputs.get("attn_mask")
    rec = StepRecorder(call)
    with seeded(call):
        m = module_for(call)
        output, weights = m(q, k, v, attn_mask=mask, need_weights=True, average_attn_weights=True)
    if rec.enabled:
        seq_first = not call.params["batch_first"]
        qb, kb, vb = (_batch_first(t, seq_first) for t in (q, k, v))
        d_k = call.params["embed_dim"] // call.params["num_heads"]
        scores = qb @ kb.transpose(-2, -1) / math.sqrt(d_k)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
        attn = torch.softmax(scores, dim=-1)
        rec.add(
            "inputs_qkv", "Queries, keys and values (batch first).", {"Q": qb, "K": kb, "V": vb}
        )
        rec.add(
            "scaled_scores",
            "Dot product of every query with every key, divided by sqrt(d_k).",
            {"scores": scores},
            {"d_k": d_k},
        )
        rec.add("softmax_weights", "Softmax of the scores over the keys.", {"weights": attn})
        rec.add("attended_output", "Values averaged with those weights.", {"output": attn @ vb})
    return rec.attach({"output": output, "weights": weights})


# -- Transformer encoder / decoder --------------------------------------------------------------

TRANSFORMER_PARAMS = (
    Param.int("d_model", 512, "Model width."),
    Param.int("nhead", 8, "Attention heads; must divide d_model."),
    Param.int("num_layers", 6, "Stacked layers."),
    Param.int("dim_feedforward", 2048, "Inner size of the feed-forward block."),
)


def build_encoder(params: Mapping[str, Any]) -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        params["d_model"], params["nhead"], params["dim_feedforward"], batch_first=False
    )
    # Nested tensors only matter for padded batches on the inference fast path; disabling them
    # keeps numbers identical and avoids torch's warning about sequence-first layers.
    return nn.TransformerEncoder(layer, params["num_layers"], enable_nested_tensor=False)


def build_decoder(params: Mapping[str, Any]) -> nn.Module:
    layer = nn.TransformerDecoderLayer(
        params["d_model"], params["nhead"], params["dim_feedforward"], batch_first=False
    )
    return nn.TransformerDecoder(layer, params["num_layers"])


def _transformer_codegen(gen: Any, builder: Any, args: str) -> CodeFragment:
    use(gen, builder)
    build = f"{builder.__name__}({params_literal(gen, (p.name for p in TRANSFORMER_PARAMS))})"
    forward = f"{gen.var('tensor')} = {{m}}({args})"
    return gen.fragment(*seeded_module(gen, build, [forward]))


def decoder_codegen(gen: Any) -> CodeFragment:
    return _transformer_codegen(gen, build_decoder, f"{gen.input('tensor')}, {gen.input('memory')}")


def encoder_codegen(gen: Any) -> CodeFragment:
    return _transformer_codegen(gen, build_encoder, gen.input("tensor"))


@node(
    name="TransformerDecoder",
    category=CATEGORY,
    inputs=[
        In("tensor", "TENSOR", "Target sequence (T, N, E)."),
        In("memory", "TENSOR", "Encoder output (S, N, E)."),
    ],
    outputs=[Out("tensor", "TENSOR", "Decoded sequence (T, N, E).")],
    params=TRANSFORMER_PARAMS,
    stateful=StatefulSpec(build=lambda call: build_decoder(call.params)),
    codegen=decoder_codegen,
)
def transformer_decoder(call: Any) -> dict[str, Any]:
    """Stack of post-norm decoder layers (self- and cross-attention, ReLU FFN, dropout 0.1)."""
    with seeded(call):
        m = module_for(call)
        y = m(call.inputs["tensor"], call.inputs["memory"])
    return {"tensor": y}


@node(
    name="TransformerEncoder",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Sequence (S, N, E).")],
    outputs=[Out("tensor", "TENSOR", "Encoded sequence (S, N, E).")],
    params=TRANSFORMER_PARAMS,
    stateful=StatefulSpec(build=lambda call: build_encoder(call.params)),
    codegen=encoder_codegen,
)
def transformer_encoder(call: Any) -> dict[str, Any]:
    """Stack of post-norm encoder layers (self-attention, ReLU FFN, dropout 0.1)."""
    with seeded(call):
        m = module_for(call)
        y = m(call.inputs["tensor"])
    return {"tensor": y}
