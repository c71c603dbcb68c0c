"""``GET /temp/<path>``: finished files under ``temp/`` (uploads, trim outputs), with byte ranges (api.md §2.12.2).

Audio and video elements seek with single ``Range`` requests, so those get 206. Multiple ranges
are answered with the whole file (allowed by RFC 9110, and no media element asks for them).
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import stat
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import IO, Any

from quart import Blueprint, Response, request

from nodeloom.api import ApiError, current_settings, route_doc
from nodeloom.api.files import confined, content_disposition

blueprint = Blueprint("media_temp", __name__)

_BLOCK = 256 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=(.*)$", re.IGNORECASE)
_SPEC = re.compile(r"^([0-9]*)-([0-9]*)$")
# Past any real file size; also keeps int() away from its digit-count limit.
_HUGE = 10**19


class _Unsatisfiable(Exception):
    pass


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, end)`` byte span of a single-range ``Range`` header, or None to send everything.

    Malformed headers, other units and multiple ranges are ignored (None); a well-formed range that
    does not overlap the file raises :class:`_Unsatisfiable`.
    """
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    specs = [s.strip() for s in match.group(1).split(",") if s.strip()]
    if len(specs) != 1:
        return None
    spec = _SPEC.match(specs[0])
    if spec is None or spec.group(1) == spec.group(2) == "":
        return None
    first, last = spec.groups()
    if first == "":
        suffix = _number(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - suffix), size
    start = _number(first)
    if last != "" and _number(last) < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    end = size if last == "" else min(_number(last) + 1, size)
    return start, end


def _open_regular(path: os.PathLike[str]) -> tuple[IO[bytes], os.stat_result] | None:
    # O_NONBLOCK: opening a FIFO planted under temp/ must not hang a worker thread.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb", buffering=0), info


async def _stream(fh: IO[bytes], start: int, end: int) -> AsyncIterator[bytes]:
    # pread on the descriptor opened before the headers were sent: a file replaced mid-download
    # cannot mix two versions into one response.
    try:
        offset = start
        while offset < end:
            data = await asyncio.to_thread(os.pread, fh.fileno(), min(_BLOCK, end - offset), offset)
            if not data:
                break
            offset += len(data)
            yield data
    finally:
        fh.close()


@blueprint.get("/temp/<path:path>")
@route_doc(responses={
    "200": {"description": "The whole file", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    "206": {"description": "The requested byte range", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    "416": {"description": "Range not satisfiable; Content-Range: bytes */<size>"},
})
async def serve_temp(path: str) -> Any:
    """A finished file under temp/ (upload results, trim outputs); single byte ranges give 206."""
    target = confined(current_settings().data_dir.area("temp"), path)
    opened = await asyncio.to_thread(_open_regular, target)
    if opened is None:
        raise ApiError(404, "file_not_found", f"File not found: {path}")
    fh, info = opened
    try:
        size = info.st_size
        last_modified = formatdate(info.st_mtime, usegmt=True)
        header = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if if_range is not None and if_range.strip() != last_modified:
            header = None  # the client's copy is of another version: it needs the whole file
        try:
            span = parse_range(header, size)
        except _Unsatisfiable:
            raise ApiError(
                416, "range_not_satisfiable", f"Range not satisfiable: {header} (file size {size} bytes)",
                headers={"Content-Range": f"bytes */{size}"},
            ) from None
        start, end = span if span is not None else (0, size)
        headers = {
            "Content-Disposition": content_disposition(target.name, "inline"),
            "Cache-Control": "no-cache",
            "Accept-Ranges": "bytes",
            "Last-Modified": last_modified,
            # Uploaded content is served from the UI's origin: never sniff it into HTML, never run it.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        }
        if span is not None:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        status = 206 if span is not None else 200
        if request.method == "HEAD":
            fh.close()
            body: Any = b""
        else:
            body = _stream(fh, start, end)
    except BaseException:
        fh.close()
        raise
    response = Response(body, status=status, headers=headers, content_type=mime)
    response.content_length = end - start
    return response
