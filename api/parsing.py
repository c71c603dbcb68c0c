"""Strict request parsing (api.md §1.3) and the JSON encoding of responses (§1.1).

Routes read bodies with :func:`read_json_object`; the typed field readers live in
:mod:`nodeloom.api.fields` and are re-exported here. Responses are encoded by
:class:`FiniteJSONProvider`, which never writes NaN or Infinity.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
from quart.json.provider import DefaultJSONProvider
from quart import request

from nodeloom.api.fields import (
    REQUIRED,
    Fields,
    FormFields,
    Loc,
    Problem,
    QueryFields,
    invalid,
    validation_error,
)

__all__ = [
    "REQUIRED",
    "FiniteJSONProvider",
    "Fields",
    "FormFields",
    "Loc",
    "Problem",
    "QueryFields",
    "finite",
    "invalid",
    "parse_json",
    "parse_json_object",
    "read_json_object",
    "require_multipart",
    "validation_error",
]

# Bodies above this size are parsed in a worker thread so the event loop keeps serving.
_THREAD_PARSE_BYTES = 256 * 1024
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


# ---------------------------------------------------------------------------- response encoding


def finite(value: Any) -> Any:
    """``value`` with NaN and ±Infinity replaced by None, recursively (JSON never carries them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if attrs.has(type(value)):
        return finite(attrs.asdict(value))
    if isinstance(value, (set, frozenset)):
        return finite(sorted(value, key=repr))
    return finite(DefaultJSONProvider.default(value))


class FiniteJSONProvider(DefaultJSONProvider):
    """Quart's JSON provider with nodeloom's rules: no NaN/Infinity, non-ASCII kept, keys in order."""

    ensure_ascii = False
    sort_keys = False
    compact = True
    default = staticmethod(_default)  # type: ignore[assignment]

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(finite(obj), **kwargs)


# ---------------------------------------------------------------------------- JSON bodies


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON token {name}")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def parse_json(data: bytes) -> Any:
    """Parse a request body strictly; raises a 422 ``json_invalid`` ApiError."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except UnicodeDecodeError:
        raise invalid(("body",), "Invalid JSON: the body is not UTF-8", "json_invalid") from None
    except json.JSONDecodeError as exc:
        message = f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise invalid(("body",), message, "json_invalid") from None
    except (ValueError, RecursionError) as exc:
        raise invalid(("body",), f"Invalid JSON: {exc or 'nested too deeply'}", "json_invalid") from None
    # Lone surrogate escapes decode to strings that cannot be written as UTF-8 later on.
    try:
        lone = _SURROGATE_ESCAPE.search(data) is not None and _has_lone_surrogate(value)
    except RecursionError:
        lone = True
    if lone:
        raise invalid(("body",), "Invalid JSON: unpaired surrogate escape", "json_invalid")
    return value


def parse_json_object(data: bytes) -> dict[str, Any]:
    """A body that must be a JSON object (§1.3 body root)."""
    if not data.strip():
        raise invalid(("body",), "Invalid JSON: the body is empty", "json_invalid")
    value = parse_json(data)
    if not isinstance(value, dict):
        raise invalid(("body",), "Expected a JSON object", "wrong_type")
    return value


async def read_json_object() -> dict[str, Any]:
    """Read and parse the current request's body as a JSON object.

    The ``Content-Type`` is not checked, except that multipart is refused (§1.3). Oversized bodies
    raise 413 through the body limit of the route (see :func:`nodeloom.api.guards.body_limit`).
    """
    if request.mimetype == "multipart/form-data":
        raise invalid(("body",), "Expected a JSON object", "wrong_type")
    data = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    if len(data) > _THREAD_PARSE_BYTES:
        return await asyncio.to_thread(parse_json_object, data)
    return parse_json_object(data)


def require_multipart() -> None:
    """Upload routes accept only multipart/form-data (§1.3)."""
    if request.mimetype != "multipart/form-data":
        raise invalid(("body",), "Expected multipart/form-data", "wrong_type")
