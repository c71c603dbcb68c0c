"""Tier-2 diffusion nodes (nodes.md §3.8): ``Upsample`` and ``DiffusionTrainingLoop``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import resolve_node_device, seeded, to_device

from .diffusion import beta_schedule
from .training import BatchThrottle

CATEGORY = "Diffusion"

UPSAMPLE_MODES = ("nearest", "bilinear", "area")


@node(
    name="Upsample",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Input (N, C, H, W).")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.select("mode", "nearest", UPSAMPLE_MODES, "Interpolation."),
        Param.float("scale_factor", 2.0, "Size multiplier (below 1 shrinks).", min=0.1),
    ],
)
def upsample(call: Any) -> dict[str, Any]:
    """Resize by `scale_factor` with `F.interpolate` (computed in float32, cast back to x's dtype)."""
    x = call.inputs["tensor"]
    mode = call.params["mode"]
    y = F.interpolate(
        x.float(),
        scale_factor=call.params["scale_factor"],
        mode=mode,
        align_corners=False if mode == "bilinear" else None,
    )
    return {"tensor": y.to(x.dtype)}


# -- DiffusionTrainingLoop ----------------------------------------------------------------------


def clean_batch(batch: Any) -> torch.Tensor:
    """x0 of a batch: the first element of a (sample, label) batch, else the batch, as float."""
    x0 = batch[0] if isinstance(batch, (list, tuple)) else batch
    return torch.as_tensor(x0).float()


def noising_loss(model: Any, x0: torch.Tensor, alpha_bars: torch.Tensor) -> torch.Tensor:
    """DDPM's simple loss: predict the noise added at a random timestep (mean squared error)."""
    b = x0.shape[0]
    t = torch.randint(0, alpha_bars.shape[0], (b,), device=x0.device)
    eps = torch.randn_like(x0)
    ab = alpha_bars[t].view(b, *([1] * (x0.dim() - 1)))
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    return ((model(x_t, t) - eps) ** 2).mean()


@node(
    name="DiffusionTrainingLoop",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL", "Noise predictor called as model(x_t, t), e.g. DiffusionUNet."),
        In("dataset", "DATASET", "Clean samples x0 (the first element of each item)."),
    ],
    outputs=[
        Out("model", "MODEL", "The same model, trained in place."),
        Out("losses", "TENSOR", "Mean loss of each epoch (float32)."),
    ],
    params=[
        Param.int("epochs", 200, "Passes over the dataset.", min=1),
        Param.int("batch_size", 32, "Samples per batch.", min=1),
        Param.float("lr", 0.002, "Adam learning rate.", min=0),
        Param.int("num_timesteps", 160, "Diffusion steps T.", min=2),
        Param.select("schedule", "linear", ("linear", "cosine"), "Noise schedule."),
        Param.float("beta_start", 0.0001, "First beta (linear schedule).", min=0),
        Param.float("beta_end", 0.05, "Last beta (linear schedule).", min=0),
        Param.select("device", "cpu", ("cpu", "cuda"), "cuda falls back to cpu when unavailable."),
        Param.int("seed", 0, "Seed of shuffling, timesteps and noise."),
    ],
    cacheable=False,
)
def diffusion_training_loop(call: Any) -> dict[str, Any]:
    """Train a noise predictor with the DDPM objective: MSE between true and predicted noise.

    Runs under the RNG lock seeded with `seed` (the global RNG is restored afterwards); emits
    `epoch` progress (and throttled `batch` events) and checks cancellation every batch.
    """
    p = call.params
    log: list[str] = []
    device = resolve_node_device(call, p["device"], log)
    epochs, steps = p["epochs"], p["num_timesteps"]
    losses: list[float] = []
    throttle = BatchThrottle()
    with seeded(p["seed"]), torch.enable_grad():
        betas = beta_schedule(p["schedule"], steps, p["beta_start"], p["beta_end"])
        alpha_bars = torch.cumprod(1 - betas, dim=0).to(device)
        model = to_device(call.inputs["model"], device)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=p["lr"])
        loader = DataLoader(call.inputs["dataset"], batch_size=p["batch_size"], shuffle=True)
        total_batches = len(loader)
        for epoch in range(1, epochs + 1):
            total, count = 0.0, 0
            for index, batch in enumerate(loader, start=1):
                call.check_cancelled()
                loss = noising_loss(model, clean_batch(batch).to(device), alpha_bars)
                opt.zero_grad()
                loss.backward()
                opt.step()
                item = loss.item()
                total, count = total + item, count + 1
                if throttle.ready():
                    call.progress(
                        {"event": "batch", "epoch": epoch, "batch": index,
                         "total_batches": total_batches, "loss": round(item, 6)}
                    )
            losses.append(total / max(count, 1))
            call.progress(
                {"event": "epoch", "epoch": epoch, "total_epochs": epochs,
                 "loss": round(losses[-1], 6), "losses": [round(v, 6) for v in losses]}
            )
    result: dict[str, Any] = {
        "model": model,
        "losses": torch.tensor(losses, dtype=torch.float32).to(call.device),
    }
    if log:
        result["__log__"] = "\n".join(log)
    return result
