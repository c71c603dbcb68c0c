"""Gradient capture of backward-mode runs (engine.md §4.15), as pure functions over results.

The run extension (:mod:`.extension`) wires these into ``before_run``/``after_node``/``after_run``;
keeping them free of engine objects makes each step testable on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch

DEFAULT_THRESHOLDS = {
    "vanish_norm": 1e-7,
    "vanish_mean": 1e-8,
    "explode_norm": 1e3,
    "explode_max": 1e2,
}


def _is_grad_tensor(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and (value.is_floating_point() or value.is_complex())
        and value.requires_grad
    )


def walk_tensors(result: Mapping[str, Any]) -> Iterator[tuple[str, torch.Tensor]]:
    """``(sub-port, tensor)`` for every grad-requiring floating tensor of a node result.

    Hidden keys (``__...``) are skipped; dicts recurse as ``port.key``, lists/tuples as
    ``port[i]``.
    """

    def walk(path: str, value: Any, depth: int) -> Iterator[tuple[str, torch.Tensor]]:
        if depth > 16:
            return
        if _is_grad_tensor(value):
            yield path, value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from walk(f"{path}.{key}", item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                yield from walk(f"{path}[{i}]", item, depth + 1)

    for port, value in result.items():
        if isinstance(port, str) and not port.startswith("__"):
            yield from walk(port, value, 0)


def register_targets(result: Mapping[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """The gradient targets of one result; non-leaf tensors are told to keep their ``.grad``."""
    targets = list(walk_tensors(result))
    for _, tensor in targets:
        if not tensor.is_leaf:
            tensor.retain_grad()
    return targets


def grad_health(grad: torch.Tensor, thresholds: Mapping[str, float] | None = None) -> dict:
    """``{"status", "norm", "mean", "max"}`` over ``|grad|`` (engine.md §4.15 step 5).

    A gradient holding NaN is labelled ``exploding``: NaN compares false with every threshold
    and would otherwise read as healthy, hiding the worst failure there is.
    """
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    if grad.numel() == 0:
        return {"status": "unknown", "norm": 0.0, "mean": 0.0, "max": 0.0}
    mag = grad.detach().abs().double()
    norm, mean, peak = float(mag.norm()), float(mag.mean()), float(mag.max())
    blown_up = norm > limits["explode_norm"] or peak > limits["explode_max"]
    if blown_up or any(math.isnan(v) for v in (norm, mean, peak)):
        status = "exploding"
    elif norm < limits["vanish_norm"] or mean < limits["vanish_mean"]:
        status = "vanishing"
    else:
        status = "healthy"
    return {"status": status, "norm": norm, "mean": mean, "max": peak}


def largest_target(targets: list[tuple[str, str, torch.Tensor]]) -> torch.Tensor | None:
    """The grad-requiring output with the most elements (the first one on ties)."""
    best: torch.Tensor | None = None
    for _, _, tensor in targets:
        if best is None or tensor.numel() > best.numel():
            best = tensor
    return best


def loss_from_backward_once(value: Any) -> torch.Tensor | None:
    """The loss a ``BackwardOnce`` output gives: its sum when it can be backpropagated."""
    if _is_grad_tensor(value):
        return value.sum()
    return None


def module_param_grads(module: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """``(parameter name, grad)`` for the parameters of ``module`` that have a gradient."""
    if not isinstance(module, torch.nn.Module):
        return
    for name, param in module.named_parameters():
        if param.grad is not None:
            yield name, param.grad
