"""Chunked uploads (api.md §2.12.1): chunk store, sanitising, limits, conflicts, completion and the TTL sweep."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from nodeloom.plugins.media._upload_store import sanitize_filename, sweep_stale_uploads
from tests.api.support import auth_headers, client_for, make_settings

TOKEN = auth_headers()
IDS = {"sessionId": "s_81f2", "nodeId": "12", "nodeName": "LoadAudio"}


def multipart(fields: Mapping[str, str] | Iterable[tuple[str, str]], file: tuple[str, bytes] | None,
              *, file_first: bool = False) -> tuple[bytes, dict[str, str]]:
    """A multipart body built by hand, so the order of the parts is under the test's control."""
    boundary = "nlb" + secrets.token_hex(8)
    items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    text_parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
        for name, value in items
    ]
    file_parts = []
    if file is not None:
        filename, data = file
        file_parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    parts = file_parts + text_parts if file_first else text_parts + file_parts
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}", **TOKEN}


async def send_chunk(client: Any, data: bytes, *, index: int | str | None = None, total: int | str | None = None,
                     filename: str | None = "clip.bin", part_name: str = "blob", file_first: bool = False,
                     **overrides: str) -> Any:
    fields = {**IDS, **overrides}
    if filename is not None:
        fields["filename"] = filename
    if index is not None:
        fields["chunkIndex"] = str(index)
    if total is not None:
        fields["totalChunks"] = str(total)
    body, headers = multipart(fields, (part_name, data), file_first=file_first)
    return await client.post("/api/upload", data=body, headers=headers)


def uploads_dir(kernel: Kernel) -> Path:
    return kernel.data_dir.area("temp") / "uploads"


