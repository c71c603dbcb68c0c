"""Utility and Control nodes (nodes.md §2.1, §2.14) and the declarations of this half of Tier 1."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nodeloom.kernel import check_spec, spec_of
from nodeloom.plugins import core_nodes
from nodeloom.plugins.core_nodes.nodes import (
    cnn,
    control,
    normalization,
    rnn,
    tensor_ops,
    transformer,
    utility,
)
from torch import nn

from .helpers import call_node

MODULES = (control, utility, tensor_ops, cnn, normalization, rnn, transformer)

EXPECTED_CATEGORIES = {
    "Start": "Control",
    "Print": "Utility",
    "Flatten": "Utility",
    "Reshape": "Utility",
    "Linear": "Utility",
    "Concat": "Utility",
    "Visualize": "Utility",
    "Add": "Tensor Operations",
    "Mean": "Tensor Operations",
    "Multiply": "Tensor Operations",
    "Permute": "Tensor Operations",
    "Softmax": "Tensor Operations",
    "TensorCreate": "Tensor Operations",
    "Unsqueeze": "Tensor Operations",
    "ScalarMultiply": "Tensor Operations",
    "TensorInput": "Data",
    "Activation": "CNN",
    "AdaptiveAvgPool2d": "CNN",
    "BatchNorm2d": "CNN",
    "Conv2d": "CNN",
    "ConvTranspose2d": "CNN",
    "Dropout": "CNN",
    "MaxPool2d": "CNN",
    "LayerNorm": "Normalization",
    "GRU": "RNN",
    "LSTM": "RNN",
    "RNNCell": "RNN",
    "MoELayer": "Transformer",
    "MultiHeadAttention": "Transformer",
    "TransformerDecoder": "Transformer",
    "TransformerEncoder": "Transformer",
}
STATEFUL = {
    "Linear",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "LayerNorm",
    "GRU",
    "LSTM",
    "RNNCell",
    "MultiHeadAttention",
    "TransformerDecoder",
    "TransformerEncoder",
}


def _specs():
    return [spec for module in MODULES for spec in core_nodes.collect_specs(module)]


def test_every_spec_is_valid_and_categorised():
    specs = _specs()
    for spec in specs:
        check_spec(spec)
    assert {s.name: s.category for s in specs} == EXPECTED_CATEGORIES
    assert {s.name for s in specs if s.stateful is not None} == STATEFUL
    assert all(not s.cache_eligible(s.default_params()) for s in specs if s.name in STATEFUL)


def test_flags_of_special_nodes():
    viz = spec_of(utility.visualize)
    assert viz.display_only and [r.extra for r in viz.requires] == ["plot"]
    dropout = spec_of(cnn.dropout)
    assert dropout.random and not dropout.cacheable
    moe = spec_of(transformer.moe_layer)
    assert moe.stateful is None and moe.cache_eligible(moe.default_params())
    cell = spec_of(rnn.rnn_cell)
    assert cell.stateful.structural_params == ("input_size", "hidden_size", "nonlinearity", "seed")


def test_codefyui_param_defaults():
    linear = spec_of(utility.linear).default_params()
    assert linear == {"in_features": 512, "out_features": 10}
    assert spec_of(utility.reshape).default_params() == {"shape": "-1,784"}
    gru = spec_of(rnn.gru).default_params()
    assert gru == {
        "input_size": 128,
        "hidden_size": 256,
        "num_layers": 1,
        "batch_first": True,
        "bidirectional": False,
        "dropout": 0.0,
    }
    mha = spec_of(transformer.multi_head_attention).default_params()
    assert mha == {"embed_dim": 512, "num_heads": 8, "batch_first": False, "dropout": 0.0}
    tc = spec_of(tensor_ops.tensor_create)
    assert tc.param("fill").options == ("zeros", "ones", "randn", "rand", "full", "arange")


def test_plugin_registers_the_torch_run_extension():
    registered = []
    core_nodes.register_run_extensions(registered.append)
    assert len(registered) == 1 and hasattr(registered[0], "resolve_device")


def test_start_and_print():
    assert call_node(control.start) == {}
    x = torch.tensor([1.0, 2.0])
    out = call_node(control.print_node, {"value": x}, label="loss")
    assert out["value"] is x and out["__log__"] == f"[loss] {x}"
    assert call_node(control.print_node, {"value": 3})["__log__"] == "3"


def test_flatten_reshape_concat():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert call_node(utility.flatten, {"tensor": x})["tensor"].shape == (2, 12)
    assert call_node(utility.flatten, {"tensor": x}, start_dim=0)["tensor"].shape == (24,)
    assert torch.equal(
        call_node(utility.reshape, {"tensor": x}, shape="-1, 6")["tensor"], x.reshape(4, 6)
    )
    with pytest.raises(
        ValueError, match="^Reshape: parameter 'shape' must be comma-separated integers, got '2,x'$"
    ):
        call_node(utility.reshape, {"tensor": x}, shape="2,x")
    y = torch.ones(2, 1, 4)
    out = call_node(utility.concat, {"tensor_a": x, "tensor_b": y}, dim=1)["tensor"]
    assert torch.equal(out, torch.cat([x, y], 1))


def test_linear_matches_f_linear_and_is_seeded():
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    out = call_node(utility.linear, {"tensor": x}, seed=21, in_features=4, out_features=3)["tensor"]
    torch.manual_seed(21)  # module construction happens right after manual_seed(node seed)
    reference = nn.Linear(4, 3)
    assert torch.allclose(out, F.linear(x, reference.weight, reference.bias))
    again = call_node(utility.linear, {"tensor": x}, seed=21, in_features=4, out_features=3)[
        "tensor"
    ]
    other = call_node(utility.linear, {"tensor": x}, seed=22, in_features=4, out_features=3)[
        "tensor"
    ]
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_linear_rejects_wrong_width():
    with pytest.raises(
        ValueError, match=r"Linear: input shape \[2, 5\] does not end with in_features=4"
    ):
        call_node(utility.linear, {"tensor": torch.ones(2, 5)}, in_features=4, out_features=3)


def test_linear_steps_only_in_verbose_mode():
    x = torch.ones(2, 4)
    quiet = call_node(utility.linear, {"tensor": x}, in_features=4, out_features=3)
    assert "__steps__" not in quiet
    out = call_node(
        utility.linear, {"tensor": x}, in_features=4, out_features=3, options={"verbose": True}
    )
    steps = out["__steps__"]
    assert [s["name"] for s in steps] == ["input", "weight_matrix", "bias_vector", "linear_output"]
    w, b = steps[1]["tensors"]["weight"], steps[2]["tensors"]["bias"]
    assert torch.allclose(steps[3]["tensors"]["output"], x @ w.T + b)


# -- Visualize ----------------------------------------------------------------------------------


def test_heatmap_array_shapes():
    square = utility.heatmap_array(np.arange(5.0))
    assert square.shape == (3, 3) and square.ravel()[5:].tolist() == [0, 0, 0, 0]
    assert utility.heatmap_array(np.zeros((2, 3, 4))).shape == (6, 4)
    assert utility.heatmap_array(np.zeros((2, 3))).shape == (2, 3)


def test_image_array_single_items_and_clipping():
    chw = np.full((3, 4, 5), 2.0)
    img = utility.image_array(chw[None])
    assert img.shape == (4, 5, 3) and img.max() == 1.0
    grey = utility.image_array(np.full((1, 1, 4, 5), -1.0))
    assert grey.shape == (4, 5) and grey.min() == 0.0


def test_image_array_tiles_batches_with_min_padding():
    batch = np.stack([np.full((1, 2, 2), 0.2 * (i + 1)) for i in range(3)])  # N=3, C=1
    grid = utility.image_array(batch)
    # cols = ceil(sqrt(3)) = 2, rows = 2; each cell is 2 pixels plus 1 of padding.
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1)
    assert grid[1:3, 1:3].tolist() == [[0.2, 0.2], [0.2, 0.2]]
    assert np.allclose(grid[1:3, 4:6], 0.4) and np.allclose(grid[4:6, 1:3], 0.6)
    assert grid[0, 0] == pytest.approx(0.2) and grid[4:6, 4:6].max() == pytest.approx(0.2)
    rgb = utility.image_array(np.zeros((2, 3, 2, 2)))
    assert rgb.shape == (4, 7, 3)  # N=2: cols 2, rows 1
    many = utility.image_array(np.zeros((2, 5, 2, 2)))  # C not in {1,3,4}: first channel
    assert many.shape == (4, 7)


def test_visualize_rejects_unknown_plot_types():
    with pytest.raises(ValueError, match="^Unsupported plot type: pie$"):
        call_node(utility.visualize, {"data": [1, 2]}, plot_type="pie")


@pytest.mark.parametrize("plot_type", ["line", "histogram", "heatmap", "image"])
def test_visualize_renders_png(plot_type):
    pytest.importorskip("matplotlib")
    data = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = call_node(utility.visualize, {"data": data}, plot_type=plot_type, title="t")
    png = base64.b64decode(out["image"])
    assert png.startswith(b"\x89PNG") and not out["image"].startswith("data:")
