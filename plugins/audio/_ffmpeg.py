"""Driving the ffmpeg binary: find it, probe a file, cut a range, decode to float32 PCM.

Nothing here knows about HTTP or nodes. Every failure is one of the typed exceptions below, so the
trim route can map each to its status (api.md §2.13) and nodes to their error messages. The
binary is looked up again on every call, so a changed ``NODELOOM_FFMPEG`` takes effect at once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import attrs
import numpy as np

__all__ = [
    "MISSING_MESSAGE",
    "TIMEOUT_S",
    "FfmpegError",
    "FfmpegFailed",
    "FfmpegMissing",
    "FfmpegTimeout",
    "NoAudioStream",
    "Probe",
    "decode",
    "locate_ffmpeg",
    "probe",
    "trim",
    "trim_command",
]

#: One ffmpeg invocation may run this long (api.md §1.8); read at call time so tests can shorten it.
TIMEOUT_S = 300.0

MISSING_MESSAGE = (
    "ffmpeg is not available: install ffmpeg or the imageio-ffmpeg package, or set NODELOOM_FFMPEG"
)

# Anchored at line starts: a metadata value that merely contains these words must not match.
_DURATION = re.compile(r"^\s*Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", re.MULTILINE)
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+[^:\n]*: Audio:", re.MULTILINE)
_INPUT = re.compile(r"^Input #0,", re.MULTILINE)


class FfmpegError(Exception):
    """Base of every failure of this module."""


class FfmpegMissing(FfmpegError):
    def __init__(self) -> None:
        super().__init__(MISSING_MESSAGE)


class NoAudioStream(FfmpegError):
    """ffmpeg opened the file but found no audio stream in it."""


class FfmpegFailed(FfmpegError):
    """ffmpeg exited non-zero; ``last_line`` is the last non-empty line of its stderr."""

    def __init__(self, last_line: str) -> None:
        super().__init__(f"ffmpeg failed: {last_line}")
        self.last_line = last_line


class FfmpegTimeout(FfmpegError):
    def __init__(self) -> None:
        super().__init__("ffmpeg timed out")


def locate_ffmpeg() -> str:
    """The binary to run: ``NODELOOM_FFMPEG``, else ``ffmpeg`` on PATH, else imageio-ffmpeg's."""
    configured = os.environ.get("NODELOOM_FFMPEG", "").strip()
    if configured:
        # An explicit setting that does not work is an error, not a reason to pick another binary.
        found = shutil.which(configured)
        if found is None:
            raise FfmpegMissing()
        return found
    found = shutil.which("ffmpeg")
    if found is not None:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError):
        raise FfmpegMissing() from None


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        # stdin is closed so ffmpeg can never wait for a keypress in a server process.
        return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise FfmpegTimeout() from None
    except OSError:  # not executable, not a binary, vanished since it was located
        raise FfmpegMissing() from None


