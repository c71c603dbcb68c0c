"""``POST /api/upload``: chunked uploads from node widgets into ``temp/uploads/`` (api.md §2.12.1).

The chunk store and the TTL sweep of unfinished uploads are in :mod:`._upload_store`; the sweep
runs at startup and every 10 minutes while the app serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path
from typing import Any

from quart import Blueprint, current_app

from nodeloom.api import ApiError, FormFields, body_limit, current_settings, route_doc
from nodeloom.api.files import confined
from nodeloom.api.settings import MAX_TOTAL_CHUNKS, MULTIPART_SLACK_BYTES
from nodeloom.api.uploads import receive_multipart
from nodeloom.kernel.paths import DataDir

from ._upload_store import put_chunk, sanitize_filename, sanitize_id, sweep_stale_uploads

log = logging.getLogger("nodeloom.media")

blueprint = Blueprint("media_uploads", __name__)

SWEEP_INTERVAL_S = 600.0
_SWEEPER_KEY = "nodeloom.media.upload_sweeper"
# More digits than any valid index; int() of very long digit strings raises instead of converting.
_LONG_INT = re.compile(r"^\s*(-?)[0-9]{19,}\s*$")

_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_UPLOAD_DOC = route_doc(
    requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "filename": _STRING,
            "chunkIndex": {**_INTEGER, "default": 0},
            "totalChunks": {**_INTEGER, "default": 1},
            "sessionId": _STRING,
            "nodeId": _STRING,
            "nodeName": _STRING,
        },
        "required": ["file", "sessionId", "nodeId", "nodeName"],
    }}}},
    responses={"200": {"description": "Chunk stored, or the upload completed", "content": {"application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "completed": {"type": "boolean"},
                "received": _INTEGER,
                "totalChunks": _INTEGER,
                "filePath": _STRING,
                "size": _INTEGER,
            },
            "required": ["success", "completed"],
        },
    }}}},
)


def uploads_root(data_dir: DataDir) -> Path:
    return data_dir.area("temp") / "uploads"


def _chunk_number(form: FormFields, key: str, default: int) -> int | None:
    raw = form.data.get(key)
    if isinstance(raw, str) and (match := _LONG_INT.match(raw)):
        return -(10**19) if match.group(1) else 10**19
    return form.integer(key, default=default)


@blueprint.post("/api/upload")
@_UPLOAD_DOC
@body_limit("max_chunk_bytes", slack=MULTIPART_SLACK_BYTES)
async def upload_chunk() -> dict[str, Any]:
    """Upload one chunk of a file; the chunk that completes the set assembles it under /temp/uploads/."""
    settings = current_settings()
    root = uploads_root(settings.data_dir)
    # Staged beside the chunk folders (same file system), so storing a chunk is one rename.
    received = await receive_multipart(root, limit=settings.limits.max_chunk_bytes)
    try:
        form = FormFields(received.fields, received.files)
        part = form.file("file")
        session_id = form.string("sessionId")
        node_id = form.string("nodeId")
        node_name = form.string("nodeName")
        filename = form.string("filename", default=None)
        index = _chunk_number(form, "chunkIndex", 0)
        total = _chunk_number(form, "totalChunks", 1)
        form.raise_if_problems()

        session_id = sanitize_id("sessionId", session_id)
        node_id = sanitize_id("nodeId", node_id)
        node_name = sanitize_id("nodeName", node_name)
        name = sanitize_filename("filename", part.filename if filename is None else filename)
        if not 1 <= total <= MAX_TOTAL_CHUNKS:
            raise ApiError(400, "invalid_chunk", f"totalChunks must be between 1 and {MAX_TOTAL_CHUNKS}, got {total}")
        if not 0 <= index < total:
            raise ApiError(400, "invalid_chunk", f"chunkIndex must be between 0 and {total - 1}, got {index}")

        relpath = f"{session_id}/{node_name}_{node_id}/{name}"
        target = confined(root, relpath)
        result = await asyncio.to_thread(
            put_chunk, target, part.path, index=index, total=total,
            max_upload_bytes=settings.limits.max_upload_bytes, display_name=name,
        )
    finally:
        # Whatever was not moved into the chunk folder (errors, extra parts) must not linger.
        received.discard()
    if result["completed"]:
        return {"success": True, "completed": True, "filePath": f"/temp/uploads/{relpath}", "size": result["size"]}
    return {"success": True, **result}


# ---------------------------------------------------------------------------- TTL sweep


async def _sweep_forever(root: Path, ttl_s: float) -> None:
    while True:
        try:
            await asyncio.to_thread(sweep_stale_uploads, root, ttl_s)
        except Exception:  # a failed sweep is retried next time; it must not stop the loop
            log.exception("sweeping stale uploads in %s failed", root)
        await asyncio.sleep(SWEEP_INTERVAL_S)


@blueprint.before_app_serving
async def _start_sweeper() -> None:
    settings = current_settings()
    task = asyncio.get_running_loop().create_task(
        _sweep_forever(uploads_root(settings.data_dir), settings.limits.upload_ttl_s),
        name="nodeloom-upload-sweeper",
    )
    current_app.extensions[_SWEEPER_KEY] = task


@blueprint.after_app_serving
async def _stop_sweeper() -> None:
    task = current_app.extensions.pop(_SWEEPER_KEY, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
