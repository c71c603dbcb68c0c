"""TrainingLoop progress events and cancellation through the real engine (engine.md §4.9, §4.16;
nodes.md §2.21)."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from typing import Any

import pytest
import torch

from nodeloom.kernel.engine import LocalExecutor, RunSpec
from nodeloom.kernel.options import parse_run_options

from .support import Harness, graph, mlp_layers, progress_events

CONFIG_KEYS = {
    "model_class", "params", "trainable", "optimizer", "lr", "loss_fn", "epochs", "device",
    "batch_size", "early_stopping", "patience", "grad_clip_norm", "has_validation",
    "has_lr_scheduler",
}


def training_graph(epochs: int, *, samples: int = 64, batch_size: int = 8, patience: int = 0,
                   validation: bool = False, clip: float = 0.0) -> dict[str, Any]:
    nodes = [
        ("data", "TestDataset", {"samples": samples, "features": 4, "classes": 3, "seed": 1}),
        ("dl", "DataLoader", {"batch_size": batch_size, "shuffle": True}),
        ("model", "SequentialModel", {"layers": json.dumps(mlp_layers([4, 8, 3]))}),
        ("opt", "Optimizer", {"type": "Adam", "lr": 0.01}),
        ("loss", "Loss", {"type": "CrossEntropyLoss"}),
        ("train", "TrainingLoop", {"epochs": epochs, "early_stopping_patience": patience,
                                   "grad_clip_norm": clip}),
    ]
    links = [
        "data.dataset > dl.dataset",
        "model.model > opt.model",
        "model.model > train.model",
        "dl.dataloader > train.dataloader",
        "opt.optimizer > train.optimizer",
        "loss.loss_fn > train.loss_fn",
    ]
    if validation:
        nodes += [
            ("vdata", "TestDataset", {"samples": 16, "features": 4, "classes": 3, "seed": 2}),
            ("vdl", "DataLoader", {"batch_size": 8, "shuffle": False}),
        ]
        links += ["vdata.dataset > vdl.dataset", "vdl.dataloader > train.val_dataloader"]
    return graph(nodes, links)


def test_config_then_one_epoch_event_per_epoch(harness: Harness):
    started = time.monotonic()
    result = harness.ok(training_graph(3))
    elapsed = time.monotonic() - started
    events = progress_events(result, "train")
    assert events[0]["event"] == "config"
    config = events[0]["config"]
    assert CONFIG_KEYS <= set(config)
    assert config == {
        "model_class": "GraphModel",
        "params": 4 * 8 + 8 + 8 * 3 + 3,
        "trainable": 67,
        "optimizer": "Adam",
        "lr": 0.01,
        "loss_fn": "CrossEntropyLoss",
        "epochs": 3,
        "device": "cpu",
        "batch_size": 8,
        "early_stopping": False,
        "patience": 0,
        "grad_clip_norm": "disabled",
        "has_validation": False,
        "has_lr_scheduler": False,
        "optimizer_rebuilt": False,  # the upstream optimizer holds this model's parameters
    }
    kinds = [e["event"] for e in events]
    assert kinds.count("config") == 1
    epochs = [e for e in events if e["event"] == "epoch"]
    losses = result.results["train"]["losses"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    for k, event in enumerate(epochs, start=1):
        assert set(event) == {"event", "epoch", "total_epochs", "loss", "losses", "lr"}
        assert event["total_epochs"] == 3
        assert event["lr"] == 0.01
        assert event["loss"] == pytest.approx(float(losses[k - 1]), abs=1e-6)
        assert event["loss"] == round(event["loss"], 6)
        assert event["losses"] == pytest.approx(losses[:k].tolist(), abs=1e-6)
    assert losses[-1] < losses[0]  # it trains (seed 0: deterministic)

    # Batch events: throttled to one per 0.5 s, each before its epoch's event.
    batches = [(i, e) for i, e in enumerate(events) if e["event"] == "batch"]
    epoch_at = [i for i, e in enumerate(events) if e["event"] == "epoch"]
    assert 1 <= len(batches) <= elapsed / 0.5 + 1
    for index, event in batches:
        assert set(event) == {"event", "epoch", "batch", "total_batches", "loss"}
        assert event["total_batches"] == 8 and 1 <= event["batch"] <= 8
        # Between the previous epoch's event and its own epoch's event.
        k = event["epoch"]
        assert (epoch_at[k - 2] if k > 1 else 0) < index < epoch_at[k - 1]
    metrics = result.results["train"]["metrics"]
    assert metrics["total_epochs_run"] == 3 and metrics["best_epoch"] == 3
    assert metrics["lr_history"] == [0.01, 0.01, 0.01]


def test_epoch_events_carry_validation_and_early_stopping_fields(harness: Harness):
    result = harness.ok(training_graph(2, validation=True, patience=5, clip=1.0))
    events = progress_events(result, "train")
    config = events[0]["config"]
    assert config["has_validation"] is True
    assert config["early_stopping"] is True and config["patience"] == 5
    assert config["grad_clip_norm"] == 1.0
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 2
    val_losses = result.results["train"]["val_losses"]
    for k, event in enumerate(epochs, start=1):
        assert {"val_loss", "val_losses", "patience_counter", "best_epoch"} <= set(event)
        assert event["val_loss"] == pytest.approx(float(val_losses[k - 1]), abs=1e-6)
        assert len(event["val_losses"]) == k


def test_batch_events_follow_the_throttle_window(harness: Harness, monkeypatch):
    # The window is shortened (0.5 s in production) so a short run spans many windows.
    from nodeloom.plugins.core_nodes.nodes import training

    window = 0.01
    monkeypatch.setattr(training, "BatchThrottle", functools.partial(training.BatchThrottle, window))
    result = harness.ok(training_graph(2, samples=160, batch_size=4))
    completed = [e for e in result.node_events("train") if e["status"] == "completed"][0]
    elapsed = completed["elapsed_ms"] / 1000 + 0.002  # the body's own time (ms rounding)
    batches = [e for e in progress_events(result, "train") if e["event"] == "batch"]
    assert 1 <= len(batches) <= elapsed / window + 1
    assert len(batches) < 80  # 80 batches ran: some were throttled away
    if elapsed > 10 * window:
        assert len(batches) >= 2
    order = [(b["epoch"], b["batch"]) for b in batches]
    assert order == sorted(order) and len(set(order)) == len(order)


# -- cancellation --------------------------------------------------------------------------------


def _is_epoch(event: dict[str, Any]) -> bool:
    return event.get("status") == "progress" and event["progress"].get("event") == "epoch"


async def test_cancel_from_another_thread_stops_a_training_loop_promptly(harness: Harness):
    env = harness.env()
    executor = LocalExecutor(env)
    opts = parse_run_options({"seed": 0, "cancel_grace_s": 30})
    run = await executor.submit(RunSpec(training_graph(100_000), harness.snapshot, opts))
    marker: dict[str, Any] = {}

    def cancel() -> None:
        run.request_cancel("stop")
        marker["seq"] = run.sink.last_seq  # every event after this one must be run-level
        marker["at"] = time.monotonic()

    def on_event(event: dict[str, Any]) -> None:
        if _is_epoch(event) and "thread" not in marker:
            marker["thread"] = threading.Thread(target=cancel)
            marker["thread"].start()

    run.subscribe(on_event)
    terminal = await asyncio.wait_for(run.wait(), timeout=30)
    stopped_at = time.monotonic()
    marker["thread"].join()
    assert terminal["type"] == "execution_stopped"
    assert terminal["reason"] == "stop"
    assert stopped_at - marker["at"] < 5  # the loop checks the flag every batch, not per epoch
    later = [e for e in run.event_log if e["seq"] > marker["seq"]]
    assert [e["type"] for e in later] == ["execution_stopped"]
    statuses = [e.get("status") for e in run.event_log if e.get("node_id") == "train"]
    assert "completed" not in statuses and "error" not in statuses
    epochs = [e for e in run.event_log if e.get("node_id") == "train" and _is_epoch(e)]
    assert 1 <= len(epochs) < 100_000


def test_a_linked_cancel_flag_stops_the_training_loop(harness: Harness):
    flag = threading.Event()
    seen: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event)
        if _is_epoch(event):
            threading.Thread(target=flag.set).start()

    started = time.monotonic()
    result = harness.run(training_graph(100_000), on_event=on_event, cancel_event=flag)
    assert time.monotonic() - started < 20
    assert result.terminal["type"] == "execution_stopped"
    assert result.events[-1] is result.terminal or result.events[-1] == result.terminal
    assert "completed" not in result.statuses("train")
    assert seen[-1]["type"] == "execution_stopped"


def test_training_results_do_not_depend_on_max_workers(harness: Harness):
    one = harness.ok(training_graph(2), max_workers=1, seed=11).results["train"]
    four = harness.ok(training_graph(2), max_workers=4, seed=11).results["train"]
    other = harness.ok(training_graph(2), max_workers=4, seed=12).results["train"]
    assert torch.equal(one["losses"], four["losses"])
    for (name, a), (_, b) in zip(one["model"].state_dict().items(), four["model"].state_dict().items()):
        assert torch.equal(a, b), name
    assert not torch.equal(one["losses"], other["losses"])
