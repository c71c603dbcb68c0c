"""Tier-2 training nodes (nodes.md §3.10): BackwardOnce, EvaluateModel and LRScheduler."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import lr_scheduler as schedulers
from torch.utils.data import DataLoader

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import resolve_node_device, to_device

CATEGORY = "Training"


@node(
    name="BackwardOnce",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "The value to backpropagate (summed) in backward mode.")],
    outputs=[Out("tensor", "TENSOR", "The same tensor.")],
    cacheable=False,
)
def backward_once(call: Any) -> dict[str, Any]:
    """Identity that marks the loss: in backward mode the first executed BackwardOnce decides.

    The engine sums its tensor and calls `backward()` after the run (engine.md §4.15).
    """
    return {"tensor": call.inputs["tensor"]}


# -- EvaluateModel ------------------------------------------------------------------------------


def count_correct(model: Any, loader: Any, device: str, call: Any) -> tuple[int, int]:
    """``(correct, total)`` of ``argmax(model(x), dim=1)`` against the labels, without grad."""
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            call.check_cancelled()
            pred = model(to_device(x, device)).argmax(dim=1)
            target = torch.as_tensor(y).to(pred.device)
            correct += int((pred == target).sum().item())
            total += int(target.numel())
    return correct, total


@node(
    name="EvaluateModel",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL", "A classifier returning one score per class."),
        In("dataset", "DATASET", "Items are (sample, label)."),
    ],
    outputs=[
        Out("accuracy", "SCALAR", "correct / total (0.0 when the dataset is empty)."),
        Out("correct", "SCALAR", "Number of correct predictions."),
        Out("total", "SCALAR", "Number of samples."),
    ],
    params=[
        Param.int("batch_size", 256, "Samples per forward pass.", min=1),
        Param.select("device", "cpu", ("cpu", "cuda"), "cuda falls back to cpu when unavailable."),
    ],
)
def evaluate_model(call: Any) -> dict[str, Any]:
    """Classification accuracy of a model on a dataset (eval mode, no gradients)."""
    log: list[str] = []
    device = resolve_node_device(call, call.params["device"], log)
    model = to_device(call.inputs["model"], device)
    model.eval()
    loader = DataLoader(call.inputs["dataset"], batch_size=call.params["batch_size"], shuffle=False)
    correct, total = count_correct(model, loader, device, call)
    result: dict[str, Any] = {
        "accuracy": correct / total if total else 0.0,
        "correct": correct,
        "total": total,
    }
    if log:
        result["__log__"] = "\n".join(log)
    return result


# -- LRScheduler --------------------------------------------------------------------------------

SCHEDULERS = (
    "StepLR",
    "CosineAnnealingLR",
    "ExponentialLR",
    "ReduceLROnPlateau",
    "CosineAnnealingWarmRestarts",
    "MultiStepLR",
    "OneCycleLR",
)


def make_scheduler(kind: str, opt: torch.optim.Optimizer, params: Any) -> Any:
    """The torch LR scheduler of ``kind`` over ``opt`` with the node's params."""
    step_size, gamma, t_max = params["step_size"], params["gamma"], params["T_max"]
    if kind == "StepLR":
        return schedulers.StepLR(opt, step_size=step_size, gamma=gamma)
    if kind == "CosineAnnealingLR":
        return schedulers.CosineAnnealingLR(opt, T_max=t_max)
    if kind == "ExponentialLR":
        return schedulers.ExponentialLR(opt, gamma=gamma)
    if kind == "ReduceLROnPlateau":
        return schedulers.ReduceLROnPlateau(opt, factor=gamma)
    if kind == "CosineAnnealingWarmRestarts":
        return schedulers.CosineAnnealingWarmRestarts(opt, T_0=t_max)
    if kind == "MultiStepLR":
        milestones = [step_size * k for k in (1, 2, 3, 4)]
        return schedulers.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    if kind == "OneCycleLR":
        return schedulers.OneCycleLR(
            opt, max_lr=params["max_lr"], total_steps=params["total_steps"]
        )
    raise ValueError(f"LRScheduler: unknown type '{kind}'")


@node(
    name="LRScheduler",
    category=CATEGORY,
    inputs=[In("optimizer", "OPTIMIZER")],
    outputs=[Out("scheduler", "ANY", "Wire into TrainingLoop's lr_scheduler input.")],
    params=[
        Param.select("type", "StepLR", SCHEDULERS, "torch.optim.lr_scheduler class."),
        Param.int("step_size", 10, "StepLR period; MultiStepLR milestones are 1-4 x step_size."),
        Param.float("gamma", 0.1, "Decay factor (ReduceLROnPlateau: factor)."),
        Param.int("T_max", 50, "Cosine period (CosineAnnealingWarmRestarts: T_0)."),
        Param.float("max_lr", 0.01, "OneCycleLR peak learning rate."),
        Param.int("total_steps", 1000, "OneCycleLR total steps."),
    ],
    cacheable=False,
)
def lr_scheduler(call: Any) -> dict[str, Any]:
    """A learning-rate schedule for an optimizer (stepped by TrainingLoop once per epoch)."""
    return {"scheduler": make_scheduler(call.params["type"], call.inputs["optimizer"], call.params)}
