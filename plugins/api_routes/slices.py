"""Tensor slices, the REST tensor body and the ``.npy`` format (api.md §2.10.3, §4.7, §4.8).

Slicing uses basic indexing only, so the slice of a stored tensor is a view: nothing is copied
until the (capped) result is converted. Like :mod:`.values`, the functions here may be slow and
run in worker threads.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from typing import Any

import attrs

from .values import REST_DIGITS, array_stats, array_values, dtype_name, is_torch_tensor, shape_of, to_numpy

#: A whole dimension (``""`` or ``:``).
WHOLE = slice(None)
NPY_CHUNK_BYTES = 1 << 20

_INT = re.compile(r"^-?[0-9]+$")

Piece = int | slice


class SliceError(ValueError):
    """A malformed slice or one that does not fit the tensor; ``str()`` is the reason."""


@attrs.frozen
class TooLarge(Exception):
    """More elements after slicing than ``max_elements`` allows (413 ``output_too_large``)."""

    shape: list[int]
    full_shape: list[int]
    numel: int
    max_elements: int


def _field(text: str, piece: str) -> int | None:
    text = text.strip()
    if text == "":
        return None
    if not _INT.match(text):
        raise SliceError(f"bad slice piece '{piece}'")
    return int(text)


def parse_slice(text: str) -> list[Piece]:
    """The pieces of a §4.8 slice string; ``""`` gives no pieces (no slicing)."""
    if text == "":
        return []
    pieces: list[Piece] = []
    for raw in text.split(","):
        piece = raw.strip()
        if piece in ("", ":"):
            pieces.append(WHOLE)
        elif ":" in piece:
            fields = piece.split(":")
            if len(fields) > 3:
                raise SliceError(f"bad slice piece '{piece}'")
            start, stop = _field(fields[0], piece), _field(fields[1], piece)
            step = _field(fields[2], piece) if len(fields) == 3 else None
            if step is not None and step <= 0:
                raise SliceError(f"step must be a positive integer in '{piece}'")
            pieces.append(slice(start, stop, step))
        elif _INT.match(piece):
            pieces.append(int(piece))
        else:
            raise SliceError(f"bad index '{piece}'")
    return pieces


def _bounded(pieces: list[Piece], shape: list[int]) -> tuple[Piece, ...]:
    """Check the pieces against ``shape`` and clamp ranges (so huge bounds never reach torch)."""
    if len(pieces) > len(shape):
        raise SliceError(
            f"too many indices: the tensor has {len(shape)} dimension(s) but the slice has {len(pieces)}"
        )
    out: list[Piece] = []
    for dim, (piece, size) in enumerate(zip(pieces, shape)):
        if isinstance(piece, int):
            if not -size <= piece < size:
                raise SliceError(f"index {piece} is out of bounds for dimension {dim} with size {size}")
            out.append(piece % size)
        else:
            start, stop, step = piece.indices(size)
            # A step beyond the size selects one element either way; torch rejects huge ints.
            out.append(slice(start, max(stop, start), min(step, max(size, 1))))
    return tuple(out)


def apply_slice(value: Any, pieces: list[Piece]) -> Any:
    """``value`` indexed by ``pieces`` (a view); raises :class:`SliceError`."""
    if not pieces:
        return value
    return value[_bounded(pieces, shape_of(value))]


def sliced(value: Any, slice_text: str, max_elements: int) -> Any:
    """Parse, apply and cap: the view to serve, or :class:`SliceError` / :class:`TooLarge`."""
    view = apply_slice(value, parse_slice(slice_text))
    shape = shape_of(view)
    numel = math.prod(shape)
    if numel > max_elements:
        raise TooLarge(shape=shape, full_shape=shape_of(value), numel=numel, max_elements=max_elements)
    return view


def tensor_body(value: Any, slice_text: str, max_elements: int) -> dict[str, Any]:
    """The §4.7 JSON body of a tensor (without ``run_id``/``node_id``/``port``)."""
    view = sliced(value, slice_text, max_elements)
    arr = to_numpy(view)
    body: dict[str, Any] = {
        "type": "tensor",
        "dtype": dtype_name(value),
        "full_shape": shape_of(value),
        "slice": slice_text,
        "sliced_shape": shape_of(view),
        "values": array_values(arr),
        "truncated": False,
    }
    if arr.dtype.kind != "b":  # §4.7: bool tensors carry no statistics (unlike §4.6)
        body.update(array_stats(arr, REST_DIGITS))
    return body


# -- .npy ---------------------------------------------------------------------------------------------


def npy_array(value: Any, slice_text: str, max_elements: int) -> Any:
    """The sliced values as a C-ordered, little-endian NumPy array ready for ``.npy``."""
    import numpy as np

    arr = to_numpy(sliced(value, slice_text, max_elements))
    if not arr.flags["C_CONTIGUOUS"]:  # (np.ascontiguousarray would turn 0-d into 1-d)
        arr = np.array(arr, order="C", copy=True)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and np.little_endian is False):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def npy_header(arr: Any) -> bytes:
    """The ``.npy`` header: format 1.0, or 2.0 when the header would not fit 1.0's 65 535 bytes."""
    import numpy as np

    fmt = np.lib.format
    data = fmt.header_data_from_array_1_0(arr)
    out = io.BytesIO()
    try:
        fmt.write_array_header_1_0(out, data)
    except ValueError:  # header too long for version 1.0
        out = io.BytesIO()
        fmt.write_array_header_2_0(out, data)
    return out.getvalue()


def npy_chunks(arr: Any, chunk_bytes: int = NPY_CHUNK_BYTES) -> Iterator[bytes]:
    """The array's raw bytes in chunks (no copy of the whole array)."""
    view = memoryview(arr.reshape(-1).view("u1")) if arr.size else memoryview(b"")
    for start in range(0, len(view), chunk_bytes):
        yield bytes(view[start : start + chunk_bytes])


def is_npy_capable(value: Any) -> bool:
    """Whether the value can be written as ``.npy`` without pickling (object arrays cannot)."""
    if is_torch_tensor(value):
        return True
    return value.dtype.kind != "O"
