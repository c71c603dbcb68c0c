"""Training checkpoints (nodes.md §3.11): ``CheckpointSaver`` and ``CheckpointLoader``.

A checkpoint is one ``torch.save`` dict ``{"epoch", "model_state_dict", "optimizer_state_dict",
"losses"?}`` under ``<data-dir>/models/``; it is loaded with ``weights_only=True``, so loading a
file never runs pickled code.
"""

from __future__ import annotations

from typing import Any

import torch

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.paths import file_fingerprint, resolve_file
from nodeloom.torchkit import resolve_node_device, to_device

from .nodes import _write_torch

CATEGORY = "IO"
DEVICES = ("auto", "cpu", "cuda", "mps")


def checkpoint_dict(model: Any, optimizer: Any, epoch: int, losses: Any = None) -> dict[str, Any]:
    """What ``CheckpointSaver`` writes; ``losses`` only when given."""
    data: dict[str, Any] = {
        "epoch": epoch,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
    }
    if losses is not None:
        data["losses"] = losses.detach() if isinstance(losses, torch.Tensor) else losses
    return data


@node(
    name="CheckpointSaver",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL"),
        In("optimizer", "OPTIMIZER"),
        In("losses", "TENSOR", "Loss history stored with the checkpoint.", optional=True),
    ],
    outputs=[
        Out("path", "STRING", "The written file, relative to the models folder."),
        Out("model", "MODEL", "The same model object."),
    ],
    params=[
        Param.string("path", "checkpoint.pt", "Target file in the models folder."),
        Param.int("epoch", 0, "Epoch number stored in the checkpoint."),
    ],
    cacheable=False,
)
def checkpoint_saver(call: Any) -> dict[str, Any]:
    """Save model weights, optimizer state, epoch and losses to resume training later."""
    path = call.params["path"]
    if not path:
        raise ValueError("CheckpointSaver: set path to a file name in the models directory")
    model = call.inputs["model"]
    data = checkpoint_dict(model, call.inputs["optimizer"], call.params["epoch"], call.inputs.get("losses"))
    final = resolve_file(call, "models", path, "CheckpointSaver")
    final.parent.mkdir(parents=True, exist_ok=True)
    _write_torch(final, data)
    return {"path": path, "model": model}


def move_optimizer_state(optimizer: torch.optim.Optimizer, device: str) -> None:
    """Move the optimizer's state tensors (moments...) to ``device``; step counters stay put."""
    for state in optimizer.state.values():
        for key, value in state.items():
            # torch keeps non-capturable "step" counters on the CPU on purpose.
            if key != "step" and isinstance(value, torch.Tensor):
                state[key] = value.to(device)


@node(
    name="CheckpointLoader",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL", "The model to restore (same architecture as when saved)."),
        In("optimizer", "OPTIMIZER", "An optimizer of the same type over that model."),
    ],
    outputs=[
        Out("model", "MODEL", "The model with the saved weights, on the chosen device."),
        Out("optimizer", "OPTIMIZER", "The optimizer with the saved state."),
        Out("epoch", "SCALAR", "The saved epoch (0 when absent)."),
        Out("losses", "TENSOR", "The saved loss history (empty when absent)."),
    ],
    params=[
        Param.model_file("path", "", "Checkpoint file in the models folder."),
        Param.select("device", "auto", DEVICES, "auto follows the run device."),
    ],
    cacheable=False,
    fingerprint=file_fingerprint("models", "path", "CheckpointLoader"),
)
def checkpoint_loader(call: Any) -> dict[str, Any]:
    """Restore model weights and optimizer state from a checkpoint to resume training."""
    path = call.params["path"]
    if not path:
        raise ValueError("CheckpointLoader: set path to a checkpoint file in the models directory")
    resolved = resolve_file(call, "models", path, "CheckpointLoader")
    if not resolved.is_file():
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    log: list[str] = []
    device = resolve_node_device(call, call.params["device"], log)
    # MPS is not a valid map_location for every stored dtype: load on the CPU, move afterwards.
    load_device = "cpu" if device.startswith("mps") else device
    try:
        ck = torch.load(resolved, map_location=load_device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several unpickling error types
        raise ValueError(f"CheckpointLoader: {path} is not a weights-only checkpoint ({exc})") from None
    if not isinstance(ck, dict) or "model_state_dict" not in ck:
        raise ValueError(f"CheckpointLoader: {path} holds no model_state_dict")
    model, optimizer = call.inputs["model"], call.inputs["optimizer"]
    model.load_state_dict(ck["model_state_dict"])
    model = to_device(model, device)
    for group in optimizer.param_groups:
        group["params"] = list(model.parameters())
    if "optimizer_state_dict" in ck:
        optimizer.load_state_dict(ck["optimizer_state_dict"])
        move_optimizer_state(optimizer, device)
    losses = ck.get("losses", torch.tensor([]))
    result: dict[str, Any] = {
        "model": model,
        "optimizer": optimizer,
        "epoch": ck.get("epoch", 0),
        "losses": to_device(torch.as_tensor(losses), call.device),
    }
    if log:
        result["__log__"] = "\n".join(log)
    return result
