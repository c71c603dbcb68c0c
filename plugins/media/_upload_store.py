"""The chunk store behind ``POST /api/upload`` (api.md §2.12.1) and its TTL sweep.

An upload's key is its target path ``temp/uploads/<session>/<nodeName>_<nodeId>/<filename>``.
Its chunks live in the hidden folder ``.<filename>.chunks`` beside the target, one
``<index>.chunk`` file each, plus ``upload.json`` recording ``totalChunks``. Everything that reads
or changes a chunk folder holds the key's :func:`target_lock`, so the completeness check and the
assembly see a stable set and exactly one request completes an upload. The functions here block
(file I/O): routes call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from nodeloom.api import ApiError
from nodeloom.api.files import invalid_name, target_lock
from nodeloom.kernel.fsutil import atomic_write_json, fsync_dir, temp_path_for

__all__ = [
    "CHUNKS_SUFFIX",
    "FILENAME_MAX",
    "ID_MAX",
    "chunk_dir_for",
    "put_chunk",
    "sanitize_filename",
    "sanitize_id",
    "sweep_stale_uploads",
]

log = logging.getLogger("nodeloom.media")

ID_MAX = 64
FILENAME_MAX = 200
CHUNKS_SUFFIX = ".chunks"
_META = "upload.json"
_CHUNK_NAME = re.compile(r"^([0-9]+)\.chunk$")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_COPY_BLOCK = 4 * 1024 * 1024


# ---------------------------------------------------------------------------- sanitising


def sanitize_id(field: str, value: str) -> str:
    """``sessionId``/``nodeId``/``nodeName``: unsafe characters become ``_``, cut to 64; empty is 400."""
    cleaned = _ID_UNSAFE.sub("_", value)[:ID_MAX]
    if not cleaned:
        raise invalid_name(value, f"{field} is empty")
    return cleaned


def sanitize_filename(field: str, value: str) -> str:
    """The base name with unsafe characters as ``_``, no leading dots, at most 200 characters.

    Cutting keeps the extension so the file still opens with the right decoder.
    """
    base = re.split(r"[/\\]", value)[-1]
    cleaned = _FILENAME_UNSAFE.sub("_", base).lstrip(".")
    if len(cleaned) > FILENAME_MAX:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and stem and len(ext) < FILENAME_MAX - 1:
            cleaned = stem[: FILENAME_MAX - len(ext) - 1] + "." + ext
        else:
            cleaned = cleaned[:FILENAME_MAX]
    if not cleaned:
        raise invalid_name(value, f"{field} is empty after removing unsafe characters")
    return cleaned


# ---------------------------------------------------------------------------- the store


def chunk_dir_for(target: Path) -> Path:
    return target.with_name(f".{target.name}{CHUNKS_SUFFIX}")


def _target_of(chunk_dir: Path) -> Path:
    return chunk_dir.with_name(chunk_dir.name[1 : -len(CHUNKS_SUFFIX)])


def _lock_key(target: Path) -> tuple[str, str]:
    # The route's path and the sweep's path must give the same key; both derive from the resolved
    # uploads folder, and abspath removes any remaining spelling differences.
    return ("nodeloom.media.upload", os.path.abspath(target))


def _read_total(chunk_dir: Path) -> int | None:
    try:
        total = json.loads((chunk_dir / _META).read_text(encoding="utf-8"))["totalChunks"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _chunk_sizes(chunk_dir: Path) -> dict[int, int]:
    sizes: dict[int, int] = {}
    with os.scandir(chunk_dir) as entries:
        for entry in entries:
            match = _CHUNK_NAME.match(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                sizes[int(match.group(1))] = entry.stat(follow_symlinks=False).st_size
    return sizes


def _assemble(chunk_dir: Path, total: int, target: Path) -> int:
    """Concatenate the chunks in index order into a ``.part`` file and rename it over ``target``."""
    if total == 1:
        # The one chunk is already a complete, fsynced file on this file system: a rename is enough.
        os.replace(chunk_dir / "0.chunk", target)
        fsync_dir(target.parent)
        return target.stat().st_size
    part = temp_path_for(target, ".part")
    try:
        with open(part, "xb") as out:
            for index in range(total):
                with open(chunk_dir / f"{index}.chunk", "rb") as src:
                    shutil.copyfileobj(src, out, _COPY_BLOCK)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return size


def put_chunk(
    target: Path,
    staged: Path,
    *,
    index: int,
    total: int,
    max_upload_bytes: int,
    display_name: str,
) -> dict[str, Any]:
    """Store chunk ``index`` (the fsynced file ``staged``, moved in) of the upload to ``target``.

    Returns ``{"completed": False, "received", "totalChunks"}`` or, for the request that makes the
    set complete, ``{"completed": True, "size"}`` after assembling. Raises 409 ``upload_conflict``
    and 413 ``payload_too_large`` (discarding the partial upload) as api.md §2.12.1 says.
    ``staged`` must be on the same file system as ``target``.
    """
    chunk_dir = chunk_dir_for(target)
    with target_lock(*_lock_key(target)):
        target.parent.mkdir(parents=True, exist_ok=True)
        known = _read_total(chunk_dir)
        if known is not None and known != total:
            raise ApiError(
                409, "upload_conflict", f"Upload of {display_name} is in progress with {known} chunks",
            )
        if known is None:
            # A folder without readable metadata is debris of a crash: it belongs to no upload.
            shutil.rmtree(chunk_dir, ignore_errors=True)
            chunk_dir.mkdir()
            atomic_write_json(chunk_dir / _META, {"totalChunks": total})
        sizes = _chunk_sizes(chunk_dir)
        try:
            sizes[index] = staged.stat().st_size
        except FileNotFoundError:
            # Only the TTL sweep removes staged parts, and only after a day without progress.
            raise ApiError(409, "upload_conflict", f"Chunk {index} of {display_name} expired; send it again") from None
        if sum(sizes.values()) > max_upload_bytes:
            shutil.rmtree(chunk_dir, ignore_errors=True)
            raise ApiError(
                413, "payload_too_large",
                f"Upload of {display_name} too large (limit {max_upload_bytes} bytes); the partial upload was discarded",
            )
        os.replace(staged, chunk_dir / f"{index}.chunk")
        # The sweep ages an upload by its last chunk; replacing an existing chunk may not touch the folder.
        os.utime(chunk_dir)
        if len(sizes) < total:
            return {"completed": False, "received": len(sizes), "totalChunks": total}
        size = _assemble(chunk_dir, total, target)
        shutil.rmtree(chunk_dir, ignore_errors=True)
        return {"completed": True, "size": size}


# ---------------------------------------------------------------------------- TTL sweep


def _newest_mtime(folder: Path) -> float | None:
    try:
        newest = folder.stat().st_mtime
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
                except FileNotFoundError:
                    continue
    except FileNotFoundError:
        return None
    return newest


def _sweep_chunk_dir(chunk_dir: Path, ttl_s: float, now: float) -> bool:
    with target_lock(*_lock_key(_target_of(chunk_dir))):
        # Re-checked under the lock: a chunk may have arrived since the walk saw the folder.
        newest = _newest_mtime(chunk_dir)
        if newest is None or now - newest <= ttl_s:
            return False
        shutil.rmtree(chunk_dir, ignore_errors=True)
        return True


def sweep_stale_uploads(uploads_root: str | os.PathLike[str], ttl_s: float, now: float | None = None) -> list[Path]:
    """Delete unfinished uploads whose last chunk is older than ``ttl_s`` seconds; returns what went.

    Also removes leftover hidden ``.part`` files (staged chunks, interrupted assemblies) of that
    age. Finished files are never touched. Symlinks are not followed.
    """
    root = Path(uploads_root).resolve()
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        for name in list(dirnames):
            if name.startswith(".") and name.endswith(CHUNKS_SUFFIX) and len(name) > len(CHUNKS_SUFFIX) + 1:
                dirnames.remove(name)
                if (folder / name).is_symlink():
                    continue  # never ours, and deleting through it could reach outside the folder
                if _sweep_chunk_dir(folder / name, ttl_s, now):
                    removed.append(folder / name)
        for name in filenames:
            if not (name.startswith(".") and name.endswith(".part")):
                continue
            path = folder / name
            try:
                if now - path.lstat().st_mtime > ttl_s:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue
    if removed:
        log.info("swept %d stale partial upload(s) from %s", len(removed), root)
    return removed
