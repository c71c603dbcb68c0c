"""Model file routes (api.md §2.8.1 to §2.8.5): listings, upload, download, delete.

Route precedence (§2.0): werkzeug prefers the rule with more static parts, so
``GET /api/models/download/<path>`` wins over ``GET /api/models/<category>``; the bare
``GET /api/models/download`` reaches the category route, which answers it with 404.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from quart import Blueprint, Response

from nodeloom.api import ApiError, FormFields, body_limit, current_settings
from nodeloom.api.files import confined, send_attachment
from nodeloom.api.settings import MULTIPART_SLACK_BYTES
from nodeloom.api.uploads import MultipartUpload, receive_multipart

from . import _docs
from ._files import check_category, delete_model_file, existing_model_file, install_upload
from ._listing import list_category, list_models
from ._names import ALLOWED_TEXT, extension_of, is_model_name, is_reserved_category
from ._service import current_registry, current_service

blueprint = Blueprint("models_files", __name__)


def _root() -> Path:
    return current_service().root


@blueprint.get("/api/models")
@_docs.json_response(_docs.array(_docs.MODEL_ITEM))
async def list_all() -> list[dict[str, Any]]:
    """Registry entries with their install state, and every other model file on disk."""
    view = current_registry()
    return await asyncio.to_thread(list_models, _root(), view)


@blueprint.get("/api/models/<category>")
@_docs.json_response(_docs.array(_docs.CATEGORY_ITEM))
async def list_one_category(category: str) -> list[dict[str, str]]:
    """Installed model files under one category folder, for loader-node pickers."""
    if is_reserved_category(category):
        raise ApiError(404, "not_found", f"'{category}' is not a model category")
    root = _root()
    confined(root, category, single_segment=True)
    return await asyncio.to_thread(list_category, root, category)


def _upload_target(root: Path, received: MultipartUpload) -> tuple[str, bool]:
    """The checks of §2.8.3 before the 409, in the spec's order: ``(relpath, overwrite)``."""
    form = FormFields(received.fields, received.files)
    part = form.file("file")
    category = form.string("category", default="")
    overwrite = form.boolean("overwrite", default=False)
    form.raise_if_problems()
    name = re.split(r"[/\\]", part.filename)[-1]
    if not name:
        raise ApiError(400, "invalid_name", "No filename provided")
    if not is_model_name(name):
        raise ApiError(400, "invalid_file_type", f"Unsupported file type: {extension_of(name)}. Allowed: {ALLOWED_TEXT}")
    confined(root, name, single_segment=True)
    if not category:
        return name, bool(overwrite)
    check_category(root, category)
    relpath = f"{category}/{name}"
    confined(root, relpath)
    return relpath, bool(overwrite)


@blueprint.post("/api/models/upload")
@_docs.json_response(_docs.UPLOAD_RESULT)
@_docs.multipart_body(_docs.UPLOAD_FORM)
@body_limit("max_model_bytes", slack=MULTIPART_SLACK_BYTES)
async def upload() -> dict[str, Any]:
    """Upload a weights file (multipart ``file``, optional ``category`` and ``overwrite``)."""
    root = _root()
    # Staged at the top of models/: the category is a form field that may follow the file part.
    received = await receive_multipart(root, limit=current_settings().limits.max_model_bytes)
    try:
        relpath, overwrite = _upload_target(root, received)
        part = received.files["file"]
        await asyncio.to_thread(install_upload, root, relpath, part.path, overwrite)
        return {"filename": relpath, "size": part.size}
    finally:
        received.discard()


@blueprint.get("/api/models/download/<path:filename>")
@_docs.binary_response()
async def download(filename: str) -> Response:
    """The raw bytes of one model file, as an attachment."""
    path = await asyncio.to_thread(existing_model_file, _root(), filename)
    try:
        return await send_attachment(path, "application/octet-stream")
    except FileNotFoundError:  # deleted between the check and the send
        raise ApiError(404, "file_not_found", f"File not found: {filename}") from None


@blueprint.delete("/api/models/<path:filename>")
@_docs.json_response(_docs.MESSAGE)
async def delete(filename: str) -> dict[str, str]:
    """Delete one model file; a registry entry whose file it was is no longer installed."""
    await asyncio.to_thread(delete_model_file, _root(), filename)
    return {"message": f"Deleted {filename}"}
