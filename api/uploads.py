"""Streaming multipart uploads: file parts go straight to a hidden ``.part`` file, never into memory.

Quart's ``request.files`` spools each part to an anonymous temp file and leaves the copy to the
route, which writes the bytes twice and puts them outside the data dir. Upload routes instead call
:func:`receive_multipart`, which feeds the request body through werkzeug's sans-IO multipart decoder
and writes each file part to ``<staging>/.upload.<random hex>.part`` as it arrives. The route then
moves the part into place with one atomic rename (``os.replace``): staging must be on the same file
system as the target, so pass the data-dir area the file is going to (api.md §1.11).

The caller owns the result: it renames the parts it keeps and calls :meth:`MultipartUpload.discard`
for the rest (also on its own errors). When this function raises, nothing it wrote is left behind.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import attrs
from quart import request
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from nodeloom.api.errors import ApiError
from nodeloom.api.parsing import invalid, require_multipart

__all__ = ["MultipartUpload", "ReceivedFile", "receive_multipart", "too_large"]

#: Text fields are small (names, indices, flags); a larger one is refused rather than buffered.
TEXT_FIELD_LIMIT = 64 * 1024
#: Bytes gathered before one write to disk (fewer thread hops than one write per network chunk).
_WRITE_BATCH = 1024 * 1024


def too_large(limit: int) -> ApiError:
    """The 413 of an upload over its file limit (api.md §1.8)."""
    return ApiError(413, "payload_too_large", f"File too large (limit {limit} bytes)")


@attrs.define
class ReceivedFile:
    """One file part, complete and fsynced in its hidden ``.part`` file."""

    field: str
    #: The file name exactly as the client sent it (directory parts and all); routes sanitise it.
    filename: str
    path: Path
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@attrs.define
class MultipartUpload:
    """Text fields (UTF-8 strings, first occurrence wins) and the received file parts by field name."""

    fields: dict[str, str] = attrs.field(factory=dict)
    files: dict[str, ReceivedFile] = attrs.field(factory=dict)

    def discard(self) -> None:
        """Remove every ``.part`` file that the route did not move into place."""
        for part in self.files.values():
            part.discard()


class _PartWriter:
    """Writes one file part to its ``.part`` file, enforcing the byte limit as bytes arrive."""

    def __init__(self, field: str, filename: str, staging: Path, limit: int | None) -> None:
        self.file = ReceivedFile(field, filename, staging / f".upload.{secrets.token_hex(8)}.part", 0)
        self.limit = limit
        self._pending = bytearray()
        self._fh: IO[bytes] = open(self.file.path, "xb")  # noqa: SIM115 - closed in finish/abort

    async def feed(self, data: bytes) -> None:
        self.file.size += len(data)
        if self.limit is not None and self.file.size > self.limit:
            raise too_large(self.limit)
        self._pending += data
        if len(self._pending) >= _WRITE_BATCH:
            chunk, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._fh.write, chunk)

    async def finish(self) -> ReceivedFile:
        chunk, self._pending = bytes(self._pending), bytearray()
        await asyncio.to_thread(self._finish_sync, chunk)
        return self.file

    def _finish_sync(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def abort(self) -> None:
        try:
            self._fh.close()
        finally:
            self.file.discard()


def _boundary() -> bytes:
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        raise invalid(("body",), "Expected multipart/form-data with a boundary", "wrong_type")
    return boundary.encode("latin-1", "replace")


async def receive_multipart(
    staging: str | os.PathLike[str],
    *,
    limit: int | None,
    file_fields: Iterable[str] = ("file",),
) -> MultipartUpload:
    """Read the current request's multipart body, streaming the parts named in ``file_fields``.

    ``limit`` caps each file part in bytes: the first byte over it aborts the upload with 413
    ``payload_too_large`` (``File too large (limit <n> bytes)``) and removes the ``.part`` file.
    A non-multipart request is 422 (api.md §1.3). Other file parts and repeated ones are read and
    dropped; text fields over 64 KiB are 413.
    """
    require_multipart()
    wanted = frozenset(file_fields)
    folder = Path(staging)
    folder.mkdir(parents=True, exist_ok=True)
    decoder = MultipartDecoder(_boundary())
    result = MultipartUpload()
    writer: _PartWriter | None = None
    text: tuple[str, bytearray] | None = None
    try:
        async for chunk in request.body:
            decoder.receive_data(chunk)
            writer, text = await _drain(decoder, result, writer, text, folder, limit, wanted)
        decoder.receive_data(None)
        writer, text = await _drain(decoder, result, writer, text, folder, limit, wanted)
        if writer is not None or text is not None:
            raise invalid(("body",), "The multipart body ended inside a part", "invalid_value")
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        result.discard()
        if isinstance(exc, ValueError) and not isinstance(exc, ApiError):
            # werkzeug's decoder raises ValueError on malformed framing.
            raise invalid(("body",), f"Malformed multipart body: {exc}", "invalid_value") from None
        raise
    return result


async def _drain(
    decoder: MultipartDecoder,
    result: MultipartUpload,
    writer: _PartWriter | None,
    text: tuple[str, bytearray] | None,
    folder: Path,
    limit: int | None,
    wanted: frozenset[str],
) -> tuple[_PartWriter | None, tuple[str, bytearray] | None]:
    sink_only = False
    try:
        while True:
            event: Any = decoder.next_event()
            if isinstance(event, NeedData) or isinstance(event, Epilogue):
                return writer, text
            if isinstance(event, File):
                if event.name in wanted and event.name not in result.files:
                    writer = _PartWriter(event.name, event.filename or "", folder, limit)
                else:
                    writer, sink_only = None, True
                text = None
            elif isinstance(event, Field):
                text, writer, sink_only = (event.name, bytearray()), None, False
            elif isinstance(event, Data):
                if writer is not None:
                    await writer.feed(event.data)
                    if not event.more_data:
                        part = await writer.finish()
                        result.files[part.field] = part
                        writer = None
                elif text is not None:
                    text[1].extend(event.data)
                    if len(text[1]) > TEXT_FIELD_LIMIT:
                        raise ApiError(413, "payload_too_large", f"Form field '{text[0]}' is too large")
                    if not event.more_data:
                        name, raw = text
                        try:
                            value = raw.decode("utf-8")
                        except UnicodeDecodeError:
                            raise invalid(("form", name), "Not UTF-8 text", "invalid_value") from None
                        result.fields.setdefault(name, value)
                        text = None
                elif sink_only and not event.more_data:
                    sink_only = False
    except BaseException:
        # A writer opened during this call is not yet known to the caller, which only cleans up
        # what it was handed; abort it here so no ``.part`` file outlives the error.
        if writer is not None:
            writer.abort()
        raise

