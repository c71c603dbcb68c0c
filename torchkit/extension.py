"""The torch run extension: devices, grad mode, byte sizes and gradient capture for the engine.

The kernel never imports torch; the ``core_nodes`` plugin registers this object through the
``register_run_extensions`` hook (see :class:`nodeloom.kernel.extensions.RunExtension`).
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from typing import Any

import torch

from . import devices, grads, values

log = logging.getLogger("nodeloom.torchkit")

_SCRATCH = "torchkit.grads"
BACKWARD_ONCE = "BackwardOnce"
TRAINING_LOOP = "TrainingLoop"


def _option(run: Any, name: str, default: Any = None) -> Any:
    return getattr(getattr(run, "options", None), name, default)


class GradMode:
    """Sets the thread's grad mode for one node body and restores the previous mode after it.

    Equivalent to ``torch.set_grad_enabled(enabled)`` used as a context manager, but it is
    entered once per node on the engine's hot path, where torch's decorator-capable class costs
    several times more than the two flag writes it performs.
    """

    __slots__ = ("enabled", "previous")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.previous = True

    def __enter__(self) -> None:
        self.previous = torch.is_grad_enabled()
        # The same private setter torch.no_grad and torch.set_grad_enabled call.
        torch._C._set_grad_enabled(self.enabled)

    def __exit__(self, *exc: object) -> None:
        torch._C._set_grad_enabled(self.previous)


def _node_order(run: Any) -> list[tuple[str, str]]:
    """``(node id, resolved type key)`` of the executable set in (level, expanded) order."""
    prepared = getattr(run, "prepared", None)
    if prepared is None:
        return []
    return [(node.id, getattr(node.entry, "key", node.type)) for node in prepared.nodes]


class TorchRunExtension:
    """Torch behaviour of every run (engine.md §4.5, §4.11, §4.12.1, §4.15)."""

    name = "torch"

    def resolve_device(self, requested: str) -> tuple[str, str | None] | None:
        """engine.md §4.11: ``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``auto``; None for others."""
        return devices.resolve_device(requested)

    def node_context(self, call: Any, run: Any) -> AbstractContextManager:
        """Grad mode is thread-local, so it is set in the worker thread around each body."""
        options = getattr(call, "options", None) or {}
        return GradMode(bool(options.get("backward_mode", False)))

    def value_nbytes(self, value: Any) -> int | None:
        return values.value_nbytes(value)

    # -- gradient capture (engine.md §4.15) -------------------------------------------------

    def before_run(self, run: Any) -> None:
        """Clear gradients left on the graph's persisted modules by an earlier backward run."""
        if not _option(run, "backward_mode", False):
            return
        run.scratch[_SCRATCH] = {"targets": [], "lock": threading.Lock()}
        for _node_id, module in run.modules.modules_for_graph(run.graph_id):
            if isinstance(module, torch.nn.Module):
                module.zero_grad(set_to_none=True)

    def after_node(self, run: Any, node_id: str, result: Any) -> None:
        """Register the node's grad-requiring outputs as gradient targets."""
        box = run.scratch.get(_SCRATCH) if _option(run, "backward_mode", False) else None
        if box is None or not hasattr(result, "items"):
            return
        found = grads.register_targets(result)
        with box["lock"]:
            box["targets"].extend((node_id, port, t) for port, t in found)

    def after_run(self, run: Any) -> list[str]:
        """Choose the loss, backpropagate it and record gradients; failures become warnings."""
        box = run.scratch.pop(_SCRATCH, None) if _option(run, "backward_mode", False) else None
        if box is None:
            return []
        try:
            with torch.enable_grad():
                loss = self._choose_loss(run, box["targets"])
                if loss is None:
                    return []
                loss.backward()
            self._record(run, box["targets"])
        except Exception as exc:  # the backward phase never fails the run (engine.md §4.15.6)
            log.warning("backward pass failed", exc_info=True)
            return [f"backward_failed: {exc}"]
        return []

    def _choose_loss(self, run: Any, targets: list) -> torch.Tensor | None:
        executed = set(getattr(run, "executed", ()))
        order = [(nid, key) for nid, key in _node_order(run) if nid in executed]
        for node_id, key in order:
            if key == BACKWARD_ONCE:  # the first one in order decides, even when it gives nothing
                result = run.results.get(node_id) or {}
                return grads.loss_from_backward_once(result.get("tensor"))
        if any(key == TRAINING_LOOP for _, key in order):
            return None
        if _option(run, "auto_backward", False):
            # Targets arrive in completion order, which varies with max_workers; ties on size
            # are broken by node order instead, so the loss (and every recorded gradient) is
            # the same for every schedule.
            rank = {node_id: i for i, (node_id, _key) in enumerate(_node_order(run))}
            ordered = sorted(targets, key=lambda t: rank.get(t[0], len(rank)))
            biggest = grads.largest_target(ordered)
            return biggest.sum() if biggest is not None else None
        return None

    def _record(self, run: Any, targets: list) -> None:
        health = _option(run, "grad_health", None)
        limits = health.as_dict() if hasattr(health, "as_dict") else None
        for node_id, port, tensor in targets:
            if tensor.grad is not None:
                grad = tensor.grad.detach()
                run.record(node_id, f"{port}__grad", grad)
                run.record(node_id, f"{port}__grad__meta", grads.grad_health(grad, limits))
        for node_id, module in run.modules.modules_for_graph(run.graph_id):
            for name, grad in grads.module_param_grads(module):
                run.record(node_id, f"__weight_grad__{name}", grad.detach())
                run.record(node_id, f"__weight_grad__{name}__meta", grads.grad_health(grad, limits))
