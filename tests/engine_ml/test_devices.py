"""Run-level and node-level device resolution through the real engine (engine.md §4.11, nodes.md N9)."""

from __future__ import annotations

import json

import pytest
import torch

from nodeloom.kernel.options import InvalidRunOption
from nodeloom.torchkit import mps_available

from .support import Harness, graph, mlp_layers, progress_events

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
no_mps = pytest.mark.skipif(mps_available(), reason="MPS is available here")

SMALL = graph(
    [("x", "TensorInput", {"shape": "2,3", "seed": 1}), ("lin", "Linear", {"in_features": 3, "out_features": 2})],
    ["x.tensor > lin.tensor"],
)


def _start(result) -> dict:
    start = result.events[0]
    assert start["type"] == "execution_start"
    return start


@no_cuda
@pytest.mark.parametrize("requested", ["cuda", "CUDA ", "cuda:0", "cuda:3"])
def test_cuda_requests_fall_back_to_cpu_with_a_warning(harness: Harness, requested: str):
    result = harness.ok(SMALL, device=requested, graph_id="dev")
    start = _start(result)
    assert start["device"] == "cpu"
    fallbacks = [w for w in start["warnings"] if w.startswith("device_fallback")]
    assert len(fallbacks) == 1 and requested.strip().lower() in fallbacks[0]
    assert result.results["lin"]["tensor"].device.type == "cpu"


@no_mps
def test_mps_request_falls_back_to_cpu_with_a_warning(harness: Harness):
    start = _start(harness.ok(SMALL, device="mps", graph_id="dev"))
    assert start["device"] == "cpu"
    assert any(w.startswith("device_fallback") and "'mps'" in w for w in start["warnings"])


@no_cuda
@no_mps
@pytest.mark.parametrize("requested", ["auto", "cpu", "", "  Cpu "])
def test_auto_and_cpu_resolve_to_cpu_without_warnings(harness: Harness, requested: str):
    start = _start(harness.ok(SMALL, device=requested, graph_id="dev"))
    assert start["device"] == "cpu"
    assert start["warnings"] == []


def test_an_unknown_device_is_rejected_before_the_run(harness: Harness):
    with pytest.raises(InvalidRunOption) as info:
        harness.run(SMALL, device="tpu")
    assert info.value.code == "invalid_run_option"


@no_cuda
def test_a_node_level_device_falls_back_in_the_node_log(harness: Harness):
    g = graph(
        [
            ("data", "TestDataset", {"samples": 8}),
            ("dl", "DataLoader", {"batch_size": 4}),
            ("model", "SequentialModel", {"layers": json.dumps(mlp_layers([4, 3]))}),
            ("opt", "Optimizer", {}),
            ("loss", "Loss", {}),
            ("train", "TrainingLoop", {"epochs": 1, "device": "cuda"}),
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
    result = harness.ok(g)
    assert _start(result)["warnings"] == []  # a node's fallback never becomes a run warning
    completed = [e for e in result.node_events("train") if e["status"] == "completed"][0]
    assert "device_fallback" in completed["log"]
    config = [p for p in progress_events(result, "train") if p["event"] == "config"][0]
    assert config["config"]["device"] == "cpu"
