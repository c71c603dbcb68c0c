"""Tensor Operations nodes (nodes.md §2.2), ScalarMultiply and TensorInput."""

from __future__ import annotations

import pytest
import torch
from nodeloom.kernel import NodeCall
from nodeloom.plugins.core_nodes.nodes import tensor_ops as ops
from nodeloom.torchkit import generator

from .helpers import call_node


def call_with_seed_param(node, seed_param, node_seed=1234, options=None, **params):
    """Like ``call_node`` for nodes whose own ``seed`` param clashes with its node-seed keyword."""
    spec = node.__nodeloom_spec__
    effective = {**spec.default_params(), **params, "seed": seed_param}
    call = NodeCall(
        node_id="n1",
        node_type=spec.name,
        params=effective,
        seed=node_seed,
        options={
            "module_mode": "train",
            "verbose": False,
            "backward_mode": False,
            **(options or {}),
        },
        extras={"spec": spec, "type_key": spec.name, "code_digest": "0" * 64},
    )
    return dict(spec.execute(call))


def _x(*shape):
    return torch.arange(float(torch.Size(shape).numel())).reshape(shape) / 7.0 - 1.0


def test_add_with_alpha_and_broadcasting():
    a, b = _x(2, 3), torch.tensor([1.0, 2.0, 3.0])
    assert torch.equal(call_node(ops.add, {"tensor_a": a, "tensor_b": b})["tensor"], a + b)
    out = call_node(ops.add, {"tensor_a": a, "tensor_b": b}, alpha=-1.0)["tensor"]
    assert torch.allclose(out, a - b)


@pytest.mark.parametrize(
    ("dim", "keepdim", "expected"),
    [
        ("-1", False, lambda x: x.mean(-1)),
        ("0", True, lambda x: x.mean(0, keepdim=True)),
        ("0, 2", False, lambda x: x.mean((0, 2))),
        ("", False, lambda x: x.mean()),
    ],
)
def test_mean(dim, keepdim, expected):
    x = _x(2, 3, 4)
    out = call_node(ops.mean, {"tensor": x}, dim=dim, keepdim=keepdim)["tensor"]
    assert out.shape == expected(x).shape and torch.allclose(out, expected(x))


def test_mean_rejects_non_integers():
    with pytest.raises(
        ValueError, match=r"^Mean: parameter 'dim' must be comma-separated integers, got 'x'$"
    ):
        call_node(ops.mean, {"tensor": _x(2)}, dim="x")


def test_multiply_permute_unsqueeze_scalar_multiply():
    a, b = _x(2, 3), _x(3)
    assert torch.equal(call_node(ops.multiply, {"tensor_a": a, "tensor_b": b})["tensor"], a * b)
    x = _x(2, 3, 4)
    assert call_node(ops.permute, {"tensor": x})["tensor"].shape == (2, 4, 3)
    assert torch.equal(
        call_node(ops.permute, {"tensor": x}, dims="2,0,1")["tensor"], x.permute(2, 0, 1)
    )
    assert call_node(ops.unsqueeze, {"tensor": x}, dim=-1)["tensor"].shape == (2, 3, 4, 1)
    assert torch.allclose(
        call_node(ops.scalar_multiply, {"tensor": x}, scalar=2.5)["tensor"], x * 2.5
    )


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_matches_torch(dim):
    x = _x(3, 5) * 4
    out = call_node(ops.softmax, {"tensor": x}, dim=dim)
    assert torch.allclose(out["tensor"], torch.softmax(x, dim))
    assert "__steps__" not in out


def test_softmax_steps_in_verbose_mode():
    x = _x(2, 4) * 10
    out = call_node(ops.softmax, {"tensor": x}, options={"verbose": True})
    steps = out["__steps__"]
    assert [s["name"] for s in steps] == ["logits", "max_subtract", "exp", "partition", "divide"]
    assert [sorted(s["tensors"]) for s in steps] == [
        ["logits"],
        ["max", "shifted"],
        ["exped"],
        ["partition"],
        ["output"],
    ]
    by_name = {s["name"]: s["tensors"] for s in steps}
    assert torch.all(by_name["max_subtract"]["shifted"] <= 0)
    recomputed = by_name["exp"]["exped"] / by_name["partition"]["partition"]
    assert torch.allclose(recomputed, by_name["divide"]["output"])
    assert torch.equal(by_name["divide"]["output"], out["tensor"])


def test_tensor_create_deterministic_fills():
    shape = "2,3"
    assert torch.equal(call_node(ops.tensor_create, shape=shape)["tensor"], torch.zeros(2, 3))
    assert torch.equal(
        call_node(ops.tensor_create, shape=shape, fill="ones")["tensor"], torch.ones(2, 3)
    )
    full = call_node(ops.tensor_create, shape=shape, fill="full", value=2.5)["tensor"]
    assert torch.equal(full, torch.full((2, 3), 2.5))
    arange = call_node(ops.tensor_create, shape=shape, fill="arange")["tensor"]
    assert torch.equal(arange, torch.arange(6.0).reshape(2, 3))
    assert arange.dtype == torch.float32


