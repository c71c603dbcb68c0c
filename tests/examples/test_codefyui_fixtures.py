"""CodefyUI graph files (/work/shared/fixtures/graphs) load and run unchanged.

Graphs whose nodes are all installed run to ``execution_complete``, and their printed and returned
values are checked against computations done here independently of the node code. Graphs needing a
missing extra (torchvision, matplotlib) are skipped with the reason; their validation must then
report ``node_unavailable`` and nothing else.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from nodeloom.kernel import graph_from_dict, graph_to_dict, validate_graph
from nodeloom.kernel.engine import RunResult
from nodeloom.kernel.prepare import analyse
from nodeloom.testing import run_graph
from tests.examples.support import node_errors, unavailable_only, write_tiny_mnist

FIXTURES = Path(os.environ.get("NODELOOM_FIXTURES_DIR", "/work/shared/fixtures/graphs"))
FILES = sorted(p.name for p in FIXTURES.glob("*.json"))
pytestmark = pytest.mark.skipif(not FILES, reason=f"no CodefyUI fixture graphs under {FIXTURES}")


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _run(kernel, name: str) -> RunResult:
    report = validate_graph(_load(name), kernel.snapshot)
    reason = unavailable_only(report)
    if reason is not None:
        pytest.skip(f"{name} needs an optional extra: {reason}")
    assert report.valid, report.errors
    result = run_graph(kernel, _load(name), seed=0)
    assert result.ok, (result.terminal, node_errors(result))
    return result


@pytest.mark.parametrize("name", FILES)
def test_fixture_loads_and_round_trips(name):
    raw = _load(name)
    back = graph_to_dict(graph_from_dict(raw))
    assert [(n["id"], n["type"], n.get("data", {}).get("params", {})) for n in raw["nodes"]] == [
        (n["id"], n["type"], n["data"]["params"]) for n in back["nodes"]
    ]
    assert [(e["source"], e["target"]) for e in raw["edges"]] == [(e["source"], e["target"]) for e in back["edges"]]
    assert back["name"] == raw["name"]


@pytest.mark.parametrize("name", FILES)
def test_fixture_validates_or_lacks_only_an_extra(kernel, name):
    analysis = analyse(_load(name), kernel.snapshot)
    report = analysis.report
    types = {n.id: n.type for n in analysis.expansion.nodes}
    for issue in (i for i in report.issues if i.severity == "error"):
        assert issue.code == "node_unavailable", issue
        entry = kernel.snapshot.lookup(types[issue.node_id]).entry
        assert entry is not None and not entry.available
    # CodefyUI's own graphs carry nothing nodeloom would warn about.
    assert not [i for i in report.issues if i.severity == "warning"], report.warnings


@pytest.mark.parametrize("name", FILES)
def test_fixture_runs_when_its_nodes_are_installed(kernel, name):
    if "MNIST" in name and validate_graph(_load(name), kernel.snapshot).valid:
        # Every node is installed: give the Dataset node a tiny local MNIST instead of the network.
        write_tiny_mnist(kernel.data_dir.area("libs") / "data")
    result = _run(kernel, name)
    assert not node_errors(result)


def _timestep_embedding(t: float, dim: int, max_period: int, seed: int) -> torch.Tensor:
    """nodes.md §2.17 TimestepMLP, written out with plain tensor ops."""
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn((4 * dim, dim), generator=g) / math.sqrt(dim)
    w2 = torch.randn((dim, 4 * dim), generator=g) / math.sqrt(dim)
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = torch.tensor([t])[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    return torch.nn.functional.silu(emb @ w1.T) @ w2.T


def test_forward_process_values(kernel):
    result = _run(kernel, "codefyui_Diffusion_Forward-Process.json")
    x0 = result.results["x0"]["tensor"]
    noise = torch.randn((1, 3, 8, 8), generator=torch.Generator().manual_seed(42))
    assert torch.equal(result.results["noise"]["noise"], noise)
    x_t = result.results["lerp"]["tensor"]
    assert torch.allclose(x_t, 0.4 * x0 + 0.6 * noise, atol=1e-6)
    assert result.results["print_xt"]["__log__"] == f"[x_t (noised image)] {x_t}"
    embedding = result.results["tembed"]["embedding"]
    assert tuple(embedding.shape) == (1, 32)
    assert torch.allclose(embedding, _timestep_embedding(50.0, 32, 10000, 42), atol=1e-5)


def test_api_function_echoes_its_default(kernel):
    result = _run(kernel, "codefyui_Usage_Example_Api-Function.json")
    assert result.results["output-echo"]["value"] == "hello from the canvas"
    assert result.results["print-1"]["__log__"] == "[Api-Function] hello from the canvas"


def test_resnet_logits_shape_and_residuals(kernel):
    result = _run(kernel, "codefyui_Model_Architecture_ResNet-SkipConnection-CNN.json")
    logits = result.results["print_logits"]["value"]
    assert tuple(logits.shape) == (2, 10) and bool(torch.isfinite(logits).all())
    assert result.results["print_logits"]["__log__"].startswith("[Logits (B,10)] tensor(")
    expected = result.results["b1_bn2"]["tensor"] + result.results["stem_pool"]["tensor"]
    assert torch.allclose(result.results["b1_add"]["tensor"], expected)


def test_seq2seq_attention_shapes(kernel):
    result = _run(kernel, "codefyui_Model_Architecture_Seq2Seq-Attention-RNN.json")
    assert tuple(result.results["attention"]["output"].shape) == (8, 2, 32)
    assert tuple(result.results["attention"]["weights"].shape) == (2, 8, 10)
    assert torch.allclose(result.results["attention"]["weights"].sum(-1), torch.ones(2, 8), atol=1e-5)
    assert tuple(result.results["print_logits"]["value"].shape) == (2, 8, 64)
