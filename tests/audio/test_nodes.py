"""``LoadAudio`` and ``AudioTrim`` run through the real registry build and engine."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import nodeloom.plugins.audio as audio_plugin
from nodeloom.kernel import check_spec, spec_of
from nodeloom.kernel.host import Kernel
from nodeloom.testing import NodeRunFailed, run_node
from tests.audio.conftest import RATE, TONE_HZ, TONE_S


def peak_hz(waveform: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(waveform[0].double()).abs()
    return float(torch.argmax(spectrum)) * rate / waveform.shape[1]


def test_plugin_registers_valid_specs() -> None:
    got: list[Any] = []
    audio_plugin.register_nodes(got.extend)
    specs = [spec_of(s) for s in got]
    assert [s.name for s in specs] == ["LoadAudio", "AudioTrim"]
    for spec in specs:
        check_spec(spec)


def test_nodes_are_in_the_kernel_registry(kernel: Kernel) -> None:
    assert {"LoadAudio", "AudioTrim"} <= set(kernel.snapshot.nodes)
    plugin = {p.id: p for p in kernel.plugins()}["audio"]
    assert not plugin.error


# -- LoadAudio ------------------------------------------------------------------------------------------


def test_load_audio_from_an_upload(kernel: Kernel, upload: Callable[..., str]) -> None:
    out = run_node(kernel, "LoadAudio", params={"path": upload("stereo.wav")})
    waveform, rate = out["waveform"], out["sample_rate"]
    assert isinstance(rate, int) and rate == RATE
    assert waveform.dtype == torch.float32 and waveform.shape == (2, int(TONE_S * RATE))
    assert peak_hz(waveform, rate) == pytest.approx(TONE_HZ, abs=1)
    assert waveform.abs().max() <= 1.0


def test_load_audio_mono_and_resampled(kernel: Kernel, upload: Callable[..., str]) -> None:
    out = run_node(kernel, "LoadAudio", params={"path": upload("stereo.wav"), "mono": True, "sample_rate": 8000})
    assert out["sample_rate"] == 8000 and out["waveform"].shape == (1, int(TONE_S * 8000))
    assert peak_hz(out["waveform"], 8000) == pytest.approx(TONE_HZ, abs=1)


@pytest.mark.parametrize("name", ["tone.mp3", "tone.ogg", "av.mkv"])
def test_load_audio_other_formats(kernel: Kernel, upload: Callable[..., str], name: str) -> None:
    out = run_node(kernel, "LoadAudio", params={"path": upload(name)})
    assert out["waveform"].shape[0] == 1
    assert peak_hz(out["waveform"], out["sample_rate"]) == pytest.approx(TONE_HZ, abs=2)


def test_load_audio_relative_paths_are_under_libs(kernel: Kernel, media: dict[str, Path]) -> None:
    target = kernel.data_dir.area("libs") / "sounds" / "a.wav"
    target.parent.mkdir(parents=True)
    shutil.copyfile(media["tone.wav"], target)
    out = run_node(kernel, "LoadAudio", params={"path": "sounds/a.wav"})
    assert out["waveform"].shape == (1, int(TONE_S * RATE))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "LoadAudio: audio path is required"),
        ("missing.wav", "LoadAudio: audio file not found: missing.wav"),
        ("/temp/uploads/nope.wav", "LoadAudio: audio file not found: /temp/uploads/nope.wav"),
        ("../session.token", "LoadAudio: path '../session.token' must stay inside the libs directory"),
        ("/temp/../session.token", "must stay inside"),
        ("/etc/passwd", "must stay inside the libs directory"),
    ],
)
def test_load_audio_bad_paths(kernel: Kernel, path: str, message: str) -> None:
    with pytest.raises(NodeRunFailed, match=message.replace(".", r"\.")):
        run_node(kernel, "LoadAudio", params={"path": path})


def test_load_audio_symlink_escape(kernel: Kernel, uploads: Path, media: dict[str, Path]) -> None:
    (uploads / "escape.wav").symlink_to(media["tone.wav"])
    with pytest.raises(NodeRunFailed, match="must stay inside"):
        run_node(kernel, "LoadAudio", params={"path": f"/temp/uploads/s1/{uploads.name}/escape.wav"})


def test_load_audio_no_audio_stream(kernel: Kernel, upload: Callable[..., str]) -> None:
    path = upload("video.mp4")
    with pytest.raises(NodeRunFailed, match=f"LoadAudio: No audio stream in {path}"):
        run_node(kernel, "LoadAudio", params={"path": path})


def test_load_audio_unreadable_file(kernel: Kernel, upload: Callable[..., str]) -> None:
    with pytest.raises(NodeRunFailed, match="LoadAudio: ffmpeg failed: "):
        run_node(kernel, "LoadAudio", params={"path": upload("not_audio.mp3")})


def test_load_audio_without_ffmpeg(kernel: Kernel, upload: Callable[..., str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = upload("tone.wav")
    monkeypatch.setenv("NODELOOM_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(NodeRunFailed, match="LoadAudio: ffmpeg is not available"):
        run_node(kernel, "LoadAudio", params={"path": path})


def test_load_audio_fingerprint_follows_the_file(kernel: Kernel, upload: Callable[..., str], uploads: Path) -> None:
    spec = spec_of(audio_plugin._nodes.load_audio)
    path = upload("tone.wav")
    first = spec.fingerprint({"path": path}, kernel.data_dir)
    assert first and first.endswith(f":{(uploads / 'tone.wav').stat().st_size}:{(uploads / 'tone.wav').stat().st_mtime_ns}")
    assert spec.fingerprint({"path": "/temp/uploads/none.wav"}, kernel.data_dir) is None


# -- AudioTrim ------------------------------------------------------------------------------------------


def test_audio_trim(kernel: Kernel, upload: Callable[..., str], uploads: Path) -> None:
    path = upload("tone.wav", "voice.wav")
    before = (uploads / "voice.wav").read_bytes()
    out = run_node(kernel, "AudioTrim", params={"path": path, "start": 0.5, "end": 2.0})
    assert out["sample_rate"] == RATE
    assert out["waveform"].shape == (1, int((2.0 - 0.5) * RATE))
    assert out["path"].startswith("/temp/AudioTrim/voice_trimmed_") and out["path"].endswith(".wav")
    assert (kernel.data_dir.area("temp") / out["path"].removeprefix("/temp/")).is_file()
    assert (uploads / "voice.wav").read_bytes() == before
    # The new path is what LoadAudio reads, and matches the node's own waveform.
    loaded = run_node(kernel, "LoadAudio", params={"path": out["path"]})
    torch.testing.assert_close(loaded["waveform"], out["waveform"])


def test_audio_trim_to_the_end_and_from_an_input(kernel: Kernel, upload: Callable[..., str]) -> None:
    first = run_node(kernel, "AudioTrim", params={"path": upload("tone.wav"), "start": 3.0})
    assert first["waveform"].shape == (1, int(2.0 * RATE))
    # A path arriving on the input wins over the param.
    second = run_node(kernel, "AudioTrim", inputs={"source": first["path"]},
                      params={"path": "/temp/uploads/ignored.wav", "start": 0.25, "end": 1.0})
    assert second["waveform"].shape == (1, int(0.75 * RATE))
    assert second["path"] != first["path"]


def test_audio_trim_lossy(kernel: Kernel, upload: Callable[..., str]) -> None:
    out = run_node(kernel, "AudioTrim", params={"path": upload("tone.mp3"), "start": 1.0, "end": 2.5})
    assert out["path"].endswith(".mp3")
    assert abs(out["waveform"].shape[1] - int(1.5 * out["sample_rate"])) <= out["sample_rate"] // 100
    assert peak_hz(out["waveform"], out["sample_rate"]) == pytest.approx(TONE_HZ, abs=2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": 2.0, "end": 1.0}, "AudioTrim: start must be >= 0 and less than end"),
        ({"start": 1.0, "end": 9.0}, r"AudioTrim: end \(9\.0 s\) is past the end of the audio \(duration 5\.0 s\)"),
        ({"start": 6.0}, "AudioTrim: start .* is not before the end of the audio"),
    ],
)
def test_audio_trim_bad_ranges(kernel: Kernel, upload: Callable[..., str], temp_dir: Path,
                               params: dict[str, Any], message: str) -> None:
    with pytest.raises(NodeRunFailed, match=message):
        run_node(kernel, "AudioTrim", params={"path": upload("tone.wav"), **params})
    trims = temp_dir / "AudioTrim"
    assert not trims.exists() or not any(trims.iterdir())


def test_audio_trim_bad_inputs(kernel: Kernel, upload: Callable[..., str]) -> None:
    with pytest.raises(NodeRunFailed, match="AudioTrim: audio path is required"):
        run_node(kernel, "AudioTrim", params={"end": 1.0})
    with pytest.raises(NodeRunFailed, match="AudioTrim: No audio stream in"):
        run_node(kernel, "AudioTrim", params={"path": upload("video.mp4"), "end": 0.5})
    with pytest.raises(NodeRunFailed, match="AudioTrim: source must be a file path string"):
        run_node(kernel, "AudioTrim", inputs={"source": 3}, params={"end": 1.0})
    with pytest.raises(NodeRunFailed, match="must stay inside"):
        run_node(kernel, "AudioTrim", params={"path": "/temp/../session.token", "end": 1.0})
