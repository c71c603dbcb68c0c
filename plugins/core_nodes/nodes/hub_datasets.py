"""Datasets downloaded from hubs (nodes.md §3.5): HuggingFaceDataset and KaggleDataset.

Both need the network on first use and the ``hub`` extra. ``cache_dir`` params are confined to the
libs folder like every other path param (nodes.md N8), so a graph cannot make the server write
downloads anywhere else.
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from nodeloom.kernel import PathError, Requirement, confine
from nodeloom.kernel.api import Out, Param, node
from nodeloom.kernel.paths import resolve_file
from nodeloom.torchkit.images import pil_to_tensor

from .classical import optional_import
from .data import VISION

CATEGORY = "Data"

HF_DATASETS = Requirement("datasets", "datasets", "hub")
KAGGLEHUB = Requirement("kagglehub", "kagglehub", "hub")

_AUTH_HINTS = ("gated", "401", "403", "unauthorized", "authentication", "not found", "doesn't exist",
               "does not exist", "private")


def image_to_tensor(image: Any) -> torch.Tensor:
    """A Pillow image, array or tensor as CHW float32 (uint8 data scaled by 1/255)."""
    if isinstance(image, torch.Tensor):
        return image.float()
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a Pillow image
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB")
        return pil_to_tensor(image)
    arr = np.asarray(image)
    scale = 255.0 if arr.dtype == np.uint8 else 1.0
    tensor = torch.from_numpy(np.array(arr, dtype=np.float32)) / scale
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)


class HubImageDataset(Dataset):
    """Rows of a Hugging Face dataset as ``(transform(image), label)``.

    ``transform`` is a plain attribute (default: Pillow-based to-tensor) so the ``Transform``
    node can replace it on a copy.
    """

    def __init__(self, rows: Any, image_column: str, label_column: str) -> None:
        self.rows = rows
        self.image_column = image_column
        self.label_column = label_column
        self.transform: Callable[[Any], Any] = image_to_tensor

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        row = self.rows[int(index)]
        return self.transform(row[self.image_column]), row[self.label_column]


def _cache_dir(call: Any, raw: str, node_name: str) -> str | None:
    return str(resolve_file(call, "libs", raw, node_name)) if raw else None


def _hf_fingerprint(params: Mapping[str, Any], env: Any) -> str:
    return json.dumps([params.get("dataset_name"), params.get("subset"), params.get("split")])


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _looks_like_auth(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(hint in text for hint in _AUTH_HINTS)


@node(
    name="HuggingFaceDataset",
    category=CATEGORY,
    outputs=[Out("dataset", "DATASET", "Items are (image tensor CHW in [0, 1], label).")],
    params=[
        Param.string("dataset_name", "ylecun/mnist", "Dataset repository on the Hugging Face Hub."),
        Param.string("subset", "", "Configuration name (empty: the default)."),
        Param.string("split", "train", "Split to load."),
        Param.string("image_column", "image", "Column holding the images."),
        Param.string("label_column", "label", "Column holding the labels."),
        Param.string("cache_dir", "", "Download cache folder under libs (empty: the default)."),
    ],
    requires=(HF_DATASETS,),
    fingerprint=_hf_fingerprint,
)
def huggingface_dataset(call: Any) -> dict[str, Any]:
    """An image dataset from the Hugging Face Hub (downloaded on first use; HF_TOKEN for gated ones)."""
    datasets = optional_import("datasets", HF_DATASETS, "HuggingFaceDataset")
    p = call.params
    name = p["dataset_name"].strip()
    if not name:
        raise ValueError("HuggingFaceDataset: dataset_name is required")
    kwargs: dict[str, Any] = {
        "split": p["split"] or "train",
        "cache_dir": _cache_dir(call, p["cache_dir"], "HuggingFaceDataset"),
    }
    if _accepts(datasets.load_dataset, "trust_remote_code"):
        # datasets < 4 could run loading scripts; >= 4 removed both the scripts and this argument.
        kwargs["trust_remote_code"] = False
    try:
        rows = datasets.load_dataset(name, p["subset"] or None, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the hub raises many error types
        if _looks_like_auth(exc):
            raise RuntimeError(
                f"HuggingFaceDataset: could not load '{name}': it may be gated or private, or the "
                "name may be wrong. If it needs access, set the HF_TOKEN environment variable to a "
                f"Hugging Face access token that can read it. ({exc})"
            ) from None
        raise RuntimeError(f"HuggingFaceDataset: could not load '{name}': {exc}") from None
    columns = list(getattr(rows, "column_names", None) or [])
    for column in (p["image_column"], p["label_column"]):
        if column not in columns:
            raise ValueError(
                f"Column '{column}' not found in dataset '{name}'. Available columns: {columns}"
            )
    return {"dataset": HubImageDataset(rows, p["image_column"], p["label_column"])}


# -- KaggleDataset ------------------------------------------------------------------------------

#: kagglehub reads KAGGLEHUB_CACHE from the process environment, so changing it is serialised.
_ENV_LOCK = threading.Lock()


def kaggle_credentials_present(home: Path | None = None) -> bool:
    """KAGGLE_USERNAME and KAGGLE_KEY set, or a ``~/.kaggle/kaggle.json`` file."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    return ((home or Path.home()) / ".kaggle" / "kaggle.json").is_file()


