"""``POST /api/audio/trim`` (api.md §2.13): every error row, the order of checks, and real cuts."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nodeloom.plugins.audio import _ffmpeg
from tests.api.support import auth_headers
from tests.audio.conftest import NODE_DIR, RATE, SESSION

URL = "/api/audio/trim"


@pytest.fixture
def live_module(kernel: Any) -> Callable[[str], Any]:
    """The plugin module the kernel loaded (it re-imports packs), for monkeypatching what the route uses."""
    return lambda name: importlib.import_module(f"nodeloom.plugins.audio.{name}")


async def trim(client: Any, body: Any, **kw: Any) -> tuple[int, dict[str, Any]]:
    kw.setdefault("headers", auth_headers())
    response = await client.post(URL, json=body, **kw)
    return response.status_code, await response.get_json()


def assert_error(status: int, body: dict[str, Any], want_status: int, code: str) -> None:
    assert (status, body["code"]) == (want_status, code), body
    # A Blobit-style route (§1.2): errors carry success/error too.
    assert body["success"] is False
    assert body["error"] == (body["detail"] if isinstance(body["detail"], str)
                             else "; ".join(item["msg"] for item in body["detail"]))


def hidden_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*")] if folder.exists() else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- success ------------------------------------------------------------------------------------------


async def test_trim_wav(client: Any, upload: Callable[..., str], uploads: Path, temp_dir: Path,
                        ffmpeg_exe: str) -> None:
    path = upload("tone.wav", "voice_take2.wav")
    before = digest(uploads / "voice_take2.wav")
    status, body = await trim(client, {"filePath": path, "start": 1.25, "end": 3.5, "sessionId": "s1"})
    assert status == 200, body
    assert body["success"] is True and body["duration"] == 2.25
    name = body["filePath"].removeprefix("/temp/AudioTrim/")
    assert body["filePath"].startswith("/temp/AudioTrim/") and "/" not in name
    stem, _, rest = name.partition("_trimmed_")
    assert stem == "voice_take2" and rest.endswith(".wav") and rest[: -len(".wav")].isdigit()

    output = temp_dir / "AudioTrim" / name
    assert _ffmpeg.probe(ffmpeg_exe, output).duration == pytest.approx(2.25, abs=0.01)
    source, _ = _ffmpeg.decode(ffmpeg_exe, uploads / "voice_take2.wav")
    cut, rate = _ffmpeg.decode(ffmpeg_exe, output)
    assert rate == RATE
    np.testing.assert_allclose(cut, source[:, int(1.25 * RATE) : int(3.5 * RATE)], atol=1e-4)
    assert digest(uploads / "voice_take2.wav") == before
    assert hidden_files(temp_dir) == []


@pytest.mark.parametrize(("name", "atol"), [("tone.mp3", 0.05), ("tone.ogg", 0.05)])
async def test_trim_lossy_formats_keep_their_format(client: Any, upload: Callable[..., str], temp_dir: Path,
                                                    uploads: Path, ffmpeg_exe: str, name: str,
                                                    atol: float) -> None:
    ext = Path(name).suffix
    path = upload(name, "Clip" + ext.upper())
    status, body = await trim(client, {"filePath": path, "start": 0.5, "end": 2})
    assert status == 200, body
    assert body["filePath"].endswith(ext) and body["duration"] == 1.5
    output = temp_dir / "AudioTrim" / Path(body["filePath"]).name
    assert _ffmpeg.probe(ffmpeg_exe, output).duration == pytest.approx(1.5, abs=0.05)
    source, _ = _ffmpeg.decode(ffmpeg_exe, uploads / ("Clip" + ext.upper()))
    cut, rate = _ffmpeg.decode(ffmpeg_exe, output)
    assert abs(cut.shape[1] - int(1.5 * rate)) <= rate // 100
    n = min(cut.shape[1], int(1.5 * rate)) - rate // 100
    np.testing.assert_allclose(cut[0, :n], source[0, int(0.5 * rate) : int(0.5 * rate) + n], atol=atol)


async def test_video_input_loses_its_video(client: Any, upload: Callable[..., str], temp_dir: Path,
                                           ffmpeg_exe: str) -> None:
    status, body = await trim(client, {"filePath": upload("av.mkv"), "start": 0, "end": 1})
    assert status == 200, body
    output = temp_dir / "AudioTrim" / Path(body["filePath"]).name
    report = _ffmpeg.probe(ffmpeg_exe, output)
    assert report.has_audio and report.duration == pytest.approx(1.0, abs=0.05)
    text = subprocess.run([ffmpeg_exe, "-hide_banner", "-i", str(output)], capture_output=True).stderr
    assert b"Video:" not in text


async def test_leading_slash_is_optional_and_trim_outputs_can_be_trimmed(
    client: Any, upload: Callable[..., str], temp_dir: Path
) -> None:
    path = upload("tone.wav").removeprefix("/")
    status, first = await trim(client, {"filePath": path, "start": 0, "end": 4})
    assert status == 200, first
    status, second = await trim(client, {"filePath": first["filePath"], "start": 1, "end": 3.999})
    assert status == 200, second
    assert second["duration"] == 2.999
    assert Path(second["filePath"]).name.startswith(Path(first["filePath"]).stem + "_trimmed_")


async def test_end_within_probe_precision_is_accepted(client: Any, upload: Callable[..., str]) -> None:
    status, body = await trim(client, {"filePath": upload("tone.wav"), "start": 4, "end": 5.009})
    assert status == 200, body


async def test_collisions_get_numbered(client: Any, upload: Callable[..., str], temp_dir: Path,
                                       live_module: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module("_trimming"), "_now_ms", lambda: 1763838420123)
    path = upload("tone.wav", "voice.wav")
    results = await asyncio.gather(*(trim(client, {"filePath": path, "start": 0, "end": 1}) for _ in range(4)))
    names = sorted(body["filePath"] for status, body in results)
    assert [status for status, _ in results] == [200] * 4
    assert names == sorted(f"/temp/AudioTrim/voice_trimmed_1763838420123{s}.wav" for s in ("", "_1", "_2", "_3"))
    assert len(list((temp_dir / "AudioTrim").iterdir())) == 4


async def test_symlink_inside_uploads_is_fine(client: Any, upload: Callable[..., str], uploads: Path) -> None:
    upload("tone.wav", "real.wav")
    (uploads / "alias.wav").symlink_to(uploads / "real.wav")
    status, body = await trim(client, {"filePath": f"/temp/uploads/{SESSION}/{NODE_DIR}/alias.wav",
                                       "start": 0, "end": 1})
    assert status == 200, body


# -- 403 and 422 validation -------------------------------------------------------------------------


async def test_token_required(client: Any, upload: Callable[..., str]) -> None:
    status, body = await trim(client, {"filePath": upload("tone.wav"), "start": 0, "end": 1}, headers={})
    assert_error(status, body, 403, "invalid_token")


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"start": 0, "end": 1}, "filePath", "missing"),
        ({"filePath": "/temp/uploads/a.wav", "end": 1}, "start", "missing"),
        ({"filePath": "/temp/uploads/a.wav", "start": 0}, "end", "missing"),
        ({"filePath": 5, "start": 0, "end": 1}, "filePath", "wrong_type"),
        ({"filePath": None, "start": 0, "end": 1}, "filePath", "wrong_type"),
        ({"filePath": "/temp/uploads/a.wav", "start": "0", "end": 1}, "start", "wrong_type"),
        ({"filePath": "/temp/uploads/a.wav", "start": True, "end": 1}, "start", "wrong_type"),
        ({"filePath": "/temp/uploads/a.wav", "start": 0, "end": None}, "end", "wrong_type"),
        ({"filePath": "/temp/uploads/a.wav", "start": 0, "end": [1]}, "end", "wrong_type"),
        ({"filePath": "/temp/uploads/a.wav", "start": 0, "end": 1, "sessionId": 7}, "sessionId", "wrong_type"),
    ],
)
async def test_schema_errors(client: Any, body: dict[str, Any], loc: str, kind: str) -> None:
    status, answer = await trim(client, body)
    assert_error(status, answer, 422, "validation_error")
    assert {"loc": ["body", loc], "type": kind} in [{"loc": i["loc"], "type": i["type"]} for i in answer["detail"]]


async def test_every_schema_problem_is_reported(client: Any) -> None:
    status, answer = await trim(client, {"start": "x"})
    assert_error(status, answer, 422, "validation_error")
    assert {tuple(i["loc"]) for i in answer["detail"]} == {("body", "filePath"), ("body", "start"), ("body", "end")}


@pytest.mark.parametrize(("data", "kind"), [(b"", "json_invalid"), (b"{nope", "json_invalid"),
                                            (b"[1, 2]", "wrong_type"), (b'{"start": NaN}', "json_invalid")])
async def test_body_must_be_a_json_object(client: Any, data: bytes, kind: str) -> None:
    response = await client.post(URL, data=data, headers=auth_headers())
    body = await response.get_json()
    assert_error(response.status_code, body, 422, "validation_error")
    assert body["detail"][0]["loc"] == ["body"] and body["detail"][0]["type"] == kind


# -- 400 invalid_path -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_path",
    [
        "/temp/uploads/../../session.token",
        "/temp/uploads/%2e%2e/%2e%2e/session.token",
        "/temp/uploads/%2e%2e/x",
        "/temp/uploads/s1/../../AudioTrim/x.wav",
        "/temp/AudioTrim/../uploads/s1/x.wav",
        "/temp/uploads/",
        "/temp/uploads",
        "/temp/uploads//x.wav",
        "/temp/uploads/s1/.hidden.wav",
        "/temp/uploads/s1/x.wav/",
        "/temp/uploads/c:x.wav",
        "/temp/uploads/a\\..\\..\\x.wav",
        "/temp/uploads/a\x00.wav",
        "/temp/uploads/%00.wav",
        "/temp/other/x.wav",
        "/temp/x.wav",
        "/images/x.wav",
        "/etc/passwd",
        "//etc/passwd",
        "temp/uploadsx/a.wav",
        "",
        "/temp/uploads/" + "a" * 1100 + ".wav",
        "/temp/uploads/" + "b" * 256 + ".wav",
    ],
)
async def test_paths_outside_uploads_and_trims(client: Any, file_path: str) -> None:
    status, body = await trim(client, {"filePath": file_path, "start": 0, "end": 1})
    assert_error(status, body, 400, "invalid_path")
    assert body["detail"].startswith("filePath must point into /temp/uploads/ or /temp/AudioTrim/")


async def test_symlink_escape(client: Any, uploads: Path, tmp_path: Path, media: dict[str, Path],
                              temp_dir: Path) -> None:
    outside = tmp_path / "outside.wav"
    outside.write_bytes(media["tone.wav"].read_bytes())
    (uploads / "escape.wav").symlink_to(outside)
    (uploads / "dir").symlink_to(tmp_path)
    # Into another temp folder is outside uploads/ too.
    (temp_dir / "elsewhere").mkdir()
    (temp_dir / "elsewhere" / "x.wav").write_bytes(media["tone.wav"].read_bytes())
    (uploads / "sideways.wav").symlink_to(temp_dir / "elsewhere" / "x.wav")
    (uploads / "loop1.wav").symlink_to(uploads / "loop2.wav")
    (uploads / "loop2.wav").symlink_to(uploads / "loop1.wav")
    for name in ("escape.wav", "dir/outside.wav", "sideways.wav", "loop1.wav"):
        status, body = await trim(client, {"filePath": f"/temp/uploads/{SESSION}/{NODE_DIR}/{name}",
                                           "start": 0, "end": 1})
        assert_error(status, body, 400, "invalid_path")


# -- 400 invalid_range, 404, 503 ----------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [(-0.001, 1), (2, 2), (3, 1), (0, 0), (0, -1)])
async def test_invalid_range(client: Any, upload: Callable[..., str], start: float, end: float) -> None:
    status, body = await trim(client, {"filePath": upload("tone.wav"), "start": start, "end": end})
    assert_error(status, body, 400, "invalid_range")
    assert body["detail"] == "start must be >= 0 and less than end"


async def test_file_not_found(client: Any, uploads: Path) -> None:
    path = f"/temp/uploads/{SESSION}/{NODE_DIR}/nothing.wav"
    status, body = await trim(client, {"filePath": path, "start": 0, "end": 1})
    assert_error(status, body, 404, "file_not_found")
    assert body["detail"] == f"File not found: {path}"
    # A folder is not a file; AudioTrim/ need not exist yet.
    for path in (f"/temp/uploads/{SESSION}", "/temp/AudioTrim/none.wav"):
        status, body = await trim(client, {"filePath": path, "start": 0, "end": 1})
        assert_error(status, body, 404, "file_not_found")


async def test_ffmpeg_missing(client: Any, upload: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = upload("tone.wav")
    monkeypatch.setenv("NODELOOM_FFMPEG", "/nonexistent/bin/ffmpeg")
    status, body = await trim(client, {"filePath": path, "start": 0, "end": 1})
    assert_error(status, body, 503, "ffmpeg_missing")
    assert body["detail"] == ("ffmpeg is not available: install ffmpeg or the imageio-ffmpeg package, "
                              "or set NODELOOM_FFMPEG")


# -- 422 no_audio_stream, 400 end_past_duration, 422 ffmpeg_failed ------------------------------------


async def test_no_audio_stream(client: Any, upload: Callable[..., str], temp_dir: Path) -> None:
    path = upload("video.mp4")
    status, body = await trim(client, {"filePath": path, "start": 0, "end": 0.5})
    assert_error(status, body, 422, "no_audio_stream")
    assert body["detail"] == f"No audio stream in {path}"
    assert not (temp_dir / "AudioTrim").exists() or not any((temp_dir / "AudioTrim").iterdir())


async def test_end_past_duration(client: Any, upload: Callable[..., str]) -> None:
    status, body = await trim(client, {"filePath": upload("tone.wav"), "start": 1, "end": 5.02})
    assert_error(status, body, 400, "end_past_duration")
    assert body["duration"] == pytest.approx(5.0)
    assert body["detail"] == "end (5.02 s) is past the end of the audio (duration 5.0 s)"


async def test_unreadable_input_is_ffmpeg_failed(client: Any, upload: Callable[..., str]) -> None:
    status, body = await trim(client, {"filePath": upload("not_audio.mp3"), "start": 0, "end": 1})
    assert_error(status, body, 422, "ffmpeg_failed")
    assert body["detail"].startswith("ffmpeg failed: ") and len(body["detail"]) > len("ffmpeg failed: ")


async def test_ffmpeg_that_always_fails(client: Any, upload: Callable[..., str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "broken-ffmpeg"
    script.write_text("#!/bin/sh\necho 'some noise'\necho 'Fatal: codec table corrupted' >&2\necho >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("NODELOOM_FFMPEG", str(script))
    status, body = await trim(client, {"filePath": upload("tone.wav"), "start": 0, "end": 1})
    assert_error(status, body, 422, "ffmpeg_failed")
    assert body["detail"] == "ffmpeg failed: Fatal: codec table corrupted"


async def test_failed_cut_leaves_nothing(client: Any, upload: Callable[..., str], uploads: Path, temp_dir: Path,
                                         fake_ffmpeg: Callable[[str], Path]) -> None:
    path = upload("tone.wav")
    before = digest(uploads / "tone.wav")
    fake_ffmpeg('echo partial > "$out"; echo "Error while encoding: disk on fire" >&2; exit 1')
    status, body = await trim(client, {"filePath": path, "start": 0, "end": 1})
    assert_error(status, body, 422, "ffmpeg_failed")
    assert body["detail"] == "ffmpeg failed: Error while encoding: disk on fire"
    assert list((temp_dir / "AudioTrim").iterdir()) == []
    assert digest(uploads / "tone.wav") == before


async def test_timeout_is_ffmpeg_failed(client: Any, upload: Callable[..., str], temp_dir: Path,
                                        fake_ffmpeg: Callable[[str], Path], live_module: Callable[[str], Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = upload("tone.wav")
    fake_ffmpeg('echo partial > "$out"; exec sleep 30')
    monkeypatch.setattr(live_module("_ffmpeg"), "TIMEOUT_S", 1.0)
    status, body = await trim(client, {"filePath": path, "start": 0, "end": 1})
    assert_error(status, body, 422, "ffmpeg_failed")
    assert body["detail"] == "ffmpeg timed out"
    assert list((temp_dir / "AudioTrim").iterdir()) == []


# -- order of checks ----------------------------------------------------------------------------------


async def test_checks_run_in_the_documented_order(client: Any, upload: Callable[..., str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODELOOM_FFMPEG", "/nonexistent/ffmpeg")
    missing = f"/temp/uploads/{SESSION}/{NODE_DIR}/missing.wav"
    cases = [
        ({"filePath": "/etc/passwd", "start": "x", "end": 1}, 422),  # schema first
        ({"filePath": "/etc/passwd", "start": 3, "end": 1}, 400),  # path before range
        ({"filePath": missing, "start": 3, "end": 1}, 400),  # range before existence
        ({"filePath": missing, "start": 0, "end": 1}, 404),  # existence before ffmpeg
        ({"filePath": upload("video.mp4"), "start": 0, "end": 99}, 503),  # ffmpeg before probing
    ]
    codes = ["validation_error", "invalid_path", "invalid_range", "file_not_found", "ffmpeg_missing"]
    for (body, status), code in zip(cases, codes, strict=True):
        got_status, got = await trim(client, body)
        assert (got_status, got["code"]) == (status, code), got
    monkeypatch.delenv("NODELOOM_FFMPEG")
    # No audio is reported before the duration check.
    got_status, got = await trim(client, {"filePath": upload("video.mp4"), "start": 0, "end": 99})
    assert (got_status, got["code"]) == (422, "no_audio_stream")


async def test_route_is_in_openapi(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).get_json()
    operation = doc["paths"][URL]["post"]
    assert operation["x-nodeloom-auth"] == "token" and operation["x-nodeloom-plugin"] == "audio"
    assert operation["requestBody"]["content"]["application/json"]["schema"]["required"] == ["filePath", "start", "end"]

