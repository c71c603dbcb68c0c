"""Training nodes: Loss, Optimizer and the TrainingLoop (nodes.md §2.12, note 2.21, engine.md §4.16)."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nodeloom.kernel import RunCancelled
from nodeloom.plugins.core_nodes.nodes.training import loss, optimizer, training_loop

from .helpers import call_node

CONFIG_KEYS = {
    "model_class",
    "params",
    "trainable",
    "optimizer",
    "lr",
    "loss_fn",
    "epochs",
    "device",
    "batch_size",
    "early_stopping",
    "patience",
    "grad_clip_norm",
    "has_validation",
    "has_lr_scheduler",
}


def regression_data(n: int = 64, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    return TensorDataset(x, y)


def setup(lr: float = 0.05, batch_size: int = 16):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    loader = DataLoader(regression_data(), batch_size=batch_size, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    return model, loader, opt, nn.MSELoss()


def run_loop(model, loader, opt, loss_fn, events=None, **params):
    inputs = {"model": model, "dataloader": loader, "optimizer": opt, "loss_fn": loss_fn}
    inputs.update(params.pop("extra_inputs", {}))
    return call_node(
        training_loop, inputs, on_progress=(events.append if events is not None else None), **params
    )


def test_loss_builds_the_named_module():
    assert isinstance(call_node(loss)["loss_fn"], nn.CrossEntropyLoss)
    fn = call_node(loss, type="HuberLoss")["loss_fn"]
    assert isinstance(fn, nn.HuberLoss)
    assert fn(torch.zeros(2), torch.ones(2)).item() == pytest.approx(0.5)


def test_optimizer_passes_lr_and_weight_decay():
    model = nn.Linear(2, 2)
    opt = call_node(optimizer, {"model": model}, type="AdamW", lr=0.01, weight_decay=0.1)[
        "optimizer"
    ]
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["weight_decay"] == 0.1
    assert opt.param_groups[0]["params"][0] is model.weight


def test_optimizer_without_weight_decay_support():
    model = nn.Linear(2, 2)
    assert isinstance(
        call_node(optimizer, {"model": model}, type="Rprop")["optimizer"], torch.optim.Rprop
    )
    with pytest.raises(ValueError) as info:
        call_node(optimizer, {"model": model}, type="Rprop", weight_decay=0.5)
    assert str(info.value) == (
        "Optimizer 'Rprop' does not accept weight_decay; got 0.5. "
        "Set weight_decay=0 or pick a different optimizer."
    )


def test_training_reduces_the_loss_and_reports_progress():
    model, loader, opt, loss_fn = setup()
    events: list[dict] = []
    out = run_loop(model, loader, opt, loss_fn, events, epochs=6)
    losses = out["losses"]
    assert out["model"] is model
    assert losses.dtype == torch.float32 and losses.shape == (6,)
    assert losses[-1] < losses[0] * 0.5
    assert out["val_losses"].shape == (0,)

    config = events[0]
    assert config["event"] == "config" and set(config["config"]) >= CONFIG_KEYS
    cfg = config["config"]
    assert cfg["model_class"] == "Linear" and cfg["params"] == 4 and cfg["trainable"] == 4
    assert cfg["optimizer"] == "SGD" and cfg["lr"] == 0.05 and cfg["loss_fn"] == "MSELoss"
    assert cfg["batch_size"] == 16 and cfg["grad_clip_norm"] == "disabled"
    assert cfg["early_stopping"] is False and cfg["has_validation"] is False
    assert cfg["optimizer_rebuilt"] is False

    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 7))
    assert all(e["total_epochs"] == 6 for e in epochs)
    assert epochs[-1]["losses"] == pytest.approx(losses.tolist(), abs=1e-6)
    assert epochs[-1]["losses"] == [round(v, 6) for v in epochs[-1]["losses"]]
    assert epochs[-1]["loss"] == epochs[-1]["losses"][-1]
    assert "val_loss" not in epochs[-1] and "patience_counter" not in epochs[-1]

    batches = [e for e in events if e["event"] == "batch"]
    assert batches, "the first batch always reports"
    assert set(batches[0]) == {"event", "epoch", "batch", "total_batches", "loss"}
    assert batches[0]["total_batches"] == 4 and batches[0]["batch"] == 1

    metrics = out["metrics"]
    assert metrics["total_epochs_run"] == 6 and metrics["best_epoch"] == 6
    assert metrics["final_train_loss"] == pytest.approx(losses[-1].item())
    assert metrics["final_val_loss"] is None and metrics["stopped_early"] is False
    assert metrics["lr_history"] == [0.05] * 6


def test_training_runs_with_grad_even_when_the_caller_disabled_it():
    model, loader, opt, loss_fn = setup()
    before = model.weight.detach().clone()
    with torch.no_grad():
        run_loop(model, loader, opt, loss_fn, epochs=1)
    assert not torch.equal(before, model.weight)


def test_training_is_reproducible_for_a_node_seed():
    def once():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))
        loader = DataLoader(regression_data(), batch_size=16)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        return run_loop(model, loader, opt, nn.MSELoss(), epochs=2)["losses"]

    assert torch.equal(once(), once())


def test_cancellation_stops_between_batches():
    model, loader, opt, loss_fn = setup()
    cancel = threading.Event()
    seen: list[dict] = []

    def on_progress(event):
        seen.append(event)
        if event["event"] == "batch":
            cancel.set()

    with pytest.raises(RunCancelled):
        call_node(
            training_loop,
            {"model": model, "dataloader": loader, "optimizer": opt, "loss_fn": loss_fn},
            on_progress=on_progress,
            cancel_event=cancel,
            epochs=50,
        )
    assert [e["event"] for e in seen] == ["config", "batch"]


def test_validation_early_stopping_and_best_weights():
    model, loader, opt, loss_fn = setup(lr=0.05)
    # A validation set whose targets are the negation: training makes it worse every epoch.
    x, y = regression_data(32, seed=1).tensors
    val = DataLoader(TensorDataset(x, -y), batch_size=32)
    events: list[dict] = []
    out = run_loop(
        model,
        loader,
        opt,
        loss_fn,
        events,
        epochs=20,
        early_stopping_patience=2,
        extra_inputs={"val_dataloader": val},
    )
    metrics = out["metrics"]
    run = metrics["total_epochs_run"]
    assert run < 20 and metrics["stopped_early"] is True
    assert out["val_losses"].shape == (run,)
    best = metrics["best_epoch"]
    assert out["val_losses"][best - 1] == out["val_losses"].min()
    # The model holds the weights of the best epoch again: its validation loss is the best one.
    with torch.no_grad():
        val_loss = loss_fn(model(x), -y).item()
    assert val_loss == pytest.approx(out["val_losses"].min().item(), rel=1e-5)
    last = [e for e in events if e["event"] == "epoch"][-1]
    assert last["patience_counter"] == 2 and last["best_epoch"] == best
    assert last["val_losses"] == pytest.approx(out["val_losses"].tolist(), abs=1e-6)
    assert events[0]["config"]["has_validation"] is True and events[0]["config"]["patience"] == 2


def test_scheduler_is_stepped_each_epoch_and_lr_is_recorded():
    model, loader, opt, loss_fn = setup(lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    events: list[dict] = []
    out = run_loop(
        model, loader, opt, loss_fn, events, epochs=3, extra_inputs={"lr_scheduler": sched}
    )
    assert out["metrics"]["lr_history"] == pytest.approx([0.1, 0.05, 0.025])
    assert [e["lr"] for e in events if e["event"] == "epoch"] == pytest.approx([0.1, 0.05, 0.025])
    assert events[0]["config"]["has_lr_scheduler"] is True


def test_foreign_optimizer_is_rebuilt_with_its_hyperparameters():
    model, loader, _opt, loss_fn = setup()
    other = nn.Linear(3, 1)
    foreign = torch.optim.SGD(other.parameters(), lr=0.03, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(foreign, step_size=1, gamma=0.1)
    events: list[dict] = []
    before = other.weight.detach().clone()
    out = run_loop(
        model, loader, foreign, loss_fn, events, epochs=2, extra_inputs={"lr_scheduler": sched}
    )
    assert events[0]["config"]["optimizer_rebuilt"] is True
    assert torch.equal(other.weight, before), "the foreign model is untouched"
    assert out["metrics"]["lr_history"] == pytest.approx([0.03, 0.003])


def test_reused_optimizer_keeps_its_state():
    model, loader, _opt, loss_fn = setup()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    run_loop(model, loader, opt, loss_fn, epochs=1)
    step_after_first = opt.state[model.weight]["step"].item()
    run_loop(model, loader, opt, loss_fn, epochs=1)
    assert opt.state[model.weight]["step"].item() == step_after_first + 4


def test_gradient_clipping_limits_the_update():
    model, loader, opt, loss_fn = setup(lr=1.0, batch_size=64)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    events: list[dict] = []
    run_loop(model, loader, opt, loss_fn, events, epochs=1, grad_clip_norm=0.01)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    # One SGD step with lr 1 moves the parameters by exactly the clipped gradient (norm <= 0.01).
    assert (after - before).norm().item() <= 0.01 + 1e-6
    assert events[0]["config"]["grad_clip_norm"] == 0.01


def test_single_tensor_batches_call_the_loss_with_the_output_only():
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    loader = DataLoader(torch.randn(8, 2), batch_size=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def energy(output):
        return (output**2).mean()

    out = run_loop(model, loader, opt, energy, epochs=3)
    assert out["losses"][-1] < out["losses"][0]
