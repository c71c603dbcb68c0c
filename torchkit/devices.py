"""Device resolution and moves (engine.md §4.11, nodes.md N9)."""

from __future__ import annotations

import logging
import re
from typing import Any

import torch

log = logging.getLogger("nodeloom.torchkit")

_CUDA_INDEX = re.compile(r"^cuda:(\d+)$")


def _fallback(requested: str, why: str = "is not available") -> tuple[str, str]:
    return "cpu", f"device_fallback: device '{requested}' {why}; using cpu"


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(requested: Any) -> tuple[str, str | None] | None:
    """Resolve a device string per the table of engine.md §4.11.

    Returns ``(device, warning or None)``; warnings start with ``device_fallback: ``. Returns None
    for strings outside the table, so the caller can report them (``invalid_run_option``).
    """
    if requested is None:
        return "cpu", None
    name = str(requested).strip().lower()
    if name in ("", "cpu"):
        return "cpu", None
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda", None
        if mps_available():
            return "mps", None
        return "cpu", None
    if name == "mps":
        return ("mps", None) if mps_available() else _fallback(name)
    if name == "cuda":
        return ("cuda", None) if torch.cuda.is_available() else _fallback(name)
    match = _CUDA_INDEX.match(name)
    if match:
        if not torch.cuda.is_available():
            return _fallback(name)
        count = torch.cuda.device_count()
        if int(match.group(1)) >= count:
            return _fallback(name, f"does not exist ({count} CUDA device(s) available)")
        return name, None
    return None


def resolve_node_device(call: Any, requested: Any, log_lines: list[str] | None = None) -> str:
    """The device for a node-level ``device`` param (nodes.md N9).

    ``auto`` or empty follows the run device (``call.device``). An explicit value is resolved like a
    run device; an unavailable or unknown one falls back to ``cpu`` with a warning, never an error.
    The warning is logged and, when ``log_lines`` is given, appended to it so the node can return
    it in ``__log__``.
    """
    name = "" if requested is None else str(requested).strip().lower()
    if name in ("", "auto"):
        return str(call.device)
    answer = resolve_device(name)
    if answer is None:
        answer = _fallback(name, "is not a known device")
    device, warning = answer
    if warning is not None:
        text = f"{getattr(call, 'node_type', 'node')} ({getattr(call, 'node_id', '?')}): {warning}"
        log.warning(text)
        if log_lines is not None:
            log_lines.append(warning)
    return device


def _mps_safe(t: torch.Tensor) -> torch.Tensor:
    # MPS has no float64 support, so doubles are narrowed before the move (engine.md §4.11).
    return t.float() if t.dtype == torch.float64 else t


def to_device(value: Any, device: str | torch.device) -> Any:
    """Move a tensor, a module, or lists/tuples/dicts of them to ``device``; others unchanged.

    Modules are moved in place (``nn.Module.to`` semantics) and returned.
    """
    dev = torch.device(device)
    if isinstance(value, torch.Tensor):
        if dev.type == "mps":
            value = _mps_safe(value)
        return value.to(dev)
    if isinstance(value, torch.nn.Module):
        if dev.type == "mps":
            # _apply is how nn.Module.to itself converts every parameter and buffer.
            value._apply(_mps_safe)
        return value.to(dev)
    if isinstance(value, dict):
        return {k: to_device(v, dev) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # named tuples keep their type
        return type(value)(*(to_device(v, dev) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, dev) for v in value)
    return value
