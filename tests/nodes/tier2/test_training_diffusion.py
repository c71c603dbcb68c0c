"""Tier-2 training (nodes.md §3.10) and diffusion (§3.8) nodes."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.optim import lr_scheduler as schedulers

from nodeloom.kernel import RunCancelled
from nodeloom.plugins.core_nodes.nodes import diffusion_extra, synthetic, training_extra
from nodeloom.kernel.engine import RunEnvironment, run_graph
from nodeloom.kernel.options import parse_run_options
from nodeloom.testing import make_kernel

from ..helpers import call_node

# -- BackwardOnce ---------------------------------------------------------------------------------


def test_backward_once_is_the_identity():
    x = torch.ones(2)
    assert call_node(training_extra.backward_once, {"tensor": x})["tensor"] is x


def test_backward_once_chooses_the_loss_in_backward_mode():
    kernel = make_kernel(builtin=True)
    graph = {
        "nodes": [
            {"id": "s", "type": "Start"},
            {"id": "x", "type": "TensorInput",
             "data": {"params": {"shape": "3", "value_mode": "explicit", "values": [1, 2, 3]}}},
            {"id": "sq", "type": "Multiply"},
            {"id": "loss", "type": "BackwardOnce"},
        ],
        "edges": [
            {"source": "s", "sourceHandle": "trigger", "target": "x", "type": "trigger"},
            {"source": "x", "sourceHandle": "tensor", "target": "sq", "targetHandle": "tensor_a"},
            {"source": "x", "sourceHandle": "tensor", "target": "sq", "targetHandle": "tensor_b"},
            {"source": "sq", "sourceHandle": "tensor", "target": "loss", "targetHandle": "tensor"},
        ],
    }
    env = RunEnvironment(extensions=list(kernel.run_extensions))
    options = parse_run_options({"seed": 0, "backward_mode": True, "run_id": "bw-once"})
    result = run_graph(graph, kernel.snapshot, options, env)
    assert result.ok, result.terminal
    grad = env.outputs.get("bw-once", "x", "tensor__grad")
    assert torch.equal(grad, torch.tensor([2.0, 4.0, 6.0]))  # d/dx sum(x * x) = 2x


# -- EvaluateModel --------------------------------------------------------------------------------


class Fixed(nn.Module):
    """Predicts class 1 when the first feature is positive, else class 0."""

    def forward(self, x):
        return torch.stack([-x[:, 0], x[:, 0]], 1)


def test_evaluate_model_counts_correct_predictions():
    x = torch.tensor([[1.0], [-1.0], [2.0], [-3.0], [0.5]])
    y = torch.tensor([1, 0, 0, 0, 1])
    data = synthetic.TensorPairDataset(x, y)
    model = Fixed()
    out = call_node(training_extra.evaluate_model, {"model": model, "dataset": data}, batch_size=2)
    assert out == {"accuracy": 0.8, "correct": 4, "total": 5}
    assert not model.training


def test_evaluate_model_on_an_empty_dataset_and_cuda_fallback():
    data = synthetic.TensorPairDataset(torch.zeros(0, 1), torch.zeros(0, dtype=torch.int64))
    out = call_node(training_extra.evaluate_model, {"model": Fixed(), "dataset": data},
                    node_params={"device": "cuda"})
    assert out["accuracy"] == 0.0 and out["total"] == 0
    if not torch.cuda.is_available():
        assert "device_fallback" in out["__log__"]


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("StepLR", schedulers.StepLR),
        ("CosineAnnealingLR", schedulers.CosineAnnealingLR),
        ("ExponentialLR", schedulers.ExponentialLR),
        ("ReduceLROnPlateau", schedulers.ReduceLROnPlateau),
        ("CosineAnnealingWarmRestarts", schedulers.CosineAnnealingWarmRestarts),
        ("MultiStepLR", schedulers.MultiStepLR),
        ("OneCycleLR", schedulers.OneCycleLR),
    ],
)
def test_lr_scheduler_builds_each_type(kind, cls):
    opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    sched = call_node(training_extra.lr_scheduler, {"optimizer": opt}, type=kind)["scheduler"]
    assert isinstance(sched, cls) and sched.optimizer is opt


def test_lr_scheduler_arguments():
    opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    sched = call_node(training_extra.lr_scheduler, {"optimizer": opt}, type="MultiStepLR", step_size=3, gamma=0.5)["scheduler"]
    assert sorted(sched.milestones) == [3, 6, 9, 12] and sched.gamma == 0.5
    opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    step = call_node(training_extra.lr_scheduler, {"optimizer": opt}, step_size=2, gamma=0.1)["scheduler"]
    for _ in range(2):
        opt.step()
        step.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    plateau = call_node(training_extra.lr_scheduler, {"optimizer": opt}, type="ReduceLROnPlateau", gamma=0.3)
    assert plateau["scheduler"].factor == 0.3


# -- Upsample -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "area"])
def test_upsample_matches_interpolate(mode):
    x = torch.randn(1, 2, 4, 4)
    out = call_node(diffusion_extra.upsample, {"tensor": x}, mode=mode, scale_factor=2.0)["tensor"]
    ref = F.interpolate(x, scale_factor=2.0, mode=mode, align_corners=False if mode == "bilinear" else None)
    assert torch.allclose(out, ref)


def test_upsample_keeps_the_dtype():
    x = torch.arange(4).reshape(1, 1, 2, 2)
    out = call_node(diffusion_extra.upsample, {"tensor": x})["tensor"]
    assert out.dtype == torch.int64 and out.shape == (1, 1, 4, 4)
    assert out[0, 0, :2, :2].unique().tolist() == [0]


# -- DiffusionTrainingLoop ------------------------------------------------------------------------


class TinyDenoiser(nn.Module):
    """A noise predictor taking (x_t, t); the timestep enters as a scaled bias."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.t_scale = nn.Parameter(torch.zeros(1))

    def forward(self, x, t):
        return self.conv(x) + self.t_scale * t.float().view(-1, 1, 1, 1) / 100


