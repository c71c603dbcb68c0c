"""Data nodes (nodes.md §2.10, note 2.20) and the Classical KNN node (§2.11)."""

from __future__ import annotations

import csv
import importlib.util
import math
import os
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

import nodeloom.plugins.core_nodes as core_nodes
from nodeloom.kernel import DataDir, NodeFailure, NodePaths, spec_of
from nodeloom.plugins.core_nodes.nodes.classical import knn
from nodeloom.plugins.core_nodes.nodes.data import (
    column_selector,
    csv_reader,
    data_loader,
    dataset,
    normalize,
    train_test_split,
)

from .helpers import call_node

SAMPLES = Path(core_nodes.__file__).parent / "samples"
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


@pytest.fixture
def paths(tmp_path: Path) -> NodePaths:
    return NodePaths(DataDir(tmp_path / "data").ensure(), samples=(SAMPLES,))


def write_lib(paths: NodePaths, name: str, text: str, encoding: str = "utf-8") -> Path:
    target = paths.data_dir.area("libs") / name
    target.write_text(text, encoding=encoding)
    return target


# -- the bundled iris file ------------------------------------------------------------------------


def test_bundled_iris_file_is_fishers_data():
    with open(SAMPLES / "iris.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
        "species",
    ]
    body = rows[1:]
    assert len(body) == 150
    assert [r[4] for r in body] == ["setosa"] * 50 + ["versicolor"] * 50 + ["virginica"] * 50


def test_csv_reader_on_iris(paths):
    out = call_node(csv_reader, paths=paths, target_column="species")
    x = out["tensor"]
    assert x.dtype == torch.float32 and x.shape == (150, 4)
    assert out["columns"] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    assert (
        len(out["labels"]) == 150
        and out["labels"][0] == "setosa"
        and out["labels"][-1] == "virginica"
    )
    # Published per-feature means of the data set as distributed with scikit-learn.
    assert x.mean(0).tolist() == pytest.approx([5.8433, 3.0573, 3.758, 1.1993], abs=1e-4)
    # Per species, petal length separates setosa completely from the others.
    setosa = x[:50, 2]
    assert setosa.max() < x[50:, 2].min()


def test_csv_reader_without_target_keeps_numeric_columns_only(paths):
    out = call_node(csv_reader, paths=paths)
    assert out["tensor"].shape == (150, 4) and out["labels"] == []
    assert "species" not in out["columns"]


def test_csv_reader_parses_bom_padding_and_include_order(paths):
    write_lib(paths, "t.csv", "\ufeffa,b,name,c\n1,2,x,3\n4,,y\n\n7,8,z,9\n")
    out = call_node(csv_reader, paths=paths, path="t.csv", target_column=" name ")
    assert out["columns"] == ["a", "b", "c"]
    assert out["labels"] == ["x", "y", "z"]
    x = out["tensor"]
    assert x.shape == (3, 3) and math.isnan(x[1, 1]) and math.isnan(x[1, 2])
    assert x[2].tolist() == [7, 8, 9]
    out = call_node(csv_reader, paths=paths, path="t.csv", include_columns="c, a")
    assert out["columns"] == ["c", "a"] and out["tensor"][0].tolist() == [3, 1]


def test_csv_reader_without_header_names_columns_by_index(paths):
    write_lib(paths, "n.csv", "1,2\n3,4\n")
    out = call_node(csv_reader, paths=paths, path="n.csv", skip_header=False, target_column="1")
    assert out["columns"] == ["0"] and out["labels"] == ["2", "4"]
    assert out["tensor"].flatten().tolist() == [1, 3]


def test_csv_reader_errors(paths):
    write_lib(paths, "t.csv", "a,b\n1,x\n")
    with pytest.raises(ValueError, match=r"^CSVReader requires a non-empty path param\.$"):
        call_node(csv_reader, paths=paths, path="")
    with pytest.raises(FileNotFoundError, match="^CSVReader: file not found at nope.csv$"):
        call_node(csv_reader, paths=paths, path="nope.csv")
    with pytest.raises(ValueError) as info:
        call_node(csv_reader, paths=paths, path="t.csv", target_column="z")
    assert (
        str(info.value)
        == "CSVReader: target_column='z' is not in the file. Available columns: ['a', 'b']"
    )
    with pytest.raises(ValueError, match=r"unknown columns \['q'\]"):
        call_node(csv_reader, paths=paths, path="t.csv", include_columns="a,q")
    with pytest.raises(ValueError, match="non-numeric value 'x' in column 'b' at data row 1"):
        call_node(csv_reader, paths=paths, path="t.csv", include_columns="b")
    with pytest.raises(ValueError) as info:
        call_node(csv_reader, paths=paths, path="../outside.csv")
    assert str(info.value) == "CSVReader: path '../outside.csv' must stay inside the libs directory"
    with pytest.raises(ValueError, match="no data directory"):
        call_node(csv_reader, path="t.csv")


