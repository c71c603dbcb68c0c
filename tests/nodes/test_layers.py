"""CNN, Normalization, RNN and Transformer nodes (nodes.md §2.3-2.6, §2.15)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from nodeloom.kernel import NodeCall
from nodeloom.plugins.core_nodes.nodes import cnn, normalization, rnn, transformer
from torch import nn


class FakeState:
    """Stand-in for the kernel's StateHandle: persists one module per structure hash."""

    def __init__(self) -> None:
        self.modules: dict[str, nn.Module] = {}

    def get_or_build(self, structure_hash, build, info=None):
        if structure_hash not in self.modules:
            self.modules[structure_hash] = build()
        return self.modules[structure_hash]

    def only(self) -> nn.Module:
        assert len(self.modules) == 1
        return next(iter(self.modules.values()))


def run(node, inputs=None, *, node_seed=1234, state=None, options=None, **params):
    """Call a node body; unlike ``call_node`` it takes a state store and a ``seed`` param."""
    spec = node.__nodeloom_spec__
    call = NodeCall(
        node_id="n1",
        node_type=spec.name,
        inputs=inputs or {},
        params={**spec.default_params(), **params},
        seed=node_seed,
        state=state,
        options={
            "module_mode": "train",
            "verbose": False,
            "backward_mode": False,
            **(options or {}),
        },
        extras={"spec": spec, "type_key": spec.name, "code_digest": "0" * 64},
    )
    return dict(spec.execute(call))


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def seeded_build(seed, factory):
    """What a stateful node builds: the constructor right after ``torch.manual_seed(node seed)``."""
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        return factory()
    finally:
        torch.set_rng_state(state)


# -- CNN ----------------------------------------------------------------------------------------

ACTIVATION_REFERENCES = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
    "silu": lambda x: x * torch.sigmoid(x),
    "mish": lambda x: x * torch.tanh(F.softplus(x)),
    "selu": torch.selu,
    "softmax": lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True),
    "hardswish": lambda x: x * torch.clamp(x + 3, 0, 6) / 6,
    "prelu": lambda x: torch.clamp(x, min=0) + 0.25 * torch.clamp(x, max=0),
}


@pytest.mark.parametrize("function", sorted(ACTIVATION_REFERENCES))
def test_activation_functions(function):
    x = rand(3, 4) * 3
    out = run(cnn.activation, {"tensor": x}, function=function)["tensor"]
    assert torch.allclose(out, ACTIVATION_REFERENCES[function](x), atol=1e-6)


def test_activation_options_are_exactly_codefyui():
    spec = cnn.activation.__nodeloom_spec__
    assert spec.param("function").options == (
        "relu",
        "sigmoid",
        "tanh",
        "leaky_relu",
        "elu",
        "gelu",
        "silu",
        "mish",
        "selu",
        "softmax",
        "hardswish",
        "prelu",
    )


def test_pooling():
    x = rand(2, 3, 6, 6)
    out = run(cnn.adaptive_avg_pool2d, {"tensor": x}, output_height=2, output_width=3)["tensor"]
    assert out.shape == (2, 3, 2, 3)
    assert torch.allclose(out[0, 0, 0, 0], x[0, 0, :3, :2].mean())
    pooled = run(cnn.max_pool2d, {"tensor": x})["tensor"]
    assert torch.equal(pooled, x.unfold(2, 2, 2).unfold(3, 2, 2).amax(dim=(-1, -2)))


def test_conv2d_matches_f_conv2d_with_seeded_weights():
    x = rand(2, 3, 5, 5)
    params = {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}
    out = run(cnn.conv2d, {"tensor": x}, node_seed=77, **params)["tensor"]
    ref = seeded_build(77, lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1))
    assert torch.allclose(out, F.conv2d(x, ref.weight, ref.bias, stride=2, padding=1), atol=1e-6)
    unbatched = run(cnn.conv2d, {"tensor": x[0]}, node_seed=77, **params)["tensor"]
    assert torch.allclose(unbatched, out[0], atol=1e-6)
    other = run(cnn.conv2d, {"tensor": x}, node_seed=78, **params)["tensor"]
    assert not torch.allclose(other, out)


def test_conv2d_steps():
    x = rand(1, 1, 4, 4)
    out = run(cnn.conv2d, {"tensor": x}, options={"verbose": True}, out_channels=2)
    steps = out["__steps__"]
    assert [s["name"] for s in steps] == ["input_tensor", "kernel_weights", "convolved_output"]
    kw = steps[1]["tensors"]
    assert kw["weight"].shape == (2, 1, 3, 3) and kw["bias"].shape == (2,)
    assert torch.allclose(
        F.conv2d(x, kw["weight"], kw["bias"], padding=1), out["tensor"], atol=1e-6
    )


