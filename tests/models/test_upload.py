"""``POST /api/models/upload`` (api.md §2.8.3), and through it the streaming multipart helper."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.models.support import TOKEN, multipart, upload

LIMIT = 64 * 1024


def leftovers(models: Path) -> list[str]:
    """Every file under models/ whose name starts with a dot (temp files of uploads)."""
    return [p.relative_to(models).as_posix() for p in models.rglob(".*")]


async def post(client: Any, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    response = await client.post("/api/models/upload", data=body, headers=headers)
    return response.status_code, await response.get_json()


async def test_upload_to_top_level(client: Any, models_dir: Path) -> None:
    status, body = await upload(client, "mnist_cnn.pt", b"weights")
    assert (status, body) == (200, {"filename": "mnist_cnn.pt", "size": 7})
    assert (models_dir / "mnist_cnn.pt").read_bytes() == b"weights"
    assert leftovers(models_dir) == []


async def test_multi_megabyte_file_arrives_byte_for_byte(client: Any, models_dir: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 12345)
    status, body = await upload(client, "resnet18.safetensors", data, category="Classifiers")
    assert (status, body) == (200, {"filename": "Classifiers/resnet18.safetensors", "size": len(data)})
    stored = (models_dir / "Classifiers" / "resnet18.safetensors").read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert leftovers(models_dir) == []


@pytest.mark.parametrize("fields_first", [True, False])
async def test_fields_before_or_after_the_file_part(client: Any, models_dir: Path, fields_first: bool) -> None:
    (models_dir / "Cls").mkdir()
    (models_dir / "Cls" / "w.pt").write_bytes(b"old")
    body, headers = multipart({"file": ("w.pt", b"new")}, {"category": "Cls", "overwrite": "true"},
                              fields_first=fields_first)
    assert await post(client, body, headers) == (200, {"filename": "Cls/w.pt", "size": 3})
    assert (models_dir / "Cls" / "w.pt").read_bytes() == b"new"


async def test_existing_file_is_409_and_the_part_is_removed(client: Any, models_dir: Path) -> None:
    assert (await upload(client, "w.pt", b"first"))[0] == 200
    for overwrite in ({}, {"overwrite": "false"}, {"overwrite": "0"}, {"overwrite": ""}):
        status, body = await upload(client, "w.pt", b"second", **overwrite)
        assert (status, body["code"], body["detail"]) == (409, "file_exists", "File already exists: w.pt")
    assert (models_dir / "w.pt").read_bytes() == b"first"
    assert leftovers(models_dir) == []
    assert (await upload(client, "w.pt", b"third", overwrite="TRUE"))[0] == 200
    assert (models_dir / "w.pt").read_bytes() == b"third"


async def test_a_folder_with_the_target_name_is_409_even_with_overwrite(client: Any, models_dir: Path) -> None:
    (models_dir / "taken.pt").mkdir()
    status, body = await upload(client, "taken.pt", b"x", overwrite="true")
    assert (status, body["code"]) == (409, "file_exists")
    assert leftovers(models_dir) == []


async def test_directory_part_of_the_client_file_name_is_dropped(client: Any, models_dir: Path) -> None:
    assert (await upload(client, "C:\\Users\\me\\w.pth", b"a"))[1] == {"filename": "w.pth", "size": 1}
    assert (await upload(client, "../../etc/x.ckpt", b"b"))[1] == {"filename": "x.ckpt", "size": 1}
    assert sorted(p.name for p in models_dir.iterdir()) == ["w.pth", "x.ckpt"]


async def test_missing_file_part_is_422(client: Any, models_dir: Path) -> None:
    body, headers = multipart({}, {"category": "Cls", "file": "not a file part"})
    status, answer = await post(client, body, headers)
    assert (status, answer["code"]) == (422, "validation_error")
    assert {"loc": ["form", "file"], "msg": "Field required", "type": "missing"} in answer["detail"]


async def test_not_multipart_is_422(client: Any) -> None:
    response = await client.post("/api/models/upload", json={"file": "x"}, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 422
    assert body["detail"][0]["loc"] == ["body"] and body["detail"][0]["type"] == "wrong_type"


async def test_bad_overwrite_flag_is_422(client: Any, models_dir: Path) -> None:
    status, body = await upload(client, "w.pt", b"x", overwrite="maybe")
    assert status == 422 and body["detail"][0]["loc"] == ["form", "overwrite"]
    assert leftovers(models_dir) == [] and not (models_dir / "w.pt").exists()


@pytest.mark.parametrize(
    ("filename", "fields", "code", "detail"),
    [
        ("", {}, "invalid_name", "No filename provided"),
        ("some/dir/", {}, "invalid_name", "No filename provided"),
        ("notes.txt", {}, "invalid_file_type",
         "Unsupported file type: .txt. Allowed: .bin, .ckpt, .gguf, .onnx, .pt, .pth, .safetensors"),
        ("README", {}, "invalid_file_type", "Unsupported file type: . Allowed: .bin, .ckpt, .gguf, .onnx, .pt, "
                                           ".pth, .safetensors"),
        ("w.PT.exe", {}, "invalid_file_type", None),
        (".hidden.pt", {}, "invalid_path", None),
        ("a:b.pt", {}, "invalid_path", None),
        ("w.pt", {"category": "../x"}, "invalid_path", None),
        ("w.pt", {"category": "a/b"}, "invalid_path", None),
        ("w.pt", {"category": ".cache"}, "invalid_path", None),
        ("w.pt", {"category": "download"}, "invalid_path", None),
        ("w.pt", {"category": "DownLoad"}, "invalid_path", None),
        ("w.pt", {"category": "/etc"}, "invalid_path", None),
        ("w.pt", {"category": "c:"}, "invalid_path", None),
    ],
)
async def test_refused_names_leave_nothing(
    client: Any, models_dir: Path, filename: str, fields: dict[str, str], code: str, detail: str | None
) -> None:
    status, body = await upload(client, filename, b"data", **fields)
    assert (status, body["code"]) == (400, code), body
    if detail is not None:
        assert body["detail"] == detail
    assert list(models_dir.iterdir()) == []


async def test_category_symlink_leading_outside_is_refused(client: Any, models_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, models_dir / "Linked")
    status, body = await upload(client, "w.pt", b"x", category="Linked")
    assert (status, body["code"]) == (400, "invalid_path")
    assert list(outside.iterdir()) == [] and leftovers(models_dir) == []


async def test_category_that_is_a_file_is_refused(client: Any, models_dir: Path) -> None:
    (models_dir / "Cls").write_bytes(b"a file")
    status, body = await upload(client, "w.pt", b"x", category="Cls")
    assert (status, body["code"]) == (400, "invalid_path")
    assert leftovers(models_dir) == []


async def test_concurrent_uploads_of_one_name_one_wins(client: Any, models_dir: Path) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(2)]
    results = await asyncio.gather(*(upload(client, "race.pt", p, category="Race") for p in payloads))
    assert sorted(status for status, _ in results) == [200, 409]
    winner = next(i for i, (status, _) in enumerate(results) if status == 200)
    assert (models_dir / "Race" / "race.pt").read_bytes() == payloads[winner]
    assert leftovers(models_dir) == []


async def test_truncated_body_leaves_nothing(client: Any, models_dir: Path) -> None:
    body, headers = multipart({"file": ("w.pt", os.urandom(100_000))})
    status, answer = await post(client, body[: len(body) // 2], headers)
    assert status == 422 and answer["code"] == "validation_error"
    assert list(models_dir.iterdir()) == []


async def test_upload_needs_the_token(client: Any, models_dir: Path) -> None:
    body, headers = multipart({"file": ("w.pt", b"x")})
    headers.pop("X-Nodeloom-Token")
    status, answer = await post(client, body, headers)
    assert (status, answer["code"]) == (403, "invalid_token")
    assert list(models_dir.iterdir()) == []


class TestLimit:
    @pytest.fixture
    def settings_env(self) -> dict[str, str]:
        return {"NODELOOM_MAX_MODEL_BYTES": str(LIMIT)}

    async def test_exactly_at_the_limit_is_accepted(self, client: Any, models_dir: Path) -> None:
        assert (await upload(client, "w.pt", b"a" * LIMIT))[1] == {"filename": "w.pt", "size": LIMIT}

    @pytest.mark.parametrize("size", [LIMIT + 1, 5 * LIMIT, 16 * LIMIT])
    async def test_over_the_limit_is_413_and_leaves_nothing(self, client: Any, models_dir: Path, size: int) -> None:
        status, body = await upload(client, "w.pt", os.urandom(size), category="Big")
        assert (status, body["code"]) == (413, "payload_too_large")
        assert body["detail"] == f"File too large (limit {LIMIT} bytes)"
        assert leftovers(models_dir) == [] and not (models_dir / "Big").exists()

    async def test_declared_length_far_over_the_limit_is_refused_first(self, client: Any, models_dir: Path) -> None:
        body, headers = multipart({"file": ("w.pt", b"x" * (LIMIT + 1024 * 1024 + 10))})
        status, answer = await post(client, body, headers)
        assert (status, answer["code"]) == (413, "payload_too_large")
        assert answer["detail"] == f"Request body too large (limit {LIMIT + 1024 * 1024} bytes)"
        assert list(models_dir.iterdir()) == []
