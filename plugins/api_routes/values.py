"""Node output values as JSON: WebSocket summaries (api.md §4.6) and REST bodies (§4.7).

Everything here is plain, synchronous and may be slow for large tensors: callers run it in a
worker thread (``asyncio.to_thread``), never on the event loop.

Tensors are recognised without importing torch or numpy: if a library is not imported yet, no
value can be one of its objects, so a server that never ran a torch node never pays the import.
Statistics and values are computed on NumPy arrays (a CPU tensor converts without copying).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeloom.kernel.paths import PathError, check_relpath

#: Cut-offs of §4.6 (summaries) and §4.7 (REST).
SUMMARY_TEXT = 200
SUMMARY_VALUES = 256
SUMMARY_DIGITS = 4
REST_TEXT = 4000
REST_LIST_VALUES = 1024
REST_DIGITS = 6
#: node_status ``image`` (§3.4).
IMAGE_MIN_CHARS = 200
IMAGE_PREFIX_CHARS = 20
IMAGE_MAX_CHARS = 8 * 1024 * 1024

_FLOAT_KINDS = "f"
_INT_KINDS = "iu"
_NUMERIC_KINDS = "fiubc"


# -- recognising values ---------------------------------------------------------------------------


def _torch() -> Any:
    return sys.modules.get("torch")


def _numpy() -> Any:
    return sys.modules.get("numpy")


def is_torch_tensor(value: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor)


def is_ndarray(value: Any) -> bool:
    np = _numpy()
    return np is not None and isinstance(value, np.ndarray)


def is_tensor(value: Any) -> bool:
    """A torch tensor or a NumPy array (both are ``tensor`` on the wire)."""
    return is_torch_tensor(value) or is_ndarray(value)


def is_module(value: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(value, torch.nn.Module)


def _numpy_scalar(value: Any) -> Any:
    """The Python scalar of a NumPy number or bool, else None."""
    np = _numpy()
    if np is not None and isinstance(value, np.generic) and value.dtype.kind in "fiub":
        return value.item()
    return None


def as_scalar(value: Any) -> bool | int | float | None:
    """``value`` as a Python bool/int/float when it is one (NumPy scalars included), else None."""
    if isinstance(value, (bool, int, float)):
        return value
    return _numpy_scalar(value)


def kind_of(value: Any) -> str:
    """The ``type`` of a value on the wire: tensor, model, scalar, string, list or a type name."""
    if is_tensor(value):
        return "tensor"
    if is_module(value):
        return "model"
    if as_scalar(value) is not None:
        return "scalar"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def dtype_name(value: Any) -> str:
    """``torch.float32`` for tensors, ``numpy.float32`` for arrays."""
    if is_torch_tensor(value):
        return str(value.dtype)
    return f"numpy.{value.dtype.name}"


def shape_of(value: Any) -> list[int]:
    return [int(d) for d in value.shape]


# -- numbers ---------------------------------------------------------------------------------------


def round_sig(value: float, digits: int) -> float | None:
    """``value`` rounded to ``digits`` significant digits; None when not finite."""
    if not math.isfinite(value):
        return None
    return float(format(value, f".{digits}g"))


def nonfinite_label(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def scalar_body(value: bool | int | float, digits: int | None) -> dict[str, Any]:
    """``{"type":"scalar","value"}``; floats rounded to ``digits`` (None: full precision)."""
    body: dict[str, Any] = {"type": "scalar"}
    if isinstance(value, float) and not math.isfinite(value):
        body["value"] = None
        body["nonfinite"] = nonfinite_label(value)
    elif isinstance(value, float) and digits is not None:
        body["value"] = round_sig(value, digits)
    else:
        body["value"] = value
    return body


# -- tensors as NumPy arrays -------------------------------------------------------------------------


def to_numpy(value: Any) -> Any:
    """A tensor or array as a CPU NumPy array holding the same values.

    bfloat16 becomes float32 and complex32 complex64 (NumPy has neither); quantized tensors are
    dequantized. A CPU tensor shares its memory with the result.
    """
    if not is_torch_tensor(value):
        return value
    torch = _torch()
    t = value.detach()
    if t.is_quantized:
        t = t.dequantize()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    elif t.dtype == getattr(torch, "complex32", None):
        t = t.to(torch.complex64)
    t = t.resolve_conj().resolve_neg()
    try:
        return t.numpy()
    except TypeError:  # a dtype NumPy cannot hold (float8 variants, ...): widen it
        return t.float().numpy()


def array_stats(arr: Any, digits: int) -> dict[str, Any]:
    """§4.6/§4.7 statistics of a NumPy array.

    Floating: ``min``/``max``/``mean`` over the finite elements (null if none), ``nan_count`` and
    ``inf_count``. Integer and bool: integer ``min``/``max``. Empty, complex and non-numeric
    arrays: none.
    """
    np = _numpy()
    kind = arr.dtype.kind
    if arr.size == 0 or kind not in "fiub":
        return {}
    if kind == "b":
        return {"min": int(arr.min()), "max": int(arr.max())}
    if kind in _INT_KINDS:
        return {"min": int(arr.min()), "max": int(arr.max())}
    finite_mask = np.isfinite(arr)
    nan_count = int(np.isnan(arr).sum())
    inf_count = int(arr.size - nan_count - int(finite_mask.sum()))
    finite = arr if nan_count == 0 and inf_count == 0 else arr[finite_mask]
    if finite.size == 0:
        low = high = mean = None
    else:
        low = round_sig(float(finite.min()), digits)
        high = round_sig(float(finite.max()), digits)
        # float64 accumulation: a float16 sum overflows long before the mean does
        mean = round_sig(float(finite.mean(dtype=np.float64)), digits)
    return {"min": low, "max": high, "mean": mean, "nan_count": nan_count, "inf_count": inf_count}


def array_values(arr: Any) -> Any:
    """Nested lists (a bare number for 0-d) of Python floats/ints/bools; non-finite -> None.

    Complex elements become ``[real, imag]`` pairs.
    """
    np = _numpy()
    kind = arr.dtype.kind
    if kind == "c":
        arr = np.stack([arr.real, arr.imag], axis=-1)
        kind = arr.dtype.kind
    if kind == _FLOAT_KINDS:
        finite = np.isfinite(arr)
        if not finite.all():
            # An object array can hold None next to the floats, element-wise and without a loop.
            boxed = arr.astype(object)
            boxed[~finite] = None
            return boxed.tolist()
        return arr.tolist()
    if kind in "iub":
        return arr.tolist()
    return jsonable(arr.tolist())


def tensor_summary(value: Any) -> dict[str, Any]:
    """The §4.6 summary of a tensor or array."""
    body: dict[str, Any] = {"type": "tensor", "shape": shape_of(value), "dtype": dtype_name(value)}
    try:
        arr = to_numpy(value)
        if arr.dtype.kind not in _NUMERIC_KINDS:
            return body
        body.update(array_stats(arr, SUMMARY_DIGITS))
        if arr.size <= SUMMARY_VALUES:
            body["values"] = array_values(arr)
    except Exception:  # a tensor whose data cannot be read (meta, exotic layouts): shape only
        pass
    return body


# -- models ------------------------------------------------------------------------------------------


def module_counts(module: Any) -> tuple[int, int]:
    """``(parameters, trainable parameters)`` of a torch module."""
    total = trainable = 0
    for param in module.parameters():
        n = int(param.numel())
        total += n
        if param.requires_grad:
            trainable += n
    return total, trainable


def model_body(module: Any) -> dict[str, Any]:
    total, trainable = module_counts(module)
    return {"type": "model", "class": type(module).__name__, "params": total, "trainable": trainable}


# -- text and containers -------------------------------------------------------------------------------


def bounded_repr(value: Any, limit: int) -> str:
    """``repr(value)[:limit]``, without building the whole repr of a huge container.

    Lists, tuples and dicts are rendered item by item (exactly as ``repr`` does) until the text
    is long enough; a list of ten thousand tensors would otherwise take seconds to print.
    """
    parts: list[str] = []
    size = 0

    def emit(text: str) -> bool:
        nonlocal size
        parts.append(text)
        size += len(text)
        return size < limit

    def walk(item: Any, depth: int) -> bool:
        if depth > 32:
            return emit("...")
        if type(item) in (list, tuple):
            is_tuple = type(item) is tuple
            if not emit("(" if is_tuple else "["):
                return False
            for i, element in enumerate(item):
                if i and not emit(", "):
                    return False
                if not walk(element, depth + 1):
                    return False
            if is_tuple and len(item) == 1 and not emit(","):
                return False
            return emit(")" if is_tuple else "]")
        if type(item) is dict:
            if not emit("{"):
                return False
            for i, (key, element) in enumerate(item.items()):
                if i and not emit(", "):
                    return False
                if not walk(key, depth + 1) or not emit(": ") or not walk(element, depth + 1):
                    return False
            return emit("}")
        try:
            text = repr(item)
        except Exception as exc:  # a broken __repr__ must not break the summary
            text = f"<{type(item).__name__} object (repr failed: {type(exc).__name__})>"
        return emit(text)

    walk(value, 0)
    return "".join(parts)[:limit]


def _plain_item(item: Any) -> tuple[bool, Any]:
    """(ok, JSON value) for a list item allowed in ``values``: string, number, bool or null."""
    if item is None or isinstance(item, str):
        return True, item
    scalar = as_scalar(item)
    if scalar is None:
        return False, None
    if isinstance(scalar, float) and not math.isfinite(scalar):
        return True, None
    return True, scalar


def _number_pair(item: Any) -> list[Any] | None:
    if not isinstance(item, (list, tuple)) or len(item) != 2:
        return None
    out = []
    for element in item:
        scalar = as_scalar(element)
        if scalar is None or isinstance(scalar, bool):
            return None
        out.append(None if isinstance(scalar, float) and not math.isfinite(scalar) else scalar)
    return out


def list_values(items: list[Any] | tuple[Any, ...], max_length: int) -> list[Any] | None:
    """§4.6 ``values`` of a list: every item plain, or every item a pair of numbers; else None."""
    if len(items) > max_length:
        return None
    plain: list[Any] = []
    for item in items:
        ok, value = _plain_item(item)
        if not ok:
            break
        plain.append(value)
    else:
        return plain
    pairs: list[Any] = []
    for item in items:
        pair = _number_pair(item)
        if pair is None:
            return None
        pairs.append(pair)
    return pairs


def list_body(items: list[Any] | tuple[Any, ...], text_limit: int, values_limit: int) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "list", "length": len(items), "repr": bounded_repr(items, text_limit)}
    values = list_values(items, values_limit)
    if values is not None:
        body["values"] = values
    return body


def models_download_path(text: str, models_dir: Path | None) -> str | None:
    """The relpath under ``models/`` when ``text`` names an existing file there, else None.

    Absolute paths must resolve inside the models folder; relative ones are taken relative to it
    (a leading ``models/`` is accepted too, as nodes often report data-dir relative paths).
    """
    if models_dir is None or not text or len(text) > 4096 or "\x00" in text:
        return None
    try:
        root = models_dir.resolve()
        candidate = Path(text)
        if candidate.is_absolute():
            targets = [candidate]
        else:
            targets = [root / text]
            if text.startswith("models/"):
                targets.append(root / text[len("models/") :])
        for target in targets:
            resolved = target.resolve()
            if root not in resolved.parents or not resolved.is_file():
                continue
            relpath = resolved.relative_to(root).as_posix()
            try:
                return check_relpath(relpath)
            except PathError:  # e.g. a hidden segment: not addressable through the API
                return None
    except (OSError, ValueError, RuntimeError):
        return None
    return None


# -- §4.6 summaries ---------------------------------------------------------------------------------


def summarize_value(value: Any, models_dir: Path | None = None) -> dict[str, Any]:
    """The §4.6 summary of one output value."""
    if is_tensor(value):
        return tensor_summary(value)
    if is_module(value):
        try:
            return model_body(value)
        except Exception:
            return {"type": "model", "class": type(value).__name__, "params": 0, "trainable": 0}
    scalar = as_scalar(value)
    if scalar is not None:
        return scalar_body(scalar, SUMMARY_DIGITS)
    if isinstance(value, str):
        body: dict[str, Any] = {"type": "string", "value": value[:SUMMARY_TEXT]}
        download = models_download_path(value, models_dir)
        if download is not None:
            body["download_path"] = download
        return body
    if isinstance(value, (list, tuple)):
        return list_body(value, SUMMARY_TEXT, SUMMARY_VALUES)
    return {"type": type(value).__name__, "repr": bounded_repr(value, SUMMARY_TEXT)}


def visible_ports(outputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Output ports whose name does not start with ``__``, in port order."""
    return [(port, value) for port, value in outputs.items() if not str(port).startswith("__")]


