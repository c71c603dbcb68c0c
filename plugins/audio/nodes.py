"""Audio nodes: ``LoadAudio`` (a file as a waveform tensor) and ``AudioTrim`` (cut a file with ffmpeg).

Paths follow nodes.md N8: ``/temp/...`` (what the upload API and the trim route return) resolves
in the temp folder, anything else under ``libs/``. ``AudioTrim`` cuts through the same code as
``POST /api/audio/trim`` and writes to the same ``temp/AudioTrim/`` folder.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.kernel.paths import file_fingerprint, resolve_file
from nodeloom.torchkit import to_device

from . import _ffmpeg
from ._trimming import TRIM_FOLDER, EndPastDuration, InvalidRange, trim_to_folder

CATEGORY = "IO"
#: Offered by the upload widget; ffmpeg reads far more, and other extensions still work.
EXTENSIONS = (".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".webm", ".mp4", ".mkv",
              ".mov")
#: Relative (non-``/temp/``) paths are looked up here, like the other file-reading nodes.
AREA = "libs"
MAX_RATE = 768_000


@contextmanager
def _as_node_error(node_name: str) -> Iterator[None]:
    """ffmpeg failures as the node's own error, with its name in front."""
    try:
        yield
    except (_ffmpeg.FfmpegMissing, _ffmpeg.FfmpegTimeout) as exc:
        raise RuntimeError(f"{node_name}: {exc}") from None
    except (_ffmpeg.FfmpegError, InvalidRange, EndPastDuration) as exc:
        raise ValueError(f"{node_name}: {exc}") from None


def source_file(call: Any, path: str, node_name: str) -> Path:
    """The existing file a path param names, confined per N8."""
    if not path:
        raise ValueError(f"{node_name}: audio path is required")
    resolved = resolve_file(call, AREA, path, node_name)
    if not resolved.is_file():
        raise ValueError(f"{node_name}: audio file not found: {path}")
    return resolved


def load_waveform(exe: str, source: Path, label: str, *, mono: bool = False,
                  rate: int = 0) -> tuple[torch.Tensor, int]:
    """The first audio stream as a CPU float32 ``[channels, samples]`` tensor and its sample rate."""
    if not _ffmpeg.probe(exe, source).has_audio:
        raise _ffmpeg.NoAudioStream(f"No audio stream in {label}")
    samples, sample_rate = _ffmpeg.decode(exe, source, channels=1 if mono else None, rate=rate or None)
    return torch.from_numpy(samples), sample_rate


@node(
    name="LoadAudio",
    category=CATEGORY,
    outputs=[
        Out("waveform", "TENSOR", "float32 samples, shape [channels, samples], values in [-1, 1]."),
        Out("sample_rate", "SCALAR", "Samples per second (int)."),
    ],
    params=[
        Param.upload("path", "", "An uploaded file (/temp/uploads/...), a trim output, or a path "
                     "under libs/.", options=EXTENSIONS),
        Param.bool("mono", False, "Mix all channels down to one."),
        Param.int("sample_rate", 0, "Resample to this rate; 0 keeps the file's rate.", min=0,
                  max=MAX_RATE),
    ],
    fingerprint=file_fingerprint(AREA, "path", "LoadAudio"),
)
def load_audio(call: Any) -> dict[str, Any]:
    """Read the first audio stream of an audio or video file with ffmpeg as a waveform tensor."""
    path = call.params["path"]
    source = source_file(call, path, "LoadAudio")
    with _as_node_error("LoadAudio"):
        waveform, rate = load_waveform(_ffmpeg.locate_ffmpeg(), source, path, mono=call.params["mono"],
                                       rate=call.params["sample_rate"])
    return {"waveform": to_device(waveform, call.device), "sample_rate": rate}


@node(
    name="AudioTrim",
    category=CATEGORY,
    inputs=[
        In("source", "STRING", "A file path from another node (e.g. a previous AudioTrim); "
           "used instead of the path param.", optional=True),
    ],
    outputs=[
        Out("path", "STRING", "The new file, /temp/AudioTrim/<name> (LoadAudio reads it)."),
        Out("waveform", "TENSOR", "The trimmed audio, float32 [channels, samples]."),
        Out("sample_rate", "SCALAR", "Samples per second (int)."),
    ],
    params=[
        Param.upload("path", "", "An uploaded file (/temp/uploads/...), a trim output, or a path "
                     "under libs/.", options=EXTENSIONS),
        Param.float("start", 0.0, "Start, in seconds.", min=0),
        Param.float("end", 0.0, "End, in seconds; 0 keeps everything after start.", min=0),
    ],
    # Every run writes a new file, so a cached result would skip the side effect.
    cacheable=False,
)
def audio_trim(call: Any) -> dict[str, Any]:
    """Cut start–end seconds out of an audio or video file into a new file, re-encoded sample-accurately.

    The output keeps the input's format and is written to temp/AudioTrim/, like the trim API.
    """
    path = call.inputs.get("source") or call.params["path"]
    if not isinstance(path, str):
        raise ValueError(f"AudioTrim: source must be a file path string, got {type(path).__name__}")
    start, end = call.params["start"], call.params["end"] or None
    source = source_file(call, path, "AudioTrim")
    folder = resolve_file(call, "temp", f"/temp/{TRIM_FOLDER}", "AudioTrim")
    with _as_node_error("AudioTrim"):
        exe = _ffmpeg.locate_ffmpeg()
        output = trim_to_folder(source, start, end, folder, label=path, exe=exe)
        waveform, rate = load_waveform(exe, output, output.name)
    return {
        "path": f"/temp/{TRIM_FOLDER}/{output.name}",
        "waveform": to_device(waveform, call.device),
        "sample_rate": rate,
    }
