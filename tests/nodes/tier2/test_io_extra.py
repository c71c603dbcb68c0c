"""Tier-2 IO nodes (nodes.md §3.11): FileReader, image batch reading/writing, checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nodeloom.kernel import NodePaths, RunCancelled
from nodeloom.plugins.core_nodes.nodes import io_extra
from nodeloom.plugins.media import image_nodes
from nodeloom.plugins.models import checkpoints

from ..helpers import call_node

# -- FileReader -----------------------------------------------------------------------------------


def _libs(paths: NodePaths) -> Path:
    return paths.data_dir.area("libs")


def test_file_reader_text_mode(paths):
    (_libs(paths) / "notes.txt").write_text("héllo\nworld", encoding="utf-8")
    out = call_node(io_extra.file_reader, path="notes.txt", paths=paths)
    assert out["text"] == "héllo\nworld"
    assert out["tensor"].numel() == 0


def test_file_reader_csv_mode(paths):
    (_libs(paths) / "d.csv").write_text("a,b\n1,2\n\n3.5,-4\n")
    out = call_node(io_extra.file_reader, path="d.csv", mode="csv", paths=paths)
    assert out["tensor"].dtype == torch.float32
    assert out["tensor"].tolist() == [[1.0, 2.0], [3.5, -4.0]]
    no_header = call_node(io_extra.file_reader, path="d.csv", mode="csv", csv_header=False, paths=paths)
    assert no_header["tensor"].numel() == 0 and "non-numeric" in no_header["__log__"]
    assert no_header["text"].startswith("a,b")


def test_file_reader_encoding_and_bundled_samples(paths):
    (_libs(paths) / "latin.txt").write_bytes("café".encode("latin-1"))
    assert call_node(io_extra.file_reader, path="latin.txt", encoding="latin-1", paths=paths)["text"] == "café"
    iris = call_node(io_extra.file_reader, path="data/samples/iris.csv", paths=paths)["text"]
    assert iris.startswith("sepal length (cm)") and iris.count("\n") >= 150


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("", ValueError, "File path is required"),
        ("../secret.txt", ValueError, "must stay inside the libs directory"),
        ("missing.txt", FileNotFoundError, "file not found"),
    ],
)
def test_file_reader_errors(paths, path, error, message):
    with pytest.raises(error, match=message):
        call_node(io_extra.file_reader, path=path, paths=paths)


def test_file_reader_fingerprint_changes_with_the_file(paths):
    target = _libs(paths) / "f.txt"
    target.write_text("a")
    fingerprint = io_extra._fingerprint
    first = fingerprint({"path": "f.txt"}, paths)
    target.write_text("abc")
    assert first is not None and fingerprint({"path": "f.txt"}, paths) != first
    assert fingerprint({"path": ""}, paths) is None


# -- ImageBatchReader -----------------------------------------------------------------------------


def _write_images(folder: Path, count: int, size=(6, 4)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, (i * 40, 0, 255)).save(folder / f"img{i}.png")


def test_image_batch_reader_loads_sorted_resized_images(paths):
    folder = paths.data_dir.area("images") / "set"
    _write_images(folder, 3)
    (folder / "notes.txt").write_text("not an image")
    out = call_node(image_nodes.image_batch_reader, directory="set", resize=8, paths=paths)
    assert out["count"] == 3 and isinstance(out["count"], int)
    images = out["images"]
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.float32
    assert images[:, 0, 0, 0].tolist() == pytest.approx([0.0, 40 / 255, 80 / 255])
    gray = call_node(image_nodes.image_batch_reader, directory="set", resize=4, mode="L",
                     max_images=2, paths=paths)
    assert gray["images"].shape == (2, 1, 4, 4)


def test_image_batch_reader_skips_unreadable_files(paths):
    folder = paths.data_dir.area("images") / "mixed"
    _write_images(folder, 1)
    (folder / "broken.png").write_bytes(b"not a png")
    out = call_node(image_nodes.image_batch_reader, directory="mixed", resize=2, paths=paths)
    assert out["count"] == 1 and "skipped broken.png" in out["__log__"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"directory": ""}, "Directory path is required"),
        ({"directory": "set", "pattern": "../*.png"}, "plain file-name glob"),
        ({"directory": "set", "pattern": "*.jpg"}, "No images found matching '*.jpg' in set"),
        ({"directory": "../x"}, "must stay inside the images directory"),
    ],
)
def test_image_batch_reader_errors(paths, params, message):
    _write_images(paths.data_dir.area("images") / "set", 1)
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        call_node(image_nodes.image_batch_reader, paths=paths, **params)
    assert message in str(info.value)


def test_image_batch_reader_checks_cancellation(paths):
    _write_images(paths.data_dir.area("images") / "set", 2)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RunCancelled):
        call_node(image_nodes.image_batch_reader, directory="set", paths=paths, cancel_event=cancel)


def test_image_batch_reader_fingerprint_tracks_the_listing(paths):
    folder = paths.data_dir.area("images") / "set"
    _write_images(folder, 1)
    params = {"directory": "set", "pattern": "*.png"}
    first = image_nodes._listing_fingerprint(params, paths)
    _write_images(folder, 2)
    assert first != image_nodes._listing_fingerprint(params, paths)


# -- ImageWriter ----------------------------------------------------------------------------------


def test_image_writer_writes_like_save_image(paths):
    image = torch.tensor([[[0.0, 0.5], [1.0, 2.0]]])  # one channel -> replicated to RGB
    out = call_node(image_nodes.image_writer, {"image": image}, path="a/b.png", paths=paths)
    assert out["path"] == "output/a/b.png"
    written = Image.open(paths.data_dir.area("images") / "output" / "a" / "b.png")
    arr = np.asarray(written)
    assert written.mode == "RGB" and arr.shape == (2, 2, 3)
    # mul(255).add(0.5).clamp(0, 255) then truncation to uint8
    assert arr[:, :, 0].tolist() == [[0, 128], [255, 255]]


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "x.jpg"), ("BMP", "x.bmp"), ("TIFF", "x.tiff"), ("PNG", "x.png")])
def test_image_writer_formats_replace_the_suffix(paths, fmt, name):
    batch = torch.rand(2, 4, 3, 3)
    out = call_node(image_nodes.image_writer, {"image": batch}, path="x.png", format=fmt, paths=paths)
    assert out["path"] == f"output/{name}"
    with Image.open(paths.data_dir.area("images") / out["path"]) as img:
        assert img.format == fmt and img.size == (3, 3)


def test_image_writer_stays_in_the_output_folder(paths):
    with pytest.raises(ValueError, match="must stay inside the images directory"):
        call_node(image_nodes.image_writer, {"image": torch.zeros(3, 2, 2)}, path="../../x.png", paths=paths)
    assert not list(paths.data_dir.area("images").rglob("*.tmp"))


# -- checkpoints ----------------------------------------------------------------------------------


def _trained_pair(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return model, opt


def test_checkpoint_round_trip(paths):
    model, opt = _trained_pair(0)
    losses = torch.tensor([1.0, 0.5])
    saved = call_node(checkpoints.checkpoint_saver, {"model": model, "optimizer": opt, "losses": losses},
                      path="runs/ck.pt", epoch=7, paths=paths)
    assert saved == {"path": "runs/ck.pt", "model": model}
    fresh, fresh_opt = _trained_pair(1)
    out = call_node(checkpoints.checkpoint_loader, {"model": fresh, "optimizer": fresh_opt},
                    path="runs/ck.pt", paths=paths)
    assert out["model"] is fresh and out["optimizer"] is fresh_opt
    assert torch.equal(fresh.weight, model.weight)
    assert out["epoch"] == 7 and torch.equal(out["losses"], losses)
    state, ref = fresh_opt.state_dict()["state"], opt.state_dict()["state"]
    assert torch.equal(state[0]["exp_avg"], ref[0]["exp_avg"])
    assert fresh_opt.param_groups[0]["params"][0] is fresh.weight


def test_checkpoint_without_losses_gives_an_empty_tensor(paths):
    model, opt = _trained_pair(0)
    call_node(checkpoints.checkpoint_saver, {"model": model, "optimizer": opt}, paths=paths)
    out = call_node(checkpoints.checkpoint_loader, {"model": model, "optimizer": opt},
                    path="checkpoint.pt", paths=paths)
    assert out["epoch"] == 0 and out["losses"].numel() == 0


def test_checkpoint_loader_errors(paths):
    model, opt = _trained_pair(0)
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found: nope.pt"):
        call_node(checkpoints.checkpoint_loader, {"model": model, "optimizer": opt}, path="nope.pt", paths=paths)
    torch.save(nn.Linear(1, 1), paths.data_dir.area("models") / "pickled.pt")
    with pytest.raises(ValueError, match="not a weights-only checkpoint"):
        call_node(checkpoints.checkpoint_loader, {"model": model, "optimizer": opt}, path="pickled.pt", paths=paths)
    with pytest.raises(ValueError, match="must stay inside the models directory"):
        call_node(checkpoints.checkpoint_saver, {"model": model, "optimizer": opt}, path="../x.pt", paths=paths)