def test_conv_transpose2d_upsamples():
    x = rand(1, 4, 3, 3)
    out = run(cnn.conv_transpose2d, {"tensor": x}, in_channels=4, out_channels=2)["tensor"]
    ref = seeded_build(1234, lambda: nn.ConvTranspose2d(4, 2, 2, stride=2))
    assert out.shape == (1, 2, 6, 6)
    assert torch.allclose(out, F.conv_transpose2d(x, ref.weight, ref.bias, stride=2), atol=1e-6)


def test_batchnorm2d_train_mode_uses_batch_stats_and_updates_running_stats():
    x = rand(4, 2, 3, 3) * 2 + 1
    state = FakeState()
    out = run(cnn.batchnorm2d, {"tensor": x}, state=state, num_features=2)["tensor"]
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
    assert torch.allclose(out, (x - mean) / torch.sqrt(var + 1e-5), atol=1e-5)
    module = state.only()
    assert torch.allclose(module.running_mean, 0.1 * mean.flatten(), atol=1e-6)
    assert int(module.num_batches_tracked) == 1
    # Eval mode normalises with the (persisted) running statistics instead.
    evaluated = run(
        cnn.batchnorm2d, {"tensor": x}, state=state, num_features=2, options={"module_mode": "eval"}
    )["tensor"]
    expected = F.batch_norm(x, module.running_mean, module.running_var, module.weight, module.bias)
    assert torch.allclose(evaluated, expected, atol=1e-5)
    assert int(module.num_batches_tracked) == 1


def test_batchnorm2d_steps():
    x = rand(2, 3, 2, 2)
    out = run(cnn.batchnorm2d, {"tensor": x}, num_features=3, options={"verbose": True})
    steps = {s["name"]: s for s in out["__steps__"]}
    assert list(steps) == [
        "input",
        "per_channel_mean",
        "per_channel_var",
        "normalize",
        "scale_shift",
    ]
    assert steps["per_channel_mean"]["scalars"] == {"eps": pytest.approx(1e-5)}
    assert steps["per_channel_mean"]["tensors"]["mean"].shape == (1, 3, 1, 1)
    assert sorted(steps["scale_shift"]["tensors"]) == ["beta", "gamma", "output"]
    assert torch.allclose(steps["normalize"]["tensors"]["normalized"], out["tensor"], atol=1e-5)


def test_dropout_is_seeded_in_train_mode_and_identity_in_eval():
    x = torch.ones(200)
    before = torch.get_rng_state()
    a = run(cnn.dropout, {"tensor": x}, node_seed=5, p=0.5)["tensor"]
    b = run(cnn.dropout, {"tensor": x}, node_seed=5, p=0.5)["tensor"]
    c = run(cnn.dropout, {"tensor": x}, node_seed=6, p=0.5)["tensor"]
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0.0, 2.0}
    evaluated = run(cnn.dropout, {"tensor": x}, p=0.5, options={"module_mode": "eval"})["tensor"]
    assert evaluated is x


# -- Normalization ------------------------------------------------------------------------------


def test_layernorm_matches_f_layer_norm():
    x = rand(2, 3, 4)
    out = run(normalization.layernorm, {"tensor": x}, normalized_shape="3, 4", eps=1e-3)["tensor"]
    assert torch.allclose(out, F.layer_norm(x, (3, 4), eps=1e-3), atol=1e-5)


def test_layernorm_normalizes_the_shape_for_persistence():
    state = FakeState()
    x = rand(2, 4)
    run(normalization.layernorm, {"tensor": x}, state=state, normalized_shape="4")
    run(normalization.layernorm, {"tensor": x}, state=state, normalized_shape=" 4,")
    assert len(state.modules) == 1
    run(normalization.layernorm, {"tensor": x}, state=state, normalized_shape="4", eps=1e-3)
    assert len(state.modules) == 2


def test_layernorm_bad_shape_and_steps():
    with pytest.raises(ValueError, match="LayerNorm: parameter 'normalized_shape' must be"):
        run(normalization.layernorm, {"tensor": rand(2, 4)}, normalized_shape="4x")
    out = run(
        normalization.layernorm,
        {"tensor": rand(2, 4)},
        normalized_shape="4",
        options={"verbose": True},
    )
    names = [s["name"] for s in out["__steps__"]]
    assert names == ["input", "compute_mean", "compute_var", "normalize", "scale_shift"]
    assert out["__steps__"][1]["tensors"]["mean"].shape == (2, 1)


