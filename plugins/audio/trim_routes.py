"""``POST /api/audio/trim`` (api.md §2.13): cut a time range out of an upload with ffmpeg."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from quart import Blueprint

from nodeloom.api import ApiError, Fields, current_settings, read_json_object, route_doc
from nodeloom.kernel.paths import PathError, confine

from . import _ffmpeg
from ._trimming import RANGE_MESSAGE, TRIM_FOLDER, EndPastDuration, InvalidRange, trim_to_folder

blueprint = Blueprint("audio_trim", __name__)

#: The temp folders a trim may read from, as they appear in ``filePath``.
SOURCE_FOLDERS = ("uploads", TRIM_FOLDER)
OUTSIDE_MESSAGE = "filePath must point into /temp/uploads/ or /temp/AudioTrim/"

_NUMBER = {"type": "number"}
_STRING = {"type": "string"}


def source_path(temp: Path, file_path: str) -> Path:
    """The file ``filePath`` names under ``temp/uploads/`` or ``temp/AudioTrim/``, or 400 invalid_path.

    ``filePath`` is the URL path the upload route handed out, so it is percent-decoded once, as
    ``GET /temp/...`` would; ``%2e%2e`` therefore counts as ``..``. Symlinks must stay inside the
    folder the path names.
    """
    decoded = unquote(file_path)
    relative = decoded[1:] if decoded.startswith("/") else decoded
    for folder in SOURCE_FOLDERS:
        prefix = f"temp/{folder}/"
        if relative.startswith(prefix):
            try:
                return confine(temp / folder, relative[len(prefix) :])
            except PathError as exc:
                raise _outside(file_path, exc.reason) from None
            except RuntimeError:  # pathlib's report of a symlink loop
                raise _outside(file_path, "symlink loop") from None
    raise _outside(file_path, "not under /temp/uploads/ or /temp/AudioTrim/")


def _outside(file_path: str, reason: str) -> ApiError:
    return ApiError(400, "invalid_path", f"{OUTSIDE_MESSAGE} (got '{file_path}': {reason})")


@blueprint.post("/api/audio/trim")
@route_doc(
    requestBody={"required": True, "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"filePath": _STRING, "start": _NUMBER, "end": _NUMBER, "sessionId": _STRING},
        "required": ["filePath", "start", "end"],
    }}}},
    responses={
        "200": {"description": "Success", "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"success": {"const": True}, "filePath": _STRING, "duration": _NUMBER},
            "required": ["success", "filePath", "duration"],
        }}}},
        "default": {"description": "Error", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}},
    },
)
async def trim_audio() -> dict[str, Any]:
    """Cut start–end seconds of an uploaded audio or video file into a new file in temp/AudioTrim/."""
    body = Fields(await read_json_object())
    file_path = body.string("filePath")
    start = body.number("start")
    end = body.number("end")
    body.string("sessionId", default=None)  # accepted for CodefyUI clients, not used
    body.raise_if_problems()

    temp = current_settings().data_dir.area("temp")
    source = source_path(temp, file_path)
    if start < 0 or start >= end:
        raise ApiError(400, "invalid_range", RANGE_MESSAGE)
    if not await asyncio.to_thread(source.is_file):
        raise ApiError(404, "file_not_found", f"File not found: {file_path}")
    try:
        output = await asyncio.to_thread(trim_to_folder, source, start, end, temp / TRIM_FOLDER, label=file_path)
    except _ffmpeg.FfmpegMissing as exc:
        raise ApiError(503, "ffmpeg_missing", str(exc)) from None
    except _ffmpeg.NoAudioStream as exc:
        raise ApiError(422, "no_audio_stream", str(exc)) from None
    except EndPastDuration as exc:
        raise ApiError(400, "end_past_duration", str(exc), duration=exc.duration) from None
    except InvalidRange as exc:  # unreachable after the check above; kept so it can never be a 500
        raise ApiError(400, "invalid_range", str(exc)) from None
    except (_ffmpeg.FfmpegFailed, _ffmpeg.FfmpegTimeout) as exc:
        raise ApiError(422, "ffmpeg_failed", str(exc)) from None
    return {"success": True, "filePath": f"/temp/{TRIM_FOLDER}/{output.name}", "duration": round(end - start, 3)}
