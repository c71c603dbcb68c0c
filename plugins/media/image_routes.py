"""Image routes (api.md §2.9): list, upload, download and delete files under ``images/``."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from quart import Blueprint, Response

from nodeloom.api import ApiError, FormFields, body_limit, current_settings, route_doc
from nodeloom.api.files import send_attachment, target_lock
from nodeloom.api.settings import MULTIPART_SLACK_BYTES
from nodeloom.api.uploads import MultipartUpload, receive_multipart
from nodeloom.kernel.fsutil import fsync_dir
from ._images_fs import is_addressable, is_directory, is_regular, resolve_in, stat_of, walk_files

__all__ = ["IMAGE_EXTENSIONS", "IMAGE_MIME_TYPES", "blueprint", "is_image_name"]

#: Image extension -> the MIME type a download is served with (api.md §2.9.3).
IMAGE_MIME_TYPES = {
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
}
IMAGE_EXTENSIONS = tuple(sorted(IMAGE_MIME_TYPES))
_ALLOWED = ", ".join(IMAGE_EXTENSIONS)
_DIRECTORY_PART = re.compile(r"^.*[/\\]", re.DOTALL)

blueprint = Blueprint("media_images", __name__)

_JSON = "application/json"
_ITEM = {
    "type": "object",
    "properties": {"filename": {"type": "string"}, "size": {"type": "integer"}},
    "required": ["filename", "size"],
}


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": "Success", "content": {_JSON: {"schema": schema}}},
            "default": {"description": "Error",
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}}


def extension(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_image_name(name: str) -> bool:
    return extension(name) in IMAGE_MIME_TYPES


def images_root() -> Path:
    return current_settings().data_dir.area("images")


# ---------------------------------------------------------------------------- list


def list_images(root: Path) -> list[dict[str, Any]]:
    items = [
        {"filename": relpath, "size": st.st_size}
        for relpath, st in walk_files(root)
        if is_image_name(relpath) and is_addressable(relpath)
    ]
    items.sort(key=lambda item: item["filename"])
    return items


@blueprint.get("/api/images")
@route_doc(responses=_ok({"type": "array", "items": _ITEM}))
async def list_route() -> list[dict[str, Any]]:
    """Every image file under images/ at any depth, sorted by relpath."""
    return await asyncio.to_thread(list_images, images_root())


# ---------------------------------------------------------------------------- upload


def upload_name(raw: str) -> str:
    """The part's file name without any directory part (after the last ``/`` or ``\\``)."""
    return _DIRECTORY_PART.sub("", raw)


def check_upload_name(raw: str) -> str:
    name = upload_name(raw)
    if not name:
        raise ApiError(400, "invalid_name", "No filename provided")
    if not is_image_name(name):
        raise ApiError(400, "invalid_file_type", f"Unsupported file type: {extension(name)}. Allowed: {_ALLOWED}")
    return name


def place_upload(root: Path, name: str, part: Path, overwrite: bool) -> None:
    """Rename the finished ``.part`` over ``root/name``; the existence check runs last, under the lock."""
    target = resolve_in(root, name, single_segment=True)
    with target_lock("images", str(target)):
        st = stat_of(target, name)
        exists = st is not None or os.path.lexists(target)
        # A folder of that name cannot be replaced by a file, whatever ``overwrite`` says.
        if exists and (not overwrite or is_directory(st)):
            raise ApiError(409, "file_exists", f"File already exists: {name}")
        os.replace(part, target)
    fsync_dir(root)


async def _receive(root: Path) -> MultipartUpload:
    limit = current_settings().limits.max_image_bytes
    return await receive_multipart(root, limit=limit, file_fields=("file",))


@blueprint.post("/api/images/upload")
@route_doc(
    requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}, "overwrite": {"type": "boolean"}},
        "required": ["file"],
    }}}},
    responses=_ok(_ITEM),
)
@body_limit("max_image_bytes", slack=MULTIPART_SLACK_BYTES)
async def upload_route() -> dict[str, Any]:
    """Upload an image (multipart part ``file``) to the top level of images/; ``overwrite`` replaces."""
    root = images_root()
    upload = await _receive(root)
    try:
        form = FormFields(upload.fields, upload.files)
        received = form.file("file")
        overwrite = form.boolean("overwrite", default=False)
        form.raise_if_problems()
        name = check_upload_name(received.filename)
        await asyncio.to_thread(place_upload, root, name, received.path, overwrite)
        return {"filename": name, "size": received.size}
    finally:
        # Whatever was not renamed into place (a refused upload, extra parts) leaves no trace.
        await asyncio.to_thread(upload.discard)


# ---------------------------------------------------------------------------- download and delete


def existing_image(root: Path, filename: str) -> Path:
    """The checks of api.md §2.8.4 in order: path, existence, regular file, image extension."""
    target = resolve_in(root, filename)
    st = stat_of(target, filename)
    if st is None:
        raise ApiError(404, "file_not_found", f"File not found: {filename}")
    if not is_regular(st):
        raise ApiError(400, "not_a_file", f"Not a file: {filename}")
    if not is_image_name(filename):
        raise ApiError(400, "invalid_file_type", f"Not an image file: {filename}")
    return target


@blueprint.get("/api/images/download/<path:filename>")
@route_doc(responses={"200": {"description": "The image bytes", "content": {
    mime: {"schema": {"type": "string", "format": "binary"}} for mime in sorted(set(IMAGE_MIME_TYPES.values()))}}})
async def download_route(filename: str) -> Response:
    """Download an image file by its relpath inside images/."""
    target = await asyncio.to_thread(existing_image, images_root(), filename)
    return await send_attachment(target, IMAGE_MIME_TYPES[extension(filename)])


def delete_image(root: Path, filename: str) -> None:
    target = resolve_in(root, filename)
    with target_lock("images", str(target)):
        existing_image(root, filename)
        try:
            target.unlink()
        except FileNotFoundError:  # removed by someone else since the check
            raise ApiError(404, "file_not_found", f"File not found: {filename}") from None


@blueprint.delete("/api/images/<path:filename>")
@route_doc(responses=_ok({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}))
async def delete_route(filename: str) -> dict[str, Any]:
    """Delete an image file (empty folders are kept)."""
    await asyncio.to_thread(delete_image, images_root(), filename)
    return {"message": f"Deleted {filename}"}
