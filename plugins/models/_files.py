"""Model files on disk (api.md §2.8): the walk behind the listings, checked lookups, writes.

Everything here is blocking file I/O; routes call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from nodeloom.api import ApiError
from nodeloom.api.files import confined, target_lock
from nodeloom.kernel.fsutil import fsync_dir
from nodeloom.kernel.paths import PathError, check_relpath

from ._names import is_model_name, is_reserved_category


@attrs.frozen
class ModelFile:
    relpath: str
    size: int


def _addressable(relpath: str) -> bool:
    # Listed names must be ones the download and delete routes accept, and encodable as JSON text.
    try:
        relpath.encode("utf-8")
        check_relpath(relpath)
    except (UnicodeEncodeError, PathError):
        return False
    return True


def _inside(base: Path, path: Path) -> bool:
    resolved = path.resolve()
    return resolved == base or base in resolved.parents


def walk_model_files(root: Path, sub: str = "") -> list[ModelFile]:
    """Every model file under ``root`` (or ``root/sub``), unsorted.

    Dot names are skipped at any depth (temp files of uploads and downloads live there), and so are
    symlinks whose target leaves ``root``: the download route would refuse them anyway.
    """
    base = root.resolve()
    start = root / sub if sub else root
    found: list[ModelFile] = []
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or not is_model_name(name):
                continue
            path = Path(dirpath, name)
            try:
                info = path.stat()
            except OSError:  # a dangling symlink or a file removed meanwhile
                continue
            if not stat.S_ISREG(info.st_mode) or (path.is_symlink() and not _inside(base, path)):
                continue
            relpath = path.relative_to(root).as_posix()
            if _addressable(relpath):
                found.append(ModelFile(relpath, info.st_size))
    return found


def installed_size(root: Path, relpath: str) -> int | None:
    """The size of ``root/relpath`` when it is a regular file inside ``root``, else None."""
    try:
        path = confined(root, relpath)
        info = path.stat()
    except (ApiError, OSError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def lock_key(root: Path, relpath: str) -> tuple[Any, ...]:
    """The :func:`target_lock` key shared by uploads, deletes and finished downloads of one file."""
    return ("models", str(root.resolve()), relpath)


def check_category(root: Path, category: str) -> None:
    """A category a client names for writing: one safe segment, not ``download``."""
    confined(root, category, single_segment=True)
    if is_reserved_category(category):
        raise ApiError(400, "invalid_path", f"Invalid path '{category}': '{category}' is reserved")


def existing_model_file(root: Path, filename: str) -> Path:
    """The checks of §2.8.4 and §2.8.5, in the spec's order; returns the file's path."""
    path = confined(root, filename)
    try:
        info = path.stat()
    except OSError:  # missing, a file used as a folder, or a name too long for the system
        raise ApiError(404, "file_not_found", f"File not found: {filename}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ApiError(400, "not_a_file", f"Not a file: {filename}")
    if not is_model_name(filename):
        raise ApiError(400, "invalid_file_type", f"Not a model file: {filename}")
    return path


def delete_model_file(root: Path, filename: str) -> None:
    path = existing_model_file(root, filename)
    with target_lock(*lock_key(root, filename)):
        try:
            path.unlink()
        except FileNotFoundError:  # a concurrent delete won
            raise ApiError(404, "file_not_found", f"File not found: {filename}") from None


def install_upload(root: Path, relpath: str, staged: Path, overwrite: bool) -> None:
    """Move a received ``.part`` file to ``root/relpath``: the 409 check and the rename under one lock.

    The ``.part`` file is left where it is on failure; the caller discards it.
    """
    with target_lock(*lock_key(root, relpath)):
        # Checked again: a symlink on the way may have changed while the body was streaming.
        target = confined(root, relpath)
        folder = PurePosixPath(relpath).parent.as_posix()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ApiError(400, "invalid_path", f"Invalid path '{folder}': not a folder") from None
        if os.path.lexists(target) and (not overwrite or target.is_dir()):
            raise ApiError(409, "file_exists", f"File already exists: {relpath}")
        os.replace(staged, target)
        fsync_dir(target.parent)
