"""The step trace shared by the normalisation layers (BatchNorm2d, LayerNorm; nodes.md N7)."""

from __future__ import annotations

from typing import Any

import torch


def record_norm_steps(
    rec: Any,
    x: torch.Tensor,
    m: Any,
    y: torch.Tensor,
    dims: tuple[int, ...],
    names: tuple[str, str],
    texts: tuple[str, str, str],
) -> None:
    """Add the five steps input, mean, var, normalize, scale_shift to ``rec``.

    ``names`` are the mean and variance step names (``per_channel_mean``/``compute_mean``...),
    ``texts`` the descriptions of the input, mean and variance steps.
    """
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    normalized = (x - mean) / torch.sqrt(var + m.eps)
    rec.add("input", texts[0], {"input": x})
    rec.add(names[0], texts[1], {"mean": mean}, {"eps": m.eps})
    rec.add(names[1], texts[2], {"var": var})
    rec.add("normalize", "Subtract the mean and divide by sqrt(var + eps).", {"normalized": normalized})
    rec.add(
        "scale_shift",
        "Scale by the learned gamma and shift by the learned beta.",
        {"gamma": m.weight, "beta": m.bias, "output": y},
    )
