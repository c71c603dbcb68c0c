"""Trimming a file into the AudioTrim folder: range checks, output naming, atomic placement.

Shared by ``POST /api/audio/trim`` and the ``AudioTrim`` node, so both cut, name and place files
identically (api.md §2.13). No web framework here: failures are typed exceptions.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

from . import _ffmpeg

__all__ = [
    "DURATION_SLACK_S",
    "TRIM_FOLDER",
    "EndPastDuration",
    "InvalidRange",
    "StartPastDuration",
    "check_range",
    "output_base",
    "trim_to_folder",
]

#: Trim outputs live in ``temp/<TRIM_FOLDER>/`` and are served at ``/temp/<TRIM_FOLDER>/...``.
TRIM_FOLDER = "AudioTrim"
#: ffmpeg prints durations in hundredths of a second, so ``end`` may exceed them by that much.
DURATION_SLACK_S = 0.01
RANGE_MESSAGE = "start must be >= 0 and less than end"

# A file name is at most 255 bytes; the hidden name adds a dot, random hex, ".tmp" and the
# extension again, and a collision suffix may follow the stem.
_NAME_BYTES = 255
_HIDDEN_OVERHEAD = len(".") + len(".") + 16 + len(".tmp")
_SUFFIX_ROOM = len("_99999")

# Choosing a free final name and renaming onto it must not interleave between two trims that
# finish in the same millisecond, or one would replace the other's output.
_CLAIM_LOCK = threading.Lock()


class InvalidRange(ValueError):
    def __init__(self, message: str = RANGE_MESSAGE) -> None:
        super().__init__(message)


class EndPastDuration(ValueError):
    def __init__(self, end: float, duration: float) -> None:
        super().__init__(f"end ({end} s) is past the end of the audio (duration {duration} s)")
        self.end = end
        self.duration = duration


class StartPastDuration(InvalidRange):
    """``start`` at or after the end when no ``end`` was given (the node's "to the end" mode)."""

    def __init__(self, start: float, duration: float) -> None:
        super().__init__(f"start ({start} s) is not before the end of the audio (duration {duration} s)")
        self.duration = duration


def check_range(start: float, end: float | None) -> None:
    """``start`` >= 0 and, when an ``end`` is given, ``start`` < ``end``."""
    if start < 0 or (end is not None and start >= end):
        raise InvalidRange()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _fit(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[: max(max_bytes, 0)].decode("utf-8", "ignore")


def output_base(source: Path, now_ms: int) -> tuple[str, str]:
    """``(<stem>_trimmed_<unix ms>, .<ext>)`` for ``source``, the extension lowercased.

    The stem is shortened when needed so that every name derived from it fits a file name
    (outputs of outputs grow by one ``_trimmed_<ms>`` each time).
    """
    ext = source.suffix.lower()
    tail = f"_trimmed_{now_ms}"
    room = _NAME_BYTES - _HIDDEN_OVERHEAD - _SUFFIX_ROOM - len(tail) - 2 * len(ext.encode("utf-8"))
    stem = _fit(source.stem, room) or "audio"
    return stem + tail, ext


def _claim(hidden: Path, folder: Path, base: str, ext: str) -> Path:
    """Rename ``hidden`` to ``base + ext``, or ``base_1 + ext``, ``base_2``... when taken."""
    with _CLAIM_LOCK:
        n = 0
        while True:
            final = folder / f"{base}{'' if n == 0 else f'_{n}'}{ext}"
            if not os.path.lexists(final):
                os.replace(hidden, final)
                return final
            n += 1


def _scrub(message: str, replacements: dict[str, str]) -> str:
    # ffmpeg quotes the paths it was given; clients should see their own names, not the data dir.
    for old, new in replacements.items():
        message = message.replace(old, new)
    return message


def _check_probe(info: _ffmpeg.Probe, start: float, end: float | None, shown: str) -> None:
    if not info.has_audio:
        raise _ffmpeg.NoAudioStream(f"No audio stream in {shown}")
    if info.duration is not None:
        if end is not None and end > info.duration + DURATION_SLACK_S:
            raise EndPastDuration(end, info.duration)
        if end is None and start >= info.duration:
            raise StartPastDuration(start, info.duration)


def trim_to_folder(
    source: Path,
    start: float,
    end: float | None,
    folder: Path,
    *,
    label: str | None = None,
    exe: str | None = None,
    now_ms: int | None = None,
) -> Path:
    """Cut ``start``–``end`` seconds (``end`` None: to the end) of ``source`` into ``folder``.

    Steps in the order of api.md §2.13: locate ffmpeg (:class:`~._ffmpeg.FfmpegMissing`), probe
    (:class:`~._ffmpeg.NoAudioStream`), check the range against the duration
    (:class:`EndPastDuration`), cut (:class:`~._ffmpeg.FfmpegFailed`,
    :class:`~._ffmpeg.FfmpegTimeout`). The output appears under its final name only when complete;
    nothing is left behind on failure. ``label`` names the source in error messages. Returns the
    output path.
    """
    check_range(start, end)
    exe = exe or _ffmpeg.locate_ffmpeg()
    shown = label or source.name
    base, ext = output_base(source, now_ms if now_ms is not None else _now_ms())
    folder.mkdir(parents=True, exist_ok=True)
    # Hidden (api.md §1.10) yet ending in the real extension, which is how ffmpeg picks the format.
    hidden = folder / f".{base}{ext}.{secrets.token_hex(8)}.tmp{ext}"
    # The cut starts at once and the probe runs beside it: a request costs about one ffmpeg run
    # instead of two. A probe that refuses the request cancels the cut, so the order of the
    # checks (and of their errors) is unchanged.
    job = _ffmpeg.start_trim(exe, source, start, end, hidden)
    try:
        _check_probe(_ffmpeg.probe(exe, source), start, end, shown)
    except BaseException:
        job.cancel()
        raise
    try:
        job.finish()
    except _ffmpeg.FfmpegFailed as exc:
        line = _scrub(exc.last_line, {str(hidden): f"{base}{ext}", str(source): shown})
        raise _ffmpeg.FfmpegFailed(line) from None
    try:
        return _claim(hidden, folder, base, ext)
    except BaseException:
        hidden.unlink(missing_ok=True)
        raise
