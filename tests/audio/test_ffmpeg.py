"""The ffmpeg driver and the shared trim helper, against the real binary."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nodeloom.plugins.audio import _ffmpeg, _trimming
from tests.audio.conftest import RATE, TONE_HZ, TONE_S

# -- locating the binary ----------------------------------------------------------------------------


def test_locate_prefers_env_then_path_then_imageio(tmp_path: Path, ffmpeg_exe: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import imageio_ffmpeg

    bundled = imageio_ffmpeg.get_ffmpeg_exe()
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert _ffmpeg.locate_ffmpeg() == bundled

    on_path = empty / "ffmpeg"
    on_path.symlink_to(bundled)
    assert _ffmpeg.locate_ffmpeg() == str(on_path)

    monkeypatch.setenv("NODELOOM_FFMPEG", ffmpeg_exe)
    assert _ffmpeg.locate_ffmpeg() == ffmpeg_exe


def test_locate_reads_the_environment_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _ffmpeg.locate_ffmpeg()
    monkeypatch.setenv("NODELOOM_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(_ffmpeg.FfmpegMissing, match="set NODELOOM_FFMPEG"):
        _ffmpeg.locate_ffmpeg()


def test_missing_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import now raises ImportError
    with pytest.raises(_ffmpeg.FfmpegMissing):
        _ffmpeg.locate_ffmpeg()


def test_a_binary_that_cannot_run_counts_as_missing(tmp_path: Path, media: dict[str, Path]) -> None:
    not_exe = tmp_path / "ffmpeg"
    not_exe.write_bytes(b"\x00\x01 not a program")
    not_exe.chmod(0o755)
    with pytest.raises(_ffmpeg.FfmpegMissing):
        _ffmpeg.probe(str(not_exe), media["tone.wav"])


# -- probing and decoding ---------------------------------------------------------------------------


def test_probe(ffmpeg_exe: str, media: dict[str, Path]) -> None:
    tone = _ffmpeg.probe(ffmpeg_exe, media["tone.wav"])
    assert tone.has_audio and tone.duration == pytest.approx(TONE_S, abs=0.01)
    video = _ffmpeg.probe(ffmpeg_exe, media["video.mp4"])
    assert not video.has_audio and video.duration == pytest.approx(1.0, abs=0.05)
    with pytest.raises(_ffmpeg.FfmpegFailed) as failed:
        _ffmpeg.probe(ffmpeg_exe, media["not_audio.mp3"])
    assert failed.value.last_line and "\n" not in failed.value.last_line


def test_decode_native_and_converted(ffmpeg_exe: str, media: dict[str, Path]) -> None:
    samples, rate = _ffmpeg.decode(ffmpeg_exe, media["stereo.wav"])
    assert samples.dtype == np.float32 and samples.flags.c_contiguous
    assert rate == RATE and samples.shape == (2, int(TONE_S * RATE))
    np.testing.assert_array_equal(samples[0], samples[1])
    mono, rate = _ffmpeg.decode(ffmpeg_exe, media["stereo.wav"], channels=1, rate=8000)
    assert rate == 8000 and mono.shape == (1, int(TONE_S * 8000))


def test_parse_wav_rejects_garbage() -> None:
    with pytest.raises(_ffmpeg.FfmpegFailed):
        _ffmpeg.parse_wav_f32(b"not a wav file at all")
    with pytest.raises(_ffmpeg.FfmpegFailed):
        _ffmpeg.parse_wav_f32(b"RIFF\xff\xff\xff\xffWAVE")


def test_last_line_skips_blank_lines() -> None:
    assert _ffmpeg.last_line(b"first\n  second problem  \n\n \n") == "second problem"
    assert _ffmpeg.last_line(b"") == "exited without a message"


# -- the shared trim helper -------------------------------------------------------------------------


def _tone_samples(seconds: float) -> np.ndarray:
    # lavfi's sine source has amplitude 1/8.
    t = np.arange(int(round(seconds * RATE))) / RATE
    return np.sin(2 * np.pi * TONE_HZ * t) / 8


def test_trim_is_sample_accurate(ffmpeg_exe: str, media: dict[str, Path], tmp_path: Path) -> None:
    out = _trimming.trim_to_folder(media["tone.wav"], 1.25, 3.5, tmp_path / "AudioTrim")
    source, _ = _ffmpeg.decode(ffmpeg_exe, media["tone.wav"])
    cut, rate = _ffmpeg.decode(ffmpeg_exe, out)
    assert rate == RATE and cut.shape == (1, int(2.25 * RATE))
    np.testing.assert_allclose(cut[0], source[0, int(1.25 * RATE) : int(3.5 * RATE)], atol=1e-4)
    np.testing.assert_allclose(cut[0], _tone_samples(TONE_S)[int(1.25 * RATE) : int(3.5 * RATE)], atol=2e-3)


def test_trim_without_end_keeps_the_rest(ffmpeg_exe: str, media: dict[str, Path], tmp_path: Path) -> None:
    out = _trimming.trim_to_folder(media["tone.wav"], 4.0, None, tmp_path)
    assert _ffmpeg.decode(ffmpeg_exe, out)[0].shape == (1, RATE)
    with pytest.raises(_trimming.StartPastDuration):
        _trimming.trim_to_folder(media["tone.wav"], 5.0, None, tmp_path)


@pytest.mark.parametrize(("start", "end"), [(-0.5, 1.0), (2.0, 2.0), (3.0, 1.0)])
def test_bad_ranges_fail_before_ffmpeg_runs(start: float, end: float, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODELOOM_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(_trimming.InvalidRange):
        _trimming.trim_to_folder(tmp_path / "x.wav", start, end, tmp_path)


def test_output_names(tmp_path: Path) -> None:
    assert _trimming.output_base(Path("Voice.Take2.MP3"), 17) == ("Voice.Take2_trimmed_17", ".mp3")
    assert _trimming.output_base(Path("noext"), 5) == ("noext_trimmed_5", "")
    base, ext = _trimming.output_base(Path("é" * 200 + ".flac"), 1_763_838_420_123)
    hidden = f".{base}{ext}.{'0' * 16}.tmp{ext}"
    assert len(hidden.encode()) <= 255 and base.endswith("_trimmed_1763838420123")
    base.encode("utf-8")  # truncation never splits a character


def test_same_millisecond_gets_numbered_names(media: dict[str, Path], tmp_path: Path) -> None:
    names = [_trimming.trim_to_folder(media["tone.wav"], 0, 1, tmp_path, now_ms=42).name for _ in range(3)]
    assert names == ["tone_trimmed_42.wav", "tone_trimmed_42_1.wav", "tone_trimmed_42_2.wav"]


def test_ffmpeg_messages_do_not_reveal_server_paths(media: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "noext"
    shutil.copyfile(media["tone.wav"], source)  # without an extension ffmpeg cannot pick a format
    folder = tmp_path / "AudioTrim"
    with pytest.raises(_ffmpeg.FfmpegFailed) as failed:
        _trimming.trim_to_folder(source, 0, 1, folder, label="/temp/uploads/noext")
    assert str(tmp_path) not in str(failed.value)
    assert list(folder.iterdir()) == []


def test_failed_cut_removes_partial_output(fake_ffmpeg: Callable[[str], Path], media: dict[str, Path],
                                           tmp_path: Path) -> None:
    fake_ffmpeg('echo partial > "$out"; echo "[aac @ 0x1] encoder exploded" >&2; exit 1')
    folder = tmp_path / "AudioTrim"
    with pytest.raises(_ffmpeg.FfmpegFailed, match="encoder exploded"):
        _trimming.trim_to_folder(media["tone.wav"], 0, 1, folder)
    assert list(folder.iterdir()) == []


def test_timeout_kills_ffmpeg_and_cleans_up(fake_ffmpeg: Callable[[str], Path], media: dict[str, Path],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ffmpeg('echo partial > "$out"; exec sleep 30')
    monkeypatch.setattr(_ffmpeg, "TIMEOUT_S", 1.0)
    folder = tmp_path / "AudioTrim"
    with pytest.raises(_ffmpeg.FfmpegTimeout, match="ffmpeg timed out"):
        _trimming.trim_to_folder(media["tone.wav"], 0, 1, folder)
    assert list(folder.iterdir()) == []
