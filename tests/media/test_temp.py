"""``GET /temp/<path>`` (api.md §2.12.2): streaming, byte ranges, HEAD, 404s and path confinement."""

from __future__ import annotations

import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from nodeloom.kernel.host import Kernel
from nodeloom.plugins.media.temp_routes import parse_range

DATA = bytes(range(256)) * 40  # 10240 bytes
SECRET = b"top-secret-token-value"


@pytest.fixture
def temp_dir(kernel: Kernel) -> Path:
    root = kernel.data_dir.area("temp")
    (root / "uploads" / "s" / "N_1").mkdir(parents=True, exist_ok=True)
    (root / "uploads" / "s" / "N_1" / "clip.wav").write_bytes(DATA)
    (root / "uploads" / "s" / "N_1" / "blob.qqunknown").write_bytes(b"?")
    (root / "AudioTrim").mkdir(exist_ok=True)
    (root / "AudioTrim" / "empty.mp3").write_bytes(b"")
    (kernel.data_dir.root / "secret.txt").write_bytes(SECRET)
    return root


async def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    body = await response.get_json()
    assert body["code"] == code
    assert body["success"] is False and body["error"] == body["detail"]
    return body


async def test_whole_file(client: Any, temp_dir: Path) -> None:
    response = await client.get("/temp/uploads/s/N_1/clip.wav")
    assert response.status_code == 200
    assert await response.get_data() == DATA
    assert response.headers["Content-Type"].startswith("audio/")
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert 'filename="clip.wav"' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Range" not in response.headers


async def test_unknown_extension_is_octet_stream(client: Any, temp_dir: Path) -> None:
    response = await client.get("/temp/uploads/s/N_1/blob.qqunknown")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert await response.get_data() == b"?"


async def test_open_without_token(client: Any, temp_dir: Path) -> None:
    assert (await client.get("/temp/AudioTrim/empty.mp3")).status_code == 200
    # Mutating methods still need the token (and get Blobit-style errors).
    await assert_error(await client.post("/temp/AudioTrim/empty.mp3"), 403, "invalid_token")


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=10-19", 10, 20),
    ("bytes=0-0", 0, 1),
    ("bytes=10000-", 10000, 10240),
    ("bytes=-50", 10190, 10240),
    ("bytes=100-999999", 100, 10240),
    ("bytes=-999999", 0, 10240),
    ("BYTES = 5-6", 5, 7),
    ("bytes=10239-10239", 10239, 10240),
    ("bytes=10-19, ", 10, 20),
])
async def test_single_range_is_206(client: Any, temp_dir: Path, header: str, start: int, end: int) -> None:
    response = await client.get("/temp/uploads/s/N_1/clip.wav", headers={"Range": header})
    assert response.status_code == 206
    assert await response.get_data() == DATA[start:end]
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert response.headers["Content-Disposition"].startswith("inline;")


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=20000-30000", "bytes=-0", "bytes=" + "9" * 5000 + "-"])
async def test_unsatisfiable_range_is_416(client: Any, temp_dir: Path, header: str) -> None:
    response = await client.get("/temp/uploads/s/N_1/clip.wav", headers={"Range": header})
    await assert_error(response, 416, "range_not_satisfiable")
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"


async def test_any_range_of_an_empty_file_is_416(client: Any, temp_dir: Path) -> None:
    response = await client.get("/temp/AudioTrim/empty.mp3", headers={"Range": "bytes=0-"})
    await assert_error(response, 416, "range_not_satisfiable")
    assert response.headers["Content-Range"] == "bytes */0"
    plain = await client.get("/temp/AudioTrim/empty.mp3")
    assert plain.status_code == 200 and await plain.get_data() == b""


@pytest.mark.parametrize("header", [
    "bytes=0-1,5-9",      # several ranges: the whole file
    "bytes=abc", "bytes=5-2", "items=0-1", "bytes=-", "bytes=1-2-3", "", "bytes=",
])
async def test_multiple_or_malformed_ranges_get_the_whole_file(client: Any, temp_dir: Path, header: str) -> None:
    response = await client.get("/temp/uploads/s/N_1/clip.wav", headers={"Range": header})
    assert response.status_code == 200
    assert await response.get_data() == DATA


