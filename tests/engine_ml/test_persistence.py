"""Persisted modules and module mode through the real engine (engine.md §4.12, §4.14; nodes.md N4, N5)."""

from __future__ import annotations

import torch

from .support import Harness, graph


def _linears(out_features: int = 4) -> dict:
    return graph(
        [
            ("x", "TensorInput", {"shape": "2,3", "seed": 1}),
            ("lin1", "Linear", {"in_features": 3, "out_features": out_features}),
            ("lin2", "Linear", {"in_features": 3, "out_features": 2}),
        ],
        ["x.tensor > lin1.tensor", "x.tensor > lin2.tensor"],
    )


def _out(result, node_id: str = "lin1") -> torch.Tensor:
    return result.results[node_id]["tensor"]


def _module(env, graph_id: str, node_id: str) -> torch.nn.Module:
    found = [m for n, m in env.modules.modules_for_graph(graph_id) if n == node_id]
    assert len(found) == 1, found
    return found[0]


def test_runs_of_one_graph_id_reuse_the_same_module(harness: Harness):
    env = harness.env()
    first = harness.ok(_linears(), env, graph_id="g1", seed=1)
    module = _module(env, "g1", "lin1")
    # A different run seed would build different weights: equal outputs prove reuse.
    second = harness.ok(_linears(), env, graph_id="g1", seed=2)
    assert torch.equal(_out(first), _out(second))
    assert _module(env, "g1", "lin1") is module
    assert env.modules.count("g1") == 2
    with torch.no_grad():
        expected = second.results["x"]["tensor"] @ module.weight.T + module.bias
    assert torch.allclose(_out(second), expected)


def test_without_persistence_every_run_builds_fresh_seeded_modules(harness: Harness):
    env = harness.env()
    a = harness.ok(_linears(), env, graph_id="g1", weights_persistent=False, seed=1)
    b = harness.ok(_linears(), env, graph_id="g1", weights_persistent=False, seed=1)
    c = harness.ok(_linears(), env, graph_id="g1", weights_persistent=False, seed=2)
    assert env.modules.count() == 0
    assert torch.equal(_out(a), _out(b))  # fresh, but seeded by the node seed
    assert not torch.equal(_out(a), _out(c))
    assert a.events[0]["warnings"] == []  # persistence was switched off on purpose


def test_an_empty_graph_id_disables_persistence_with_a_warning(harness: Harness):
    env = harness.env()
    a = harness.ok(_linears(), env, seed=1)
    b = harness.ok(_linears(), env, seed=2)
    assert env.modules.count() == 0
    assert not torch.equal(_out(a), _out(b))
    assert any(w.startswith("weights_not_persisted") for w in a.events[0]["warnings"])


def test_a_structural_param_change_rebuilds_and_drops_the_old_module(harness: Harness):
    env = harness.env()
    harness.ok(_linears(4), env, graph_id="g1", seed=1)
    old = _module(env, "g1", "lin1")
    old_hash = [r["structure_hash"] for r in env.modules.list("g1") if r["node_id"] == "lin1"]
    wider = harness.ok(_linears(6), env, graph_id="g1", seed=1)
    assert _out(wider).shape == (2, 6)
    new = _module(env, "g1", "lin1")  # exactly one entry for the node: the old one was dropped
    assert new is not old
    assert [r["structure_hash"] for r in env.modules.list("g1") if r["node_id"] == "lin1"] != old_hash
    assert _module(env, "g1", "lin2") is not None  # the other node keeps its module


def test_graph_ids_are_independent(harness: Harness):
    env = harness.env()
    original = _out(harness.ok(_linears(), env, graph_id="g1", seed=1))
    with torch.no_grad():
        _module(env, "g1", "lin1").weight.fill_(0.5)
    changed = _out(harness.ok(_linears(), env, graph_id="g1", seed=1))
    other = _out(harness.ok(_linears(), env, graph_id="g2", seed=1))
    assert not torch.equal(changed, original)  # g1 runs on its (edited) persisted weights
    assert torch.equal(other, original)  # g2 built its own module from the same seed
    assert _module(env, "g1", "lin1") is not _module(env, "g2", "lin1")


