"""Param value checking and normalisation (engine.md §2.3, validation rules 4.x)."""

from __future__ import annotations

import json
import math
from typing import Any

PARAM_TYPES = (
    "int",
    "float",
    "string",
    "bool",
    "select",
    "model_file",
    "image_file",
    "tensor_grid",
    "secret",
    "upload",
)

STRING_LIKE = frozenset({"string", "select", "model_file", "image_file", "secret", "upload"})


def render_value(value: Any) -> str:
    """A value as validation messages print it: JSON, falling back to repr."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_grid(value: Any) -> bool:
    if _is_number(value):
        return True
    if isinstance(value, list):
        return all(_is_grid(item) for item in value)
    return False


def type_accepts(param_type: str, value: Any) -> bool:
    """Whether ``value`` is an acceptable JSON value for ``param_type`` (bounds and options aside)."""
    if param_type == "int":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        return isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if param_type == "float":
        return _is_number(value)
    if param_type == "bool":
        return isinstance(value, bool)
    if param_type in STRING_LIKE:
        return isinstance(value, str)
    if param_type == "tensor_grid":
        return value is None or (isinstance(value, list) and _is_grid(value))
    return False


def check_value(spec: Any, value: Any) -> tuple[str, dict[str, Any]] | None:
    """Check one param value against its ParamSpec.

    Returns ``None`` when the value is fine, else ``(code, details)`` where code is one of
    ``param_type``, ``param_below_min``, ``param_above_max``, ``param_not_in_options``. A value of
    the wrong type is reported by type alone: bounds are never compared with it.
    """
    if not type_accepts(spec.param_type, value):
        return "param_type", {}
    if spec.param_type in ("int", "float"):
        if spec.min_value is not None and value < spec.min_value:
            return "param_below_min", {"min": float(spec.min_value)}
        if spec.max_value is not None and value > spec.max_value:
            return "param_above_max", {"max": float(spec.max_value)}
    if spec.param_type == "select" and spec.options and value not in spec.options:
        return "param_not_in_options", {"options": list(spec.options)}
    return None


def describe_problem(spec: Any, value: Any, code: str, details: dict[str, Any], where: str) -> str:
    """The message of validation rules 4.1 to 4.4; ``where`` is e.g. ``on node n1 (Linear)``."""
    shown = render_value(value)
    head = f"Parameter '{spec.name}' {where}"
    if code == "param_type":
        return f"{head}: expected {spec.param_type}, got {shown}"
    if code == "param_below_min":
        return f"{head}: value {shown} is below minimum {details['min']}"
    if code == "param_above_max":
        return f"{head}: value {shown} is above maximum {details['max']}"
    return f"{head}: {shown} is not one of {details['options']}"


def normalize(param_type: str, value: Any) -> Any:
    """Convert an already-checked value to the Python type the node receives."""
    if param_type == "int" and isinstance(value, float):
        return int(value)
    if param_type == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
