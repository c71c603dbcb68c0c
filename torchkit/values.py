"""Small value helpers shared by node bodies: loose conversions and integer-list params."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def as_float32(x: Any) -> torch.Tensor:
    """nodes.md N6: a tensor via ``.float()``, others via ``torch.as_tensor(x, dtype=float32)``."""
    if isinstance(x, torch.Tensor):
        return x.float()
    return torch.as_tensor(x, dtype=torch.float32)


def int_list(node: str, param: str, raw: Any) -> list[int]:
    """Parse a comma-separated integer param (nodes.md N1).

    Empty items are dropped and negative values allowed. Ints and int sequences are accepted as
    they are, because graphs written by hand sometimes store ``512`` instead of ``"512"``.
    """
    if isinstance(raw, bool):
        raise ValueError(_n1_message(node, param, raw))
    if isinstance(raw, int):
        return [raw]
    items: Iterable[Any]
    if isinstance(raw, str):
        items = (part.strip() for part in raw.split(","))
    elif isinstance(raw, (list, tuple)):
        items = (str(part).strip() for part in raw)
    else:
        raise ValueError(_n1_message(node, param, raw))
    out: list[int] = []
    for item in items:
        if item == "":
            continue
        try:
            out.append(int(item))
        except ValueError:
            raise ValueError(_n1_message(node, param, raw)) from None
    return out


def _n1_message(node: str, param: str, raw: Any) -> str:
    return f"{node}: parameter '{param}' must be comma-separated integers, got '{raw}'"


def is_floating(x: Any) -> bool:
    """Whether ``x`` is a floating-point (or complex) tensor, i.e. one that can carry gradients."""
    return isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex())


def value_nbytes(value: Any) -> int | None:
    """Bytes held by tensors, modules and numpy arrays inside ``value``; None if it holds none.

    Tensor storage is counted once per storage, so views and shared weights are not double
    counted; that is what an output cache actually keeps alive.
    """
    seen: set[tuple[str, int]] = set()
    found = False

    def tensor_bytes(t: torch.Tensor) -> int:
        try:
            storage = t.untyped_storage()
            key = (str(t.device), storage.data_ptr())
            if storage.data_ptr() != 0 and key in seen:
                return 0
            seen.add(key)
            return int(storage.nbytes())
        except (RuntimeError, NotImplementedError):  # sparse, nested or meta tensors
            return int(t.numel() * t.element_size())

    def walk(v: Any, depth: int) -> int:
        nonlocal found
        if depth > 32:  # self-referencing containers
            return 0
        if isinstance(v, torch.Tensor):
            found = True
            return tensor_bytes(v)
        if isinstance(v, torch.nn.Module):
            found = True
            tensors = list(v.parameters()) + list(v.buffers())
            return sum(tensor_bytes(t) for t in tensors)
        if isinstance(v, dict):
            return sum(walk(item, depth + 1) for item in v.values())
        if isinstance(v, (list, tuple)):
            return sum(walk(item, depth + 1) for item in v)
        nbytes = getattr(v, "nbytes", None)
        if type(v).__module__ == "numpy" and isinstance(nbytes, int):
            found = True
            return nbytes
        return 0

    total = walk(value, 0)
    return total if found else None
