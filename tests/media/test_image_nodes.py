"""Image nodes on real files (nodes.md §2.13, §3.11, N8): uploads by relpath and ``/temp/uploads/...``,
the writer's atomic output under ``images/output/``, and a tensor -> file -> tensor round trip."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from quart.datastructures import FileStorage

from nodeloom.kernel import DataDir, NodePaths, spec_of
from nodeloom.kernel.host import Kernel
from nodeloom.plugins.media import image_nodes
from nodeloom.plugins.media.nodes import image_reader
from tests.api.support import auth_headers
from tests.nodes.helpers import call_node

TOKEN = auth_headers()


@pytest.fixture
def paths(tmp_path: Path) -> NodePaths:
    return NodePaths(DataDir(tmp_path / "node_data").ensure())


def quantised(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Values k/255, which survive the uint8 round trip exactly."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 255


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


# ---------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(("channels", "mode"), [(3, "RGB"), (4, "RGBA"), (1, "L")])
def test_png_round_trip_is_exact(paths: NodePaths, channels: int, mode: str) -> None:
    image = quantised((channels, 5, 7))
    written = call_node(image_nodes.image_writer, {"image": image}, path="round/trip.png", paths=paths)
    assert written == {"path": "output/round/trip.png"}
    target = paths.data_dir.area("images") / "output" / "round" / "trip.png"
    with Image.open(target) as img:
        assert img.format == "PNG" and img.size == (7, 5)
        assert img.mode == ("RGBA" if channels == 4 else "RGB")  # one channel is replicated to RGB
    out = call_node(image_reader, path=written["path"], mode=mode, paths=paths)
    assert out["image"].dtype == torch.float32 and out["image"].shape == image.shape
    assert torch.equal(out["image"], image)


def test_writer_quantises_like_save_image_and_reads_back(paths: NodePaths) -> None:
    image = torch.rand(3, 4, 6, generator=torch.Generator().manual_seed(3))
    written = call_node(image_nodes.image_writer, {"image": image.unsqueeze(0)}, path="q", paths=paths)
    assert written["path"] == "output/q.png"
    back = call_node(image_reader, path="output/q.png", paths=paths)["tensor"]
    expected = image.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).float() / 255
    assert torch.equal(back, expected)


def test_writer_replaces_atomically_and_leaves_no_temp_file(paths: NodePaths) -> None:
    root = paths.data_dir.area("images")
    call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path="same.png", paths=paths)
    call_node(image_nodes.image_writer, {"image": torch.ones(3, 2, 2)}, path="same.png", paths=paths)
    assert call_node(image_reader, path="output/same.png", paths=paths)["tensor"].min() == 1.0
    assert leftovers(root) == []
    assert sorted(os.listdir(root / "output")) == ["same.png"]


def test_writer_failure_keeps_the_previous_file(paths: NodePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path="keep.png", paths=paths)
    target = paths.data_dir.area("images") / "output" / "keep.png"
    before = target.read_bytes()

    def failing_replace(*_args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("nodeloom.kernel.fsutil.os.replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        call_node(image_nodes.image_writer, {"image": torch.ones(3, 2, 2)}, path="keep.png", paths=paths)
    assert target.read_bytes() == before
    assert leftovers(paths.data_dir.area("images")) == []


@pytest.mark.parametrize("path", ["../../x.png", "/etc/x.png", "/temp/uploads/x.png", "a/../../../x.png",
                                  ".hidden.png", "a\\b.png"])
def test_writer_stays_in_images_output(paths: NodePaths, path: str) -> None:
    with pytest.raises(ValueError, match=r"^ImageWriter: path '.*' must stay inside the images directory$") as info:
        call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path=path, paths=paths)
    assert path in str(info.value)
    assert not any(paths.data_dir.root.rglob("x.png"))
    assert list((paths.data_dir.area("temp") / "uploads").iterdir()) == []


def test_writer_refuses_a_symlinked_output_folder_leading_outside(paths: NodePaths, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (paths.data_dir.area("images") / "output").symlink_to(outside)
    with pytest.raises(ValueError, match="must stay inside the images directory"):
        call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path="x.png", paths=paths)
    assert list(outside.iterdir()) == []


def test_writer_reports_a_folder_in_the_way(paths: NodePaths) -> None:
    (paths.data_dir.area("images") / "output" / "taken.png").mkdir(parents=True)
    with pytest.raises(ValueError, match="in the way"):
        call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path="taken.png", paths=paths)
    (paths.data_dir.area("images") / "output" / "file").write_bytes(b"x")
    with pytest.raises(ValueError, match="in the way"):
        call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path="file/x.png", paths=paths)


# ---------------------------------------------------------------------------- reading uploads


def test_reader_takes_a_temp_uploads_path(paths: NodePaths) -> None:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 9
    folder = paths.data_dir.area("temp") / "uploads" / "s_81f2" / "ImageReader_12"
    folder.mkdir(parents=True)
    (folder / "photo.png").write_bytes(png_bytes(arr))
    out = call_node(image_reader, path="/temp/uploads/s_81f2/ImageReader_12/photo.png", paths=paths)
    assert torch.equal(out["tensor"], torch.from_numpy(arr).permute(2, 0, 1).float() / 255)
    # The cache fingerprint follows the same resolution, so a re-upload invalidates the result.
    fingerprint = spec_of(image_reader).fingerprint
    first = fingerprint({"path": "/temp/uploads/s_81f2/ImageReader_12/photo.png"}, paths)
    assert first is not None and str(folder / "photo.png") in first
    (folder / "photo.png").write_bytes(png_bytes(arr[:1]))
    assert fingerprint({"path": "/temp/uploads/s_81f2/ImageReader_12/photo.png"}, paths) != first


@pytest.mark.parametrize("path", ["/temp/../images/a.png", "/temp/uploads/.chunks/a.png", "/temp/", "/temp//a.png",
                                  "/tmp/a.png", "../temp/uploads/a.png"])
def test_reader_temp_paths_stay_confined(paths: NodePaths, path: str) -> None:
    (paths.data_dir.area("images") / "a.png").write_bytes(png_bytes(np.zeros((2, 2, 3), np.uint8)))
    with pytest.raises(ValueError, match="must stay inside the images directory"):
        call_node(image_reader, path=path, paths=paths)


def test_reader_tolerates_truncated_files(paths: NodePaths) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = png_bytes(arr)
    (paths.data_dir.area("images") / "cut.png").write_bytes(data[: len(data) // 2])
    out = call_node(image_reader, path="cut.png", paths=paths)
    assert out["tensor"].shape == (3, 32, 32)
    # The global Pillow switch is back to its default afterwards.
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_reader_reports_unreadable_files_by_their_param_path(paths: NodePaths) -> None:
    (paths.data_dir.area("images") / "fake.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError) as info:
        call_node(image_reader, path="fake.png", paths=paths)
    message = str(info.value)
    assert message.startswith("ImageReader: 'fake.png' is not a readable image")
    assert str(paths.data_dir.root) not in message


def test_reader_errors(paths: NodePaths) -> None:
    with pytest.raises(ValueError, match="^Image path is required$"):
        call_node(image_reader, paths=paths)
    with pytest.raises(FileNotFoundError, match="^Image not found: none.png$"):
        call_node(image_reader, path="none.png", paths=paths)
    (paths.data_dir.area("images") / "folder.png").mkdir()
    with pytest.raises(FileNotFoundError, match="^Image not found: folder.png$"):
        call_node(image_reader, path="folder.png", paths=paths)


# ---------------------------------------------------------------------------- through the API


async def test_uploaded_image_reads_by_relpath_and_written_image_downloads(client: Any, kernel: Kernel) -> None:
    arr = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    files = {"file": FileStorage(stream=io.BytesIO(png_bytes(arr)), filename="cat.png", content_type="image/png")}
    response = await client.post("/api/images/upload", files=files, headers=TOKEN)
    assert response.status_code == 200
    filename = (await response.get_json())["filename"]
    node_paths = NodePaths(kernel.data_dir)
    tensor = call_node(image_reader, path=filename, paths=node_paths)["tensor"]
    assert torch.equal(tensor, torch.from_numpy(arr).permute(2, 0, 1).float() / 255)

    written = call_node(image_nodes.image_writer, {"image": tensor}, path="cat_copy.png", paths=node_paths)
    listed = await (await client.get("/api/images")).get_json()
    assert [item["filename"] for item in listed] == ["cat.png", "output/cat_copy.png"]
    response = await client.get(f"/api/images/download/{written['path']}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(await response.get_data())) as img:
        assert np.array_equal(np.asarray(img), arr)


async def test_chunked_upload_path_feeds_the_reader(client: Any, kernel: Kernel) -> None:
    """The ``filePath`` that ``POST /api/upload`` answers is a valid ImageReader path."""
    arr = np.full((3, 4, 3), 200, dtype=np.uint8)
    data = png_bytes(arr)
    files = {"file": FileStorage(stream=io.BytesIO(data), filename="shot.png", content_type="image/png")}
    form = {"sessionId": "s1", "nodeId": "7", "nodeName": "ImageReader"}
    response = await client.post("/api/upload", files=files, form=form, headers=TOKEN)
    if response.status_code == 404 and (await response.get_json()).get("code") == "not_found":
        pytest.skip("the chunked upload route is not mounted")
    body = await response.get_json()
    assert response.status_code == 200 and body["completed"] is True, body
    assert body["filePath"].startswith("/temp/uploads/")
    tensor = call_node(image_reader, path=body["filePath"], paths=NodePaths(kernel.data_dir))["tensor"]
    assert tensor.shape == (3, 3, 4) and torch.all(tensor == 200 / 255)
