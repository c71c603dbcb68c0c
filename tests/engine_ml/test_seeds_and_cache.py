"""Seeds (engine.md §4.10) and the output cache (§4.12.1) through the real engine."""

from __future__ import annotations

from typing import Any

import torch

from .support import Harness, graph

#: Independent random branches that the scheduler may interleave when max_workers > 1.
RANDOM = graph(
    [
        ("r1", "TensorCreate", {"shape": "32,16", "fill": "randn"}),
        ("r2", "TensorCreate", {"shape": "32,16", "fill": "rand"}),
        ("r3", "TensorCreate", {"shape": "32,16", "fill": "randn"}),
        ("d1", "Dropout", {"p": 0.3}),
        ("d2", "Dropout", {"p": 0.6}),
        ("lin1", "Linear", {"in_features": 16, "out_features": 8}),
        ("lin2", "Linear", {"in_features": 16, "out_features": 8}),
        ("lin3", "Linear", {"in_features": 16, "out_features": 8}),
        ("drop3", "Dropout", {"p": 0.5}),
    ],
    [
        "r1.tensor > d1.tensor",
        "r2.tensor > d2.tensor",
        "d1.tensor > lin1.tensor",
        "d2.tensor > lin2.tensor",
        "r3.tensor > lin3.tensor",
        "lin3.tensor > drop3.tensor",
    ],
)


def _tensors(result) -> dict[tuple[str, str], torch.Tensor]:
    return {
        (node_id, port): value
        for node_id, outputs in result.results.items()
        for port, value in outputs.items()
        if isinstance(value, torch.Tensor)
    }


def _assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def test_same_seed_gives_bitwise_equal_outputs_for_any_max_workers(harness: Harness):
    # weights_persistent off: every run builds its Linear layers afresh from the node seeds.
    reference = _tensors(harness.ok(RANDOM, seed=42, max_workers=1, weights_persistent=False))
    assert len(reference) == 9
    for workers in (4, 4, 2, 1):
        again = harness.ok(RANDOM, seed=42, max_workers=workers, weights_persistent=False)
        _assert_bitwise_equal(reference, _tensors(again))


def test_a_different_seed_changes_every_random_output(harness: Harness):
    a = _tensors(harness.ok(RANDOM, seed=42, weights_persistent=False))
    b = _tensors(harness.ok(RANDOM, seed=43, weights_persistent=False))
    for key in a:
        assert not torch.equal(a[key], b[key]), key


def test_the_reported_seed_repeats_a_run_that_drew_its_own(harness: Harness):
    first = harness.ok(RANDOM, seed=None, weights_persistent=False)
    drawn = first.events[0]["seed"]
    assert isinstance(drawn, int) and 0 <= drawn < 2**63
    again = harness.ok(RANDOM, seed=drawn, weights_persistent=False, max_workers=3)
    _assert_bitwise_equal(_tensors(first), _tensors(again))


def test_random_nodes_do_not_disturb_the_global_generator(harness: Harness):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    harness.ok(RANDOM, weights_persistent=False, max_workers=4)
    assert torch.equal(torch.rand(3), expected)


# -- output cache --------------------------------------------------------------------------------

MIXED = graph(
    [
        ("x", "TensorInput", {"shape": "4,6", "seed": 3}),
        ("ones", "TensorCreate", {"shape": "4,6", "fill": "ones"}),
        ("add", "Add", {"alpha": 2.0}),
        ("sm", "Softmax", {}),
        ("lin", "Linear", {"in_features": 6, "out_features": 3}),
        ("after_lin", "Softmax", {}),
        ("noise", "TensorCreate", {"shape": "4,6", "fill": "randn"}),
        ("drop", "Dropout", {"p": 0.5}),
    ],
    [
        "x.tensor > add.tensor_a",
        "ones.tensor > add.tensor_b",
        "add.tensor > sm.tensor",
        "x.tensor > lin.tensor",
        "lin.tensor > after_lin.tensor",
        "noise.tensor > drop.tensor",
    ],
)
DETERMINISTIC = ("x", "ones", "add", "sm")
RERUN = ("lin", "after_lin", "noise", "drop")  # stateful, random, or downstream of them


def _status(result, node_id: str) -> list[str]:
    return result.statuses(node_id)


def test_a_shared_cache_serves_deterministic_nodes_and_reruns_the_others(harness: Harness):
    env = harness.env(cache=True)
    first = harness.ok(MIXED, env, graph_id="cache", seed=1)
    second = harness.ok(MIXED, env, graph_id="cache", seed=2)
    for node_id in DETERMINISTIC:
        assert _status(first, node_id) == ["running", "completed"], node_id
        assert _status(second, node_id) == ["cached"], node_id
        for port, value in first.results[node_id].items():
            assert second.results[node_id][port] is value  # the cached object itself
    for node_id in RERUN:
        assert _status(second, node_id) == ["running", "completed"], node_id
    assert torch.allclose(second.results["add"]["tensor"], second.results["x"]["tensor"] + 2.0)
    # Persisted Linear weights, so equal outputs despite the new seed; the random nodes changed.
    assert torch.equal(first.results["lin"]["tensor"], second.results["lin"]["tensor"])
    assert not torch.equal(first.results["noise"]["tensor"], second.results["noise"]["tensor"])


def test_changed_params_and_changed_nodes_force_a_run(harness: Harness):
    env = harness.env(cache=True)
    harness.ok(MIXED, env)
    forced = harness.ok(MIXED, env, changed_nodes=["add"])
    assert _status(forced, "add") == ["running", "completed"]
    assert _status(forced, "x") == ["cached"]
    edited: dict[str, Any] = {**MIXED, "nodes": [dict(n) for n in MIXED["nodes"]]}
    for node in edited["nodes"]:
        if node["id"] == "x":
            node["data"] = {"params": {"shape": "4,6", "seed": 4}}
    after_edit = harness.ok(edited, env)
    for node_id in ("x", "add", "sm"):  # the key covers params and, through inputs, upstream keys
        assert _status(after_edit, node_id) == ["running", "completed"], node_id
    assert _status(after_edit, "ones") == ["cached"]


def test_backward_mode_neither_reads_nor_fills_the_cache(harness: Harness):
    env = harness.env(cache=True)
    harness.ok(MIXED, env, backward_mode=True)
    assert len(env.cache) == 0
    harness.ok(MIXED, env)
    assert len(env.cache) == len(DETERMINISTIC) + 1  # Start is cacheable too
    backward = harness.ok(MIXED, env, backward_mode=True)
    for node_id in DETERMINISTIC:
        assert _status(backward, node_id) == ["running", "completed"], node_id
    # TensorInput's output requires grad in backward mode: a fresh tensor, not the cached one.
    assert backward.results["x"]["tensor"].requires_grad
