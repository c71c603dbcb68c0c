"""Custom-node routes (api.md §2.6): list, upload, toggle, delete; each change hot-reloads."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint, request

from nodeloom.api import (
    ApiError,
    Fields,
    FormFields,
    body_limit,
    current_kernel,
    read_json_object,
    require_multipart,
    route_doc,
)
from nodeloom.api.settings import CUSTOM_NODE_SOURCE_BYTES, MULTIPART_SLACK_BYTES

from ._custom_files import check_filename, check_source, delete_file, toggle_file, upload_file
from ._schemas import BOOL, INTEGER, NULLABLE_STRING, STRING, documented, obj

FILE_ITEM = obj({"filename": STRING, "enabled": BOOL, "nodes": {"type": "array", "items": STRING},
                 "error": NULLABLE_STRING}, "filename", "enabled", "nodes", "error")

blueprint = Blueprint("api_custom_nodes", __name__)


@blueprint.get("/api/custom-nodes")
@documented({"type": "array", "items": FILE_ITEM})
async def list_files() -> list[dict[str, Any]]:
    """Every custom-node file (enabled or disabled) with the nodes it provides and its load error."""
    return await asyncio.to_thread(current_kernel().custom_node_files)


def _read_part(part: Any) -> bytes:
    # One byte over the limit is enough to know it is too large.
    data = part.stream.read(CUSTOM_NODE_SOURCE_BYTES + 1)
    if len(data) > CUSTOM_NODE_SOURCE_BYTES:
        raise ApiError(413, "payload_too_large", f"File too large (limit {CUSTOM_NODE_SOURCE_BYTES} bytes)")
    return data


def _checked_source(part: Any, filename: str) -> bytes:
    data = _read_part(part)
    check_source(filename, data)
    return data


@blueprint.post("/api/custom-nodes/upload")
@documented({"allOf": [FILE_ITEM, obj({"message": STRING, "generation": INTEGER}, "message", "generation")]})
@route_doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": obj(
    {"file": {"type": "string", "format": "binary"}}, "file")}}})
@body_limit(CUSTOM_NODE_SOURCE_BYTES, slack=MULTIPART_SLACK_BYTES)
async def upload() -> dict[str, Any]:
    """Upload a custom-node .py file (multipart part ``file``); it is enabled and loaded at once."""
    require_multipart()
    form = FormFields(await request.form, await request.files)
    part = form.file("file")
    form.raise_if_problems()
    filename = part.filename or ""
    if not filename.endswith(".py"):
        raise ApiError(400, "invalid_file_type", "Only .py files are accepted")
    check_filename(filename, allow_disabled=False)
    data = await asyncio.to_thread(_checked_source, part, filename)
    return await asyncio.to_thread(upload_file, current_kernel(), filename, data)


@blueprint.post("/api/custom-nodes/toggle")
@documented(obj({"filename": STRING, "enabled": BOOL, "generation": INTEGER}, "filename", "enabled", "generation"),
            body=obj({"filename": STRING, "enabled": BOOL}, "filename"))
async def toggle() -> dict[str, Any]:
    """Enable or disable a custom-node file (``x.py`` <-> ``x.py.disabled``); flips when ``enabled`` is absent."""
    body = Fields(await read_json_object())
    filename = body.string("filename")
    enabled = body.boolean("enabled", default=None)
    body.raise_if_problems()
    return await asyncio.to_thread(toggle_file, current_kernel(), filename, enabled)


@blueprint.delete("/api/custom-nodes/<filename>")
@documented(obj({"message": STRING, "generation": INTEGER}, "message", "generation"))
async def delete(filename: str) -> dict[str, Any]:
    """Delete a custom-node file and unload its nodes."""
    return await asyncio.to_thread(delete_file, current_kernel(), filename)
