"""One registry download from start to finish: ``.part`` file, fetch, sha256 check, rename (§2.8.6).

Whatever the source, the bytes land in ``models/<category>/.<filename>.<random>.part`` and only a
complete, verified file is renamed onto the target; on any failure the ``.part`` file is removed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nodeloom.api import ApiError
from nodeloom.api.files import confined, target_lock

from ._files import lock_key
from ._registry import RegistryEntry
from ._sources import DownloadError, Progress

_HASH_CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _target(root: Path, entry: RegistryEntry) -> Path:
    try:
        return confined(root, entry.target)
    except ApiError as exc:  # a category folder that is a symlink leading outside models/
        raise DownloadError(str(exc.detail)) from None


def download_entry(root: Path, entry: RegistryEntry, source: Any, progress: Progress) -> str:
    """Fetch ``entry`` with ``source`` into place; returns the installed relpath.

    Raises :class:`DownloadError` (or its ``DownloadCancelled``) with the job's message.
    """
    target = _target(root, entry)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create the folder {entry.category}: {exc.strerror or exc}") from None
    part = target.parent / f".{entry.filename}.{secrets.token_hex(8)}.part"
    try:
        source.fetch(_source_copy(entry.source), part, progress)
        if not part.is_file():
            raise DownloadError(f"The {entry.source_type} source produced no file")
        if entry.sha256 is not None:
            actual = sha256_of(part)
            if actual != entry.sha256:
                raise DownloadError(f"Checksum mismatch: expected {entry.sha256}, got {actual}")
        with target_lock(*lock_key(root, entry.target)):
            os.replace(part, _target(root, entry))
    except DownloadError:
        raise
    except OSError as exc:  # disk full, permissions...
        raise DownloadError(f"Cannot write {entry.target}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)
    return entry.target


def _source_copy(source: Mapping[str, Any]) -> dict[str, Any]:
    # A source must not be able to change the registry entry the next job reads.
    return dict(source)