def summarize_outputs(outputs: Mapping[str, Any], models_dir: Path | None = None) -> dict[str, Any]:
    """``output_summary``: port -> summary for every visible port (empty when there are none)."""
    return {str(port): summarize_value(value, models_dir) for port, value in visible_ports(outputs)}


def _looks_like_image(value: Any) -> bool:
    if not isinstance(value, str) or len(value) <= IMAGE_MIN_CHARS or len(value) > IMAGE_MAX_CHARS:
        return False
    head = value[:IMAGE_PREFIX_CHARS]
    return head.isascii() and head.isalnum()


def find_image(outputs: Mapping[str, Any]) -> str | None:
    """The ``image`` extra: the first visible output that looks like raw base64 image data.

    Strings over 8 MiB never qualify (they are not sent).
    """
    for _port, value in visible_ports(outputs):
        if _looks_like_image(value):
            return value
    return None


def needs_thread(outputs: Mapping[str, Any]) -> bool:
    """Whether summarising ``outputs`` may be slow or touch the disk (then it runs off the loop)."""
    for _port, value in visible_ports(outputs):
        if value is None or isinstance(value, (bool, int, float)):
            continue
        return True
    return False


# -- §4.7 REST bodies (non-tensor values; tensors are in .slices) -------------------------------------


