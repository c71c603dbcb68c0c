"""What a model download source is (``register_model_sources`` hook, api.md §2.8.6).

A source is any object with a ``fetch`` method; a pack registers one under a source ``type``::

    @hookimpl
    def register_model_sources(register):
        register("s3", MyS3Source())

``fetch(source, dest, progress)`` writes the bytes of the file that ``source`` (the entry's
``source`` object) describes to the new file ``dest`` and returns when it is complete; it calls
``progress(bytes_done, bytes_total_or_None)`` as bytes arrive and raises :class:`DownloadError`
with a one-line message when it fails. It never renames ``dest`` or checks ``sha256``: the caller
does that, and removes ``dest`` on any failure. ``progress`` may raise :class:`DownloadCancelled`
(server shutdown), which ``fetch`` must let through.

A source may also offer ``default_filename(source) -> str`` for entries without ``filename``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

#: ``progress(bytes_done, bytes_total)``; the total is None while unknown.
Progress = Callable[[int, int | None], None]


class ModelSource(Protocol):
    def fetch(self, source: Mapping[str, Any], dest: Path, progress: Progress) -> None: ...


class DownloadError(Exception):
    """A failed download; ``str()`` is the job's error message (``HTTP 404 from <url>``...)."""


class DownloadCancelled(DownloadError):
    """The job manager is shutting down; the download stops at the next progress report."""
