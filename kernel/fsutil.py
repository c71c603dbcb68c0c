"""Atomic file writes and the JSON layout nodeloom writes (api.md §1.11).

Every file is written to ``.<final name>.<random hex>.tmp`` in the target's own folder, flushed and
fsynced, then renamed over the final name. Readers therefore see either the old file or the new
one, never a torn write, and a failure leaves the previous file untouched and no temp file behind.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_dir",
    "json_dumps_safe",
    "json_text",
    "temp_path_for",
]


def temp_path_for(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """The temp path used while writing ``path``: ``.<name>.<random hex><suffix>`` beside it."""
    final = Path(path)
    return final.with_name(f".{final.name}.{secrets.token_hex(8)}{suffix}")


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename into ``folder`` durable (best effort: not every platform opens directories)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the final path.

    The parent folder must exist. On any failure (including KeyboardInterrupt) the temp file is
    removed and the exception propagates.
    """
    final = Path(path)
    tmp = temp_path_for(final)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    fsync_dir(final.parent)
    return final


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (UTF-8 by default, newlines written as given)."""
    return atomic_write_bytes(path, text.encode(encoding))


def json_text(obj: Any) -> str:
    """``obj`` as nodeloom writes JSON files: indent 2, non-ASCII kept, final newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Serialise ``obj`` (see :func:`json_text`) and write it atomically.

    Serialisation happens before any file is touched, so an unserialisable object leaves nothing
    behind.
    """
    return atomic_write_text(path, json_text(obj))


def _fallback(value: Any) -> Any:
    # Sets/tuples/attrs-like objects turn into something a client can read instead of failing.
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def json_dumps_safe(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never raises on unknown objects (they become their repr) or NaN.

    Non-finite floats are written as ``null`` so the output is strict JSON that browsers accept.
    """
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(_finite(obj), default=_fallback, allow_nan=False, **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