def rest_body(value: Any) -> dict[str, Any]:
    """The §4.7 body of a value that is not a tensor (tensors need a slice: see ``slices``)."""
    if is_module(value):
        body = model_body(value)
        body["repr"] = bounded_repr(value, REST_TEXT)
        return body
    scalar = as_scalar(value)
    if scalar is not None:
        return scalar_body(scalar, None)
    if isinstance(value, str):
        return {"type": "string", "value": value[:REST_TEXT], "length": len(value)}
    if isinstance(value, (list, tuple)):
        return list_body(value, REST_TEXT, REST_LIST_VALUES)
    return {"type": type(value).__name__, "repr": bounded_repr(value, REST_TEXT)}


# -- JSON safety -----------------------------------------------------------------------------------------


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` made JSON-safe: non-finite floats -> None, NumPy/torch scalars -> Python numbers,
    small tensors -> lists, other objects -> their (bounded) repr.

    Used for what nodes report freely (progress payloads, step-trace scalars).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > 32:
        return None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    scalar = _numpy_scalar(value)
    if scalar is not None:
        return jsonable(scalar, depth + 1)
    if is_tensor(value):
        try:
            if int(math.prod(value.shape)) <= SUMMARY_VALUES:
                return array_values(to_numpy(value))
        except Exception:
            pass
        return tensor_summary(value)
    return bounded_repr(value, SUMMARY_TEXT)