@contextmanager
def _kagglehub_cache(cache_dir: str | None) -> Iterator[None]:
    with _ENV_LOCK:
        before = os.environ.get("KAGGLEHUB_CACHE")
        if cache_dir:
            os.environ["KAGGLEHUB_CACHE"] = cache_dir
        try:
            yield
        finally:
            if cache_dir:
                if before is None:
                    os.environ.pop("KAGGLEHUB_CACHE", None)
                else:
                    os.environ["KAGGLEHUB_CACHE"] = before


def image_folder_root(download: str | Path, subdir: str) -> Path:
    """The folder holding one sub-folder per class (``subdir`` must stay inside the download)."""
    try:
        root = confine(download, subdir.strip("/"), allow_empty=True)
    except PathError:
        raise ValueError(f"KaggleDataset: subdir '{subdir}' must stay inside the download") from None
    if not root.is_dir():
        raise ValueError(f"KaggleDataset: folder '{subdir}' does not exist in the download")
    entries = sorted(root.iterdir())
    if not any(e.is_dir() for e in entries):
        shown = [e.name for e in entries[:10]]
        raise ValueError(
            f"KaggleDataset: {root} must contain one sub-folder per class (ImageFolder layout); "
            f"found {shown}. Set subdir to the folder that holds the class folders."
        )
    return root


@node(
    name="KaggleDataset",
    category=CATEGORY,
    outputs=[Out("dataset", "DATASET", "torchvision ImageFolder with ToTensor.")],
    params=[
        Param.string("dataset_slug", "", "Kaggle dataset, e.g. owner/dataset-name."),
        Param.string("subdir", "", "Folder inside the download that holds the class folders."),
        Param.string("cache_dir", "", "Download cache folder under libs (empty: the default)."),
    ],
    requires=(KAGGLEHUB, VISION),
)
def kaggle_dataset(call: Any) -> dict[str, Any]:
    """An image-folder dataset downloaded from Kaggle (needs Kaggle API credentials)."""
    kagglehub = optional_import("kagglehub", KAGGLEHUB, "KaggleDataset")
    datasets = optional_import("torchvision.datasets", VISION, "KaggleDataset")
    transforms = optional_import("torchvision.transforms", VISION, "KaggleDataset")
    p = call.params
    slug = p["dataset_slug"].strip()
    if not slug:
        raise ValueError("KaggleDataset: dataset_slug is required (owner/dataset-name)")
    if not kaggle_credentials_present():
        raise RuntimeError(
            "KaggleDataset needs Kaggle API credentials: set KAGGLE_USERNAME and KAGGLE_KEY, or "
            "put kaggle.json (from your Kaggle account settings) in ~/.kaggle/."
        )
    with _kagglehub_cache(_cache_dir(call, p["cache_dir"], "KaggleDataset")):
        download = kagglehub.dataset_download(slug)
    root = image_folder_root(download, p["subdir"])
    return {"dataset": datasets.ImageFolder(str(root), transform=transforms.ToTensor())}