def test_reset_per_node_and_per_graph(harness: Harness):
    env = harness.env()
    base = harness.ok(_linears(), env, graph_id="g1", seed=1)
    harness.ok(_linears(), env, graph_id="g2", seed=1)
    assert env.modules.reset(graph_id="g1", node_id="lin1") == 1
    after_node_reset = harness.ok(_linears(), env, graph_id="g1", seed=2)
    assert not torch.equal(_out(after_node_reset, "lin1"), _out(base, "lin1"))  # rebuilt
    assert torch.equal(_out(after_node_reset, "lin2"), _out(base, "lin2"))  # still persisted
    assert env.modules.reset(graph_id="g1") == 2
    assert env.modules.count("g1") == 0 and env.modules.count("g2") == 2
    after_graph_reset = harness.ok(_linears(), env, graph_id="g1", seed=3)
    assert not torch.equal(_out(after_graph_reset, "lin2"), _out(base, "lin2"))


# -- module mode -----------------------------------------------------------------------------------

BN = graph(
    [
        ("x", "TensorInput", {"shape": "4,3,2,2", "seed": 7}),
        ("bn", "BatchNorm2d", {"num_features": 3}),
    ],
    ["x.tensor > bn.tensor"],
)


def test_batchnorm_train_mode_uses_batch_stats_and_accumulates_running_stats(harness: Harness):
    env = harness.env()
    first = harness.ok(BN, env, graph_id="bn", module_mode="train")
    x = first.results["x"]["tensor"]
    y = first.results["bn"]["tensor"]
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-6)
    assert torch.allclose(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    module = _module(env, "bn", "bn")
    batch_mean = x.mean(dim=(0, 2, 3))
    assert torch.allclose(module.running_mean, 0.1 * batch_mean, atol=1e-6)
    harness.ok(BN, env, graph_id="bn", module_mode="train")
    # The persisted running statistics carry over: (1 - 0.9^2) of the batch mean after two runs.
    assert torch.allclose(module.running_mean, 0.19 * batch_mean, atol=1e-6)
    assert module.training


def test_batchnorm_eval_mode_uses_running_stats_and_leaves_them_alone(harness: Harness):
    env = harness.env()
    fresh = harness.ok(BN, env, graph_id="bn-eval", module_mode="eval")
    x = fresh.results["x"]["tensor"]
    # A fresh module: running mean 0, var 1, so eval output is x / sqrt(1 + eps).
    assert torch.allclose(fresh.results["bn"]["tensor"], x / (1 + 1e-5) ** 0.5, atol=1e-6)
    module = _module(env, "bn-eval", "bn")
    assert not module.training
    assert torch.equal(module.running_mean, torch.zeros(3))
    harness.ok(BN, env, graph_id="bn-eval", module_mode="train")
    rm, rv = module.running_mean.clone(), module.running_var.clone()
    evald = harness.ok(BN, env, graph_id="bn-eval", module_mode="eval").results["bn"]["tensor"]
    expected = (x - rm[None, :, None, None]) / torch.sqrt(rv[None, :, None, None] + 1e-5)
    assert torch.allclose(evald, expected, atol=1e-5)
    assert torch.equal(module.running_mean, rm)


DROP = graph(
    [("x", "TensorCreate", {"shape": "64,64", "fill": "ones"}), ("drop", "Dropout", {"p": 0.5})],
    ["x.tensor > drop.tensor"],
)


def test_dropout_is_active_and_seeded_in_train_mode_identity_in_eval(harness: Harness):
    train = harness.ok(DROP, module_mode="train", seed=1).results["drop"]["tensor"]
    assert set(train.unique().tolist()) == {0.0, 2.0}  # survivors scaled by 1 / (1 - p)
    assert 0.4 < (train == 0).float().mean().item() < 0.6
    again = harness.ok(DROP, module_mode="train", seed=1).results["drop"]["tensor"]
    other = harness.ok(DROP, module_mode="train", seed=2).results["drop"]["tensor"]
    assert torch.equal(train, again) and not torch.equal(train, other)
    evald = harness.ok(DROP, module_mode="eval", seed=1).results
    assert torch.equal(evald["drop"]["tensor"], evald["x"]["tensor"])
