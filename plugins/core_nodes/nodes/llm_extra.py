"""Tier-2 LLM nodes (nodes.md §3.9): AttentionHeatmap, AttentionMask, PositionalEncoding, Tokenizer.

``LLMChat`` (remote providers) lives in :mod:`.llm_chat`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import torch

from nodeloom.kernel import Requirement
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import CodegenUnsupported
from nodeloom.torchkit import StepRecorder, as_float32

from ._codegen import use
from .classical import optional_import

CATEGORY = "LLM"


# -- AttentionHeatmap ---------------------------------------------------------------------------


def select_head(weights: torch.Tensor, head: int) -> torch.Tensor:
    """One head of [H, L, S] or [B, H, L, S] attention weights; other shapes pass through."""
    if head < 0 or weights.dim() not in (3, 4):
        return weights
    heads = weights.shape[0] if weights.dim() == 3 else weights.shape[1]
    if head >= heads:
        raise ValueError(
            f"AttentionHeatmap: head_index {head} is out of range; the weights have {heads} heads "
            f"(shape {list(weights.shape)})."
        )
    return weights[head] if weights.dim() == 3 else weights[:, head]


@node(
    name="AttentionHeatmap",
    category=CATEGORY,
    inputs=[
        In("weights", "TENSOR", "Attention weights [L, S], [H, L, S] or [B, H, L, S]."),
        In("labels", "LIST", "Token labels for the axes.", optional=True),
    ],
    outputs=[
        Out("weights", "TENSOR", "The weights shown (one head when head_index >= 0)."),
        Out("labels", "LIST", "The labels (empty when none are wired)."),
    ],
    params=[
        Param.int("head_index", -1, "Head to show; -1 keeps every head."),
        Param.select("colormap", "viridis", ("viridis", "blues", "RdBu"), "Colours (UI only)."),
    ],
)
def attention_heatmap(call: Any) -> dict[str, Any]:
    """Pass attention weights to the UI heatmap, optionally picking one head."""
    weights = call.inputs["weights"]
    labels = call.inputs.get("labels")
    return {
        "weights": select_head(weights, call.params["head_index"]),
        "labels": list(labels) if labels is not None else [],
    }


# -- AttentionMask ------------------------------------------------------------------------------


def attention_mask(
    mode: str, tokens: Sequence[Any] | None, length: int | None, pad_token: str
) -> torch.Tensor:
    """A [seq, seq] bool mask, True where attention is blocked (CPU)."""
    if mode == "causal":
        seq = len(tokens) if tokens else length
        if seq is None:
            raise ValueError("AttentionMask: connect a tensor or a tokens list")
        return torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    if mode == "padding":
        if tokens is None:
            raise ValueError("AttentionMask: padding mode needs the tokens input")
        is_pad = torch.tensor([str(t) == pad_token for t in tokens], dtype=torch.bool)
        return is_pad.unsqueeze(0).expand(len(tokens), len(tokens)).clone()
    raise ValueError(f"AttentionMask: unknown mode '{mode}'")


def attention_mask_codegen(gen: Any) -> Any:
    if gen.params["mode"] != "causal" or not gen.has_input("tensor") or gen.has_input("tokens"):
        raise CodegenUnsupported("AttentionMask exports only the causal mask of a tensor input")
    use(gen, attention_mask)
    x = gen.input("tensor")
    return gen.fragment(
        f"{gen.var('mask')} = attention_mask('causal', None, int({x}.shape[0]), '').to({x}.device)"
    )


@node(
    name="AttentionMask",
    category=CATEGORY,
    inputs=[
        In("tensor", "TENSOR", "A sequence whose first dim is its length.", optional=True),
        In("tokens", "LIST", "The tokens of the sequence.", optional=True),
    ],
    outputs=[Out("mask", "TENSOR", "[seq, seq] bool; True = blocked.")],
    params=[
        Param.select("mode", "causal", ("causal", "padding"), "Which positions are blocked."),
        Param.string("pad_token", "<pad>", "The padding token (padding mode)."),
    ],
    codegen=attention_mask_codegen,
)
def attention_mask_node(call: Any) -> dict[str, Any]:
    """Causal mask (no looking ahead) or padding mask (no attending to pad tokens)."""
    tensor = call.inputs.get("tensor")
    tokens = call.inputs.get("tokens")
    if tensor is None and tokens is None:
        raise ValueError("AttentionMask needs a tensor or a tokens input")
    if tokens is not None:
        tokens = list(tokens)
    length = int(tensor.shape[0]) if isinstance(tensor, torch.Tensor) and tensor.dim() else None
    mask = attention_mask(call.params["mode"], tokens, length, call.params["pad_token"])
    device = tensor.device if isinstance(tensor, torch.Tensor) else call.device
    return {"mask": mask.to(device)}



# -- PositionalEncoding -------------------------------------------------------------------------


def sinusoidal_pe(seq: int, dim: int) -> torch.Tensor:
    """The Transformer paper's [seq, dim] sin/cos table (odd dims drop the last cosine)."""
    pe = torch.zeros(seq, dim, dtype=torch.float32)
    pos = torch.arange(seq, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


def learnable_pe(seq: int, dim: int, seed: int) -> torch.Tensor:
    """A random [seq, dim] table ``randn / sqrt(dim)`` drawn from a generator seeded with ``seed``."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(seq, dim, generator=g) / math.sqrt(dim)


@node(
    name="PositionalEncoding",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Embeddings [seq, D] or [seq, batch, D].")],
    outputs=[
        Out("tensor", "TENSOR", "The input plus the encoding."),
        Out("pe", "TENSOR", "The [seq, D] encoding that was added."),
    ],
    params=[
        Param.select("mode", "sinusoidal", ("sinusoidal", "learnable"), "Fixed sin/cos or random."),
        Param.int("max_len", 512, "Longest sequence accepted.", min=1),
        Param.int("seed", 42, "Seed of the learnable table."),
    ],
)
def positional_encoding(call: Any) -> dict[str, Any]:
    """Add position information: sinusoidal $PE_{pos,2i} = \\sin(pos/10000^{2i/D})$ or a random table."""
    x = as_float32(call.inputs["tensor"])
    if x.dim() not in (2, 3):
        raise ValueError(
            f"PositionalEncoding: input must be [seq, D] or [seq, batch, D]; got shape {list(x.shape)}."
        )
    seq, dim = x.shape[0], x.shape[-1]
    if seq > call.params["max_len"]:
        raise ValueError(
            f"PositionalEncoding: sequence length {seq} exceeds max_len={call.params['max_len']}."
        )
    if call.params["mode"] == "sinusoidal":
        pe = sinusoidal_pe(seq, dim)
    else:
        pe = learnable_pe(seq, dim, call.params["seed"])
    pe = pe.to(x.device)
    y = x + (pe.unsqueeze(1) if x.dim() == 3 else pe)
    rec = StepRecorder(call)
    if rec.enabled:
        rec.add("input", "The input embeddings.", {"tensor": x})
        rec.add("compute_pe", "The positional encoding, one row per position.", {"pe": pe})
        rec.add("add", "Input plus encoding (broadcast over the batch).", {"output": y})
    return rec.attach({"tensor": y, "pe": pe})


# -- Tokenizer ----------------------------------------------------------------------------------

TIKTOKEN = Requirement("tiktoken", "tiktoken", "text")
HF_TOKENIZERS = Requirement("tokenizers", "tokenizers", "text")
TIKTOKEN_FAMILIES = ("cl100k_base", "o200k_base", "p50k_base", "gpt2")
HF_REPOS = {
    "bert-base-uncased": "bert-base-uncased",
    "Llama-3": "Xenova/llama-3-tokenizer",
    "T5": "google/t5-v1_1-base",
}
FAMILIES = (*TIKTOKEN_FAMILIES, *HF_REPOS)

_ENCODERS: dict[str, Any] = {}
_ENCODERS_LOCK = threading.Lock()


def _encoder(family: str) -> Any:
    """The process-wide encoder of ``family`` (loading may download its vocabulary once)."""
    with _ENCODERS_LOCK:
        if family in _ENCODERS:
            return _ENCODERS[family]
    if family in TIKTOKEN_FAMILIES:
        tiktoken = optional_import("tiktoken", TIKTOKEN, "Tokenizer")
        load = lambda: tiktoken.get_encoding(family)  # noqa: E731
    elif family in HF_REPOS:
        tokenizers = optional_import("tokenizers", HF_TOKENIZERS, "Tokenizer")
        load = lambda: tokenizers.Tokenizer.from_pretrained(HF_REPOS[family])  # noqa: E731
    else:
        raise ValueError(f"Tokenizer: unknown family '{family}'")
    try:
        encoder = load()
    except Exception as exc:  # noqa: BLE001 - network, cache and parse errors all mean "unavailable"
        raise RuntimeError(
            f"Tokenizer: vocabulary for '{family}' is not available offline: {exc}"
        ) from None
    with _ENCODERS_LOCK:
        return _ENCODERS.setdefault(family, encoder)


def token_offsets(tokens: Sequence[str]) -> list[list[int]]:
    """Consecutive ``[start, end)`` spans of the decoded token lengths."""
    spans, start = [], 0
    for token in tokens:
        spans.append([start, start + len(token)])
        start += len(token)
    return spans


def tokenize(family: str, text: str, special: bool) -> tuple[list[str], list[int], list[list[int]]]:
    """``(tokens, ids, offsets)`` of ``text`` in ``family``."""
    encoder = _encoder(family)
    if family in TIKTOKEN_FAMILIES:
        ids = list(encoder.encode(text, disallowed_special=()))
        tokens = [encoder.decode([i]) for i in ids]
        return tokens, ids, token_offsets(tokens)
    encoding = encoder.encode(text, add_special_tokens=special)
    return list(encoding.tokens), list(encoding.ids), [list(o) for o in encoding.offsets]


def input_text(value: Any, fallback: str) -> str:
    """The text to tokenize: the input (a list gives its first item), else the param."""
    if value is None:
        return fallback
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else ""
    return str(value)


@node(
    name="Tokenizer",
    category=CATEGORY,
    inputs=[In("text", "STRING", "Text to tokenize (overrides the text param).", optional=True)],
    outputs=[
        Out("tokens", "LIST", "The token strings."),
        Out("token_ids", "LIST", "The token ids."),
        Out("offsets", "LIST", "[start, end) character span of each token."),
    ],
    params=[
        Param.select("family", "cl100k_base", FAMILIES, "Tokenizer (tiktoken or Hugging Face)."),
        Param.string("text", "The quick brown fox jumps over the lazy dog.", "Text to tokenize."),
        Param.bool("show_special_tokens", False, "Add special tokens (Hugging Face families)."),
    ],
    requires=(TIKTOKEN, HF_TOKENIZERS),
)
def tokenizer(call: Any) -> dict[str, Any]:
    """Split text into the tokens a language model sees (vocabularies download on first use)."""
    text = input_text(call.inputs.get("text"), call.params["text"])
    tokens, ids, offsets = tokenize(call.params["family"], text, call.params["show_special_tokens"])
    rec = StepRecorder(call)
    if rec.enabled:
        rec.add("input_text", "The text to tokenize.", scalars={"chars": len(text)})
        rec.add(
            "tokenize",
            "The text split into tokens from the vocabulary.",
            scalars={"num_tokens": len(ids), "unique_ids": len(set(ids))},
        )
    return rec.attach({"tokens": tokens, "token_ids": ids, "offsets": offsets})