@pytest.mark.parametrize("fill", ["randn", "rand"])
def test_tensor_create_random_fills_use_the_node_seed(fill):
    a = call_node(ops.tensor_create, shape="3,4", fill=fill, seed=5)["tensor"]
    b = call_node(ops.tensor_create, shape="3,4", fill=fill, seed=5)["tensor"]
    c = call_node(ops.tensor_create, shape="3,4", fill=fill, seed=6)["tensor"]
    draw = torch.randn if fill == "randn" else torch.rand
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a, draw((3, 4), generator=generator(5)))


def test_tensor_create_flags_depend_on_fill():
    spec = ops.tensor_create.__nodeloom_spec__
    assert spec.flag("random", {"fill": "randn"}) and not spec.flag("cacheable", {"fill": "rand"})
    assert not spec.flag("random", {"fill": "zeros"}) and spec.flag("cacheable", {"fill": "arange"})
    assert spec.cache_eligible({"fill": "ones"}) and not spec.cache_eligible({"fill": "randn"})


def test_tensor_create_requires_grad():
    t = call_node(ops.tensor_create, shape="2", requires_grad=True)["tensor"]
    assert t.requires_grad and t.is_leaf


def test_tensor_input_explicit_values():
    out = call_node(ops.tensor_input, shape="2,2", value_mode="explicit", values=[[1, 2], [3, 4]])
    assert torch.equal(out["tensor"], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    flags = call_node(
        ops.tensor_input, shape="3", dtype="bool", value_mode="explicit", values=[0, 1, 2]
    )["tensor"]
    assert flags.tolist() == [False, True, True]
    ints = call_node(
        ops.tensor_input, shape="2", dtype="int32", value_mode="explicit", values=[3, 4]
    )
    assert ints["tensor"].dtype == torch.int32


def test_tensor_input_errors():
    with pytest.raises(ValueError, match=r"^values has 3 elements but shape \[2, 2\] requires 4$"):
        call_node(ops.tensor_input, shape="2,2", value_mode="explicit", values=[1, 2, 3])
    with pytest.raises(ValueError, match="^shape must have at least one dimension$"):
        call_node(ops.tensor_input, shape=" , ")
    with pytest.raises(ValueError, match="values"):
        call_node(ops.tensor_input, shape="2", value_mode="explicit")
    with pytest.raises(ValueError, match="TensorInput: parameter 'shape'"):
        call_node(ops.tensor_input, shape="2,b")


def test_tensor_input_random_uses_its_own_seed_not_the_node_seed():
    a = call_with_seed_param(ops.tensor_input, 1, node_seed=10, shape="2,3")["tensor"]
    b = call_with_seed_param(ops.tensor_input, 1, node_seed=11, shape="2,3")["tensor"]
    assert torch.equal(a, b)
    assert torch.equal(a, torch.randn(2, 3, generator=torch.Generator().manual_seed(1)))
    c = call_with_seed_param(ops.tensor_input, 2, shape="2,3")["tensor"]
    assert not torch.equal(a, c)
    ints = call_with_seed_param(ops.tensor_input, 3, shape="50", dtype="int64")["tensor"]
    assert ints.dtype == torch.int64 and int(ints.min()) >= 0 and int(ints.max()) <= 9
    bools = call_with_seed_param(ops.tensor_input, 3, shape="50", dtype="bool")["tensor"]
    assert bools.dtype == torch.bool and 0 < int(bools.sum()) < 50
    doubles = call_with_seed_param(ops.tensor_input, 3, shape="4", dtype="float64")["tensor"]
    assert doubles.dtype == torch.float64


def test_tensor_input_other_modes_and_backward_mode():
    assert torch.equal(
        call_node(ops.tensor_input, shape="2,2", value_mode="zeros")["tensor"], torch.zeros(2, 2)
    )
    ones = call_node(ops.tensor_input, shape="3", dtype="int64", value_mode="ones")["tensor"]
    assert ones.tolist() == [1, 1, 1]
    ar = call_node(ops.tensor_input, shape="2,3", value_mode="arange")["tensor"]
    assert torch.equal(ar, torch.arange(6.0).reshape(2, 3))
    assert not ar.requires_grad
    grad = call_node(ops.tensor_input, shape="2", options={"backward_mode": True})["tensor"]
    assert grad.requires_grad
    ints = call_node(ops.tensor_input, shape="2", dtype="int64", options={"backward_mode": True})
    assert not ints["tensor"].requires_grad
