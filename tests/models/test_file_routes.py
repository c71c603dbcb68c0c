"""Model download and delete (api.md §2.8.4, §2.8.5) and path confinement on every path-taking route."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.models.support import TOKEN, upload


def put(models: Path, relpath: str, data: bytes = b"weights") -> Path:
    path = models / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def call(client: Any, method: str, path: str) -> tuple[int, Any]:
    headers = TOKEN if method != "GET" else {}
    response = await client.open(path, method=method, headers=headers)
    return response.status_code, await response.get_json()


# ---------------------------------------------------------------------------- download


async def test_download_sends_the_whole_file_as_an_attachment(client: Any, models_dir: Path) -> None:
    data = os.urandom(200_000)
    put(models_dir, 'Cls/modèle "v1".pt', data)
    url = "/api/models/download/" + quote('Cls/modèle "v1".pt')
    response = await client.get(url, headers={"Range": "bytes=0-9", "If-None-Match": "*"})
    assert response.status_code == 200
    assert await response.get_data() == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"mod_le _v1_.pt\"; filename*=UTF-8''mod%C3%A8le%20%22v1%22.pt"
    )
    assert response.headers["Cache-Control"] == "no-store"
    head = await client.head(url)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))


async def test_download_wins_over_the_category_route(client: Any, models_dir: Path) -> None:
    put(models_dir, "top.pt", b"top")
    response = await client.get("/api/models/download/top.pt")
    assert (response.status_code, await response.get_data()) == (200, b"top")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_the_four_checks_in_order(client: Any, models_dir: Path, method: str) -> None:
    route = "/api/models/download/" if method == "GET" else "/api/models/"
    put(models_dir, "notes.txt")
    (models_dir / "folder.pt").mkdir()
    (models_dir / "dir.txt").mkdir()
    os.mkfifo(models_dir / "pipe.pt")
    cases = [
        ("a//b.pt", 400, "invalid_path", None),
        ("missing.pt", 404, "file_not_found", "File not found: missing.pt"),
        ("missing.txt", 404, "file_not_found", "File not found: missing.txt"),
        ("notes.txt/x.pt", 404, "file_not_found", "File not found: notes.txt/x.pt"),
        ("folder.pt", 400, "not_a_file", "Not a file: folder.pt"),
        ("dir.txt", 400, "not_a_file", "Not a file: dir.txt"),
        ("pipe.pt", 400, "not_a_file", "Not a file: pipe.pt"),
        ("notes.txt", 400, "invalid_file_type", "Not a model file: notes.txt"),
    ]
    for name, status, code, detail in cases:
        got, body = await call(client, method, route + name)
        assert (got, body["code"]) == (status, code), (name, body)
        if detail is not None:
            assert body["detail"] == detail
        assert "success" not in body
    assert (models_dir / "notes.txt").exists() and (models_dir / "folder.pt").is_dir()


# ---------------------------------------------------------------------------- delete


async def test_delete_removes_the_file_and_keeps_the_folder(client: Any, models_dir: Path) -> None:
    put(models_dir, "Cls/sub/w.PTH")
    status, body = await call(client, "DELETE", "/api/models/Cls/sub/w.PTH")
    assert (status, body) == (200, {"message": "Deleted Cls/sub/w.PTH"})
    assert not (models_dir / "Cls/sub/w.PTH").exists() and (models_dir / "Cls/sub").is_dir()
    status, body = await call(client, "DELETE", "/api/models/Cls/sub/w.PTH")
    assert (status, body["code"]) == (404, "file_not_found")


async def test_delete_needs_the_token(client: Any, models_dir: Path) -> None:
    put(models_dir, "w.pt")
    response = await client.delete("/api/models/w.pt")
    assert response.status_code == 403
    assert (models_dir / "w.pt").exists()


async def test_uploaded_file_downloads_and_deletes(client: Any, models_dir: Path) -> None:
    assert (await upload(client, "r.safetensors", b"abc", category="Cls"))[0] == 200
    response = await client.get("/api/models/download/Cls/r.safetensors")
    assert await response.get_data() == b"abc"
    assert (await call(client, "DELETE", "/api/models/Cls/r.safetensors"))[0] == 200


# ---------------------------------------------------------------------------- confinement


TRAVERSALS = [
    "../x.pt",
    "a/../../b.pt",
    "%2e%2e/x.pt",
    "%2E%2E%2Fx.pt",
    "Cls/./x.pt",
    ".hidden.pt",
    "Cls/.x.pt.abcd.part",
    ".upload.0123456789abcdef.part",
    "a:b.pt",
    "Cls/w%5Cx.pt",
    "w%00.pt",
    "w%09.pt",
]


@pytest.fixture
def bait(models_dir: Path, tmp_path: Path) -> list[Path]:
    """Files a traversal would reach: next to models/, in the data dir, and in hidden temp names."""
    data_dir = models_dir.parent
    files = [
        put(data_dir, "x.pt", b"outside"),
        put(data_dir, "b.pt", b"outside"),
        put(tmp_path, "x.pt", b"outside"),
        put(models_dir, ".hidden.pt", b"hidden"),
        put(models_dir, "Cls/.x.pt.abcd.part", b"partial"),
        put(models_dir, ".upload.0123456789abcdef.part", b"partial"),
    ]
    return files


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_traversal_is_invalid_path(client: Any, bait: list[Path], path: str, method: str) -> None:
    route = "/api/models/download/" if method == "GET" else "/api/models/"
    status, body = await call(client, method, route + path)
    assert (status, body["code"]) == (400, "invalid_path"), body
    assert all(f.exists() for f in bait)


#: Paths no rule accepts as a file name: werkzeug's ``path`` converter never starts with ``/`` and
#: its ``.`` does not match a newline, so routing answers (§1.7 step 4) before any path check.
UNROUTABLE = ["//etc/passwd", "/%2Fetc/passwd", "/w%0A.pt", "/Cls/w%0D%0A.pt"]


@pytest.mark.parametrize("path", UNROUTABLE)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_unroutable_paths_are_answered_by_routing(client: Any, bait: list[Path], path: str, method: str) -> None:
    route = "/api/models/download" if method == "GET" else "/api/models"
    status, body = await call(client, method, route + path)
    assert (status, body["code"]) in {(404, "not_found"), (405, "method_not_allowed"), (400, "invalid_path")}, body
    assert all(f.exists() for f in bait)


async def test_traversal_against_category_job_and_registry_routes(client: Any, bait: list[Path]) -> None:
    for path in ("..", "%2e%2e", ".hidden", "a:b"):
        status, body = await call(client, "GET", f"/api/models/{path}")
        assert (status, body["code"], body["success"]) == (400, "invalid_path", False), body
    for path in ("../x", "%2e%2e%2Fx", "..", ".hidden"):
        status, body = await call(client, "POST", f"/api/models/download/{path}")
        assert status in (404, 405), body
        assert body["code"] in ("model_not_found", "not_found", "method_not_allowed")
        status, body = await call(client, "GET", f"/api/downloads/status/{path}")
        assert status == 404 and body["code"] in ("job_not_found", "not_found")
    assert all(f.exists() for f in bait)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_symlinks_leading_outside_are_refused(
    client: Any, models_dir: Path, tmp_path: Path, method: str
) -> None:
    outside = put(tmp_path, "outside/secret.pt", b"secret")
    os.symlink(outside, models_dir / "evil.pt")
    os.symlink(outside.parent, models_dir / "Linked")
    route = "/api/models/download/" if method == "GET" else "/api/models/"
    for name in ("evil.pt", "Linked/secret.pt"):
        status, body = await call(client, method, route + name)
        assert (status, body["code"]) == (400, "invalid_path"), body
    assert outside.read_bytes() == b"secret"
    assert (models_dir / "evil.pt").is_symlink()


async def test_symlink_inside_the_folder_is_fine(client: Any, models_dir: Path) -> None:
    put(models_dir, "real/w.pt", b"inside")
    os.symlink(models_dir / "real" / "w.pt", models_dir / "alias.pt")
    response = await client.get("/api/models/download/alias.pt")
    assert (response.status_code, await response.get_data()) == (200, b"inside")