# -- RNN ----------------------------------------------------------------------------------------

SMALL_RNN = {"input_size": 3, "hidden_size": 5}


@pytest.mark.parametrize(("node", "cls"), [(rnn.gru, nn.GRU), (rnn.lstm, nn.LSTM)])
def test_gru_and_lstm_match_torch(node, cls):
    x = rand(2, 4, 3)
    out = run(node, {"tensor": x}, node_seed=9, **SMALL_RNN)
    ref = seeded_build(9, lambda: cls(3, 5, 1, batch_first=True))
    expected, hidden = ref(x)
    h_n = hidden[0] if cls is nn.LSTM else hidden
    assert torch.allclose(out["output"], expected, atol=1e-6)
    assert torch.allclose(out["hidden"], h_n, atol=1e-6)
    assert out["hidden"].shape == (1, 2, 5)


def test_bidirectional_stacked_gru_hidden_shape():
    x = rand(4, 2, 3)  # sequence-first
    out = run(
        rnn.gru,
        {"tensor": x},
        batch_first=False,
        bidirectional=True,
        num_layers=2,
        dropout=0.2,
        **SMALL_RNN,
    )
    assert out["output"].shape == (4, 2, 10) and out["hidden"].shape == (4, 2, 5)


def _reference_cell(x, h, seed, input_size, hidden_size, act=torch.tanh):
    g = torch.Generator().manual_seed(seed)
    w_ih = torch.randn((hidden_size, input_size), generator=g) / math.sqrt(hidden_size)
    w_hh = torch.randn((hidden_size, hidden_size), generator=g) / math.sqrt(hidden_size)
    return act(x @ w_ih.T + h @ w_hh.T)


def test_rnn_cell_weights_come_from_its_seed_param():
    x, h = rand(2, 3), rand(2, 4, seed=1)
    params = {"input_size": 3, "hidden_size": 4, "seed": 7}
    a = run(rnn.rnn_cell, {"tensor": x, "hidden": h}, node_seed=1, **params)["hidden"]
    b = run(rnn.rnn_cell, {"tensor": x, "hidden": h}, node_seed=2, **params)["hidden"]
    assert torch.equal(a, b)
    assert torch.allclose(a, _reference_cell(x, h, 7, 3, 4), atol=1e-6)
    zero_h = run(rnn.rnn_cell, {"tensor": x}, **params)["hidden"]
    assert torch.allclose(zero_h, _reference_cell(x, torch.zeros(2, 4), 7, 3, 4), atol=1e-6)
    relu = run(rnn.rnn_cell, {"tensor": x, "hidden": h}, nonlinearity="relu", **params)["hidden"]
    assert torch.allclose(relu, _reference_cell(x, h, 7, 3, 4, torch.relu), atol=1e-6)


def test_rnn_cell_accepts_loose_inputs_and_checks_shapes():
    out = run(rnn.rnn_cell, {"tensor": [[1, 2, 3]]}, input_size=3, hidden_size=2)["hidden"]
    assert out.shape == (1, 2) and out.dtype == torch.float32
    with pytest.raises(ValueError) as err:
        run(rnn.rnn_cell, {"tensor": rand(2, 4)}, input_size=3)
    assert str(err.value) == "RNNCell: input shape [2, 4] doesn't match [batch, input_size=3]."
    with pytest.raises(ValueError, match=r"^RNNCell: hidden shape \[3, 16\] doesn't match"):
        run(rnn.rnn_cell, {"tensor": rand(2, 8), "hidden": rand(3, 16)})


# -- Transformer --------------------------------------------------------------------------------


def test_multi_head_attention_matches_module():
    q, k = rand(4, 2, 8), rand(6, 2, 8, seed=1)
    out = run(
        transformer.multi_head_attention,
        {"query": q, "key": k, "value": k},
        node_seed=3,
        embed_dim=8,
        num_heads=2,
    )
    ref = seeded_build(3, lambda: nn.MultiheadAttention(8, 2))
    expected, weights = ref(q, k, k)
    assert out["output"].shape == (4, 2, 8) and out["weights"].shape == (2, 4, 6)
    assert torch.allclose(out["output"], expected, atol=1e-6)
    assert torch.allclose(out["weights"], weights, atol=1e-6)


