"""Recurrent layers (nodes.md §2.5)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from nodeloom.kernel import CodeFragment, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import as_float32, module_for, seeded, to_device
from torch import nn

from ._codegen import params_literal, seeded_module, use

CATEGORY = "RNN"

RNN_PARAMS = (
    Param.int("input_size", 128, "Features per time step."),
    Param.int("hidden_size", 256, "Features of the hidden state."),
    Param.int("num_layers", 1, "Stacked recurrent layers."),
    Param.bool("batch_first", True, "Input is (N, T, F) instead of (T, N, F)."),
    Param.bool("bidirectional", False, "Also run the sequence backwards."),
    Param.float("dropout", 0.0, "Dropout between stacked layers.", min=0, max=1),
)


def _rnn_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "input_size": params["input_size"],
        "hidden_size": params["hidden_size"],
        "num_layers": params["num_layers"],
        "batch_first": params["batch_first"],
        "bidirectional": params["bidirectional"],
        "dropout": params["dropout"],
    }


def build_gru(params: Mapping[str, Any]) -> nn.Module:
    return nn.GRU(**_rnn_kwargs(params))


def build_lstm(params: Mapping[str, Any]) -> nn.Module:
    return nn.LSTM(**_rnn_kwargs(params))


def _recurrent_codegen(gen: Any, builder: Any, lstm: bool) -> CodeFragment:
    use(gen, _rnn_kwargs, builder)
    build = f"{builder.__name__}({params_literal(gen, (p.name for p in RNN_PARAMS))})"
    output, hidden = gen.var("output"), gen.var("hidden")
    state = f"({hidden}, {gen.tmp('c_n')})" if lstm else hidden
    return gen.fragment(*seeded_module(gen, build, [f"{output}, {state} = {{m}}({gen.input('tensor')})"]))


def gru_codegen(gen: Any) -> CodeFragment:
    return _recurrent_codegen(gen, build_gru, lstm=False)


def lstm_codegen(gen: Any) -> CodeFragment:
    return _recurrent_codegen(gen, build_lstm, lstm=True)


@node(
    name="GRU",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Sequence (N, T, F) when batch_first, else (T, N, F).")],
    outputs=[
        Out("output", "TENSOR", "Top-layer features of every time step."),
        Out("hidden", "TENSOR", "Final hidden state (num_layers*dirs, N, hidden_size)."),
    ],
    params=RNN_PARAMS,
    stateful=StatefulSpec(build=lambda call: build_gru(call.params)),
    codegen=gru_codegen,
)
def gru(call: Any) -> dict[str, Any]:
    """Gated recurrent unit over a sequence, starting from a zero state (`nn.GRU`)."""
    with seeded(call):
        m = module_for(call)
        output, h_n = m(call.inputs["tensor"])
    return {"output": output, "hidden": h_n}


@node(
    name="LSTM",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Sequence (N, T, F) when batch_first, else (T, N, F).")],
    outputs=[
        Out("output", "TENSOR", "Top-layer features of every time step."),
        Out("hidden", "TENSOR", "Final hidden state h_n (the cell state is dropped)."),
    ],
    params=RNN_PARAMS,
    stateful=StatefulSpec(build=lambda call: build_lstm(call.params)),
    codegen=lstm_codegen,
)
def lstm(call: Any) -> dict[str, Any]:
    """Long short-term memory over a sequence, starting from a zero state (`nn.LSTM`)."""
    with seeded(call):
        m = module_for(call)
        output, (h_n, _c_n) = m(call.inputs["tensor"])
    return {"output": output, "hidden": h_n}


def build_rnn_cell(params: Mapping[str, Any]) -> nn.Module:
    """``nn.RNNCell`` whose weights come from the explicit ``seed`` (CodefyUI's numbers)."""
    hidden_size = params["hidden_size"]
    cell = nn.RNNCell(params["input_size"], hidden_size, nonlinearity=params["nonlinearity"])
    gen = torch.Generator(device="cpu").manual_seed(int(params["seed"]))
    scale = math.sqrt(max(1, hidden_size))
    with torch.no_grad():
        for p in cell.parameters():  # registration order: weight_ih, weight_hh, bias_ih, bias_hh
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) / scale)
            else:
                p.zero_()
    return cell


def _check_rows(x: torch.Tensor, size: int, what: str, size_name: str, batch: int | None) -> None:
    if x.dim() != 2 or x.shape[1] != size or (batch is not None and x.shape[0] != batch):
        raise ValueError(
            f"RNNCell: {what} shape {list(x.shape)} doesn't match [batch, {size_name}={size}]."
        )


def rnn_cell_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32, build_rnn_cell)
    names = ("input_size", "hidden_size", "nonlinearity", "seed")
    x, h = gen.tmp("x"), gen.tmp("h")
    lines = [f"{x} = to_device(as_float32({gen.input('tensor')}), device)"]
    if gen.has_input("hidden"):
        lines.append(f"{h} = to_device(as_float32({gen.input('hidden')}), device)")
    else:
        lines.append(f"{h} = None")
    build = f"build_rnn_cell({params_literal(gen, names)})"
    lines += seeded_module(gen, build, [f"{gen.var('hidden')} = {{m}}({x}, {h})"])
    return gen.fragment(*lines)


@node(
    name="RNNCell",
    category=CATEGORY,
    inputs=[
        In("tensor", "TENSOR", "One time step [batch, input_size]."),
        In(
            "hidden", "TENSOR", "Previous hidden state [batch, hidden_size]; zeros if absent.", True
        ),
    ],
    outputs=[Out("hidden", "TENSOR", "The next hidden state [batch, hidden_size].")],
    params=[
        Param.int("input_size", 8, "Features per step.", min=1),
        Param.int("hidden_size", 16, "Features of the hidden state.", min=1),
        Param.select("nonlinearity", "tanh", ("tanh", "relu"), "Activation of the cell."),
        Param.int("seed", 42, "Seed of the initial weights."),
    ],
    stateful=StatefulSpec(
        build=lambda call: build_rnn_cell(call.params),
        structural_params=("input_size", "hidden_size", "nonlinearity", "seed"),
    ),
    codegen=rnn_cell_codegen,
)
def rnn_cell(call: Any) -> dict[str, Any]:
    """One Elman RNN step: $h' = \\tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})$."""
    p = call.params
    # Loose inputs (lists, CPU tensors) are placed where the persisted cell lives.
    x = to_device(as_float32(call.inputs["tensor"]), call.device)
    _check_rows(x, p["input_size"], "input", "input_size", None)
    h = call.inputs.get("hidden")
    if h is not None:
        h = to_device(as_float32(h), call.device)
        _check_rows(h, p["hidden_size"], "hidden", "hidden_size", x.shape[0])
    with seeded(call):
        cell = module_for(call)
        out = cell(x, h)
    return {"hidden": out}
