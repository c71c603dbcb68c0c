"""Run extensions: framework behaviour plugged into every run (the kernel never imports torch).

Plugins register objects through the ``register_run_extensions`` hook. Every method is optional;
the engine calls those an extension has, in registration order.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunExtension(Protocol):
    """Documentation of the optional methods (an extension need not implement all of them).

    ``resolve_device(requested) -> (device, warning or None) | None``
        Resolve a run device string (already trimmed and lower-cased). Return None to pass.
        Without any extension answering, ``cpu`` is used and anything else falls back to it.

    ``node_context(call, run) -> context manager | None``
        Entered in the worker thread around each node body (e.g. grad mode).

    ``value_nbytes(value) -> int | None``
        Bytes a value holds, for the output cache's byte budget.

    ``before_run(run)`` / ``after_node(run, node_id, result)`` / ``after_run(run) -> list[str]``
        Hooks around the run; ``after_run`` returns warnings for the terminal event
        (e.g. ``backward_failed: ...``). ``run`` is a :class:`nodeloom.kernel.engine.RunContext`.
    """


def call_optional(ext: Any, method: str, *args: Any) -> Any:
    fn = getattr(ext, method, None)
    return fn(*args) if callable(fn) else None


def resolve_device(extensions: list[Any], requested: str) -> tuple[str, str | None]:
    """Resolve ``requested`` through the extensions; ``cpu`` needs none."""
    for ext in extensions:
        answer = call_optional(ext, "resolve_device", requested)
        if answer is not None:
            return answer
    if requested in ("", "cpu", "auto"):
        return "cpu", None
    return "cpu", f"device_fallback: device '{requested}' is not available; using cpu"


def node_contexts(extensions: list[Any], call: Any, run: Any) -> list[AbstractContextManager]:
    out = []
    for ext in extensions:
        cm = call_optional(ext, "node_context", call, run)
        if cm is not None:
            out.append(cm)
    return out


def value_nbytes(extensions: list[Any], value: Any) -> int:
    for ext in extensions:
        n = call_optional(ext, "value_nbytes", value)
        if n is not None:
            return int(n)
    return 0


def mapping_nbytes(extensions: list[Any], result: Mapping[str, Any]) -> int:
    return sum(value_nbytes(extensions, v) for v in result.values())
