"""Tier-2 tensor operations, CNN and normalisation nodes against direct torch computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nodeloom.plugins.core_nodes.nodes import (
    cnn_extra,
    normalization_extra,
    tensor_ops_extra,
    utility_extra,
)
from nodeloom.torchkit import seeded

from ..helpers import call_node

# -- tensor operations ----------------------------------------------------------------------------


def test_argmax_matches_torch_and_accepts_lists():
    x = torch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert torch.equal(call_node(tensor_ops_extra.argmax, {"tensor": x})["tensor"], torch.tensor([1, 0]))
    out = call_node(tensor_ops_extra.argmax, {"tensor": x}, dim=0, keepdim=True)["tensor"]
    assert torch.equal(out, torch.argmax(x, dim=0, keepdim=True)) and out.dtype == torch.int64
    assert call_node(tensor_ops_extra.argmax, {"tensor": [3, 9, 4]})["tensor"].item() == 1


def test_matmul_broadcasts_batches():
    a, b = torch.randn(2, 3, 4), torch.randn(4, 5)
    assert torch.allclose(call_node(tensor_ops_extra.matmul, {"tensor_a": a, "tensor_b": b})["tensor"], a @ b)


def test_split_fills_one_port_per_chunk():
    x = torch.arange(10.0)
    out = call_node(tensor_ops_extra.split, {"tensor": x}, chunks=3, dim=0)
    assert sorted(out) == ["chunk_0", "chunk_1", "chunk_2"]
    for i, piece in enumerate(torch.chunk(x, 3, 0)):
        assert torch.equal(out[f"chunk_{i}"], piece)


def test_split_leaves_missing_ports_out_when_the_dim_is_small():
    out = call_node(tensor_ops_extra.split, {"tensor": torch.ones(2, 3)}, chunks=5, dim=0)
    assert sorted(out) == ["chunk_0", "chunk_1"]


@pytest.mark.parametrize(("raw", "expected"), [(2, 2), (0, 1), (40, 32), ("x", 2), (2.5, 2), (7.0, 7)])
def test_split_count_clamps_and_defaults(raw, expected):
    assert tensor_ops_extra.split_count(raw) == expected


def test_squeeze_minus_one_means_every_size_one_dim():
    x = torch.ones(1, 3, 1, 2)
    assert call_node(tensor_ops_extra.squeeze, {"tensor": x})["tensor"].shape == (3, 2)
    assert call_node(tensor_ops_extra.squeeze, {"tensor": x}, dim=2)["tensor"].shape == (1, 3, 2)


def test_stack_adds_a_dim():
    a, b = torch.zeros(2, 3), torch.ones(2, 3)
    out = call_node(tensor_ops_extra.stack, {"tensor_a": a, "tensor_b": b}, dim=1)["tensor"]
    assert torch.equal(out, torch.stack([a, b], 1))


# -- CNN ------------------------------------------------------------------------------------------


def test_avg_pool2d_matches_functional():
    x = torch.randn(2, 3, 7, 7)
    out = call_node(cnn_extra.avg_pool2d, {"tensor": x}, kernel_size=3, stride=2, padding=1)["tensor"]
    assert torch.allclose(out, F.avg_pool2d(x, 3, 2, 1))


def test_conv1d_is_a_seeded_nn_conv1d():
    x = torch.randn(2, 2, 9)
    out = call_node(cnn_extra.conv1d, {"tensor": x}, seed=7, in_channels=2, out_channels=4,
                    kernel_size=3, stride=2, padding=1)["tensor"]
    with seeded(7):
        ref = nn.Conv1d(2, 4, 3, stride=2, padding=1)
    assert out.shape == (2, 4, 5)
    assert torch.allclose(out, ref(x))


def test_conv2d_explicit_applies_a_square_kernel_to_every_channel():
    x = torch.randn(1, 3, 6, 6)
    k = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    out = call_node(cnn_extra.conv2d_explicit, {"tensor": x, "kernel": k})["tensor"]
    ref = F.conv2d(x, k.expand(3, 1, 3, 3), None, 1, 1, groups=3)
    assert torch.allclose(out, ref)


def test_conv2d_explicit_accepts_per_channel_kernels_and_stride():
    x = torch.randn(2, 2, 8, 8)
    k = torch.randn(2, 1, 3, 3)
    out = call_node(cnn_extra.conv2d_explicit, {"tensor": x, "kernel": k}, stride=2, padding=0)["tensor"]
    assert torch.allclose(out, F.conv2d(x, k, None, 2, 0, groups=2))
    shared = torch.randn(1, 1, 3, 3)
    out = call_node(cnn_extra.conv2d_explicit, {"tensor": x, "kernel": shared})["tensor"]
    assert torch.allclose(out, F.conv2d(x, shared.expand(2, 1, 3, 3), None, 1, 1, groups=2))


def test_conv2d_explicit_casts_the_kernel_to_the_input_dtype():
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    out = call_node(cnn_extra.conv2d_explicit, {"tensor": x, "kernel": torch.ones(3, 3)})["tensor"]
    assert out.dtype == torch.float64


@pytest.mark.parametrize(
    ("x", "kernel", "message"),
    [
        (torch.ones(3, 4, 4), torch.ones(3, 3), "must be 4D (N, C, H, W); got shape [3, 4, 4]. Use an Unsqueeze"),
        (torch.ones(1, 3, 4, 4), torch.ones(2, 3), "square"),
        (torch.ones(1, 3, 4, 4), torch.ones(2, 1, 3, 3), "[2, 1, 3, 3]"),
        (torch.ones(1, 3, 4, 4), torch.ones(3), "[3]"),
        (torch.ones(1, 3, 4, 4), [[1.0]], "both inputs must be tensors"),
    ],
)
def test_conv2d_explicit_rejects_bad_shapes(x, kernel, message):
    with pytest.raises(ValueError, match=None) as info:
        call_node(cnn_extra.conv2d_explicit, {"tensor": x, "kernel": kernel})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("EdgeDetection3x3", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
        ("Sharpen3x3", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        ("VerticalEdge3x3", [[-1, 0, 1]] * 3),
    ],
)
def test_conv2d_kernel_presets(preset, expected):
    out = call_node(cnn_extra.conv2d_kernel, preset=preset)["tensor"]
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.tensor(expected, dtype=torch.float32))


def test_conv2d_kernel_custom_grid():
    grid = [[1, 2], [3, 4]]
    out = call_node(cnn_extra.conv2d_kernel, preset="Custom", kernel_size=2, weights=grid)["tensor"]
    assert torch.equal(out, torch.tensor(grid, dtype=torch.float32))
    identity = call_node(cnn_extra.conv2d_kernel, preset="Custom")["tensor"]
    assert torch.equal(identity, torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]))


def test_conv2d_kernel_custom_errors():
    with pytest.raises(ValueError, match=r"weights has 9 elements but kernel_size=2 expects 4 \(2x2\)"):
        call_node(cnn_extra.conv2d_kernel, preset="Custom", kernel_size=2)
    with pytest.raises(ValueError, match="weights"):
        cnn_extra.kernel_tensor("Custom", 3, None)
    assert cnn_extra.kernel_tensor("Custom", "junk", [[0] * 3] * 3).shape == (3, 3)
    assert cnn_extra.kernel_tensor("Custom", 40, [0] * 225).shape == (15, 15)


# -- normalisation --------------------------------------------------------------------------------


def test_batchnorm1d_uses_batch_statistics_in_train_mode():
    x = torch.randn(8, 4) * 3 + 1
    out = call_node(normalization_extra.batchnorm1d, {"tensor": x}, num_features=4)["tensor"]
    ref = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
    assert torch.allclose(out, ref, atol=1e-5)
    seq = torch.randn(4, 4, 6)
    assert call_node(normalization_extra.batchnorm1d, {"tensor": seq}, num_features=4)["tensor"].shape == seq.shape


def test_batchnorm1d_uses_running_statistics_in_eval_mode():
    x = torch.randn(8, 4) + 2
    out = call_node(normalization_extra.batchnorm1d, {"tensor": x}, num_features=4,
                    options={"module_mode": "eval"})["tensor"]
    # A fresh module has running mean 0 and var 1, so eval mode is (almost) the identity.
    assert torch.allclose(out, x / (1 + 1e-5) ** 0.5, atol=1e-6)


def test_groupnorm_matches_functional():
    x = torch.randn(2, 6, 3, 3)
    out = call_node(normalization_extra.groupnorm, {"tensor": x}, num_groups=3, num_channels=6)["tensor"]
    assert torch.allclose(out, F.group_norm(x, 3), atol=1e-6)


def test_instancenorm2d_normalises_each_channel_of_each_sample():
    x = torch.randn(2, 3, 5, 5) * 4 + 2
    out = call_node(normalization_extra.instancenorm2d, {"tensor": x}, num_features=3)["tensor"]
    assert torch.allclose(out, F.instance_norm(x), atol=1e-5)
    affine = call_node(normalization_extra.instancenorm2d, {"tensor": x}, num_features=3, affine=True)
    # Learned scale/shift start at 1/0: same numbers, but now tied to trainable parameters.
    assert torch.allclose(affine["tensor"], out, atol=1e-6) and affine["tensor"].requires_grad
    assert not out.requires_grad


# -- Embedding ------------------------------------------------------------------------------------


def test_embedding_looks_rows_up_in_a_seeded_table():
    idx = torch.tensor([[0, 3], [3, 1]])
    out = call_node(utility_extra.embedding, {"tensor": idx}, seed=11, num_embeddings=5,
                    embedding_dim=4)["tensor"]
    with seeded(11):
        ref = nn.Embedding(5, 4)
    assert out.shape == (2, 2, 4)
    assert torch.equal(out, ref(idx))


def test_embedding_padding_row_is_zero():
    out = call_node(utility_extra.embedding, {"tensor": torch.tensor([2, 0])}, num_embeddings=4,
                    embedding_dim=3, padding_idx=2)["tensor"]
    assert torch.equal(out[0], torch.zeros(3)) and out[1].abs().sum() > 0


def test_embedding_records_steps_in_verbose_mode():
    idx = torch.tensor([1, 2])
    out = call_node(utility_extra.embedding, {"tensor": idx}, num_embeddings=4, embedding_dim=3,
                    options={"verbose": True})
    steps = out["__steps__"]
    assert [s["name"] for s in steps] == ["indices", "embedding_table", "lookup"]
    assert torch.equal(steps[0]["tensors"]["indices"], idx)
    assert steps[1]["tensors"]["weight"].shape == (4, 3)
    assert steps[1]["scalars"] == {"num_embeddings": 4.0, "embedding_dim": 3.0}
    assert torch.equal(steps[2]["tensors"]["output"], out["tensor"])
    assert "__steps__" not in call_node(utility_extra.embedding, {"tensor": idx}, num_embeddings=4,
                                        embedding_dim=3)