def test_multi_head_attention_batch_first_and_steps():
    q = rand(2, 4, 8)
    out = run(
        transformer.multi_head_attention,
        {"query": q, "key": q, "value": q},
        embed_dim=8,
        num_heads=2,
        batch_first=True,
        options={"verbose": True},
    )
    assert out["output"].shape == (2, 4, 8)
    steps = {s["name"]: s for s in out["__steps__"]}
    assert list(steps) == ["inputs_qkv", "scaled_scores", "softmax_weights", "attended_output"]
    assert steps["scaled_scores"]["scalars"] == {"d_k": 4.0}
    scores = steps["scaled_scores"]["tensors"]["scores"]
    assert torch.allclose(scores, q @ q.transpose(1, 2) / 2.0, atol=1e-6)
    seq_first = run(
        transformer.multi_head_attention,
        {"query": q, "key": q, "value": q},
        embed_dim=8,
        num_heads=2,
        options={"verbose": True},
    )
    assert seq_first["__steps__"][0]["tensors"]["Q"].shape == (4, 2, 8)  # shown batch-first


TINY = {"d_model": 8, "nhead": 2, "num_layers": 2, "dim_feedforward": 16}


def test_transformer_encoder_and_decoder():
    src, tgt = rand(5, 2, 8), rand(3, 2, 8, seed=1)
    enc = run(transformer.transformer_encoder, {"tensor": src}, node_seed=4, **TINY)["tensor"]
    again = run(transformer.transformer_encoder, {"tensor": src}, node_seed=4, **TINY)["tensor"]
    assert enc.shape == (5, 2, 8) and torch.equal(enc, again)  # train-mode dropout is seeded
    dec = run(transformer.transformer_decoder, {"tensor": tgt, "memory": enc}, **TINY)["tensor"]
    assert dec.shape == (3, 2, 8)

    evaluated = run(
        transformer.transformer_encoder,
        {"tensor": src},
        node_seed=4,
        options={"module_mode": "eval"},
        **TINY,
    )["tensor"]
    ref = seeded_build(4, lambda: transformer.build_encoder(TINY)).eval()
    with torch.no_grad():
        assert torch.allclose(evaluated, ref(src), atol=1e-5)
    layers = ref.layers
    assert torch.equal(layers[0].linear1.weight, layers[1].linear1.weight)  # deep-copied layer


def _dense_moe(moe, x):
    """Reference MoE: every token's output computed one by one from its chosen experts."""
    logits = moe.gate(x)
    vals, idx = torch.topk(logits, moe.top_k, dim=-1)
    w = torch.softmax(vals, -1)
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[1]):
            for s in range(moe.top_k):
                out[b, t] += w[b, t, s] * moe.expert(int(idx[b, t, s]), x[b, t])
    return out, w, idx


def test_moe_layer_routes_tokens_to_their_top_k_experts():
    x = rand(2, 5, 6)
    params = {"num_experts": 3, "top_k": 2, "hidden_dim": 6, "expert_hidden_dim": 4, "seed": 11}
    out = run(transformer.moe_layer, {"x": x}, **params)
    moe = transformer.build_moe(11, 6, 4, 3, 2)
    with torch.no_grad():
        expected, w, idx = _dense_moe(moe, x)
    assert out["output"].shape == (2, 5, 6)
    assert torch.allclose(out["output"], expected, atol=1e-6)
    assert torch.equal(out["expert_indices"], idx) and out["expert_indices"].dtype == torch.int64
    assert torch.allclose(out["routing_weights"].sum(-1), torch.ones(2, 5))
    assert not out["output"].requires_grad


def test_moe_layer_seed_clamping_and_2d_input():
    x = rand(4, 6)
    base = {"hidden_dim": 6, "expert_hidden_dim": 4, "num_experts": 2}
    a = run(transformer.moe_layer, {"x": x}, node_seed=1, seed=5, top_k=9, **base)
    b = run(transformer.moe_layer, {"x": x}, node_seed=2, seed=5, top_k=9, **base)
    c = run(transformer.moe_layer, {"x": x}, seed=6, top_k=9, **base)
    assert a["output"].shape == (1, 4, 6) and a["expert_indices"].shape == (1, 4, 2)
    assert torch.equal(a["output"], b["output"]) and not torch.equal(a["output"], c["output"])
    with pytest.raises(ValueError, match=r"MoELayer: input shape \[4, 5\]"):
        run(transformer.moe_layer, {"x": rand(4, 5)}, **base)
