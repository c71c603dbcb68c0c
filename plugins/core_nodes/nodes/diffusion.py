"""Diffusion nodes: a seeded mini U-Net, timestep embeddings, noise and DDPM sampling (nodes.md §2.7).

The modules of notes 2.16-2.17 overwrite every learned weight from explicit seeds, so their numbers do
not depend on torch's global generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nodeloom.kernel import CodeFragment, StatefulSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal
from nodeloom.torchkit import as_float32, int_list, module_for, seeded

from ._codegen import seeded_module, use
from ._codegen_sources import DDPM_SAMPLE

CATEGORY = "Diffusion"


# -- modules (note 2.17) ----------------------------------------------------------------------------


def _overwrite(params: Sequence[torch.Tensor], g: torch.Generator, scale: float) -> None:
    with torch.no_grad():
        for p in params:
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def _zero(params: Sequence[torch.Tensor | None]) -> None:
    with torch.no_grad():
        for p in params:
            if p is not None:
                p.zero_()


class TimestepMLP(nn.Module):
    """Sinusoidal timestep features followed by a two-layer SiLU MLP: [B] -> [B, dim]."""

    def __init__(self, dim: int, max_period: int, seed: int) -> None:
        super().__init__()
        self.dim, self.max_period = dim, max_period
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        g = torch.Generator().manual_seed(seed)
        _overwrite([self.fc1.weight, self.fc2.weight], g, 1.0 / math.sqrt(dim))
        _zero([self.fc1.bias, self.fc2.bias])

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        steps = torch.arange(half, dtype=torch.float32, device=t.device)
        freqs = torch.exp(-math.log(self.max_period) * steps / half)
        args = t.float()[:, None] * freqs[None]
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
        return self.fc2(F.silu(self.fc1(emb)))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block with an optional additive timestep projection."""

    def __init__(self, in_ch: int, out_ch: int, groups: int, temb_dim: int, seed: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(temb_dim, out_ch) if temb_dim > 0 else None
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        layers = [self.conv1, self.conv2]
        if self.time_proj is not None:
            layers.append(self.time_proj)
        if isinstance(self.skip, nn.Conv2d):
            layers.append(self.skip)
        g = torch.Generator().manual_seed(seed)
        _overwrite([m.weight for m in layers], g, 1.0 / math.sqrt(max(in_ch, 1)))
        _zero([m.bias for m in layers])

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None and self.time_proj is not None:
            h = h + self.time_proj(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


def check_unet_params(base: int, mult: Sequence[int], groups: int, temb_dim: int) -> None:
    """Raise ValueError for U-Net settings that cannot build (nodes.md 2.17)."""
    if not mult or any(m <= 0 for m in mult):
        raise ValueError(
            f"DiffusionUNet: channel_mult must list positive integers, got {list(mult)}."
        )
    if any((base * m) % groups for m in mult):
        raise ValueError(
            f"DiffusionUNet: num_groups={groups} must divide every base*mult — "
            f"base={base}, mult={list(mult)}."
        )
    if base % groups:
        raise ValueError(f"DiffusionUNet: num_groups={groups} must divide base_channels={base}.")
    if temb_dim % 2:
        raise ValueError(f"DiffusionUNet: time_emb_dim must be even, got {temb_dim}.")


class UNet(nn.Module):
    """A small U-Net ``(x, t) -> predicted noise`` of the same shape as ``x``."""

    def __init__(
        self,
        in_channels: int,
        base: int,
        mult: Sequence[int],
        temb_dim: int,
        groups: int,
        seed: int,
    ) -> None:
        super().__init__()
        check_unet_params(base, mult, groups, temb_dim)
        self.levels = len(mult)
        self.time_mlp = TimestepMLP(temb_dim, 10000, seed)
        self.stem = nn.Conv2d(in_channels, base, 3, padding=1)
        ch = base
        skips: list[int] = []
        self.down_blocks = nn.ModuleList()
        self.down_pools = nn.ModuleList()
        for i, m in enumerate(mult[:-1]):
            self.down_blocks.append(ResBlock(ch, base * m, groups, temb_dim, seed + 100 + i))
            ch = base * m
            skips.append(ch)
            self.down_pools.append(nn.MaxPool2d(2))
        self.bottleneck = ResBlock(ch, base * mult[-1], groups, temb_dim, seed + 200)
        ch = base * mult[-1]
        self.up_blocks = nn.ModuleList()
        for j, width in enumerate(reversed(skips)):
            self.up_blocks.append(ResBlock(ch + width, width, groups, temb_dim, seed + 300 + j))
            ch = width
        self.head = nn.Conv2d(ch, in_channels, 1)
        g = torch.Generator().manual_seed(seed + 999)
        _overwrite([self.stem.weight, self.head.weight], g, 0.1)
        _zero([self.stem.bias, self.head.bias])

    def forward(self, x: torch.Tensor, t: Any) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.reshape(1)
        if t.numel() == 1 and x.shape[0] > 1:
            t = t.expand(x.shape[0])
        temb = self.time_mlp(t)
        h = self.stem(x)
        skips = []
        for block, pool in zip(self.down_blocks, self.down_pools):
            h = block(h, temb)
            skips.append(h)
            h = pool(h)
        h = self.bottleneck(h, temb)
        for block, skip in zip(self.up_blocks, reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            if h.shape[-2:] != skip.shape[-2:]:
                factor = 2 ** (self.levels - 1)
                raise ValueError(
                    f"DiffusionUNet: input H and W must be divisible by 2^(levels-1) = {factor}; "
                    f"got {tuple(x.shape[-2:])}."
                )
            h = block(torch.cat([h, skip], dim=1), temb)
        return self.head(h)


# -- nodes --------------------------------------------------------------------------------------------


def _channel_mult(params: Mapping[str, Any]) -> list[int]:
    return int_list("DiffusionUNet", "channel_mult", params["channel_mult"])


def build_unet(params: Mapping[str, Any]) -> UNet:
    """The persisted module of a DiffusionUNet node."""
    return UNet(
        params["in_channels"],
        params["base_channels"],
        _channel_mult(params),
        params["time_emb_dim"],
        params["num_groups"],
        params["seed"],
    )


def _unet_structure(params: dict[str, Any]) -> dict[str, Any]:
    # "1,2,4" and "1, 2, 4," build the same network, so they share one persisted module.
    try:
        return {**params, "channel_mult": _channel_mult(params)}
    except ValueError:
        return params


def _use_modules(gen: Any, *extra: Any) -> None:
    use(gen, _overwrite, _zero, TimestepMLP, *extra)


def diffusion_unet_codegen(gen: Any) -> CodeFragment:
    p = gen.params
    mult = _channel_mult(p)
    check_unet_params(p["base_channels"], mult, p["num_groups"], p["time_emb_dim"])
    _use_modules(gen, ResBlock, check_unet_params, UNet)
    args = ", ".join(
        py_literal(v)
        for v in (p["in_channels"], p["base_channels"], mult, p["time_emb_dim"], p["num_groups"], p["seed"])
    )
    return gen.fragment(*seeded_module(gen, f"UNet({args})", [f"{gen.var('model')} = {{m}}"]))


@node(
    name="DiffusionUNet",
    category=CATEGORY,
    outputs=[Out("model", "MODEL", "The U-Net module: model(x, t) predicts the noise in x.")],
    params=[
        Param.int("in_channels", 3, "Image channels.", min=1),
        Param.int("base_channels", 16, "Channels after the stem.", min=1),
        Param.string("channel_mult", "1,2,4", "Width multiplier of each level (comma-separated)."),
        Param.int("time_emb_dim", 32, "Timestep embedding size (even).", min=2),
        Param.int("num_groups", 4, "GroupNorm groups; must divide every level width.", min=1),
        Param.int("seed", 42, "Seed of every initial weight."),
    ],
    stateful=StatefulSpec(build=lambda call: build_unet(call.params), normalize=_unet_structure),
    codegen=diffusion_unet_codegen,
)
def diffusion_unet(call: Any) -> dict[str, Any]:
    """A small persisted U-Net `(x, t) -> predicted noise`, fully initialised from `seed`."""
    params = call.params
    check_unet_params(
        params["base_channels"], _channel_mult(params), params["num_groups"], params["time_emb_dim"]
    )
    with seeded(call):
        model = module_for(call)
    return {"model": model}


def timestep_embedding_codegen(gen: Any) -> CodeFragment:
    p = gen.params
    if p["embed_dim"] < 2 or p["embed_dim"] % 2:
        raise ValueError(f"TimestepEmbedding: embed_dim must be even, got {p['embed_dim']}.")
    _use_modules(gen)
    t = gen.tmp("t")
    build = f"TimestepMLP({p['embed_dim']!r}, {p['max_period']!r}, {p['seed']!r})"
    return gen.fragment(
        f"{t} = {gen.input('timestep')}",
        f"{t} = {t} if isinstance({t}, torch.Tensor) else torch.as_tensor({t})",
        f"if {t}.dim() == 0:",
        f"    {t} = {t}.reshape(1)",
        *seeded_module(gen, build, [f"{gen.var('embedding')} = {{m}}({t}.to(device))"]),
    )


@node(
    name="TimestepEmbedding",
    category=CATEGORY,
    inputs=[In("timestep", "TENSOR", "Timesteps [B] (or a single number).")],
    outputs=[Out("embedding", "TENSOR", "Embeddings [B, embed_dim].")],
    params=[
        Param.int("embed_dim", 32, "Embedding size (even).", min=2),
        Param.int("max_period", 10000, "Longest sinusoid period.", min=1),
        Param.int("seed", 42, "Seed of the MLP weights."),
    ],
    stateful=StatefulSpec(
        build=lambda call: TimestepMLP(
            call.params["embed_dim"], call.params["max_period"], call.params["seed"]
        ),
        structural_params=("embed_dim", "max_period", "seed"),
    ),
    codegen=timestep_embedding_codegen,
)
def timestep_embedding(call: Any) -> dict[str, Any]:
    """Sinusoidal timestep features passed through a persisted two-layer MLP."""
    dim = call.params["embed_dim"]
    if dim < 2 or dim % 2:
        raise ValueError(f"TimestepEmbedding: embed_dim must be even, got {dim}.")
    t = call.inputs["timestep"]
    t = t if isinstance(t, torch.Tensor) else torch.as_tensor(t)
    if t.dim() == 0:
        t = t.reshape(1)
    with seeded(call):
        mlp = module_for(call)
        embedding = mlp(t.to(call.device))
    return {"embedding": embedding}


def gaussian_noise_codegen(gen: Any) -> CodeFragment:
    p = gen.params
    n, g = gen.var("noise"), gen.tmp("g")
    if gen.has_input("shape_ref"):
        ref = gen.input("shape_ref")
        shape, place = f"list({ref}.shape)", f"{ref}.device"
    else:
        dims = int_list("GaussianNoise", "shape", p["shape"])
        if not dims or any(d <= 0 for d in dims):
            raise ValueError(f"GaussianNoise: shape dims must be positive; got {dims}.")
        shape, place = py_literal(dims), "device"
    std, mean = max(p["std"], 0.0), p["mean"]
    lines = [
        f"{g} = torch.Generator().manual_seed({p['seed']!r})",
        f"{n} = torch.randn({shape}, generator={g}, dtype=torch.float32)",
    ]
    if std != 1:
        lines.append(f"{n} = {n} * {py_literal(std)}")
    if mean != 0:
        lines.append(f"{n} = {n} + {py_literal(mean)}")
    lines.append(f"{n} = {n}.to({place})")
    return gen.fragment(*lines)


@node(
    name="GaussianNoise",
    category=CATEGORY,
    inputs=[
        In("shape_ref", "TENSOR", "Copy this tensor's shape and device (optional).", optional=True)
    ],
    outputs=[Out("noise", "TENSOR")],
    params=[
        Param.string("shape", "1,3,8,8", "Shape when shape_ref is not wired (comma-separated)."),
        Param.float("mean", 0.0, "Mean of the noise."),
        Param.float("std", 1.0, "Standard deviation of the noise.", min=0),
        Param.int("seed", 42, "Seed of the noise."),
    ],
    codegen=gaussian_noise_codegen,
)
def gaussian_noise(call: Any) -> dict[str, Any]:
    """Gaussian noise $n \\sim \\mathcal{N}(mean, std^2)$ from an explicit seed."""
    ref = call.inputs.get("shape_ref")
    if ref is not None:
        shape = list(ref.shape)
    else:
        shape = int_list("GaussianNoise", "shape", call.params["shape"])
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"GaussianNoise: shape dims must be positive; got {shape}.")
    g = torch.Generator().manual_seed(call.params["seed"])
    n = torch.randn(shape, generator=g, dtype=torch.float32)
    std, mean = max(call.params["std"], 0.0), call.params["mean"]
    if std != 1:
        n = n * std
    if mean != 0:
        n = n + mean
    return {"noise": n.to(ref.device if ref is not None else call.device)}


def lerp_codegen(gen: Any) -> CodeFragment:
    use(gen, as_float32)
    a, b, alpha, out = gen.tmp("a"), gen.tmp("b"), gen.tmp("alpha"), gen.var("tensor")
    lines = [
        f"{a} = {gen.input('tensor_a')}",
        f"{a} = {a} if isinstance({a}, torch.Tensor) else as_float32({a})",
        f"{b} = {gen.input('tensor_b')}",
        f"{b} = {b} if isinstance({b}, torch.Tensor) else as_float32({b})",
    ]
    if gen.has_input("alpha"):
        lines += [
            f"{alpha} = {gen.input('alpha')}",
            f"{alpha} = ({alpha} if isinstance({alpha}, torch.Tensor) else torch.as_tensor({alpha})).to({a}.device)",
        ]
    else:
        lines.append(f"{alpha} = torch.tensor({gen.param('alpha')}, dtype={a}.dtype, device={a}.device)")
    lines.append(f"{out} = {alpha} * {a} + (1 - {alpha}) * {b}")
    return gen.fragment(*lines)


@node(
    name="Lerp",
    category=CATEGORY,
    inputs=[
        In("tensor_a", "TENSOR"),
        In("tensor_b", "TENSOR"),
        In("alpha", "TENSOR", "Per-element weights (overrides the param).", optional=True),
    ],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.float("alpha", 0.5, "Weight of tensor_a.")],
    codegen=lerp_codegen,
)
def lerp(call: Any) -> dict[str, Any]:
    """Blend two tensors: $alpha \\cdot a + (1 - alpha) \\cdot b$ (alpha weights `tensor_a`)."""
    a, b = call.inputs["tensor_a"], call.inputs["tensor_b"]
    a = a if isinstance(a, torch.Tensor) else as_float32(a)
    b = b if isinstance(b, torch.Tensor) else as_float32(b)
    if "alpha" in call.inputs:
        alpha = call.inputs["alpha"]
        alpha = alpha if isinstance(alpha, torch.Tensor) else torch.as_tensor(alpha)
        alpha = alpha.to(a.device)
    else:
        alpha = torch.tensor(call.params["alpha"], dtype=a.dtype, device=a.device)
    return {"tensor": alpha * a + (1 - alpha) * b}


def beta_schedule(kind: str, num_steps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """DDPM noise schedule as float32 betas (note 2.16)."""
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float32)
    if kind == "cosine":
        s = 0.008
        t = torch.linspace(0, num_steps, num_steps + 1, dtype=torch.float32) / num_steps
        ab = torch.cos(((t + s) / (1 + s)) * math.pi / 2) ** 2
        ab = ab / ab[0]
        return torch.clamp(1 - ab[1:] / ab[:-1], 0.0001, 0.999)
    raise ValueError(f"DDPMSampler: unknown schedule '{kind}'.")


def ddpm_sampler_codegen(gen: Any) -> CodeFragment:
    use(gen, beta_schedule)
    gen.helper("ddpm_sample", DDPM_SAMPLE)
    p = gen.params
    args = ", ".join(
        [gen.input("model"), gen.input("noise")]
        + [py_literal(p[k]) for k in ("num_steps", "schedule", "beta_start", "beta_end", "seed")]
    )
    return gen.fragment(f"{gen.var('image')} = ddpm_sample({args})")


@node(
    name="DDPMSampler",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL", "Noise predictor called as model(x, t)."),
        In("noise", "TENSOR", "Starting noise x_T."),
        In("condition", "TENSOR", "Accepted and ignored.", optional=True),
    ],
    outputs=[Out("image", "TENSOR", "The denoised sample x_0.")],
    params=[
        Param.int("num_steps", 20, "Denoising steps.", min=1),
        Param.select("schedule", "linear", ("linear", "cosine"), "Noise schedule."),
        Param.float("beta_start", 0.0001, "First beta (linear schedule).", min=0),
        Param.float("beta_end", 0.02, "Last beta (linear schedule).", min=0),
        Param.int("seed", 42, "Seed of the noise added between steps."),
    ],
    cacheable=False,
    codegen=ddpm_sampler_codegen,
)
def ddpm_sampler(call: Any) -> dict[str, Any]:
    """Run the full reverse DDPM chain from `noise`, predicting noise with `model(x, t)`."""
    model, noise = call.inputs.get("model"), call.inputs.get("noise")
    if model is None or noise is None:
        raise ValueError("DDPMSampler: both the model and the noise inputs are required.")
    if not callable(model):
        raise ValueError(f"DDPMSampler: model is not callable (got {type(model).__name__}).")
    steps = call.params["num_steps"]
    if steps < 1:
        raise ValueError(f"DDPMSampler: num_steps must be at least 1, got {steps}.")
    betas = beta_schedule(
        call.params["schedule"], steps, call.params["beta_start"], call.params["beta_end"]
    )
    x = noise.clone().float()
    betas = betas.to(x.device)
    alphas = 1 - betas
    alpha_bars = torch.cumprod(alphas, dim=0)
    g = torch.Generator().manual_seed(call.params["seed"])
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        for t in range(steps - 1, -1, -1):
            call.check_cancelled()
            timesteps = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
            eps = model(x, timesteps)
            mean = (1 / torch.sqrt(alphas[t])) * (
                x - (betas[t] / torch.sqrt(1 - alpha_bars[t])) * eps
            )
            if t > 0:
                z = torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)
                x = mean + torch.sqrt(betas[t]) * z
            else:
                x = mean
    return {"image": x}
