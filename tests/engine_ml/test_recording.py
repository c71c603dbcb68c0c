"""Recorded outputs and verbose step traces through the real engine (engine.md §4.13, nodes.md N7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .support import Harness, graph

CHAIN = graph(
    [
        ("x", "TensorInput", {"shape": "2,3", "seed": 1}),
        ("lin", "Linear", {"in_features": 3, "out_features": 4}),
        ("sm", "Softmax", {}),
        ("pr", "Print", {"label": "probs"}),
    ],
    ["x.tensor > lin.tensor", "lin.tensor > sm.tensor", "sm.tensor > pr.value"],
)


def test_record_outputs_stores_every_non_hidden_output_of_executed_nodes(harness: Harness):
    env = harness.env()
    result = harness.ok(CHAIN, env, record_outputs=True, run_id="rec-1")
    ports = env.outputs.ports("rec-1")
    # Start returns nothing; Print's __log__ is hidden and must not be recorded.
    assert ports == {"x": ["tensor"], "lin": ["tensor"], "sm": ["tensor"], "pr": ["value"]}
    for node_id, node_ports in ports.items():
        for port in node_ports:
            assert env.outputs.get("rec-1", node_id, port) is result.results[node_id][port]
    assert "__log__" in result.results["pr"]


def test_nothing_is_recorded_without_the_option(harness: Harness):
    env = harness.env()
    harness.ok(CHAIN, env, run_id="rec-off")
    assert not env.outputs.has_run("rec-off")


def test_cached_nodes_are_recorded_too(harness: Harness):
    env = harness.env(cache=True)
    harness.ok(CHAIN, env, run_id="warm")
    second = harness.ok(CHAIN, env, record_outputs=True, run_id="rec-cached")
    assert second.statuses("x") == ["cached"]
    assert env.outputs.get("rec-cached", "x", "tensor") is second.results["x"]["tensor"]


def test_the_store_keeps_the_most_recent_20_runs(harness: Harness):
    env = harness.env()
    small = graph([("x", "TensorInput", {"shape": "2", "seed": 3})])
    for i in range(21):
        harness.ok(small, env, record_outputs=True, run_id=f"bounded-{i}")
    kept = env.outputs.run_ids()
    assert len(kept) == 20
    assert "bounded-0" not in kept
    assert kept == [f"bounded-{i}" for i in range(1, 21)]
    assert env.outputs.get("bounded-0", "x", "tensor") is None


# -- verbose step traces -----------------------------------------------------------------------

TRACED = graph(
    [
        ("img", "TensorInput", {"shape": "2,3,5,5", "seed": 4}),
        ("conv", "Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1}),
        ("bn", "BatchNorm2d", {"num_features": 4}),
        ("ln", "LayerNorm", {"normalized_shape": "5"}),
        ("sm", "Softmax", {"dim": -1}),
        ("lin", "Linear", {"in_features": 5, "out_features": 2}),
    ],
    [
        "img.tensor > conv.tensor",
        "conv.tensor > bn.tensor",
        "bn.tensor > ln.tensor",
        "ln.tensor > sm.tensor",
        "sm.tensor > lin.tensor",
    ],
)

# nodes.md N7: (step name, tensor keys, scalar keys) per instrumented node.
EXPECTED_STEPS = {
    "lin": [
        ("input", ["input"], []),
        ("weight_matrix", ["weight"], []),
        ("bias_vector", ["bias"], []),
        ("linear_output", ["output"], []),
    ],
    "conv": [
        ("input_tensor", ["input"], []),
        ("kernel_weights", ["weight", "bias"], []),
        ("convolved_output", ["output"], []),
    ],
    "bn": [
        ("input", ["input"], []),
        ("per_channel_mean", ["mean"], ["eps"]),
        ("per_channel_var", ["var"], []),
        ("normalize", ["normalized"], []),
        ("scale_shift", ["gamma", "beta", "output"], []),
    ],
    "ln": [
        ("input", ["input"], []),
        ("compute_mean", ["mean"], ["eps"]),
        ("compute_var", ["var"], []),
        ("normalize", ["normalized"], []),
        ("scale_shift", ["gamma", "beta", "output"], []),
    ],
    "sm": [
        ("logits", ["logits"], []),
        ("max_subtract", ["max", "shifted"], []),
        ("exp", ["exped"], []),
        ("partition", ["partition"], []),
        ("divide", ["output"], []),
    ],
}


def test_verbose_step_traces_are_flattened_into_step_ports(harness: Harness):
    env = harness.env()
    result = harness.ok(TRACED, env, verbose_mode=True, record_outputs=True, run_id="verbose")
    for node_id, steps in EXPECTED_STEPS.items():
        expected_ports = ["tensor"]
        for i, (name, keys, scalars) in enumerate(steps):
            expected_ports += [f"__step__{i}__{k}" for k in keys] + [f"__step__{i}__meta"]
            meta = env.outputs.get("verbose", node_id, f"__step__{i}__meta")
            assert meta["name"] == name, (node_id, i)
            assert meta["tensor_keys"] == keys, (node_id, name)
            assert sorted(meta["scalars"]) == scalars, (node_id, name)
            assert isinstance(meta["description"], str) and meta["description"]
            for key in keys:
                value = env.outputs.get("verbose", node_id, f"__step__{i}__{key}")
                assert isinstance(value, torch.Tensor) and not value.requires_grad
        assert env.outputs.ports("verbose")[node_id] == expected_ports, node_id
        # The hidden trace stays on the result and is never recorded under its own name.
        assert "__steps__" in result.results[node_id]
        last = len(steps) - 1
        final_key = steps[-1][1][-1]
        recorded = env.outputs.get("verbose", node_id, f"__step__{last}__{final_key}")
        assert torch.equal(recorded, result.results[node_id]["tensor"])


def test_step_values_explain_the_output(harness: Harness):
    env = harness.env()
    result = harness.ok(TRACED, env, verbose_mode=True, record_outputs=True, run_id="explain")

    def step(node_id: str, i: int, key: str) -> torch.Tensor:
        return env.outputs.get("explain", node_id, f"__step__{i}__{key}")

    # Linear: output = input @ W^T + b with the recorded W and b.
    assert torch.allclose(
        F.linear(step("lin", 0, "input"), step("lin", 1, "weight"), step("lin", 2, "bias")),
        step("lin", 3, "output"),
    )
    # Conv2d: the recorded kernels and bias reproduce the output.
    assert torch.allclose(
        F.conv2d(step("conv", 0, "input"), step("conv", 1, "weight"), step("conv", 1, "bias"), padding=1),
        step("conv", 2, "output"), atol=1e-6,
    )
    # BatchNorm2d in train mode: per-channel batch statistics over (N, H, W).
    x = result.results["conv"]["tensor"]
    assert torch.allclose(step("bn", 1, "mean"), x.mean(dim=(0, 2, 3), keepdim=True))
    assert torch.allclose(step("bn", 2, "var"), x.var(dim=(0, 2, 3), keepdim=True, unbiased=False))
    assert env.outputs.get("explain", "bn", "__step__1__meta")["scalars"] == {"eps": 1e-5}
    # Softmax: exp(shifted) / partition.
    assert torch.allclose(step("sm", 2, "exped") / step("sm", 3, "partition"), step("sm", 4, "output"))


def test_no_traces_without_verbose_and_verbose_skips_cache_lookups(harness: Harness):
    env = harness.env(cache=True)
    plain = harness.ok(TRACED, env, record_outputs=True, run_id="quiet")
    assert all("__steps__" not in plain.results[n] for n in EXPECTED_STEPS)
    assert not any(p.startswith("__step__") for ports in env.outputs.ports("quiet").values() for p in ports)
    assert plain.statuses("img") == ["running", "completed"]
    # TensorInput is now in the cache, but a verbose run never looks it up.
    verbose = harness.ok(TRACED, env, verbose_mode=True)
    assert verbose.statuses("img") == ["running", "completed"]
    again = harness.ok(TRACED, env)
    assert again.statuses("img") == ["cached"]


# -- preset members ------------------------------------------------------------------------------

HEAD_PRESET = {
    "preset_name": "Tiny Head",
    "nodes": [
        {"id": "fc", "type": "Linear", "params": {"in_features": 3, "out_features": 4}},
        {"id": "sm", "type": "Softmax", "params": {"dim": -1}},
    ],
    "edges": [{"source": "fc", "sourceHandle": "tensor", "target": "sm", "targetHandle": "tensor"}],
    "exposed_inputs": [{"name": "features", "internal_node": "fc", "internal_port": "tensor"}],
    "exposed_outputs": [{"name": "probs", "internal_node": "sm", "internal_port": "tensor"}],
}


def preset_graph() -> dict:
    g = graph(
        [("x", "TensorInput", {"shape": "2,3", "seed": 1}), ("head", "preset:Tiny Head", {})],
        ["x.tensor > head.features"],
    )
    g["presets"] = [HEAD_PRESET]
    return g


def test_preset_members_are_recorded_under_their_expanded_ids(harness: Harness):
    env = harness.env()
    result = harness.ok(preset_graph(), env, record_outputs=True, run_id="preset-rec")
    assert env.outputs.ports("preset-rec") == {
        "x": ["tensor"], "head__fc": ["tensor"], "head__sm": ["tensor"],
    }
    assert torch.allclose(env.outputs.get("preset-rec", "head__sm", "tensor").sum(dim=-1), torch.ones(2))
    # Clients see one instance: running, then completed once both members finished.
    assert result.statuses("head") == ["running", "completed"]
