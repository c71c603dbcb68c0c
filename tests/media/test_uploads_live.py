"""Chunked upload and /temp over a real Hypercorn server and TCP (api.md §2.12)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nodeloom.kernel.host import Kernel
from tests.api.support import LiveServer, make_settings

CHUNK_LIMIT = 1024 * 1024
IDS = {"sessionId": "live", "nodeId": "3", "nodeName": "LoadVideo"}


@pytest.fixture
def stale_chunk_dir(kernel: Kernel) -> Path:
    """An unfinished upload two hours old, present before the server starts."""
    folder = kernel.data_dir.area("temp") / "uploads" / "old" / "N_1" / ".gone.bin.chunks"
    folder.mkdir(parents=True)
    (folder / "0.chunk").write_bytes(b"x")
    past = time.time() - 7200
    for path in (folder / "0.chunk", folder):
        os.utime(path, (past, past))
    return folder


@pytest.fixture
def server(kernel: Kernel, stale_chunk_dir: Path) -> Iterator[LiveServer]:
    env = {"NODELOOM_MAX_CHUNK_BYTES": str(CHUNK_LIMIT), "NODELOOM_UPLOAD_TTL_S": "3600"}
    live = LiveServer(kernel, make_settings(kernel.data_dir, env)).start()
    try:
        yield live
    finally:
        live.stop()


async def post_chunk(http: httpx.AsyncClient, token: str, data: bytes, index: int, total: int,
                     filename: str = "movie.mp4") -> httpx.Response:
    fields = {**IDS, "filename": filename, "chunkIndex": str(index), "totalChunks": str(total)}
    return await http.post("/api/upload", data=fields, files={"file": ("blob", data, "application/octet-stream")},
                           headers={"Authorization": f"Bearer {token}"})


async def test_live_chunked_upload_then_ranged_download(server: LiveServer, kernel: Kernel,
                                                        stale_chunk_dir: Path) -> None:
    data = os.urandom(4 * CHUNK_LIMIT - 777)
    chunks = [data[i:i + CHUNK_LIMIT] for i in range(0, len(data), CHUNK_LIMIT)]
    total = len(chunks)
    order = list(range(total))
    random.Random(3).shuffle(order)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for index in order[:-2]:
            response = await post_chunk(http, server.token, chunks[index], index, total)
            assert response.status_code == 200, response.text
            assert response.json()["completed"] is False
        last = await asyncio.gather(*(post_chunk(http, server.token, chunks[i], i, total) for i in order[-2:]))
        bodies = [r.json() for r in last]
        assert sorted(b["completed"] for b in bodies) == [False, True]
        done = next(b for b in bodies if b["completed"])
        assert done == {"success": True, "completed": True, "filePath": "/temp/uploads/live/LoadVideo_3/movie.mp4",
                        "size": len(data)}
        assert (kernel.data_dir.area("temp") / "uploads" / "live" / "LoadVideo_3" / "movie.mp4").read_bytes() == data

        whole = await http.get(done["filePath"])
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["cache-control"] == "no-cache"
        assert whole.headers["content-disposition"].startswith("inline;")
        assert int(whole.headers["content-length"]) == len(data)

        ranged = await http.get(done["filePath"], headers={"Range": "bytes=1048570-1048589"})
        assert ranged.status_code == 206 and ranged.content == data[1048570:1048590]
        assert ranged.headers["content-range"] == f"bytes 1048570-1048589/{len(data)}"

        head = await http.head(done["filePath"])
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(data)
        head_ranged = await http.head(done["filePath"], headers={"Range": "bytes=-100"})
        assert head_ranged.status_code == 206 and int(head_ranged.headers["content-length"]) == 100

        unsatisfiable = await http.get(done["filePath"], headers={"Range": f"bytes={len(data)}-"})
        assert unsatisfiable.status_code == 416
        assert unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"
        assert unsatisfiable.json()["success"] is False

        # The traversal never leaves temp/, whatever the client's URL normalisation does.
        escape = await http.get("/temp/%2e%2e/session.token")
        assert escape.status_code in (400, 404)
        assert server.token not in escape.text

    # The sweep ran at startup.
    assert not stale_chunk_dir.exists()


async def test_live_chunk_over_the_limit(server: LiveServer, kernel: Kernel) -> None:
    uploads = kernel.data_dir.area("temp") / "uploads"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        ok = await post_chunk(http, server.token, b"a" * 100, 0, 2, "limit.bin")
        assert ok.json()["received"] == 1
        response = await post_chunk(http, server.token, b"b" * (CHUNK_LIMIT + 1), 1, 2, "limit.bin")
        assert response.status_code == 413
        body = response.json()
        assert body["code"] == "payload_too_large" and body["success"] is False
    assert sorted(p.name for p in uploads.rglob(".*")) == [".limit.bin.chunks"]