async def test_if_range(client: Any, temp_dir: Path) -> None:
    stamp = formatdate((temp_dir / "uploads" / "s" / "N_1" / "clip.wav").stat().st_mtime, usegmt=True)
    same = await client.get("/temp/uploads/s/N_1/clip.wav", headers={"Range": "bytes=0-9", "If-Range": stamp})
    assert same.status_code == 206 and await same.get_data() == DATA[:10]
    other = await client.get("/temp/uploads/s/N_1/clip.wav",
                             headers={"Range": "bytes=0-9", "If-Range": '"some-etag"'})
    assert other.status_code == 200 and await other.get_data() == DATA


async def test_head(client: Any, temp_dir: Path) -> None:
    response = await client.head("/temp/uploads/s/N_1/clip.wav")
    assert response.status_code == 200
    assert await response.get_data() == b""
    assert response.headers["Content-Disposition"].startswith("inline;")
    ranged = await client.head("/temp/uploads/s/N_1/clip.wav", headers={"Range": "bytes=1-4"})
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes 1-4/{len(DATA)}"
    assert await ranged.get_data() == b""
    await assert_error(await client.head("/temp/uploads/s/N_1/nope.wav"), 404, "file_not_found")


@pytest.mark.parametrize("path", ["uploads/s/N_1/nope.wav", "nope", "uploads", "uploads/s/N_1",
                                  "uploads/s/N_1/clip.wav/more"])
async def test_missing_files_and_folders_are_404(client: Any, temp_dir: Path, path: str) -> None:
    body = await assert_error(await client.get(f"/temp/{path}"), 404, "file_not_found")
    assert path in body["detail"]


def test_special_files_are_404(kernel: Kernel, temp_dir: Path) -> None:
    # A FIFO must be refused without blocking on open.
    fifo = temp_dir / "pipe"
    os.mkfifo(fifo)
    from nodeloom.plugins.media.temp_routes import _open_regular

    assert _open_regular(fifo) is None


@pytest.mark.parametrize("path", [
    "../secret.txt",
    "%2e%2e/secret.txt",
    "uploads/%2e%2e/%2e%2e/secret.txt",
    "uploads/../../secret.txt",
    "..%2fsecret.txt",
    "..%5csecret.txt",
    "uploads%5c..%5c..%5csecret.txt",
    "uploads/s/N_1/.clip.wav.chunks/0.chunk",
    "uploads/.upload.0123456789abcdef.part",
    "uploads/s/N_1/.clip.wav.0123456789abcdef.part",
    ".hidden",
    "uploads//s/N_1/clip.wav",
    "uploads/s/N_1/clip.wav%00.txt",
    "C:/secret.txt",
    "uploads/./s/N_1/clip.wav",
])
async def test_traversal_and_hidden_paths_are_refused(client: Any, temp_dir: Path, path: str) -> None:
    chunk_dir = temp_dir / "uploads" / "s" / "N_1" / ".clip.wav.chunks"
    chunk_dir.mkdir(exist_ok=True)
    (chunk_dir / "0.chunk").write_bytes(b"partial")
    (temp_dir / "uploads" / ".upload.0123456789abcdef.part").write_bytes(b"partial")
    (temp_dir / "uploads" / "s" / "N_1" / ".clip.wav.0123456789abcdef.part").write_bytes(b"partial")
    (temp_dir / ".hidden").write_bytes(b"partial")
    response = await client.get(f"/temp/{path}")
    assert response.status_code in (400, 404)
    body = await response.get_json()
    assert body["code"] in ("invalid_path", "file_not_found", "not_found")
    raw = await response.get_data()
    assert SECRET not in raw and b"partial" not in raw


async def test_symlinks(client: Any, kernel: Kernel, temp_dir: Path) -> None:
    (temp_dir / "escape.txt").symlink_to(kernel.data_dir.root / "secret.txt")
    (temp_dir / "escape_dir").symlink_to(kernel.data_dir.root, target_is_directory=True)
    (temp_dir / "inside.wav").symlink_to(temp_dir / "uploads" / "s" / "N_1" / "clip.wav")
    for path in ("escape.txt", "escape_dir/secret.txt"):
        response = await client.get(f"/temp/{path}")
        await assert_error(response, 400, "invalid_path")
        assert SECRET not in await response.get_data()
    # A link that stays inside temp/ is fine (api.md §1.12 rule 5).
    inside = await client.get("/temp/inside.wav")
    assert inside.status_code == 200 and await inside.get_data() == DATA


def test_parse_range_unit() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-", 10) == (2, 10)
    assert parse_range("bytes=-3", 10) == (7, 10)
    assert parse_range("bytes=0-1,3-4", 10) is None
    # Longer digit strings than int() converts: treated as past the end, never an exception.
    assert parse_range("bytes=5-" + "9" * 5000, 10) == (5, 10)
