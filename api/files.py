"""What file-serving routes share: API timestamps, confined paths with 400 errors, per-target locks.

Route plugins (the API's own groups, models, media, audio, third-party packs) import these from
``nodeloom.api.files`` so that every path a client sends is checked the same way (api.md §1.12).
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from quart import Response, send_file

from nodeloom.api import ApiError
from nodeloom.kernel.paths import NameError_, PathError, confine

__all__ = [
    "confined",
    "content_disposition",
    "send_attachment",
    "invalid_name",
    "invalid_path",
    "iso_mtime",
    "iso_time_ns",
    "target_lock",
]


def iso_time_ns(ns: int) -> str:
    """An ``os.stat`` time in nanoseconds as ISO 8601 UTC with milliseconds (api.md §1.1)."""
    ms = ns // 1_000_000  # truncated, never rounded up into the next millisecond
    moment = _dt.datetime.fromtimestamp(ms // 1000, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_mtime(path: str | os.PathLike[str]) -> str:
    """The modification time of ``path`` (symlinks followed) as an API timestamp."""
    return iso_time_ns(os.stat(path).st_mtime_ns)


def invalid_path(exc: PathError) -> ApiError:
    """400 ``invalid_path`` for a path that breaks api.md §1.12."""
    return ApiError(400, "invalid_path", str(exc))


def invalid_name(exc: NameError_ | str, reason: str | None = None) -> ApiError:
    """400 ``invalid_name``: from a kernel NameError_, or from ``(name, reason)``."""
    if isinstance(exc, NameError_):
        return ApiError(400, "invalid_name", str(exc))
    return ApiError(400, "invalid_name", f"Invalid name '{exc}': {reason}")


def confined(root: str | os.PathLike[str], relpath: str, **rules: bool) -> Path:
    """``root/relpath`` after every check of api.md §1.12, or a 400 ``invalid_path`` ApiError."""
    try:
        return confine(root, relpath, **rules)
    except PathError as exc:
        raise invalid_path(exc) from None


class _KeyedLock:
    """A lock that can be weakly referenced, so idle targets do not accumulate."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


_registry_lock = threading.Lock()
_locks: weakref.WeakValueDictionary[tuple[Any, ...], _KeyedLock] = weakref.WeakValueDictionary()


@contextmanager
def target_lock(*key: Any) -> Iterator[None]:
    """Hold the lock of one write target (api.md §1.11 same-name races).

    A threading lock rather than an asyncio one: the check-then-write work runs in worker threads
    (blocking file I/O stays off the event loop), and several apps or loops may share a data dir.
    Keys are plain tuples, e.g. ``("presets", <folder>)``.
    """
    with _registry_lock:
        holder = _locks.get(key)
        if holder is None:
            holder = _KeyedLock()
            _locks[key] = holder
    with holder.lock:  # ``holder`` stays referenced for the whole critical section
        yield


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`` (api.md §2.8.4).

    In the ASCII form, non-ASCII characters, ``"`` and ``\\`` become ``_``.
    """
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def send_attachment(path: str | os.PathLike[str], mimetype: str = "application/octet-stream") -> Response:
    """The whole file streamed from disk as a download; ``Range`` and conditional headers are ignored."""
    target = Path(path)
    response = await send_file(target, mimetype=mimetype, conditional=False, add_etags=False)
    response.headers["Content-Disposition"] = content_disposition(target.name)
    return response
