"""Custom-node files in ``<data dir>/custom_nodes/`` (api.md §2.6): names, checks and changes.

Every change (upload, toggle, delete) runs under the lock of its file and then rebuilds the
custom-node part of the registry, which publishes generation + 1. Blocking functions; the routes
call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nodeloom.api import ApiError
from nodeloom.kernel.custom_nodes import DISABLED_SUFFIX
from nodeloom.kernel.fsutil import atomic_write_bytes

from nodeloom.api.files import confined, target_lock

__all__ = [
    "check_filename",
    "check_source",
    "delete_file",
    "file_item",
    "toggle_file",
    "upload_file",
]

DISABLED = ".disabled"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.py$")
_RELOAD_GROUPS = frozenset({"custom"})


def check_filename(filename: str, *, allow_disabled: bool) -> str:
    """The enabled form ``x.py`` of a custom-node file name, or a 400 ``invalid_name``."""
    base = filename[: -len(DISABLED)] if allow_disabled and filename.endswith(DISABLED_SUFFIX) else filename
    if not _NAME.fullmatch(base):
        form = "x.py or x.py.disabled" if allow_disabled else "x.py"
        raise ApiError(
            400,
            "invalid_name",
            f"Invalid name '{filename}': a custom-node file name is a bare name of the form {form} "
            "(letters, digits, '_', '.', '-'; starting with a letter or digit)",
        )
    return base


def check_source(filename: str, data: bytes) -> None:
    """400 ``not_text`` or ``syntax_error`` (with ``line``/``column``); the code is compiled, never run."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "not_text", "File is not UTF-8 text") from None
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        # Python reports NUL bytes without a line (and as a ValueError on some versions).
        line = getattr(exc, "lineno", None) or _nul_line(text)
        offset = getattr(exc, "offset", None)
        message = getattr(exc, "msg", None) or str(exc)
        raise _syntax_error(filename, line, offset if isinstance(offset, int) else None, message) from None
    except (RecursionError, MemoryError):
        raise _syntax_error(filename, 1, None, "too deeply nested") from None


def _nul_line(text: str) -> int:
    position = text.find("\0")
    return text.count("\n", 0, position) + 1 if position >= 0 else 1


def _syntax_error(filename: str, line: int, column: int | None, message: str) -> ApiError:
    return ApiError(
        400, "syntax_error", f"Syntax error in {filename} line {line}: {message}", line=line, column=column
    )


def _folder(kernel: Any) -> Path:
    folder = kernel.data_dir.area("custom_nodes")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _lock(folder: Path, base: str) -> Any:
    # x.py and x.py.disabled are one custom node: they share a lock.
    return target_lock("custom_nodes", str(folder.resolve()), base)


def file_item(kernel: Any, filename: str) -> dict[str, Any]:
    """The listing item (§2.6.1) of one file for the current registry."""
    for item in kernel.custom_node_files():
        if item["filename"] == filename:
            return item
    return {"filename": filename, "enabled": not filename.endswith(DISABLED_SUFFIX), "nodes": [], "error": None}


def upload_file(kernel: Any, filename: str, data: bytes) -> dict[str, Any]:
    """Write ``custom_nodes/<filename>`` atomically, drop its ``.disabled`` twin, reload."""
    folder = _folder(kernel)
    target = confined(folder, filename, single_segment=True)
    twin = confined(folder, filename + DISABLED, single_segment=True)
    with _lock(folder, filename):
        if os.path.lexists(target) and not target.is_file():
            raise ApiError(409, "conflict", f"{filename} exists and is not a regular file")
        atomic_write_bytes(target, data)
        if os.path.lexists(twin):
            twin.unlink()
        report = kernel.reload(sources=_RELOAD_GROUPS, explicit=True)
        item = file_item(kernel, filename)
    return {
        "filename": filename,
        "message": "Uploaded successfully",
        "enabled": True,
        "nodes": item["nodes"],
        "error": item["error"],
        "generation": report.generation,
    }


def toggle_file(kernel: Any, filename: str, enabled: bool | None) -> dict[str, Any]:
    """Rename ``x.py`` <-> ``x.py.disabled`` as asked (or flip); reload only when it changed."""
    base = check_filename(filename, allow_disabled=True)
    folder = _folder(kernel)
    on = confined(folder, base, single_segment=True)
    off = confined(folder, base + DISABLED, single_segment=True)
    with _lock(folder, base):
        has_on, has_off = on.is_file(), off.is_file()
        if not has_on and not has_off:
            raise ApiError(404, "file_not_found", f"File not found: {filename}")
        if has_on and has_off:
            raise ApiError(409, "conflict", f"Both {base} and {base}{DISABLED} exist; delete one of them")
        wanted = (not has_on) if enabled is None else enabled
        if wanted == has_on:
            return {"filename": on.name if has_on else off.name, "enabled": has_on, "generation": kernel.generation}
        source, target = (off, on) if wanted else (on, off)
        os.rename(source, target)
        report = kernel.reload(sources=_RELOAD_GROUPS, explicit=True)
    return {"filename": target.name, "enabled": wanted, "generation": report.generation}


def delete_file(kernel: Any, filename: str) -> dict[str, Any]:
    """Remove one ``*.py`` or ``*.py.disabled`` file and reload."""
    base = check_filename(filename, allow_disabled=True)
    folder = _folder(kernel)
    path = confined(folder, filename, single_segment=True)
    with _lock(folder, base):
        if not path.is_file():
            raise ApiError(404, "file_not_found", f"File not found: {filename}")
        path.unlink()
        report = kernel.reload(sources=_RELOAD_GROUPS, explicit=True)
    return {"message": f"Deleted {filename}", "generation": report.generation}