def test_csv_reader_fingerprint_follows_the_file(paths):
    target = write_lib(paths, "f.csv", "a\n1\n")
    fingerprint = spec_of(csv_reader).fingerprint
    first = fingerprint({"path": "f.csv"}, paths)
    assert first is not None and str(target.resolve()) in first
    target.write_text("a\n1\n2\n")
    os.utime(target, ns=(1, 2))
    assert fingerprint({"path": "f.csv"}, paths) != first
    assert fingerprint({"path": "missing.csv"}, paths) is None


# -- column selection and normalisation ------------------------------------------------------------


def test_column_selector_by_index_and_name():
    x = torch.arange(12.0).reshape(3, 4)
    assert torch.equal(
        call_node(column_selector, {"tensor": x}, indices="2, 0")["tensor"], x[:, [2, 0]]
    )
    assert call_node(column_selector, {"tensor": x}, indices="")["tensor"].shape == (3, 0)
    named = call_node(column_selector, {"tensor": x, "columns": ["a", "b", "c", "d"]}, names="d,b")
    assert torch.equal(named["tensor"], x[:, [3, 1]])


def test_column_selector_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError) as info:
        call_node(column_selector, {"tensor": x}, indices="0,3")
    assert (
        str(info.value)
        == "ColumnSelector: indices contains out-of-range value 3 (tensor has 3 cols)"
    )
    with pytest.raises(ValueError, match="out-of-range value -1"):
        call_node(column_selector, {"tensor": x}, indices="-1")
    with pytest.raises(
        ValueError, match="^ColumnSelector: names is set but no columns input is connected"
    ):
        call_node(column_selector, {"tensor": x}, names="a")
    with pytest.raises(ValueError, match=r"\['z'\]"):
        call_node(column_selector, {"tensor": x, "columns": ["a", "b", "c"]}, names="a,z")
    with pytest.raises(ValueError, match="must be comma-separated integers"):
        call_node(column_selector, {"tensor": x}, indices="1,x")


def test_normalize_zscore_uses_population_std():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    out = call_node(normalize, {"tensor": x})
    std = math.sqrt(8 / 3)
    assert out["tensor"][:, 0].tolist() == pytest.approx([-2 / std, 0.0, 2 / std])
    assert out["tensor"][:, 1].tolist() == [0.0, 0.0, 0.0], "a constant column is only centred"
    assert out["stats"]["mean"] == pytest.approx([3.0, 5.0])
    assert out["stats"]["std"] == pytest.approx([std, 1.0])


