"""The models routes over real HTTP (Hypercorn): a 20 MB streamed upload and raw traversal paths."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from nodeloom.kernel.host import Kernel
from tests.api.support import LiveServer, make_settings

SIZE = 20 * 1024 * 1024
BLOCK = 256 * 1024


@pytest.fixture
def live_server(kernel: Kernel) -> Iterator[LiveServer]:
    server = LiveServer(kernel, make_settings(kernel.data_dir)).start()
    try:
        yield server
    finally:
        server.stop()


def streamed_multipart(boundary: str, seed: bytes, digest: "hashlib._Hash") -> Iterator[bytes]:
    """The body of a one-file form, generated block by block (never whole in memory)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.safetensors"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = hashlib.sha512(seed).digest() * (BLOCK // 64)
    for index in range(SIZE // BLOCK):
        data = bytes([index % 251]) + block[1:]
        digest.update(data)
        yield data
    yield f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="category"\r\n\r\nBig\r\n--{boundary}--\r\n'.encode()


def test_twenty_megabyte_streamed_upload_and_download(live_server: LiveServer, models_dir: Path) -> None:
    boundary = "nodeloom-live-boundary"
    sent = hashlib.sha256()
    headers = {"X-Nodeloom-Token": live_server.token, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    with httpx.Client(base_url=live_server.url, timeout=60, trust_env=False) as client:
        response = client.post("/api/models/upload", content=streamed_multipart(boundary, b"seed", sent),
                               headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"filename": "Big/big.safetensors", "size": SIZE}
        stored = models_dir / "Big" / "big.safetensors"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sent.hexdigest()
        assert [p.name for p in models_dir.rglob(".*")] == []

        received = hashlib.sha256()
        with client.stream("GET", "/api/models/download/Big/big.safetensors") as download:
            assert download.status_code == 200
            assert download.headers["content-length"] == str(SIZE)
            for chunk in download.iter_bytes():
                received.update(chunk)
        assert received.hexdigest() == sent.hexdigest()

        listing = client.get("/api/models/Big").json()
        assert listing == [{"name": "big", "path": "Big/big.safetensors"}]


def raw_request(server: LiveServer, method: str, target: str) -> tuple[int, bytes]:
    """A request whose target is sent byte for byte (httpx would normalise ``..`` segments)."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("X-Nodeloom-Token", server.token)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "target",
    [
        "/api/models/download/../x.pt",
        "/api/models/download/%2e%2e/x.pt",
        "/api/models/download/a/../../x.pt",
        "/api/models/download/..%2Fx.pt",
        "/api/models/download/.hidden.pt",
    ],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_raw_traversal_over_http(live_server: LiveServer, models_dir: Path, target: str, method: str) -> None:
    outside = models_dir.parent / "x.pt"
    outside.write_bytes(b"outside")
    (models_dir / ".hidden.pt").write_bytes(b"hidden")
    if method == "DELETE":
        target = target.replace("/download/", "/", 1)
    status, body = raw_request(live_server, method, target)
    assert status == 400, body
    assert b'"invalid_path"' in body
    assert outside.read_bytes() == b"outside" and (models_dir / ".hidden.pt").exists()


def test_oversized_declared_upload_is_refused_before_reading(kernel: Kernel, models_dir: Path) -> None:
    settings = make_settings(kernel.data_dir, {"NODELOOM_MAX_MODEL_BYTES": "1024"})
    server = LiveServer(kernel, settings).start()
    try:
        headers = {"X-Nodeloom-Token": server.token, "Content-Type": "multipart/form-data; boundary=b"}
        body = b"--b\r\n" + os.urandom(2 * 1024 * 1024)
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            response = client.post("/api/models/upload", content=body, headers=headers)
        assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
        assert list(models_dir.iterdir()) == []
    finally:
        server.stop()