def hidden_entries(root: Path) -> list[Path]:
    """Every hidden file or folder under ``root`` (chunk folders, staged and assembly parts)."""
    return sorted(p for p in root.rglob(".*"))


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.fixture
def make_client(kernel: Kernel) -> Any:
    """``async with make_client(env) as client``: an app with its own settings (small limits)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def factory(env: Mapping[str, str] | None = None) -> AsyncIterator[Any]:
        app = create_app(kernel, make_settings(kernel.data_dir, env))
        async with app.test_app():
            yield client_for(app)

    return factory


# ---------------------------------------------------------------------------- complete uploads


async def test_single_chunk_upload_lands_atomically(client: Any, kernel: Kernel) -> None:
    data = os.urandom(5000)
    response = await send_chunk(client, data, filename="voice_take2.mp3")
    assert response.status_code == 200
    body = await response.get_json()
    assert body == {"success": True, "completed": True,
                    "filePath": "/temp/uploads/s_81f2/LoadAudio_12/voice_take2.mp3", "size": 5000}
    target = uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / "voice_take2.mp3"
    assert target.read_bytes() == data
    assert hidden_entries(uploads_dir(kernel)) == []


async def test_multi_mb_upload_shuffled_with_a_repeated_chunk(client: Any, kernel: Kernel) -> None:
    data = os.urandom(6 * 1024 * 1024 + 12345)
    chunks = split(data, 1024 * 1024)
    total = len(chunks)
    order = list(range(total))
    random.Random(7).shuffle(order)
    repeated = order[2]
    # The repeat first arrives with wrong bytes; the retry must replace that copy.
    plan = order[:3] + [repeated] + order[3:]
    payloads = {i: chunks[i] for i in range(total)}
    seen: set[int] = set()
    completed = []
    for step, index in enumerate(plan):
        wrong_first = index == repeated and step == 2
        chunk = os.urandom(len(payloads[index])) if wrong_first else payloads[index]
        response = await send_chunk(client, chunk, index=index, total=total, filename="big.wav")
        assert response.status_code == 200, await response.get_data()
        body = await response.get_json()
        seen.add(index)
        if body["completed"]:
            completed.append(body)
        else:
            assert body == {"success": True, "completed": False, "received": len(seen), "totalChunks": total}
    assert completed == [{"success": True, "completed": True,
                          "filePath": "/temp/uploads/s_81f2/LoadAudio_12/big.wav", "size": len(data)}]
    assert (uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / "big.wav").read_bytes() == data
    assert hidden_entries(uploads_dir(kernel)) == []
    served = await client.get(completed[0]["filePath"])
    assert served.status_code == 200
    assert await served.get_data() == data


async def test_fields_may_follow_the_file_part(client: Any, kernel: Kernel) -> None:
    response = await send_chunk(client, b"abc", filename="late.txt", file_first=True)
    assert response.status_code == 200
    assert (await response.get_json())["filePath"] == "/temp/uploads/s_81f2/LoadAudio_12/late.txt"


async def test_filename_defaults_to_the_part_file_name(client: Any) -> None:
    response = await send_chunk(client, b"abc", filename=None, part_name="from part.ogg")
    assert (await response.get_json())["filePath"].endswith("/from_part.ogg")


async def test_empty_chunk_and_empty_file(client: Any, kernel: Kernel) -> None:
    assert (await (await send_chunk(client, b"", index=0, total=2, filename="e.bin")).get_json())["received"] == 1
    body = await (await send_chunk(client, b"xyz", index=1, total=2, filename="e.bin")).get_json()
    assert body["completed"] and body["size"] == 3
    body = await (await send_chunk(client, b"", filename="zero.bin")).get_json()
    assert body["completed"] and body["size"] == 0
    assert (uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / "zero.bin").read_bytes() == b""


async def test_exactly_one_completion_under_concurrency(client: Any, kernel: Kernel) -> None:
    for round_ in range(5):
        chunks = [os.urandom(300_000) for _ in range(6)]
        name = f"race{round_}.bin"
        for index in range(4):
            await send_chunk(client, chunks[index], index=index, total=6, filename=name)
        responses = await asyncio.gather(
            send_chunk(client, chunks[4], index=4, total=6, filename=name),
            send_chunk(client, chunks[5], index=5, total=6, filename=name),
        )
        bodies = [await r.get_json() for r in responses]
        assert all(r.status_code == 200 for r in responses)
        assert sorted(b["completed"] for b in bodies) == [False, True]
        assert [b["received"] for b in bodies if not b["completed"]] == [5]
        assert (uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / name).read_bytes() == b"".join(chunks)
    assert hidden_entries(uploads_dir(kernel)) == []


async def test_the_same_last_chunk_twice_concurrently(client: Any, kernel: Kernel) -> None:
    chunks = [b"a" * 1000, b"b" * 1000]
    await send_chunk(client, chunks[0], index=0, total=2, filename="dup.bin")
    responses = await asyncio.gather(*(send_chunk(client, chunks[1], index=1, total=2, filename="dup.bin")
                                       for _ in range(2)))
    bodies = [await r.get_json() for r in responses]
    # One completes; the other arrives after completion and so starts a new upload.
    assert sorted(b["completed"] for b in bodies) == [False, True]
    assert [b["received"] for b in bodies if not b["completed"]] == [1]
    assert (uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / "dup.bin").read_bytes() == b"".join(chunks)


async def test_a_chunk_after_completion_starts_a_new_upload(client: Any, kernel: Kernel) -> None:
    target = uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / "again.bin"
    await send_chunk(client, b"old0", index=0, total=2, filename="again.bin")
    assert (await (await send_chunk(client, b"old1", index=1, total=2, filename="again.bin")).get_json())["completed"]
    # A different totalChunks is no conflict: the finished upload is final.
    body = await (await send_chunk(client, b"new0", index=0, total=3, filename="again.bin")).get_json()
    assert body == {"success": True, "completed": False, "received": 1, "totalChunks": 3}
    assert target.read_bytes() == b"old0old1"
    await send_chunk(client, b"new1", index=1, total=3, filename="again.bin")
    body = await (await send_chunk(client, b"new2", index=2, total=3, filename="again.bin")).get_json()
    assert body["completed"] and body["size"] == 12
    assert target.read_bytes() == b"new0new1new2"


async def test_uploads_are_kept_apart_by_session_and_node(client: Any, kernel: Kernel) -> None:
    await send_chunk(client, b"A", index=0, total=2, filename="x.bin")
    other = await send_chunk(client, b"B", index=0, total=3, filename="x.bin", sessionId="other")
    assert (await other.get_json())["received"] == 1
    other_node = await send_chunk(client, b"C", index=0, total=4, filename="x.bin", nodeId="13")
    assert (await other_node.get_json())["received"] == 1


# ---------------------------------------------------------------------------- sanitising


@pytest.mark.parametrize(("sent", "stored"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\voice take.mp3", "voice_take.mp3"),
    ("...hidden.wav", "hidden.wav"),
    ("naïve café.mp3", "na_ve_caf_.mp3"),
    ("a;b&c|d$(e).txt", "a_b_c_d__e_.txt"),
    ("x" * 300 + ".flac", "x" * 195 + ".flac"),
    ("y" * 300, "y" * 200),
])
async def test_filename_sanitising(client: Any, kernel: Kernel, sent: str, stored: str) -> None:
    response = await send_chunk(client, b"data", filename=sent)
    assert response.status_code == 200
    path = (await response.get_json())["filePath"]
    assert path == f"/temp/uploads/s_81f2/LoadAudio_12/{stored}"
    assert (uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / stored).read_bytes() == b"data"
    assert not (kernel.data_dir.root.parent / "etc").exists()


def test_sanitize_filename_keeps_the_extension() -> None:
    assert len(sanitize_filename("filename", "a" * 500 + ".wav")) == 200
    assert sanitize_filename("filename", "a" * 500 + ".wav").endswith(".wav")
    assert sanitize_filename("filename", "." + "b" * 300) == "b" * 200


async def test_identifier_sanitising(client: Any, kernel: Kernel) -> None:
    response = await send_chunk(client, b"z", filename="f.bin", sessionId="../../x y", nodeId="n/1\\2",
                                nodeName="Load Audio!" + "q" * 100)
    body = await response.get_json()
    node_name = ("Load_Audio_" + "q" * 100)[:64]
    assert body["filePath"] == f"/temp/uploads/______x_y/{node_name}_n_1_2/f.bin"
    assert (uploads_dir(kernel) / "______x_y" / f"{node_name}_n_1_2" / "f.bin").is_file()


@pytest.mark.parametrize(("field", "value"), [
    ("sessionId", ""), ("nodeId", ""), ("nodeName", ""),
    ("filename", ""), ("filename", ".."), ("filename", "dir/"), ("filename", "..\\.."),
])
async def test_empty_names_are_400(client: Any, kernel: Kernel, field: str, value: str) -> None:
    fields = {"filename": "ok.bin", field: value}
    response = await send_chunk(client, b"data", **fields)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["code"] == "invalid_name"
    assert field in body["detail"]
    assert body["success"] is False and body["error"] == body["detail"]
    assert hidden_entries(uploads_dir(kernel)) == []


# ---------------------------------------------------------------------------- schema and chunk rules


async def test_missing_fields_are_422(client: Any, kernel: Kernel) -> None:
    body, headers = multipart({"chunkIndex": "0"}, None)
    response = await client.post("/api/upload", data=body, headers=headers)
    assert response.status_code == 422
    payload = await response.get_json()
    locs = {(tuple(item["loc"]), item["type"]) for item in payload["detail"]}
    assert {(("form", "file"), "missing"), (("form", "sessionId"), "missing"),
            (("form", "nodeId"), "missing"), (("form", "nodeName"), "missing")} <= locs
    assert payload["success"] is False


@pytest.mark.parametrize(("field", "value"), [("chunkIndex", "one"), ("totalChunks", "2.0"), ("chunkIndex", "")])
async def test_non_integer_chunk_fields_are_422(client: Any, field: str, value: str) -> None:
    response = await send_chunk(client, b"data", **{field: value})
    assert response.status_code == 422
    assert {(tuple(i["loc"]), i["type"]) for i in (await response.get_json())["detail"]} == {(("form", field), "wrong_type")}


async def test_not_multipart_is_422(client: Any) -> None:
    response = await client.post("/api/upload", json={"sessionId": "s"}, headers=TOKEN)
    assert response.status_code == 422
    body = await response.get_json()
    assert body["detail"][0]["loc"] == ["body"] and body["detail"][0]["type"] == "wrong_type"


@pytest.mark.parametrize(("index", "total"), [
    ("0", "0"), ("0", "-1"), ("0", "10001"), ("-1", "3"), ("3", "3"), ("5", "3"), ("0", "9" * 30),
    ("9" * 5000, "2"), ("-" + "9" * 5000, "2"), (" 1 ", "1"),
])
async def test_invalid_chunk_numbers_are_400(client: Any, kernel: Kernel, index: str, total: str) -> None:
    response = await send_chunk(client, b"data", index=index, total=total)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["code"] == "invalid_chunk"
    assert body["success"] is False
    assert hidden_entries(uploads_dir(kernel)) == []


async def test_ten_thousand_chunks_is_allowed(client: Any) -> None:
    response = await send_chunk(client, b"last", index=9_999, total=10_000)
    assert (await response.get_json()) == {"success": True, "completed": False, "received": 1, "totalChunks": 10_000}


async def test_different_total_chunks_is_409(client: Any, kernel: Kernel) -> None:
    await send_chunk(client, b"one", index=0, total=3, filename="song.mp3")
    response = await send_chunk(client, b"two", index=1, total=4, filename="song.mp3")
    assert response.status_code == 409
    body = await response.get_json()
    assert body["code"] == "upload_conflict"
    assert "song.mp3" in body["detail"] and "3" in body["detail"]
    assert body["success"] is False
    # The upload in progress is untouched and can finish.
    await send_chunk(client, b"two", index=1, total=3, filename="song.mp3")
    done = await (await send_chunk(client, b"six", index=2, total=3, filename="song.mp3")).get_json()
    assert done["completed"] and done["size"] == 9
    assert (uploads_dir(kernel) / "s_81f2" / "LoadAudio_12" / "song.mp3").read_bytes() == b"onetwosix"


async def test_token_is_required(client: Any) -> None:
    body, headers = multipart(IDS, ("a.bin", b"x"))
    headers.pop("X-Nodeloom-Token")
    response = await client.post("/api/upload", data=body, headers=headers)
    assert response.status_code == 403
    payload = await response.get_json()
    assert payload["code"] == "invalid_token" and payload["success"] is False


# ---------------------------------------------------------------------------- limits


async def test_chunk_over_the_chunk_limit_is_413_and_leaves_nothing(make_client: Any, kernel: Kernel) -> None:
    async with make_client({"NODELOOM_MAX_CHUNK_BYTES": "1024"}) as client:
        first = await send_chunk(client, b"k" * 1024, index=0, total=3, filename="c.bin")
        assert (await first.get_json())["received"] == 1
        response = await send_chunk(client, b"k" * 1025, index=1, total=3, filename="c.bin")
        assert response.status_code == 413
        body = await response.get_json()
        assert body["code"] == "payload_too_large" and "1024" in body["detail"]
        assert body["success"] is False
        folder = uploads_dir(kernel) / "s_81f2" / "LoadAudio_12"
        # The refused chunk left nothing; the earlier chunk of the upload is still there.
        assert hidden_entries(uploads_dir(kernel)) == [folder / ".c.bin.chunks"]
        assert sorted(p.name for p in (folder / ".c.bin.chunks").iterdir()) == ["0.chunk", "upload.json"]
        assert (folder / ".c.bin.chunks" / "0.chunk").read_bytes() == b"k" * 1024
        second = await send_chunk(client, b"k" * 10, index=1, total=3, filename="c.bin")
        assert (await second.get_json())["received"] == 2


async def test_declared_length_far_over_the_limit_is_413(make_client: Any) -> None:
    async with make_client({"NODELOOM_MAX_CHUNK_BYTES": "1024"}) as client:
        body, headers = multipart(IDS, ("a.bin", b"x" * (1024 + 1024 * 1024 + 10)))
        response = await client.post("/api/upload", data=body, headers=headers)
        assert response.status_code == 413
        assert (await response.get_json())["code"] == "payload_too_large"


async def test_total_over_the_upload_limit_discards_the_partial_upload(make_client: Any, kernel: Kernel) -> None:
    async with make_client({"NODELOOM_MAX_UPLOAD_BYTES": "2500"}) as client:
        for index in range(2):
            await send_chunk(client, b"u" * 1000, index=index, total=4, filename="t.bin")
        response = await send_chunk(client, b"u" * 1000, index=2, total=4, filename="t.bin")
        assert response.status_code == 413
        body = await response.get_json()
        assert body["code"] == "payload_too_large" and "2500" in body["detail"]
        assert hidden_entries(uploads_dir(kernel)) == []
        # What follows is a new upload.
        again = await send_chunk(client, b"u" * 1000, index=3, total=4, filename="t.bin")
        assert (await again.get_json())["received"] == 1


async def test_a_replaced_chunk_counts_once_towards_the_limit(make_client: Any) -> None:
    async with make_client({"NODELOOM_MAX_UPLOAD_BYTES": "2000"}) as client:
        for _ in range(3):
            response = await send_chunk(client, b"r" * 1000, index=0, total=2, filename="r.bin")
            assert (await response.get_json())["received"] == 1
        done = await (await send_chunk(client, b"r" * 1000, index=1, total=2, filename="r.bin")).get_json()
        assert done["completed"] and done["size"] == 2000


# ---------------------------------------------------------------------------- TTL sweep


def _age(path: Path, seconds_ago: float, now: float) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (now - seconds_ago, now - seconds_ago), follow_symlinks=False)


async def test_sweep_removes_only_stale_partial_uploads(client: Any, kernel: Kernel) -> None:
    for name in ("stale.bin", "fresh.bin"):
        await send_chunk(client, b"p", index=0, total=2, filename=name)
    await send_chunk(client, b"done", filename="finished.bin")
    root = uploads_dir(kernel)
    folder = root / "s_81f2" / "LoadAudio_12"
    now = time.time()
    _age(folder / ".stale.bin.chunks", 7200, now)
    _age(folder / "finished.bin", 10 * 86400, now)
    staged = root / ".upload.0123456789abcdef.part"
    staged.write_bytes(b"crashed")
    _age(staged, 7200, now)
    young_staged = root / ".upload.fedcba9876543210.part"
    young_staged.write_bytes(b"arriving")

    removed = sweep_stale_uploads(root, 3600, now)

    assert sorted(p.name for p in removed) == [".stale.bin.chunks", ".upload.0123456789abcdef.part"]
    assert not (folder / ".stale.bin.chunks").exists()
    assert (folder / ".fresh.bin.chunks" / "0.chunk").is_file()
    assert (folder / "finished.bin").read_bytes() == b"done"
    assert young_staged.exists()
    # The swept upload starts over; the surviving one continues.
    assert (await (await send_chunk(client, b"q", index=1, total=2, filename="stale.bin")).get_json())["received"] == 1
    assert (await (await send_chunk(client, b"q", index=1, total=2, filename="fresh.bin")).get_json())["completed"]


def test_sweep_judges_by_the_last_chunk(tmp_path: Path) -> None:
    chunk_dir = tmp_path / "s" / "N_1" / ".a.bin.chunks"
    chunk_dir.mkdir(parents=True)
    (chunk_dir / "0.chunk").write_bytes(b"x")
    (chunk_dir / "1.chunk").write_bytes(b"y")
    now = time.time()
    _age(chunk_dir, 7200, now)
    os.utime(chunk_dir / "1.chunk", (now - 10, now - 10))
    assert sweep_stale_uploads(tmp_path, 3600, now) == []
    assert sweep_stale_uploads(tmp_path, 3600, now + 3600) == [chunk_dir.resolve()]
    assert sweep_stale_uploads(tmp_path / "missing", 3600, now) == []


def test_sweep_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / ".victim.chunks").mkdir(parents=True)
    (outside / ".keep.part").write_bytes(b"k")
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / ".linked.bin.chunks").symlink_to(outside / ".victim.chunks", target_is_directory=True)
    now = time.time()
    _age(outside, 86400 * 3, now)
    assert sweep_stale_uploads(root, 60, now) == []
    assert (outside / ".victim.chunks").is_dir() and (outside / ".keep.part").exists()


async def test_sweep_runs_at_startup(make_client: Any, kernel: Kernel) -> None:
    chunk_dir = uploads_dir(kernel) / "s" / "N_1" / ".old.bin.chunks"
    chunk_dir.mkdir(parents=True)
    (chunk_dir / "0.chunk").write_bytes(b"x")
    _age(chunk_dir, 7200, time.time())
    async with make_client({"NODELOOM_UPLOAD_TTL_S": "3600"}):
        for _ in range(100):
            if not chunk_dir.exists():
                break
            await asyncio.sleep(0.05)
        assert not chunk_dir.exists()