def _train(seed: int = 0, epochs: int = 2, events: list | None = None, cancel=None):
    torch.manual_seed(123)  # the model's own init, outside the node
    model = TinyDenoiser()
    data = synthetic.shapes_dataset(8, 8, 0)
    out = call_node(diffusion_extra.diffusion_training_loop, {"model": model, "dataset": data},
                    epochs=epochs, batch_size=4, num_timesteps=10, lr=0.01,
                    node_params={"seed": seed}, on_progress=(events if events is not None else []).append,
                    cancel_event=cancel)
    return model, out


def test_diffusion_training_loop_trains_and_reports_epochs():
    events: list = []
    model, out = _train(events=events)
    assert out["model"] is model and model.training
    losses = out["losses"]
    assert losses.dtype == torch.float32 and losses.shape == (2,)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[-1]["total_epochs"] == 2
    assert epochs[-1]["losses"] == [round(v, 6) for v in losses.tolist()]
    assert any(e["event"] == "batch" for e in events)


def test_diffusion_training_loop_is_reproducible_and_restores_the_global_rng():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    _, a = _train(seed=1)
    _, b = _train(seed=1)
    _, c = _train(seed=2)
    assert torch.equal(a["losses"], b["losses"])
    assert not torch.equal(a["losses"], c["losses"])
    torch.manual_seed(5)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_diffusion_training_loop_loss_matches_the_ddpm_objective():
    """One batch, one epoch, lr 0: the reported loss is the DDPM loss of the untrained model."""
    torch.manual_seed(0)
    model = TinyDenoiser()
    x0 = torch.randn(4, 1, 8, 8)
    data = synthetic.TensorPairDataset(x0, [0] * 4)
    out = call_node(diffusion_extra.diffusion_training_loop, {"model": model, "dataset": data},
                    epochs=1, batch_size=4, num_timesteps=10, lr=0.0, node_params={"seed": 3})
    from nodeloom.plugins.core_nodes.nodes.diffusion import beta_schedule

    ab = torch.cumprod(1 - beta_schedule("linear", 10, 0.0001, 0.05), 0)
    torch.manual_seed(3)
    batch = next(iter(DataLoader(data, batch_size=4, shuffle=True)))[0]
    t = torch.randint(0, 10, (4,))
    eps = torch.randn_like(batch)
    a = ab[t].view(4, 1, 1, 1)
    with torch.no_grad():
        ref = ((model(a.sqrt() * batch + (1 - a).sqrt() * eps, t) - eps) ** 2).mean()
    assert out["losses"].item() == pytest.approx(ref.item(), rel=1e-5)


def test_diffusion_training_loop_stops_when_cancelled():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RunCancelled):
        _train(cancel=cancel)
