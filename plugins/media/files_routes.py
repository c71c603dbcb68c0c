"""The files API (api.md §2.11): a small UTF-8 text store under ``libs/`` for nodes and their widgets."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat as stat_mod
from pathlib import Path
from typing import Any

from quart import Blueprint, Response, current_app, request

from nodeloom.api import ApiError, Fields, QueryFields, current_settings, finite, read_json_object, route_doc
from nodeloom.api.files import iso_time_ns
from nodeloom.api.parsing import invalid, parse_json
from nodeloom.api.settings import LIBS_FILE_BYTES
from nodeloom.kernel.fsutil import atomic_write_bytes, json_text, temp_path_for

from ._images_fs import bad_path, is_directory, is_regular, resolve_in, stat_of

__all__ = ["blueprint"]

blueprint = Blueprint("media_files", __name__)

_JSON = "application/json"
_ERROR = {"description": "Error", "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
_ANY: dict[str, Any] = {}


def _ok(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"success": {"type": "boolean"}, **properties},
              "required": ["success", *properties]}
    return {"200": {"description": "Success", "content": {_JSON: {"schema": schema}}}, "default": _ERROR}


def libs_root() -> Path:
    return current_settings().data_dir.area("libs")


def too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"File too large (limit {LIBS_FILE_BYTES} bytes)")


def not_a_file(relpath: str) -> ApiError:
    return ApiError(400, "not_a_file", f"Not a file: {relpath}")


# ---------------------------------------------------------------------------- save


def encode_content(content: Any) -> bytes:
    """A string is stored as it is; any other JSON value as a JSON file (api.md §1.11 layout)."""
    text = content if isinstance(content, str) else json_text(content)
    return text.encode("utf-8")


def check_save_target(root: Path, relpath: str, target: Path) -> None:
    """400 ``not_a_file`` when ``relpath`` is a folder or runs through an existing file."""
    parts = relpath.split("/")
    folder = root
    for segment in parts[:-1]:
        folder = folder / segment
        st = stat_of(folder, relpath)
        if st is None:
            return  # the rest is created
        if not is_directory(st):
            raise not_a_file(relpath)
    if is_directory(stat_of(target, relpath)):
        raise not_a_file(relpath)


def _limit(root: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(root, name)
    except (OSError, ValueError):
        return default


def check_length(root: Path, relpath: str, target: Path) -> None:
    """400 when the atomic write's temp file could not be created for its length.

    §1.12 allows 255-byte segments and 1024 characters, but the temp name adds its own prefix and
    suffix, and multi-byte characters can exceed the OS path limit; checked before any folder is made.
    """
    temp = temp_path_for(target)
    if (len(os.fsencode(temp.name)) > _limit(root, "PC_NAME_MAX", 255)
            or len(os.fsencode(str(temp))) >= _limit(root, "PC_PATH_MAX", 4096)):
        raise bad_path(relpath, "too long for the file system")


def save_file(root: Path, relpath: str, content: Any) -> int:
    target = resolve_in(root, relpath)
    check_length(root, relpath, target)
    check_save_target(root, relpath, target)
    try:
        data = encode_content(content)
    except RecursionError:
        raise invalid(("body", "content"), "Content is nested too deeply", "invalid_value") from None
    if len(data) > LIBS_FILE_BYTES:
        raise too_large()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        # The layout changed under us since the check (a file where a folder goes, or vice versa).
        raise not_a_file(relpath) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise bad_path(relpath, "too long for the file system") from None
        raise
    return len(data)


@blueprint.post("/api/files/save")
@route_doc(
    requestBody={"required": True, "content": {_JSON: {"schema": {
        "type": "object", "properties": {"path": {"type": "string"}, "content": _ANY}, "required": ["path", "content"],
    }}}},
    responses=_ok({"path": {"type": "string"}, "size": {"type": "integer"}}),
)
async def save_route() -> dict[str, Any]:
    """Write a UTF-8 text file (a string as is, any other JSON value as JSON) atomically under libs/."""
    body = Fields(await read_json_object())
    relpath = body.string("path")
    if "content" not in body.data:
        body.problem("content", "Field required", "missing")
    body.raise_if_problems()
    size = await asyncio.to_thread(save_file, libs_root(), relpath, body.data["content"])
    return {"success": True, "path": relpath, "size": size}


# ---------------------------------------------------------------------------- read


def read_file(root: Path, relpath: str) -> str:
    target = resolve_in(root, relpath)
    st = stat_of(target, relpath)
    if st is None:
        raise ApiError(404, "file_not_found", f"File not found: {relpath}")
    if not is_regular(st):
        raise not_a_file(relpath)
    if st.st_size > LIBS_FILE_BYTES:
        raise too_large()
    try:
        with open(target, "rb") as fh:
            # One byte more than allowed is enough to notice a file that grew since the stat.
            data = fh.read(LIBS_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise ApiError(404, "file_not_found", f"File not found: {relpath}") from None
    except IsADirectoryError:
        raise not_a_file(relpath) from None
    if len(data) > LIBS_FILE_BYTES:
        raise too_large()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "not_text", f"File is not UTF-8 text: {relpath}") from None
    head = {"success": True, "path": relpath}
    tail = {"size": len(data), "modified": iso_time_ns(st.st_mtime_ns)}
    if relpath.lower().endswith(".json"):
        try:
            # The request parser's rules: no NaN/Infinity and no lone surrogates (the response could
            # not carry them).
            parsed = parse_json(data)
            return encode_response({**head, "content": parsed, "format": "json", **tail})
        except (ApiError, RecursionError):
            pass  # not JSON, or nested deeper than the encoder goes: served as text
    return encode_response({**head, "content": text, "format": "text", **tail})


def encode_response(body: dict[str, Any]) -> str:
    """The response body as the app's JSON provider writes it, encoded here in the worker thread.

    Encoding deeply nested content on the event loop's already deep stack could hit the recursion
    limit after the route has answered; here a failure is still caught and served as text.
    """
    return json.dumps(finite(body), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@blueprint.get("/api/files/read")
@route_doc(responses=_ok({"path": {"type": "string"}, "content": _ANY, "format": {"enum": ["json", "text"]},
                          "size": {"type": "integer"}, "modified": {"type": "string"}}))
async def read_route() -> Response:
    """Read a UTF-8 text file of libs/; a valid .json file comes back parsed."""
    query = QueryFields(request.args)
    relpath = query.string("path")
    query.raise_if_problems()
    body = await asyncio.to_thread(read_file, libs_root(), relpath)
    return current_app.response_class(body, mimetype=_JSON)


# ---------------------------------------------------------------------------- list


def _entry(folder: Path, name: str, base: Path) -> dict[str, Any] | None:
    """One listing entry, or None for what the listing leaves out."""
    if name.startswith("."):
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a name the JSON response could not carry
        return None
    path = folder / name
    try:
        st = os.stat(path)
        if path.is_symlink():
            real = path.resolve()
            if real != base and base not in real.parents:
                return None
    except (OSError, RuntimeError):  # dangling link, symlink loop, vanished entry
        return None
    if stat_mod.S_ISDIR(st.st_mode):
        kind, size = "dir", None
    elif stat_mod.S_ISREG(st.st_mode):
        kind, size = "file", st.st_size
    else:
        return None  # sockets, FIFOs, devices: neither a file nor a folder to a client
    return {"name": name, "type": kind, "size": size, "modified": iso_time_ns(st.st_mtime_ns)}


def list_folder(root: Path, relpath: str) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    target = resolve_in(root, relpath, allow_empty=True)
    st = stat_of(target, relpath)
    if st is None:
        raise ApiError(404, "file_not_found", f"Folder not found: {relpath}")
    if not is_directory(st):
        raise ApiError(400, "not_a_directory", f"Not a folder: {relpath}")
    base = root.resolve()
    try:
        names = os.listdir(target)
    except FileNotFoundError:
        raise ApiError(404, "file_not_found", f"Folder not found: {relpath}") from None
    except NotADirectoryError:
        raise ApiError(400, "not_a_directory", f"Not a folder: {relpath}") from None
    entries = [e for e in (_entry(target, name, base) for name in sorted(names)) if e is not None]
    return {"success": True, "path": relpath, "entries": entries}


@blueprint.get("/api/files/list")
@route_doc(responses=_ok({"path": {"type": "string"}, "entries": {"type": "array", "items": {
    "type": "object",
    "properties": {"name": {"type": "string"}, "type": {"enum": ["file", "dir"]},
                   "size": {"type": ["integer", "null"]}, "modified": {"type": "string"}},
    "required": ["name", "type", "size", "modified"]}}}))
async def list_route() -> dict[str, Any]:
    """List one folder of libs/ (not recursive); no path or "" is the root."""
    query = QueryFields(request.args)
    relpath = query.string("path", default="")
    query.raise_if_problems()
    return await asyncio.to_thread(list_folder, libs_root(), relpath)
