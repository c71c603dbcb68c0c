"""Tensor operations (nodes.md §2.2, plus `ScalarMultiply` §3.3 and `TensorInput` §3.5)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from nodeloom.kernel import CodeFragment
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.codegen import py_literal
from nodeloom.torchkit import StepRecorder, generator, int_list, to_device

from ._codegen import simple, use

CATEGORY = "Tensor Operations"


def add_codegen(gen: Any) -> CodeFragment:
    a, b = gen.input("tensor_a"), gen.input("tensor_b")
    return simple(gen, "tensor", f"torch.add({a}, {b}, alpha={gen.param('alpha')})")


@node(
    name="Add",
    category=CATEGORY,
    inputs=[In("tensor_a", "TENSOR"), In("tensor_b", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.float("alpha", 1.0, "Multiplier of b (use -1 to subtract).")],
    codegen=add_codegen,
)
def add(call: Any) -> dict[str, Any]:
    """$a + \\alpha b$ with broadcasting: `torch.add(a, b, alpha=alpha)`."""
    a, b = call.inputs["tensor_a"], call.inputs["tensor_b"]
    return {"tensor": torch.add(a, b, alpha=call.params["alpha"])}


def mean_codegen(gen: Any) -> CodeFragment:
    x, out = gen.input("tensor"), gen.var("tensor")
    dims = int_list("Mean", "dim", gen.params["dim"])
    keepdim = gen.param("keepdim")
    if len(dims) == 1:
        return gen.fragment(f"{out} = {x}.mean(dim={dims[0]!r}, keepdim={keepdim})")
    reduce_dims = py_literal(dims) if dims else f"list(range({x}.dim()))"
    return gen.fragment(f"{out} = {x}.mean(dim={reduce_dims}, keepdim={keepdim})")


@node(
    name="Mean",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.string("dim", "-1", "Comma-separated dims to average over (empty: all)."),
        Param.bool("keepdim", False, "Keep the reduced dims with size 1."),
    ],
    codegen=mean_codegen,
)
def mean(call: Any) -> dict[str, Any]:
    """Mean over one or several dims."""
    x = call.inputs["tensor"]
    dims = int_list("Mean", "dim", call.params["dim"])
    keepdim = call.params["keepdim"]
    if len(dims) == 1:
        return {"tensor": x.mean(dim=dims[0], keepdim=keepdim)}
    # An empty list means every dim: spelled out, because torch's meaning of dim=[] has changed.
    reduce_dims = dims if dims else list(range(x.dim()))
    return {"tensor": x.mean(dim=reduce_dims, keepdim=keepdim)}


def multiply_codegen(gen: Any) -> CodeFragment:
    return simple(gen, "tensor", f"torch.mul({gen.input('tensor_a')}, {gen.input('tensor_b')})")


@node(
    name="Multiply",
    category=CATEGORY,
    inputs=[In("tensor_a", "TENSOR"), In("tensor_b", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    codegen=multiply_codegen,
)
def multiply(call: Any) -> dict[str, Any]:
    """Element-wise product with broadcasting: `torch.mul(a, b)`."""
    return {"tensor": torch.mul(call.inputs["tensor_a"], call.inputs["tensor_b"])}


def permute_codegen(gen: Any) -> CodeFragment:
    dims = int_list("Permute", "dims", gen.params["dims"])
    return simple(gen, "tensor", f"{gen.input('tensor')}.permute(*{py_literal(dims)})")


@node(
    name="Permute",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.string("dims", "0,2,1", "The new order of the dims.")],
    codegen=permute_codegen,
)
def permute(call: Any) -> dict[str, Any]:
    """Reorder dims: `x.permute(*dims)`."""
    dims = int_list("Permute", "dims", call.params["dims"])
    return {"tensor": call.inputs["tensor"].permute(*dims)}


def softmax_codegen(gen: Any) -> CodeFragment:
    return simple(gen, "tensor", f"torch.softmax({gen.input('tensor')}, {gen.param('dim')})")


@node(
    name="Softmax",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR", "Logits.")],
    outputs=[Out("tensor", "TENSOR", "Probabilities summing to 1 along dim.")],
    params=[Param.int("dim", -1, "Dim along which to normalise.")],
    codegen=softmax_codegen,
)
def softmax(call: Any) -> dict[str, Any]:
    """$\\mathrm{softmax}(x)_i = e^{x_i} / \\sum_j e^{x_j}$ along `dim`."""
    x = call.inputs["tensor"]
    dim = call.params["dim"]
    y = torch.softmax(x, dim)
    rec = StepRecorder(call)
    if rec.enabled:
        peak = x.max(dim=dim, keepdim=True).values
        shifted = x - peak
        exped = shifted.exp()
        partition = exped.sum(dim=dim, keepdim=True)
        rec.add("logits", "The input logits.", {"logits": x})
        rec.add(
            "max_subtract",
            "Subtract the maximum along dim so exp cannot overflow (the result is unchanged).",
            {"max": peak, "shifted": shifted},
        )
        rec.add("exp", "Exponentiate the shifted logits.", {"exped": exped})
        rec.add("partition", "Sum the exponentials along dim.", {"partition": partition})
        rec.add("divide", "Divide each exponential by the sum.", {"output": y})
    return rec.attach({"tensor": y})


FILLS = ("zeros", "ones", "randn", "rand", "full", "arange")
_RANDOM_FILLS = ("randn", "rand")


def create_tensor(
    shape: list[int], fill: str, value: float, gen: torch.Generator | None
) -> torch.Tensor:
    """The CPU float32 tensor of ``TensorCreate`` (``gen`` is used by the random fills)."""
    if fill == "zeros":
        return torch.zeros(shape, dtype=torch.float32)
    if fill == "ones":
        return torch.ones(shape, dtype=torch.float32)
    if fill == "randn":
        return torch.randn(shape, generator=gen, dtype=torch.float32)
    if fill == "rand":
        return torch.rand(shape, generator=gen, dtype=torch.float32)
    if fill == "full":
        return torch.full(shape, float(value), dtype=torch.float32)
    if fill == "arange":
        return torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    raise ValueError(f"TensorCreate: unknown fill '{fill}'")


def _random_fill(params: Mapping[str, Any]) -> bool:
    return params.get("fill") in _RANDOM_FILLS


def tensor_create_codegen(gen: Any) -> CodeFragment:
    p = gen.params
    shape = int_list("TensorCreate", "shape", p["shape"])
    use(gen, create_tensor)
    out, lines = gen.var("tensor"), []
    gen_expr = "None"
    if p["fill"] in _RANDOM_FILLS:
        gen_expr = gen.tmp("g")
        lines.append(f"{gen_expr} = torch.Generator(device='cpu').manual_seed({gen.seed_expr})")
    args = f"{py_literal(shape)}, {p['fill']!r}, {py_literal(p['value'])}, {gen_expr}"
    lines.append(f"{out} = to_device(create_tensor({args}), device)")
    if p["requires_grad"]:
        lines.append(f"{out}.requires_grad_(True)")
    return gen.fragment(*lines)


@node(
    name="TensorCreate",
    category=CATEGORY,
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.string("shape", "1,3,224,224", "Comma-separated shape."),
        Param.select("fill", "zeros", FILLS, "How to fill the tensor."),
        Param.float("value", 0.0, "Fill value for `full`."),
        Param.bool("requires_grad", False, "Mark the tensor as requiring gradients."),
    ],
    random=_random_fill,
    cacheable=lambda params: not _random_fill(params),
    codegen=tensor_create_codegen,
)
def tensor_create(call: Any) -> dict[str, Any]:
    """Create a float32 tensor of the given shape (random fills draw from the node seed)."""
    p = call.params
    shape = int_list("TensorCreate", "shape", p["shape"])
    gen = generator(call) if p["fill"] in _RANDOM_FILLS else None
    t = to_device(create_tensor(shape, p["fill"], p["value"], gen), call.device)
    if p["requires_grad"]:
        t.requires_grad_(True)
    return {"tensor": t}


def unsqueeze_codegen(gen: Any) -> CodeFragment:
    return simple(gen, "tensor", f"{gen.input('tensor')}.unsqueeze({gen.param('dim')})")


@node(
    name="Unsqueeze",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.int("dim", 0, "Where to insert the new size-1 dim.")],
    codegen=unsqueeze_codegen,
)
def unsqueeze(call: Any) -> dict[str, Any]:
    """Insert a size-1 dim: `x.unsqueeze(dim)`."""
    return {"tensor": call.inputs["tensor"].unsqueeze(call.params["dim"])}


def scalar_multiply_codegen(gen: Any) -> CodeFragment:
    return simple(gen, "tensor", f"{gen.input('tensor')} * {gen.param('scalar')}")


@node(
    name="ScalarMultiply",
    category=CATEGORY,
    inputs=[In("tensor", "TENSOR")],
    outputs=[Out("tensor", "TENSOR")],
    params=[Param.float("scalar", 1.0, "The factor.")],
    codegen=scalar_multiply_codegen,
)
def scalar_multiply(call: Any) -> dict[str, Any]:
    """Multiply every element by a scalar."""
    return {"tensor": call.inputs["tensor"] * call.params["scalar"]}


# -- TensorInput (category Data, nodes.md §3.5) -------------------------------------------------

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}
VALUE_MODES = ("explicit", "random", "zeros", "ones", "arange")


def _flatten(values: Any) -> list[Any]:
    if isinstance(values, (list, tuple)):
        return [item for v in values for item in _flatten(v)]
    return [values]


def input_tensor(
    shape: list[int], dtype_name: str, mode: str, values: Any, seed: Any
) -> torch.Tensor:
    """The CPU tensor of ``TensorInput`` for its params."""
    if not shape:
        raise ValueError("shape must have at least one dimension")
    dtype = DTYPES[dtype_name]
    numel = math.prod(shape)
    if mode == "explicit":
        if values is None:
            raise ValueError("values are required when value_mode is 'explicit'")
        flat = _flatten(values)
        if len(flat) != numel:
            raise ValueError(f"values has {len(flat)} elements but shape {shape} requires {numel}")
        if dtype == torch.bool:
            flat = [bool(v) for v in flat]
        return torch.tensor(flat, dtype=dtype).reshape(shape)
    if mode == "random":
        gen = torch.Generator(device="cpu").manual_seed(int(seed or 0))
        if dtype.is_floating_point:
            return torch.randn(*shape, generator=gen, dtype=dtype)
        if dtype == torch.bool:
            return torch.randint(0, 2, shape, generator=gen).bool()
        return torch.randint(0, 10, shape, generator=gen, dtype=dtype)
    if mode == "zeros":
        return torch.zeros(shape, dtype=dtype)
    if mode == "ones":
        return torch.ones(shape, dtype=dtype)
    if mode == "arange":
        return torch.arange(numel, dtype=dtype).reshape(shape)
    raise ValueError(f"TensorInput: unknown value_mode '{mode}'")


def _dtypes_source() -> str:
    items = ", ".join(f"{name!r}: {dtype}" for name, dtype in DTYPES.items())
    return f"DTYPES = {{{items}}}\n"


def tensor_input_codegen(gen: Any) -> CodeFragment:
    p = gen.params
    shape = int_list("TensorInput", "shape", p["shape"])
    gen.helper("DTYPES", _dtypes_source())
    use(gen, _flatten, input_tensor)
    args = ", ".join(
        py_literal(v) for v in (shape, p["dtype"], p["value_mode"], p.get("values"), p.get("seed"))
    )
    return simple(gen, "tensor", f"to_device(input_tensor({args}), device)")


@node(
    name="TensorInput",
    category="Data",
    outputs=[Out("tensor", "TENSOR")],
    params=[
        Param.string("shape", "1,4,4", "Comma-separated shape."),
        Param.select("dtype", "float32", tuple(DTYPES), "Element type."),
        Param.select("value_mode", "random", VALUE_MODES, "How the values are produced."),
        Param.tensor_grid("values", None, "Values for `explicit` mode."),
        Param.int("seed", 0, "Seed of the `random` mode."),
    ],
    codegen=tensor_input_codegen,
)
def tensor_input(call: Any) -> dict[str, Any]:
    """A tensor typed in by hand, or random/zeros/ones/arange of a given shape and dtype."""
    p = call.params
    shape = int_list("TensorInput", "shape", p["shape"])
    t = input_tensor(shape, p["dtype"], p["value_mode"], p.get("values"), p.get("seed"))
    t = to_device(t, call.device)
    # In backward mode the input is a gradient target (engine.md §4.15).
    if call.options.get("backward_mode") and t.is_floating_point():
        t.requires_grad_(True)
    return {"tensor": t}
