"""Backward mode and gradient capture through the real engine (engine.md §4.5, §4.15)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from nodeloom.torchkit import grad_health

from .support import Harness, graph, mlp_layers

GID = "grad-graph"

#: x -> Linear -> tanh -> BackwardOnce: the loss is sum(tanh(x W^T + b)).
TANH_NET = graph(
    [
        ("x", "TensorInput", {"shape": "3,4", "seed": 2}),
        ("lin", "Linear", {"in_features": 4, "out_features": 5}),
        ("act", "Activation", {"function": "tanh"}),
        ("bo", "BackwardOnce", {}),
    ],
    ["x.tensor > lin.tensor", "lin.tensor > act.tensor", "act.tensor > bo.tensor"],
)


def _linear_module(env, node_id: str = "lin") -> torch.nn.Module:
    found = [m for n, m in env.modules.modules_for_graph(GID) if n == node_id]
    assert len(found) == 1
    return found[0]


def test_backward_once_gradients_equal_an_independent_autograd_pass(harness: Harness):
    env = harness.env()
    result = harness.ok(TANH_NET, env, backward_mode=True, graph_id=GID, run_id="bw")
    module = _linear_module(env)

    # The same computation, rebuilt from plain tensors.
    x = result.results["x"]["tensor"].detach().clone().requires_grad_(True)
    w = module.weight.detach().clone().requires_grad_(True)
    b = module.bias.detach().clone().requires_grad_(True)
    z = F.linear(x, w, b)
    z.retain_grad()
    a = torch.tanh(z)
    a.retain_grad()
    a.sum().backward()

    def got(node_id: str, port: str) -> torch.Tensor:
        return env.outputs.get("bw", node_id, port)

    assert torch.allclose(got("x", "tensor__grad"), x.grad)
    assert torch.allclose(got("lin", "tensor__grad"), z.grad)
    assert torch.allclose(got("act", "tensor__grad"), torch.ones(3, 5))
    assert torch.allclose(got("lin", "__weight_grad__weight"), w.grad)
    assert torch.allclose(got("lin", "__weight_grad__bias"), b.grad)
    for node_id, port, expected in [
        ("x", "tensor__grad", x.grad),
        ("lin", "tensor__grad", z.grad),
        ("lin", "__weight_grad__weight", w.grad),
        ("lin", "__weight_grad__bias", b.grad),
    ]:
        meta = got(node_id, f"{port}__meta")
        assert set(meta) == {"status", "norm", "mean", "max"}
        assert meta["status"] == grad_health(expected)["status"] == "healthy"
        assert meta["norm"] == pytest.approx(float(expected.abs().norm()), rel=1e-5)
        assert meta["max"] == pytest.approx(float(expected.abs().max()), rel=1e-5)
    grads = [got(n, p) for n, p in [("x", "tensor__grad"), ("lin", "__weight_grad__weight")]]
    assert all(not g.requires_grad for g in grads)  # recorded detached


def test_gradients_are_recorded_without_record_outputs(harness: Harness):
    env = harness.env()
    harness.ok(TANH_NET, env, backward_mode=True, graph_id=GID, run_id="bw-only")
    ports = env.outputs.ports("bw-only")
    # Only gradient ports: the forward outputs themselves are not recorded.
    assert ports["x"] == ["tensor__grad", "tensor__grad__meta"]
    assert ports["lin"] == [
        "tensor__grad", "tensor__grad__meta",
        "__weight_grad__weight", "__weight_grad__weight__meta",
        "__weight_grad__bias", "__weight_grad__bias__meta",
    ]


def test_a_second_backward_run_starts_from_cleared_gradients(harness: Harness):
    env = harness.env()
    harness.ok(TANH_NET, env, backward_mode=True, graph_id=GID, run_id="first")
    harness.ok(TANH_NET, env, backward_mode=True, graph_id=GID, run_id="second")
    first = env.outputs.get("first", "lin", "__weight_grad__weight")
    second = env.outputs.get("second", "lin", "__weight_grad__weight")
    assert torch.equal(first, second)  # not accumulated into 2x


def test_without_graph_id_there_are_no_weight_gradients(harness: Harness):
    env = harness.env()
    harness.ok(TANH_NET, env, backward_mode=True, run_id="no-gid")
    ports = env.outputs.ports("no-gid")
    assert "tensor__grad" in ports["x"]
    assert not any(p.startswith("__weight_grad__") for p in ports["lin"])


def test_auto_backward_sums_the_largest_output(harness: Harness):
    g = graph(
        [
            ("x", "TensorInput", {"shape": "3,4", "seed": 2}),
            ("lin", "Linear", {"in_features": 4, "out_features": 5}),
        ],
        ["x.tensor > lin.tensor"],
    )
    env = harness.env()
    result = harness.ok(g, env, backward_mode=True, auto_backward=True, graph_id=GID, run_id="auto")
    module = _linear_module(env)
    # lin (15 elements) beats x (12): loss = sum(x W^T + b), so dL/dx = ones @ W.
    assert torch.equal(env.outputs.get("auto", "lin", "tensor__grad"), torch.ones(3, 5))
    assert torch.allclose(env.outputs.get("auto", "x", "tensor__grad"), torch.ones(3, 5) @ module.weight.detach())
    x = result.results["x"]["tensor"].detach()
    assert torch.allclose(env.outputs.get("auto", "lin", "__weight_grad__weight"), torch.ones(5, 3) @ x)
    assert torch.equal(env.outputs.get("auto", "lin", "__weight_grad__bias"), torch.full((5,), 3.0))

    # Without auto_backward (and no BackwardOnce) nothing is backpropagated.
    harness.ok(g, env, backward_mode=True, graph_id=GID, run_id="no-auto")
    assert env.outputs.ports("no-auto") == {}


def test_auto_backward_breaks_size_ties_by_node_order_not_completion_order(harness: Harness):
    # Two equal-sized roots; with 4 workers either may finish first. The loss must always be
    # the one first in (level, expanded) order, so the recorded gradients do not depend on timing.
    g = graph(
        [
            ("a", "TensorInput", {"shape": "64,64", "seed": 1}),
            ("b", "TensorInput", {"shape": "64,64", "seed": 2}),
        ]
    )
    for i in range(6):
        env = harness.env()
        harness.ok(g, env, backward_mode=True, auto_backward=True, max_workers=4, run_id=f"tie-{i}")
        assert env.outputs.ports(f"tie-{i}") == {"a": ["tensor__grad", "tensor__grad__meta"]}


def test_the_first_backward_once_decides_even_when_it_gives_no_loss(harness: Harness):
    g = graph(
        [
            ("ints", "TensorInput", {"shape": "2,2", "dtype": "int64"}),
            ("floats", "TensorInput", {"shape": "2,2", "seed": 5}),
            ("bo1", "BackwardOnce", {}),
            ("bo2", "BackwardOnce", {}),
        ],
        ["ints.tensor > bo1.tensor", "floats.tensor > bo2.tensor"],
    )
    env = harness.env()
    result = harness.ok(g, env, backward_mode=True, auto_backward=True, run_id="bo-first")
    assert result.terminal["warnings"] == []
    assert env.outputs.ports("bo-first") == {}


# -- health labels -------------------------------------------------------------------------------


def _scaled(shape: str, scalar: float) -> dict:
    """x -> ScalarMultiply(scalar) -> BackwardOnce: dL/dx = scalar everywhere."""
    return graph(
        [
            ("x", "TensorInput", {"shape": shape, "seed": 9}),
            ("mul", "ScalarMultiply", {"scalar": scalar}),
            ("bo", "BackwardOnce", {}),
        ],
        ["x.tensor > mul.tensor", "mul.tensor > bo.tensor"],
    )


@pytest.mark.parametrize(
    ("shape", "scalar", "options", "status"),
    [
        ("4,4", 1.0, {}, "healthy"),
        ("4,4", 1e-9, {}, "vanishing"),  # norm 4e-9 < 1e-7
        ("100,100", 5e-9, {}, "vanishing"),  # norm 5e-7 is fine, but mean 5e-9 < 1e-8
        ("4,4", 200.0, {}, "exploding"),  # max 200 > 1e2
        ("40,40", 30.0, {}, "exploding"),  # max 30 is fine, but norm 1200 > 1e3
        ("4,4", 1.0, {"grad_health": {"explode_max": 0.5}}, "exploding"),
        ("4,4", 1e-9, {"grad_health": {"vanish_norm": 1e-12, "vanish_mean": 1e-12}}, "healthy"),
    ],
)
def test_grad_health_labels(harness: Harness, shape, scalar, options, status):
    env = harness.env()
    harness.ok(_scaled(shape, scalar), env, backward_mode=True, run_id="health", **options)
    meta = env.outputs.get("health", "x", "tensor__grad__meta")
    rows, cols = (int(v) for v in shape.split(","))
    assert meta["status"] == status
    assert meta["mean"] == pytest.approx(scalar, rel=1e-5)
    assert meta["max"] == pytest.approx(scalar, rel=1e-5)
    assert meta["norm"] == pytest.approx(scalar * (rows * cols) ** 0.5, rel=1e-5)
    # The upstream gradient of the loss itself is all ones.
    assert env.outputs.get("health", "mul", "tensor__grad__meta")["status"] in ("healthy", "exploding")


# -- failures and training graphs ----------------------------------------------------------------


def test_a_failing_backward_pass_warns_and_does_not_fail_the_run(harness: Harness):
    g = graph(
        [
            ("x", "TensorInput", {"shape": "2,3", "seed": 1}),
            ("bomb", "GradBomb", {}),
            ("bo", "BackwardOnce", {}),
        ],
        ["x.tensor > bomb.tensor", "bomb.tensor > bo.tensor"],
    )
    env = harness.env()
    result = harness.ok(g, env, backward_mode=True, run_id="boom")
    warnings = result.terminal["warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith("backward_failed: ")
    assert "GradBomb: no gradient here" in warnings[0]
    assert result.statuses("bomb") == ["running", "completed"]
    assert "tensor__grad" not in env.outputs.node("boom", "x")


def test_a_training_loop_graph_gets_no_extra_backward_pass(harness: Harness):
    g = graph(
        [
            ("data", "TestDataset", {"samples": 16, "features": 4, "classes": 3}),
            ("dl", "DataLoader", {"batch_size": 8}),
            ("model", "SequentialModel", {"layers": json.dumps(mlp_layers([4, 3]))}),
            ("opt", "Optimizer", {"type": "SGD", "lr": 0.1}),
            ("loss", "Loss", {}),
            ("train", "TrainingLoop", {"epochs": 1}),
            ("x", "TensorInput", {"shape": "8,8", "seed": 1}),
        ],
        [
            "data.dataset > dl.dataset",
            "model.model > opt.model",
            "model.model > train.model",
            "dl.dataloader > train.dataloader",
            "opt.optimizer > train.optimizer",
            "loss.loss_fn > train.loss_fn",
        ],
    )
    env = harness.env()
    result = harness.ok(g, env, backward_mode=True, auto_backward=True, run_id="train-bw")
    assert result.terminal["warnings"] == []
    assert env.outputs.ports("train-bw") == {}
    assert result.results["train"]["losses"].shape == (1,)


def test_grad_mode_follows_backward_mode_in_node_bodies(harness: Harness):
    g = graph(
        [
            ("x", "TensorCreate", {"shape": "2,3", "fill": "ones", "requires_grad": True}),
            ("lin", "Linear", {"in_features": 3, "out_features": 2}),
        ],
        ["x.tensor > lin.tensor"],
    )
    off = harness.ok(g).results["lin"]["tensor"]
    on = harness.ok(g, backward_mode=True).results["lin"]["tensor"]
    assert off.grad_fn is None and not off.requires_grad  # bodies run under no_grad
    assert on.grad_fn is not None


def test_preset_members_get_gradients_under_their_expanded_ids(harness: Harness):
    from .test_recording import preset_graph

    env = harness.env()
    harness.ok(preset_graph(), env, backward_mode=True, auto_backward=True, graph_id=GID, run_id="preset-bw")
    ports = env.outputs.ports("preset-bw")
    assert "__weight_grad__weight" in ports["head__fc"]
    assert [n for n, _ in env.modules.modules_for_graph(GID)] == ["head__fc"]


def test_the_grad_mode_context_restores_the_threads_previous_mode():
    from nodeloom.torchkit import TorchRunExtension

    ext = TorchRunExtension()
    off, on = (SimpleCall({"backward_mode": flag}) for flag in (False, True))
    with torch.enable_grad():
        with ext.node_context(off, None):
            assert not torch.is_grad_enabled()
            with ext.node_context(on, None):
                assert torch.is_grad_enabled()
            assert not torch.is_grad_enabled()
        assert torch.is_grad_enabled()
        with pytest.raises(RuntimeError), ext.node_context(off, None):
            raise RuntimeError("body failed")
        assert torch.is_grad_enabled()  # restored on the error path too
    with torch.no_grad(), ext.node_context(on, None):
        assert torch.is_grad_enabled()


class SimpleCall:
    def __init__(self, options: dict) -> None:
        self.options = options
