"""``GET /api/models`` (registry plus disk, api.md §2.8.1) and ``GET /api/models/{category}`` (§2.8.2)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeloom.kernel.host import Kernel
from tests.api.support import make_kernel
from tests.models.conftest import FIRST_PARTY
from tests.models.support import TOKEN


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = make_kernel(tmp_path, first_party={**FIRST_PARTY, "zoo": "tests.models.zoo_plugin"}, third_party={})
    yield k
    k.close()


def put(models: Path, relpath: str, data: bytes = b"weights") -> Path:
    path = models / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_registry(models: Path, content: Any) -> None:
    (models / "registry.json").write_text(json.dumps(content), encoding="utf-8")


async def listing(client: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/models")
    assert response.status_code == 200
    return await response.get_json()


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


async def test_plugin_entries_with_their_wire_sources(client: Any) -> None:
    items = by_id(await listing(client))
    assert items["yolox_s"] == {
        "id": "yolox_s",
        "name": "YOLOX S",
        "category": "Object Detection",
        "source": {"type": "huggingface", "repo_id": "Megvii/YOLOX", "url": "Megvii/YOLOX",
                   "filename": "weights/yolox_s.pth", "revision": "main"},
        "installed": False,
        "filename": None,
        "size": None,
    }
    # The name defaults to the id; the url source keeps only type and url.
    assert items["tiny"]["name"] == "tiny"
    assert items["tiny"]["source"] == {"type": "url", "url": "http://127.0.0.1:9/files/tiny%20net.PT?x=1"}
    # A target name without a model extension cannot be installed: the entry is skipped.
    assert "config_only" not in items


async def test_installed_entry_appears_once_and_default_file_names(client: Any, models_dir: Path) -> None:
    put(models_dir, "Object Detection/yolox_s.pth", b"12345")
    # The url source's default name is the percent-decoded last segment of the URL path.
    put(models_dir, "classifiers/tiny net.PT", b"abc")
    items = await listing(client)
    ids = [item["id"] for item in items]
    assert "Object Detection/yolox_s.pth" not in ids and "classifiers/tiny net.PT" not in ids
    found = by_id(items)
    assert found["yolox_s"]["installed"] is True
    assert found["yolox_s"]["filename"] == "Object Detection/yolox_s.pth"
    assert found["yolox_s"]["size"] == 5
    assert found["tiny"]["filename"] == "classifiers/tiny net.PT"


async def test_disk_files_are_listed_with_their_categories(client: Any, models_dir: Path) -> None:
    put(models_dir, "mnist_cnn.pt", b"1" * 7)
    put(models_dir, "Classifiers/deep/resnet.SAFETENSORS", b"2" * 3)
    for ignored in ("notes.txt", ".hidden.pt", ".tmp/x.pt", "Classifiers/.resnet.pt.1a2b.part",
                    "Classifiers/.upload.abcd.part", "registry.json.pt.bak"):
        put(models_dir, ignored)
    items = by_id(await listing(client))
    assert items["mnist_cnn.pt"] == {
        "id": "mnist_cnn.pt", "name": "mnist_cnn.pt", "category": "Uploaded", "source": {"type": "upload"},
        "installed": True, "filename": "mnist_cnn.pt", "size": 7,
    }
    deep = items["Classifiers/deep/resnet.SAFETENSORS"]
    assert (deep["category"], deep["name"], deep["size"]) == ("Classifiers", "resnet.SAFETENSORS", 3)
    assert not any(i.startswith((".", "notes")) or "/." in i or i.endswith(".bak") for i in items)


async def test_sorted_by_category_then_name_casefolded_then_id(client: Any, models_dir: Path) -> None:
    put(models_dir, "b.pt")
    put(models_dir, "A.pt")
    put(models_dir, "zoo/x.pt")
    put(models_dir, "Zoo/y.pt")
    items = await listing(client)
    keys = [(i["category"].casefold(), i["name"].casefold(), i["id"]) for i in items]
    assert keys == sorted(keys)
    assert [i["id"] for i in items if i["category"] == "Uploaded"] == ["A.pt", "b.pt"]


async def test_registry_file_replaces_plugin_entries_and_reports_problems(
    client: Any, kernel: Kernel, models_dir: Path
) -> None:
    write_registry(models_dir, {"models": [
        {"id": "replaced", "name": "From the file", "category": "Zoo", "filename": "replaced.pt",
         "source": {"type": "url", "url": "http://127.0.0.1:9/other.pt"}},
        {"id": "bad id!", "category": "Zoo", "source": {"type": "url", "url": "http://x/y.pt"}},
        {"id": "escape", "category": "Zoo", "filename": "../escape.pt",
         "source": {"type": "url", "url": "http://x/y.pt"}},
        {"id": "from_file", "category": "Mine", "source": {"type": "url", "url": "https://example.invalid/a/b.ckpt"}},
    ]})
    response = await client.post("/api/nodes/reload", headers=TOKEN)
    errors = [e for e in (await response.get_json())["errors"] if e["kind"] == "model_registry"]
    assert any("replaces" in e["message"] for e in errors)
    assert any("bad id!" in e["message"] for e in errors)
    items = by_id(await listing(client))
    assert items["replaced"]["name"] == "From the file"
    assert items["replaced"]["source"]["url"] == "http://127.0.0.1:9/other.pt"
    assert items["from_file"]["category"] == "Mine"
    # A target name that leaves the category folder is skipped, never listed or downloaded.
    assert "escape" not in items and "bad id!" not in items
    assert (await (await client.post("/api/models/download/escape", headers=TOKEN)).get_json())["code"] == (
        "model_not_found"
    )


async def test_a_broken_registry_file_keeps_plugin_entries(client: Any, models_dir: Path) -> None:
    (models_dir / "registry.json").write_text("{not json", encoding="utf-8")
    response = await client.post("/api/nodes/reload", headers=TOKEN)
    errors = [e for e in (await response.get_json())["errors"] if e["kind"] == "model_registry"]
    assert errors and errors[0]["source"] == "registry.json"
    assert {"yolox_s", "tiny", "replaced"} <= set(by_id(await listing(client)))


async def test_deleting_an_entrys_file_makes_it_uninstalled(client: Any, models_dir: Path) -> None:
    put(models_dir, "Zoo/replaced.pt")
    assert by_id(await listing(client))["replaced"]["installed"] is True
    response = await client.delete("/api/models/Zoo/replaced.pt", headers=TOKEN)
    assert response.status_code == 200
    item = by_id(await listing(client))["replaced"]
    assert (item["installed"], item["filename"], item["size"]) == (False, None, None)


# ---------------------------------------------------------------------------- one category


async def test_category_listing_is_recursive_and_sorted_by_path(client: Any, models_dir: Path) -> None:
    put(models_dir, "Object Detection/yolox_s.pth")
    put(models_dir, "Object Detection/sub/b.tar.pt")
    put(models_dir, "Object Detection/A.onnx")
    put(models_dir, "Object Detection/readme.md")
    put(models_dir, "Object Detection/.partial.pt")
    put(models_dir, "top.pt")
    response = await client.get("/api/models/Object Detection")
    assert response.status_code == 200
    assert await response.get_json() == [
        {"name": "A", "path": "Object Detection/A.onnx"},
        {"name": "b.tar", "path": "Object Detection/sub/b.tar.pt"},
        {"name": "yolox_s", "path": "Object Detection/yolox_s.pth"},
    ]


async def test_category_without_folder_is_empty(client: Any, models_dir: Path) -> None:
    put(models_dir, "Uploaded.pt")
    for category in ("Nothing", "Uploaded", "Uploaded.pt"):
        response = await client.get(f"/api/models/{category}")
        assert (response.status_code, await response.get_json()) == (200, [])


@pytest.mark.parametrize("category", ["download", "Download"])
async def test_download_is_not_a_category(client: Any, category: str) -> None:
    response = await client.get(f"/api/models/{category}")
    body = await response.get_json()
    assert response.status_code == 404
    assert body["code"] == "not_found" and body["detail"] == f"'{category}' is not a model category"
    assert body["success"] is False and body["error"] == body["detail"]


@pytest.mark.parametrize("category", [".hidden", "a:b", "..", "%2E%2E"])
async def test_bad_category_is_invalid_path(client: Any, models_dir: Path, category: str) -> None:
    put(models_dir, ".hidden/x.pt")
    response = await client.get(f"/api/models/{category}")
    body = await response.get_json()
    assert (response.status_code, body["code"], body["success"]) == (400, "invalid_path", False)


async def test_category_symlink_leading_outside_is_refused(client: Any, models_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    put(outside, "secret.pt")
    os.symlink(outside, models_dir / "Linked")
    response = await client.get("/api/models/Linked")
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "invalid_path"
    # The walk does not follow it either.
    assert not any("secret" in item["id"] for item in await listing(client))


async def test_routes_are_in_the_openapi_document(client: Any) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = (await response.get_json())["paths"]
    for path in ("/api/models", "/api/models/upload", "/api/downloads/status/{job_id}"):
        assert path in paths, sorted(p for p in paths if "model" in p or "download" in p)
