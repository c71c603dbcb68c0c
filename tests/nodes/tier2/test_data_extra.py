"""Tier-2 data nodes (nodes.md §3.5): batches, rows, text, synthetic and hub datasets."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nodeloom.kernel import NodeFailure
from nodeloom.plugins.core_nodes.nodes import data_extra, hub_datasets, synthetic

from ..helpers import call_node

HAS = {name: importlib.util.find_spec(name) is not None
       for name in ("sklearn", "torchvision", "datasets", "kagglehub")}


class ListDataset:
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


# -- DatasetBatch ---------------------------------------------------------------------------------


def test_dataset_batch_takes_consecutive_items_and_wraps():
    data = ListDataset([(torch.full((1, 2), float(i)), i * 10) for i in range(4)])
    out = call_node(data_extra.dataset_batch, {"dataset": data}, batch_size=3, start_index=2)
    assert out["images"].shape == (3, 1, 2)
    assert out["images"][:, 0, 0].tolist() == [2.0, 3.0, 0.0]
    assert out["labels"].dtype == torch.int64 and out["labels"].tolist() == [20, 30, 0]


def test_dataset_batch_stacks_tensor_labels_and_converts_samples():
    data = ListDataset([([1.0, 2.0], torch.tensor([1, 0])), ([3.0, 4.0], torch.tensor([0, 1]))])
    out = call_node(data_extra.dataset_batch, {"dataset": data}, batch_size=2)
    assert torch.equal(out["images"], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert torch.equal(out["labels"], torch.tensor([[1, 0], [0, 1]]))
    scalar = ListDataset([(torch.zeros(1), torch.tensor(3))])
    assert call_node(data_extra.dataset_batch, {"dataset": scalar})["labels"].tolist() == [3]


def test_dataset_batch_empty():
    with pytest.raises(ValueError, match=r"^Dataset is empty\.$"):
        call_node(data_extra.dataset_batch, {"dataset": ListDataset([])})


# -- RowSelector ----------------------------------------------------------------------------------


def test_row_selector_by_index_and_by_name():
    x = torch.arange(12.0).reshape(4, 3)
    out = call_node(data_extra.row_selector, {"tensor": x}, indices="2, 0")["tensor"]
    assert torch.equal(out, x[[2, 0]])
    labels = ["a", "b", "a", "c"]
    out = call_node(data_extra.row_selector, {"tensor": x, "labels": labels}, names="c,a")["tensor"]
    assert torch.equal(out, x[[3, 0]])  # first match of "a"
    assert call_node(data_extra.row_selector, {"tensor": x}, indices="")["tensor"].shape == (0, 3)


@pytest.mark.parametrize(
    ("inputs", "params", "message"),
    [
        ({}, {"indices": "4"}, "out-of-range value 4 (tensor has 4 rows)"),
        ({}, {"indices": "1,x"}, "parameter 'indices' must be comma-separated integers"),
        ({}, {"names": "a"}, "no labels input is connected"),
        ({"labels": ["a", "b", "c", "d"]}, {"names": "z"}, "['z']"),
    ],
)
def test_row_selector_errors(inputs, params, message):
    with pytest.raises(ValueError) as info:
        call_node(data_extra.row_selector, {"tensor": torch.zeros(4, 2), **inputs}, **params)
    assert message in str(info.value)


def test_text_input():
    assert call_node(data_extra.text_input)["text"] == "The quick brown fox jumps over the lazy dog."
    assert call_node(data_extra.text_input, value="hi")["text"] == "hi"


@pytest.mark.skipif(HAS["torchvision"], reason="torchvision is installed")
def test_transform_without_torchvision_names_the_extra():
    with pytest.raises(NodeFailure) as info:
        call_node(data_extra.transform, {"dataset": ListDataset([])})
    assert info.value.code == "dependency_missing" and "nodeloom[vision]" in str(info.value)


@pytest.mark.skipif(not HAS["torchvision"], reason="needs torchvision")
def test_transform_sets_a_compose_on_a_copy():
    data = ListDataset([])
    data.transform = None
    out = call_node(data_extra.transform, {"dataset": data}, resize=8)["dataset"]
    assert out is not data and data.transform is None
    assert len(out.transform.transforms) == 3
    same = call_node(data_extra.transform, {"dataset": data}, normalize=False, to_tensor=False)
    assert same["dataset"] is data


# -- SyntheticSegmentation / SyntheticShapes ------------------------------------------------------


def test_synthetic_segmentation_items_and_determinism():
    out = call_node(synthetic.synthetic_segmentation, image_size=16, n_samples=6, noise=0.0,
                    node_params={"seed": 3})
    data = out["dataset"]
    assert len(data) == 6
    image, mask = data[0]
    assert image.shape == (1, 16, 16) and image.dtype == torch.float32
    assert mask.shape == (16, 16) and mask.dtype == torch.int64
    for i in range(len(data)):
        image, mask = data[i]
        # Without noise every pixel's value is fixed by its class: 0 background, 0.7 circle, 1 box.
        expected = torch.tensor([0.0, 0.7, 1.0])[mask]
        assert torch.allclose(image[0], expected)
        assert (mask > 0).any()
    again = call_node(synthetic.synthetic_segmentation, image_size=16, n_samples=6, noise=0.0,
                    node_params={"seed": 3})
    assert torch.equal(again["dataset"][5][0], data[5][0])


def test_synthetic_segmentation_follows_the_rng_recipe():
    rng = np.random.default_rng(5)
    h = 32
    n_shapes = rng.integers(1, 3)
    mask = np.zeros((h, h), dtype=np.int64)
    for _ in range(n_shapes):
        if rng.random() < 0.5:
            r = rng.integers(h // 8, h // 4)
            cy, cx = rng.integers(r, h - r), rng.integers(r, h - r)
            yy, xx = np.mgrid[:h, :h]
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = 1
        else:
            bh, bw = rng.integers(h // 6, h // 3), rng.integers(h // 6, h // 3)
            top, left = rng.integers(0, h - bh), rng.integers(0, h - bw)
            mask[top : top + bh, left : left + bw] = 2
    noise = rng.normal(0, 0.1, (h, h))
    image, got_mask = synthetic.segmentation_dataset(h, 4, 0.1, 5)[0]
    assert np.array_equal(got_mask.numpy(), mask)
    clean = np.array([0.0, 0.7, 1.0], dtype=np.float32)[mask]
    assert np.allclose(image[0].numpy(), np.clip(clean + noise.astype(np.float32), 0, 1), atol=1e-6)
    assert image.min() >= 0 and image.max() <= 1


def test_synthetic_shapes_follows_the_recipe():
    data = call_node(synthetic.synthetic_shapes, image_size=12, n_samples=8,
                     node_params={"seed": 4})["dataset"]
    assert len(data) == 8
    rng = np.random.default_rng(4)
    h, margin = 12, max(2, 12 // 3)
    for i in range(2):
        cy, cx = rng.uniform(margin, h - margin), rng.uniform(margin, h - margin)
        sig = rng.uniform(h / 5, h / 3.5)
        image, label = data[i]
        y, x = 3, 7
        blob = math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sig**2))
        assert image.shape == (1, 12, 12) and label == 0
        assert image[0, y, x].item() == pytest.approx(2 * blob - 1, abs=1e-5)
    assert data[0][0].max() <= 1 and data[0][0].min() >= -1


# -- SyntheticDataset (scikit-learn) ------------------------------------------------------------


@pytest.mark.skipif(HAS["sklearn"], reason="scikit-learn is installed")
def test_synthetic_dataset_without_sklearn_names_the_extra():
    with pytest.raises(NodeFailure) as info:
        call_node(synthetic.synthetic_dataset)
    assert info.value.code == "dependency_missing" and "nodeloom[classical]" in str(info.value)


@pytest.mark.skipif(not HAS["sklearn"], reason="needs scikit-learn")
@pytest.mark.parametrize("kind", synthetic.SYNTHETIC_KINDS)
def test_synthetic_dataset_kinds(kind):
    from sklearn import datasets

    out = call_node(synthetic.synthetic_dataset, kind=kind, n_samples=30,
                    node_params={"seed": 1})
    assert out["tensor"].shape == (30, 2) and out["tensor"].dtype == torch.float32
    assert out["columns"] == ["x0", "x1"]
    assert all(isinstance(v, str) for v in out["labels"])
    if kind == "moons":
        x, y = datasets.make_moons(30, noise=0.1, random_state=1)
        assert np.allclose(out["tensor"].numpy(), x.astype(np.float32))
        assert out["labels"] == [str(int(v)) for v in y]
    if kind == "blobs":
        assert len(set(out["labels"])) == 3


# -- hub datasets ---------------------------------------------------------------------------------


def test_hub_image_dataset_converts_rows_and_has_a_replaceable_transform():
    rows = [{"image": Image.new("L", (3, 2), 255), "label": 7},
            {"image": np.zeros((2, 2, 3), dtype=np.uint8), "label": 1}]
    data = hub_datasets.HubImageDataset(rows, "image", "label")
    image, label = data[0]
    assert image.shape == (1, 2, 3) and torch.all(image == 1.0) and label == 7
    assert data[1][0].shape == (3, 2, 2)
    data.transform = lambda img: "changed"
    assert data[0] == ("changed", 7) and len(data) == 2


@pytest.mark.skipif(HAS["datasets"], reason="datasets is installed")
def test_huggingface_dataset_without_datasets_names_the_extra():
    with pytest.raises(NodeFailure) as info:
        call_node(hub_datasets.huggingface_dataset)
    assert info.value.code == "dependency_missing" and "nodeloom[hub]" in str(info.value)


def test_huggingface_fingerprint_names_the_dataset():
    fp = hub_datasets._hf_fingerprint({"dataset_name": "a/b", "subset": "", "split": "test"}, None)
    assert fp != hub_datasets._hf_fingerprint({"dataset_name": "a/b", "subset": "", "split": "train"}, None)


def test_auth_looking_errors_are_recognised():
    assert hub_datasets._looks_like_auth(RuntimeError("401 Client Error: Unauthorized"))
    assert hub_datasets._looks_like_auth(RuntimeError("Dataset 'x' is a gated dataset"))
    assert not hub_datasets._looks_like_auth(RuntimeError("disk full"))


@pytest.mark.skipif(HAS["kagglehub"], reason="kagglehub is installed")
def test_kaggle_dataset_without_kagglehub_names_the_extra():
    with pytest.raises(NodeFailure) as info:
        call_node(hub_datasets.kaggle_dataset, dataset_slug="a/b")
    assert info.value.code == "dependency_missing" and "nodeloom[hub]" in str(info.value)


def test_kaggle_credentials(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    assert not hub_datasets.kaggle_credentials_present(tmp_path)
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text("{}")
    assert hub_datasets.kaggle_credentials_present(tmp_path)
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert hub_datasets.kaggle_credentials_present(tmp_path / "nowhere")


def test_kaggle_image_folder_root(tmp_path: Path):
    (tmp_path / "train" / "cats").mkdir(parents=True)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_text("x")
    assert hub_datasets.image_folder_root(tmp_path, "train") == tmp_path / "train"
    with pytest.raises(ValueError, match=r"one sub-folder per class.*'a.png'"):
        hub_datasets.image_folder_root(tmp_path, "flat")
    with pytest.raises(ValueError, match="must stay inside"):
        hub_datasets.image_folder_root(tmp_path / "train", "../..")


class FakeRows(list):
    column_names = ["img", "label"]


class FakeDatasets:
    """Stands in for the `datasets` package: records the call, serves two rows or fails."""

    calls: list = []

    @staticmethod
    def load_dataset(name, subset, *, split, cache_dir):  # datasets >= 4: no trust_remote_code
        FakeDatasets.calls.append((name, subset, split, cache_dir))
        if name == "private/x":
            raise OSError("401 Client Error: Unauthorized for url")
        if name == "bad/x":
            raise OSError("disk full")
        return FakeRows([{"img": Image.new("RGB", (2, 2)), "label": 3}] * 2)


@pytest.fixture
def fake_datasets(monkeypatch):
    FakeDatasets.calls = []
    monkeypatch.setattr(hub_datasets, "optional_import", lambda *a: FakeDatasets)
    return FakeDatasets


def test_huggingface_dataset_with_a_stub_library(fake_datasets, paths):
    out = call_node(hub_datasets.huggingface_dataset, image_column="img", cache_dir="hf", paths=paths)
    data = out["dataset"]
    assert len(data) == 2 and data[1][0].shape == (3, 2, 2) and data[1][1] == 3
    name, subset, split, cache_dir = fake_datasets.calls[0]
    assert (name, subset, split) == ("ylecun/mnist", None, "train")
    assert cache_dir == str(paths.data_dir.area("libs") / "hf")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"image_column": "image"}, "Column 'image' not found in dataset 'ylecun/mnist'. Available columns: ['img', 'label']"),
        ({"dataset_name": "private/x", "image_column": "img"}, "HF_TOKEN"),
        ({"dataset_name": "bad/x", "image_column": "img"}, "could not load 'bad/x': disk full"),
        ({"image_column": "img", "cache_dir": "../out"}, "must stay inside the libs directory"),
    ],
)
def test_huggingface_dataset_errors(fake_datasets, paths, params, message):
    with pytest.raises((ValueError, RuntimeError)) as info:
        call_node(hub_datasets.huggingface_dataset, paths=paths, **params)
    assert message in str(info.value)