def test_normalize_minmax_and_unit_norm():
    x = torch.tensor([[0.0, 2.0], [10.0, 2.0], [5.0, 2.0]])
    out = call_node(normalize, {"tensor": x}, mode="minmax")
    assert out["tensor"][:, 0].tolist() == [0.0, 1.0, 0.5]
    assert out["stats"] == {"min": [0.0, 2.0], "max": [10.0, 2.0]}
    rows = call_node(normalize, {"tensor": [[3, 4], [0, 0]]}, mode="unit_norm", axis=1)
    assert torch.allclose(rows["tensor"], torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    assert rows["stats"]["norm"] == [5.0, 1.0]


# -- loaders and optional-dependency nodes --------------------------------------------------------


def test_data_loader_batches_and_seeded_shuffle():
    ds = TensorDataset(torch.arange(10.0), torch.arange(10))
    loader = call_node(data_loader, {"dataset": ds}, batch_size=4, seed=5)["dataloader"]
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    order = torch.cat([b[1] for b in batches])
    assert sorted(order.tolist()) == list(range(10))
    again = call_node(data_loader, {"dataset": ds}, batch_size=4, seed=5)["dataloader"]
    assert torch.equal(torch.cat([b[1] for b in again]), order)
    other = call_node(data_loader, {"dataset": ds}, batch_size=10, seed=6)["dataloader"]
    assert not torch.equal(next(iter(other))[1], order)
    plain = call_node(data_loader, {"dataset": ds}, batch_size=10, shuffle=False)["dataloader"]
    assert next(iter(plain))[1].tolist() == list(range(10))


@pytest.mark.skipif(HAS_SKLEARN, reason="scikit-learn is installed")
def test_classical_nodes_name_the_missing_extra():
    for fn, inputs in (
        (knn, {"x_train": torch.zeros(2, 2), "y_train": ["a", "b"], "x_query": torch.zeros(1, 2)}),
        (train_test_split, {"features": torch.zeros(4, 2), "labels": ["a", "b", "a", "b"]}),
    ):
        with pytest.raises(NodeFailure) as info:
            call_node(fn, inputs)
        assert info.value.code == "dependency_missing"
        assert "pip install 'nodeloom[classical]'" in str(info.value)


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed")
def test_dataset_names_the_vision_extra(paths):
    with pytest.raises(NodeFailure, match=r"nodeloom\[vision\]") as info:
        call_node(dataset, paths=paths)
    assert info.value.code == "dependency_missing"


@pytest.mark.skipif(not HAS_SKLEARN, reason="needs scikit-learn")
def test_knn_and_split_on_iris(paths):
    iris = call_node(csv_reader, paths=paths, target_column="species")
    split = call_node(
        train_test_split,
        {"features": iris["tensor"], "labels": iris["labels"]},
        test_size=0.3,
        stratify=True,
    )
    assert split["x_train"].shape == (105, 4) and len(split["y_test"]) == 45
    out = call_node(
        knn, {"x_train": split["x_train"], "y_train": split["y_train"], "x_query": split["x_test"]}
    )
    accuracy = sum(p == y for p, y in zip(out["predictions"], split["y_test"])) / 45
    assert accuracy > 0.9
    assert out["classes"] == ["setosa", "versicolor", "virginica"]
    assert out["probabilities"].shape == (45, 3)
    assert out["model"].predict(split["x_test"][:3]) == out["predictions"][:3]


def test_split_and_knn_validate_before_fitting():
    if not HAS_SKLEARN:
        pytest.skip("needs scikit-learn")
    with pytest.raises(
        ValueError, match=r"^TrainTestSplit: test_size must be in \(0, 1\), got 1.0\.$"
    ):
        call_node(
            train_test_split, {"features": torch.zeros(4, 2), "labels": [1, 2, 3, 4]}, test_size=1.0
        )
    with pytest.raises(ValueError, match="length mismatch — 2 rows vs 1 labels"):
        call_node(
            knn, {"x_train": torch.zeros(2, 2), "y_train": ["a"], "x_query": torch.zeros(1, 2)}
        )


def test_csv_reader_keeps_quoted_line_breaks(paths):
    write_lib(paths, "q.csv", 'x,note\r\n1,"two\nlines"\r\n2,plain\r\n')
    out = call_node(csv_reader, paths=paths, path="q.csv", target_column="note")
    assert out["labels"] == ["two\nlines", "plain"]
    assert out["tensor"].flatten().tolist() == [1.0, 2.0]


def write_idx_mnist(root: Path, count: int = 3) -> None:
    """A tiny MNIST in the raw idx format torchvision reads (no download)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        pixels = bytes((i * 7) % 256 for i in range(count * 28 * 28))
        images = (0x803).to_bytes(4, "big") + b"".join(
            n.to_bytes(4, "big") for n in (count, 28, 28)
        )
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(images + pixels)
        labels = (0x801).to_bytes(4, "big") + count.to_bytes(4, "big") + bytes(range(count))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(labels)


@pytest.mark.skipif(not HAS_TORCHVISION, reason="needs torchvision")
def test_dataset_reads_mnist_under_libs(paths, monkeypatch):
    monkeypatch.delenv("NODELOOM_DATASETS_DIR", raising=False)
    root = paths.data_dir.area("libs") / "data"
    fingerprint = spec_of(dataset).fingerprint
    empty = fingerprint({"data_dir": "./data"}, paths)
    write_idx_mnist(root)
    assert fingerprint({"data_dir": "./data"}, paths) != empty
    ds = call_node(dataset, paths=paths, split="test")["dataset"]
    assert len(ds) == 3
    image, label = ds[2]
    assert image.shape == (1, 28, 28) and label == 2
    assert image.min() >= -1 and image.max() <= 1 and image.min() < 0 < image.max()
    with pytest.raises(
        ValueError, match="^Dataset: path '../up' must stay inside the libs directory$"
    ):
        call_node(dataset, paths=paths, data_dir="../up")


@pytest.mark.skipif(not HAS_TORCHVISION, reason="needs torchvision")
def test_dataset_root_can_move_with_the_environment(paths, tmp_path, monkeypatch):
    elsewhere = tmp_path / "datasets"
    write_idx_mnist(elsewhere / "mnist")
    monkeypatch.setenv("NODELOOM_DATASETS_DIR", str(elsewhere))
    assert len(call_node(dataset, paths=paths, data_dir="mnist")["dataset"]) == 3


def test_dataset_passes_root_and_split_and_wraps_download_errors(paths, monkeypatch):
    """Runs without torchvision: a stand-in module records what the node asks torchvision for."""
    import sys
    import types

    calls: list[tuple] = []

    class FakeMNIST:
        def __init__(self, root, train, download, transform):
            calls.append((root, train, download, transform))
            if "offline" in root:
                raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=FakeMNIST)
    fake.transforms = types.SimpleNamespace(
        Compose=lambda steps: ("compose", steps),
        ToTensor=lambda: "to_tensor",
        Normalize=lambda mean, std: ("normalize", mean, std),
    )
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    monkeypatch.setitem(sys.modules, "torchvision.transforms", fake.transforms)
    monkeypatch.delenv("NODELOOM_DATASETS_DIR", raising=False)

    out = call_node(dataset, paths=paths, split="test")
    assert isinstance(out["dataset"], FakeMNIST)
    root, train, download, transform = calls[0]
    assert Path(root) == (paths.data_dir.area("libs") / "data").resolve()
    assert (train, download) == (False, True)
    assert transform == ("compose", ["to_tensor", ("normalize", (0.5,), (0.5,))])
    with pytest.raises(RuntimeError) as info:
        call_node(dataset, paths=paths, data_dir="offline")
    offline = (paths.data_dir.area("libs") / "offline").resolve()
    assert str(info.value) == (
        f"Dataset: MNIST not found under {offline} and could not be downloaded: "
        "Error downloading train-images-idx3-ubyte.gz"
    )