def last_line(stderr: bytes) -> str:
    """The last non-empty line of ffmpeg's stderr (its own summary of what went wrong)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "exited without a message"


def _failed(result: subprocess.CompletedProcess[bytes]) -> FfmpegFailed:
    return FfmpegFailed(last_line(result.stderr))


@attrs.frozen
class Probe:
    """What ffmpeg reports about an input: its duration (None when ffmpeg cannot tell) and streams."""

    duration: float | None
    has_audio: bool


def probe(exe: str, source: Path) -> Probe:
    """Read duration and audio presence from ``ffmpeg -i`` (imageio-ffmpeg ships no ffprobe).

    Raises :class:`FfmpegFailed` when ffmpeg cannot open the file at all.
    """
    # Without an output ffmpeg always exits non-zero, so success is judged by the report itself.
    result = _run([exe, "-hide_banner", "-nostdin", "-i", str(source)])
    text = result.stderr.decode("utf-8", "replace")
    if not _INPUT.search(text):
        raise _failed(result)
    match = _DURATION.search(text)
    duration = None
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return Probe(duration=duration, has_audio=_AUDIO_STREAM.search(text) is not None)


def _seconds(value: float) -> str:
    # Fixed-point text: ffmpeg does not parse exponents such as 1e-05.
    return f"{value:.6f}"


def trim_command(exe: str, source: Path, start: float, end: float | None, output: Path) -> list[str]:
    """The ffmpeg command line of :func:`trim` (also what a benchmark runs bare).

    ``-ss``/``-to`` come after ``-i`` so ffmpeg decodes up to ``start`` and cuts there, which is
    sample-accurate (before ``-i`` it would seek to a packet boundary).
    """
    args = [exe, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(source), "-ss", _seconds(start)]
    if end is not None:
        args += ["-to", _seconds(end)]
    # Only audio is kept: cover art counts as video, subtitles and data streams are dropped too.
    return [*args, "-vn", "-sn", "-dn", str(output)]


def trim(exe: str, source: Path, start: float, end: float | None, output: Path) -> None:
    """Re-encode ``start``–``end`` seconds of ``source`` into ``output``, fsynced.

    The encoder is ffmpeg's default for ``output``'s extension. On any failure ``output`` is
    removed, so callers pass a hidden temporary name and rename it themselves.
    """
    try:
        result = _run(trim_command(exe, source, start, end, output))
        if result.returncode != 0:
            raise _failed(result)
        _fsync(output)
    except BaseException:
        output.unlink(missing_ok=True)
        raise


class TrimJob:
    """A cut running in the background (see :func:`start_trim`); finish or cancel it exactly once."""

    def __init__(self, args: list[str], output: Path) -> None:
        self.output = output
        try:
            # stderr is small at ``-v error``, so an unread pipe cannot fill up and stall ffmpeg.
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE)
        except OSError:
            raise FfmpegMissing() from None

    def finish(self) -> None:
        """Wait for the cut; fsync the output, or remove it and raise on any failure."""
        try:
            try:
                _, stderr = self._proc.communicate(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.communicate()
                raise FfmpegTimeout() from None
            if self._proc.returncode != 0:
                raise FfmpegFailed(last_line(stderr))
            _fsync(self.output)
        except BaseException:
            self.output.unlink(missing_ok=True)
            raise

    def cancel(self) -> None:
        """Stop the cut and remove whatever it wrote."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()
        self.output.unlink(missing_ok=True)


def start_trim(exe: str, source: Path, start: float, end: float | None, output: Path) -> TrimJob:
    """Start :func:`trim`'s command without waiting, so a probe can run beside it."""
    return TrimJob(trim_command(exe, source, start, end, output), output)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def decode(exe: str, source: Path, *, channels: int | None = None,
           rate: int | None = None) -> tuple[np.ndarray, int]:
    """The first audio stream of ``source`` as float32 ``[channels, samples]`` and its sample rate.

    ``channels``/``rate`` convert (ffmpeg downmixes and resamples); None keeps the file's own.
    Callers check :func:`probe` first when they want :class:`NoAudioStream` instead of a failure.
    """
    args = [exe, "-hide_banner", "-nostdin", "-v", "error", "-i", str(source), "-map", "0:a:0",
            "-map_metadata", "-1", "-c:a", "pcm_f32le"]
    if channels:
        args += ["-ac", str(channels)]
    if rate:
        args += ["-ar", str(rate)]
    # A WAV stream rather than raw f32le: its header states the channel count and rate, which
    # would otherwise have to be parsed from ffmpeg's channel-layout names ("5.1(side)", ...).
    result = _run([*args, "-f", "wav", "-"])
    if result.returncode != 0:
        raise _failed(result)
    return parse_wav_f32(result.stdout)


def parse_wav_f32(data: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of a float32 WAV stream as ffmpeg writes it to a pipe."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise FfmpegFailed("decoder output is not a WAV stream")
    pos, channels, rate = 12, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
        elif chunk == b"data":
            if channels <= 0:
                break
            # Sizes are placeholders when ffmpeg cannot seek back, so the data runs to the end.
            payload = data[body:]
            usable = len(payload) - len(payload) % (4 * channels)
            frames = np.frombuffer(payload[:usable], dtype="<f4").reshape(-1, channels)
            return frames.T.astype(np.float32, order="C"), rate
        pos = body + size + (size & 1)
    raise FfmpegFailed("decoder output has no audio data")
