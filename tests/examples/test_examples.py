"""The example graphs shipped by ``core_nodes`` (issue "deep-learning catalogue", item 5).

Every example is listed by the real registry build, validates with no errors and runs offline to
``execution_complete`` with seed 0; examples needing a missing extra are skipped with the reason,
and then their only errors must be ``node_unavailable``. A few examples also have their numbers
checked against an independent computation.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from nodeloom.kernel import validate_graph
from nodeloom.kernel.engine import RunResult
from nodeloom.plugins.core_nodes import EXAMPLES_DIR
from nodeloom.testing import run_graph
from tests.examples.support import label_shape, node_errors, unavailable_only

EXAMPLE_PATHS = sorted(p.parent.relative_to(EXAMPLES_DIR).as_posix() for p in EXAMPLES_DIR.glob("*/*/**/graph.json"))
IRIS = Path(EXAMPLES_DIR).parent / "samples" / "iris.csv"


def _graph(path: str) -> dict[str, Any]:
    return json.loads((EXAMPLES_DIR / path / "graph.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(kernel) -> dict[str, RunResult]:
    """Each runnable example run once (seed 0), shared by the checks below."""
    return {}


def _run(kernel, runs: dict[str, RunResult], path: str) -> RunResult:
    if path not in runs:
        runs[path] = run_graph(kernel, _graph(path), seed=0)
    return runs[path]


def _out(result: RunResult, node_id: str, port: str) -> Any:
    return result.results[node_id][port]


def test_there_are_at_least_fifteen_runnable_examples():
    assert len(EXAMPLE_PATHS) >= 15
    assert {p.split("/")[0] for p in EXAMPLE_PATHS} >= {"CNN", "RNN", "Transformer", "Diffusion", "Training"}


def test_registry_lists_every_example_as_builtin(snapshot):
    assert sorted(snapshot.examples) == EXAMPLE_PATHS
    assert not [e for e in snapshot.errors if e.kind in ("example", "preset")]
    for path, entry in snapshot.examples.items():
        assert entry.source == "builtin"
        assert entry.graph == _graph(path)


@pytest.mark.parametrize("path", EXAMPLE_PATHS)
def test_example_is_documented_and_triggered(path):
    graph = _graph(path)
    assert graph["format_version"] == 1
    assert graph["name"].strip() and len(graph["description"]) > 80
    assert any(n["type"] == "Start" for n in graph["nodes"])
    assert any(e.get("type") == "trigger" and e["source"] == "start" for e in graph["edges"])
    ids = [n["id"] for n in graph["nodes"]]
    assert len(ids) == len(set(ids)) and all("__" not in i for i in ids)


@pytest.mark.parametrize("path", EXAMPLE_PATHS)
def test_example_validates_and_runs_offline(kernel, runs, path):
    report = validate_graph(_graph(path), kernel.snapshot)
    reason = unavailable_only(report)
    if reason is not None:
        pytest.skip(f"{path} needs an optional extra: {reason}")
    assert report.valid, report.errors
    result = _run(kernel, runs, path)
    assert result.ok, (result.terminal, node_errors(result))
    assert not node_errors(result)
    # Print labels announce the shape they show: "logits (2, 10)".
    checked = 0
    for node in _graph(path)["nodes"]:
        shape = label_shape(node["data"]["params"].get("label", "")) if node["type"] == "Print" else None
        if shape is not None:
            value = _out(result, node["id"], "value")
            assert tuple(value.shape) == shape, (node["id"], tuple(value.shape))
            checked += 1
    if path.split("/")[0] in ("CNN", "Transformer", "RNN"):
        assert checked >= 1


def test_scaled_softmax_matches_the_spec_example(kernel, runs):
    result = _run(kernel, runs, "Basics/Scaled-Softmax")
    expected = torch.tensor([[0.37754068, 0.62245935], [0.37754068, 0.62245935]])
    assert torch.allclose(_out(result, "result", "value"), expected, atol=1e-6)
    assert _out(result, "show", "__log__") == "[probs] tensor([[0.3775, 0.6225],\n        [0.3775, 0.6225]])"
    assert "draft" not in result.results  # the draft Linear never runs


def test_classifier_probabilities_sum_to_one(kernel, runs):
    for path, node in (("CNN/CNN-Classifier", "probs"), ("Transformer/ViT-Patch-Embedding", "probs"),
                       ("Transformer/GPT-Decoder-Block", "probs"), ("CNN/UNet-Encoder-Decoder", "probs")):
        probs = _out(_run(kernel, runs, path), node, "tensor")
        dim = 1 if path.startswith("CNN/UNet") else -1
        assert torch.allclose(probs.sum(dim=dim), torch.ones(()), atol=1e-5), path


def test_gpt_block_attention_is_causal(kernel, runs):
    weights = _out(_run(kernel, runs, "Transformer/GPT-Decoder-Block"), "attn", "weights")
    assert tuple(weights.shape) == (2, 8, 8)
    above = torch.triu(torch.ones(8, 8, dtype=torch.bool), diagonal=1)
    assert bool((weights[:, above] == 0).all())
    assert bool((weights[:, ~above] > 0).all())
    assert torch.allclose(weights.sum(-1), torch.ones(2, 8), atol=1e-6)


def test_resnet_shortcuts_add_the_block_input(kernel, runs):
    result = _run(kernel, runs, "CNN/ResNet-Skip-Connections")
    block1 = _out(result, "b1_bn2", "tensor") + _out(result, "stem_act", "tensor")
    assert torch.allclose(_out(result, "b1_add", "tensor"), block1)
    block2 = _out(result, "b2_bn2", "tensor") + _out(result, "b2_proj_bn", "tensor")
    assert torch.allclose(_out(result, "b2_add", "tensor"), block2)
    assert tuple(_out(result, "b2_add", "tensor").shape) == (2, 32, 16, 16)


def test_unet_concatenates_encoder_features(kernel, runs):
    result = _run(kernel, runs, "CNN/UNet-Encoder-Decoder")
    cat1 = _out(result, "cat1", "tensor")
    assert tuple(cat1.shape) == (1, 32, 32, 32)
    assert torch.equal(cat1[:, 16:], _out(result, "enc1_act", "tensor"))


def test_moe_routes_each_token_to_two_distinct_experts(kernel, runs):
    result = _run(kernel, runs, "Transformer/MoE-Layer")
    experts = _out(result, "moe", "expert_indices")
    weights = _out(result, "moe", "routing_weights")
    assert experts.min() >= 0 and experts.max() < 4
    assert bool((experts[..., 0] != experts[..., 1]).all())
    assert torch.allclose(weights.sum(-1), torch.ones(2, 6))


def test_forward_diffusion_is_the_closed_form(kernel, runs):
    result = _run(kernel, runs, "Diffusion/Forward-Process")
    x0 = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) / 63
    eps = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(_out(result, "x_t", "tensor"), 0.8 * x0 + 0.6 * eps, atol=1e-6)
    assert float(_out(result, "x0", "tensor").max()) == pytest.approx(1.0)


def test_ddpm_sampling_returns_finite_samples(kernel, runs):
    samples = _out(_run(kernel, runs, "Diffusion/DDPM-Sampling"), "sampler", "image")
    noise = _out(_run(kernel, runs, "Diffusion/DDPM-Sampling"), "noise", "noise")
    assert tuple(samples.shape) == (2, 1, 16, 16) and bool(torch.isfinite(samples).all())
    assert not torch.allclose(samples, noise)


def test_iris_pipeline_standardises_the_bundled_csv(kernel, runs):
    result = _run(kernel, runs, "Data/Iris-Tabular")
    with IRIS.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    columns = list(zip(*[[float(v) for v in r[:4]] for r in rows], strict=True))
    means = [sum(c) / len(c) for c in columns]
    stds = [math.sqrt(sum((v - m) ** 2 for v in c) / len(c)) for c, m in zip(columns, means, strict=True)]
    stats = _out(result, "zscore", "stats")
    assert stats["mean"] == pytest.approx(means, rel=1e-5)
    assert stats["std"] == pytest.approx(stds, rel=1e-5)
    assert torch.allclose(_out(result, "col_means", "tensor"), torch.zeros(4), atol=1e-5)
    petals = _out(result, "petals01", "tensor")
    assert tuple(petals.shape) == (150, 2)
    assert petals.min(0).values.tolist() == [0.0, 0.0] and petals.max(0).values.tolist() == [1.0, 1.0]
    assert _out(result, "csv", "labels")[::50] == ["setosa", "versicolor", "virginica"]


def test_training_example_converges_and_learns_the_classes(kernel, runs):
    result = _run(kernel, runs, "Training/Token-Classifier")
    losses = _out(result, "train", "losses")
    assert len(losses) == 15
    assert float(losses[-1]) < float(losses[0]) / 5
    assert torch.equal(_out(result, "losses", "value"), losses)
    probs = _out(result, "probs", "tensor")
    assert probs.argmax(dim=1).tolist() == [t // 4 for t in range(12)]
    assert _out(result, "train", "metrics")["total_epochs_run"] == 15


def test_graph_as_a_function_outputs(kernel, runs):
    result = _run(kernel, runs, "Functions/Graph-As-Function")
    p, q = [0.7, 0.2, 0.1], [0.5, 0.3, 0.2]
    expected_kl = sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))
    assert float(_out(result, "kl_out", "value")) == pytest.approx(expected_kl, rel=1e-5)
    # values 2,4,4,4,5,5,7,9: mean 5, population std 2.
    assert _out(result, "z_out", "value").tolist() == [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0]
    assert _out(result, "stats_out", "value") == {"mean": 5.0, "std": 2.0}


def test_graph_as_a_function_takes_injected_inputs(kernel):
    # A function call puts the caller's value under the GraphInput's ``value`` param (engine.md §4.18).
    graph = _graph("Functions/Graph-As-Function")
    inject = {"p": [0.25, 0.75], "q": [0.5, 0.5], "values": [1, 3]}
    for node in graph["nodes"]:
        if node["type"] == "GraphInput":
            node["data"]["params"]["value"] = inject[node["data"]["params"]["name"]]
    result = run_graph(kernel, graph, seed=0)
    assert result.ok, result.terminal
    expected_kl = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert float(_out(result, "kl_out", "value")) == pytest.approx(expected_kl, rel=1e-5)
    assert _out(result, "z_out", "value").tolist() == [-1.0, 1.0]


def test_word_analogy_finds_queen(kernel, runs):
    result = _run(kernel, runs, "LLM/Word-Analogy")
    assert _out(result, "rank", "top_k_labels") == [["queen", "duchess", "princess"]]
    similarity = _out(result, "rank", "similarity")
    labels = _out(result, "vocab", "labels")
    assert float(similarity[0, labels.index("queen")]) == pytest.approx(1.0, abs=1e-6)
    assert tuple(_out(result, "scatter", "points_2d").shape) == (len(labels), 2)


def test_policy_kl_is_positive_and_matches_the_definition(kernel, runs):
    result = _run(kernel, runs, "RL/Policy-KL-Divergence")
    p, q = _out(result, "old_policy", "action"), _out(result, "new_policy", "action")
    expected = (p * (p / q).log()).sum(-1).mean()
    kl = _out(result, "kl", "kl")
    assert float(kl) > 0 and torch.allclose(kl, expected, atol=1e-6)
    assert tuple(_out(result, "dqn", "action").shape) == (5, 3)
