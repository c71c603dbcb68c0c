"""Synthetic data sources (nodes.md §3.5): SyntheticDataset, SyntheticSegmentation, SyntheticShapes.

The two image datasets draw only from ``numpy.random.default_rng(seed)`` in a fixed order, so the
same seed gives the same samples on every machine; they are built in memory, all at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from nodeloom.kernel.api import Out, Param, node
from nodeloom.torchkit import to_device

from .classical import CLASSICAL, optional_import

CATEGORY = "Data"


class TensorPairDataset(Dataset):
    """An in-memory dataset of ``(sample, target)`` pairs held as two stacked tensors."""

    def __init__(self, samples: torch.Tensor, targets: torch.Tensor | list[Any]) -> None:
        self.samples = samples
        self.targets = targets

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        return self.samples[index], self.targets[index]


# -- SyntheticDataset (scikit-learn) ------------------------------------------------------------

SYNTHETIC_KINDS = ("circles", "moons", "blobs", "classification")


def make_points(kind: str, n: int, noise: float, factor: float, centers: int, seed: int) -> tuple[Any, Any]:
    """``(X, y)`` from scikit-learn's 2-D toy generators with ``random_state=seed``."""
    datasets = optional_import("sklearn.datasets", CLASSICAL, "SyntheticDataset")
    if kind == "circles":
        factor = min(0.99, max(0.01, factor))
        return datasets.make_circles(n, noise=noise, factor=factor, random_state=seed)
    if kind == "moons":
        return datasets.make_moons(n, noise=noise, random_state=seed)
    if kind == "blobs":
        return datasets.make_blobs(
            n, centers=centers, cluster_std=max(0.1, 5 * noise), random_state=seed
        )
    if kind == "classification":
        return datasets.make_classification(
            n,
            n_features=2,
            n_informative=2,
            n_redundant=0,
            n_clusters_per_class=1,
            flip_y=noise,
            random_state=seed,
        )
    raise ValueError(f"SyntheticDataset: unknown kind '{kind}'")


@node(
    name="SyntheticDataset",
    category=CATEGORY,
    outputs=[
        Out("tensor", "TENSOR", "Points [n_samples, 2] (float32)."),
        Out("labels", "LIST", "Class of each point as a string."),
        Out("columns", "LIST", "Feature names: x0, x1."),
    ],
    params=[
        Param.select("kind", "circles", SYNTHETIC_KINDS, "Which toy problem."),
        Param.int("n_samples", 200, "Number of points.", min=10),
        Param.float("noise", 0.1, "Noise level (blobs: spread; classification: label flips).", min=0),
        Param.float("factor", 0.5, "Inner/outer radius ratio of circles.", min=0),
        Param.int("centers", 3, "Number of blobs.", min=2),
        Param.int("seed", 42, "random_state of the generator."),
    ],
    requires=(CLASSICAL,),
)
def synthetic_dataset(call: Any) -> dict[str, Any]:
    """2-D toy classification data: circles, moons, blobs or a random linear problem (scikit-learn)."""
    p = call.params
    x, y = make_points(p["kind"], p["n_samples"], p["noise"], p["factor"], p["centers"], p["seed"])
    tensor = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return {
        "tensor": to_device(tensor, call.device),
        "labels": [str(int(v)) for v in y],
        "columns": ["x0", "x1"],
    }


# -- SyntheticSegmentation ----------------------------------------------------------------------


def segmentation_sample(rng: np.random.Generator, size: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """One (image (H, W) float32, mask (H, W) int64) pair of circles (class 1) and boxes (class 2)."""
    h = w = size
    image = np.zeros((h, w), dtype=np.float32)
    mask = np.zeros((h, w), dtype=np.int64)
    ys, xs = np.ogrid[:h, :w]
    for _ in range(int(rng.integers(1, 3))):
        if rng.random() < 0.5:
            r = int(rng.integers(h // 8, h // 4))
            cy = int(rng.integers(r, h - r))
            cx = int(rng.integers(r, w - r))
            inside = (ys - cy) ** 2 + (xs - cx) ** 2 <= r * r
            image[inside] = 0.7
            mask[inside] = 1
        else:
            bh = int(rng.integers(h // 6, h // 3))
            bw = int(rng.integers(w // 6, w // 3))
            top = int(rng.integers(0, h - bh))
            left = int(rng.integers(0, w - bw))
            image[top : top + bh, left : left + bw] = 1.0
            mask[top : top + bh, left : left + bw] = 2
    if noise > 0:
        image = image + rng.normal(0, noise, (h, w)).astype(np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32), mask


def segmentation_dataset(size: int, n_samples: int, noise: float, seed: int) -> TensorPairDataset:
    """The whole SyntheticSegmentation dataset: items (image (1, H, W), mask (H, W))."""
    rng = np.random.default_rng(seed)
    pairs = [segmentation_sample(rng, size, noise) for _ in range(n_samples)]
    images = torch.from_numpy(np.stack([img for img, _ in pairs]))[:, None]
    masks = torch.from_numpy(np.stack([m for _, m in pairs]))
    return TensorPairDataset(images, masks)


@node(
    name="SyntheticSegmentation",
    category=CATEGORY,
    outputs=[Out("dataset", "DATASET", "Items are (image (1, H, W) float32, mask (H, W) int64).")],
    params=[
        Param.int("image_size", 64, "Side H = W of each image.", min=16),
        Param.int("n_samples", 200, "Number of items.", min=4),
        Param.float("noise", 0.05, "Std of the Gaussian noise added to the images.", min=0),
        Param.int("seed", 42, "Seed of numpy's default_rng."),
    ],
)
def synthetic_segmentation(call: Any) -> dict[str, Any]:
    """Images of circles and rectangles with per-pixel masks (0 background, 1 circle, 2 box)."""
    p = call.params
    return {"dataset": segmentation_dataset(p["image_size"], p["n_samples"], p["noise"], p["seed"])}


# -- SyntheticShapes ----------------------------------------------------------------------------


def shapes_dataset(size: int, n_samples: int, seed: int) -> TensorPairDataset:
    """Gaussian blobs scaled to [-1, 1] at random places and widths; every label is 0."""
    rng = np.random.default_rng(seed)
    grid = np.arange(size, dtype=np.float32)
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    margin = max(2, size // 3)
    images = np.empty((n_samples, 1, size, size), dtype=np.float32)
    for i in range(n_samples):
        cy = rng.uniform(margin, size - margin)
        cx = rng.uniform(margin, size - margin)
        sig = rng.uniform(size / 5, size / 3.5)
        blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sig**2)).astype(np.float32)
        images[i, 0] = 2 * blob - 1
    return TensorPairDataset(torch.from_numpy(images), [0] * n_samples)


@node(
    name="SyntheticShapes",
    category=CATEGORY,
    outputs=[Out("dataset", "DATASET", "Items are (image (1, H, H) in [-1, 1], label 0).")],
    params=[
        Param.int("image_size", 24, "Side H of each image.", min=8),
        Param.int("n_samples", 384, "Number of items.", min=8),
        Param.int("seed", 0, "Seed of numpy's default_rng."),
    ],
)
def synthetic_shapes(call: Any) -> dict[str, Any]:
    """Soft round blobs for unconditional generative models (e.g. a tiny diffusion model)."""
    p = call.params
    return {"dataset": shapes_dataset(p["image_size"], p["n_samples"], p["seed"])}
