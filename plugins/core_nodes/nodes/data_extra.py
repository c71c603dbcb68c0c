"""Tier-2 data nodes (nodes.md §3.5): DatasetBatch, RowSelector, TextInput and Transform.

Synthetic datasets live in :mod:`.synthetic`, hub downloads in :mod:`.hub_datasets`;
``TensorInput`` is in :mod:`.tensor_ops` with Tier 1.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import int_list, to_device

from .classical import optional_import
from .data import VISION

CATEGORY = "Data"


# -- DatasetBatch -------------------------------------------------------------------------------


def stack_labels(labels: Sequence[Any]) -> torch.Tensor:
    """Labels of a batch: stacked when any is a tensor with dims, else an int64 vector."""
    if any(isinstance(label, torch.Tensor) and label.dim() > 0 for label in labels):
        return torch.stack([torch.as_tensor(label) for label in labels])
    return torch.tensor([int(label) for label in labels], dtype=torch.int64)


def dataset_batch_items(dataset: Any, batch_size: int, start_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start_index .. start_index + batch_size - 1`` (wrapping around) as two tensors."""
    size = len(dataset)
    if size == 0:
        raise ValueError("Dataset is empty.")
    samples, labels = [], []
    for offset in range(batch_size):
        sample, label = dataset[(start_index + offset) % size]
        samples.append(torch.as_tensor(sample))
        labels.append(label)
    return torch.stack(samples, 0), stack_labels(labels)


@node(
    name="DatasetBatch",
    category=CATEGORY,
    inputs=[In("dataset", "DATASET", "Items are (sample, label) pairs.")],
    outputs=[
        Out("images", "TENSOR", "The samples stacked on a new batch dim."),
        Out("labels", "TENSOR", "The labels (int64, or stacked when they are tensors)."),
    ],
    params=[
        Param.int("batch_size", 1, "Number of consecutive items.", min=1),
        Param.int("start_index", 0, "Index of the first item (wraps around the end).", min=0),
    ],
)
def dataset_batch(call: Any) -> dict[str, Any]:
    """Take `batch_size` consecutive items of a dataset as one batch, wrapping around the end."""
    images, labels = dataset_batch_items(
        call.inputs["dataset"], call.params["batch_size"], call.params["start_index"]
    )
    return {"images": to_device(images, call.device), "labels": to_device(labels, call.device)}


# -- RowSelector --------------------------------------------------------------------------------


def row_indices(names: list[str], labels: Any, raw_indices: Any, rows: int) -> list[int]:
    """Rows chosen by name (first match in ``labels``) or by N1 index list in ``[0, rows)``."""
    if names:
        if labels is None:
            raise ValueError(
                "RowSelector: names is set but no labels input is connected; connect a labels "
                "list or use indices instead."
            )
        values = [str(v) for v in (labels.tolist() if hasattr(labels, "tolist") else labels)]
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"RowSelector: rows {missing} are not in the labels input {values}")
        return [values.index(n) for n in names]
    indices = int_list("RowSelector", "indices", raw_indices)
    for i in indices:
        if not 0 <= i < rows:
            raise ValueError(
                f"RowSelector: indices contains out-of-range value {i} (tensor has {rows} rows)"
            )
    return indices


@node(
    name="RowSelector",
    category=CATEGORY,
    inputs=[
        In("tensor", "TENSOR", "Table whose first dim holds the rows."),
        In("labels", "LIST", "One name per row, needed by names.", optional=True),
    ],
    outputs=[Out("tensor", "TENSOR", "The selected rows, in the order asked for.")],
    params=[
        Param.string("indices", "0", "Comma-separated row indices (used when names is empty)."),
        Param.string("names", "", "Comma-separated row names looked up in the labels input."),
    ],
)
def row_selector(call: Any) -> dict[str, Any]:
    """Pick rows by name (first match in `labels`) or by index: `x[indices]`."""
    x = call.inputs["tensor"]
    names = [n.strip() for n in call.params["names"].split(",") if n.strip()]
    indices = row_indices(names, call.inputs.get("labels"), call.params["indices"], x.shape[0])
    if not indices:
        return {"tensor": x[:0]}
    return {"tensor": x[torch.tensor(indices, dtype=torch.long, device=x.device)]}


# -- TextInput ----------------------------------------------------------------------------------


@node(
    name="TextInput",
    category=CATEGORY,
    outputs=[Out("text", "STRING")],
    params=[Param.string("value", "The quick brown fox jumps over the lazy dog.", "The text.")],
)
def text_input(call: Any) -> dict[str, Any]:
    """A piece of text typed into the node."""
    return {"text": str(call.params["value"])}


# -- Transform ----------------------------------------------------------------------------------


@node(
    name="Transform",
    category=CATEGORY,
    inputs=[In("dataset", "DATASET", "A dataset with a replaceable `transform` attribute.")],
    outputs=[Out("dataset", "DATASET", "A copy of the dataset using the new transform.")],
    params=[
        Param.int("resize", 0, "Resize images to resize x resize; 0 keeps the size.", min=0),
        Param.bool("normalize", True, "Normalize((0.5,), (0.5,)): [0, 1] -> [-1, 1]."),
        Param.bool("to_tensor", True, "Convert Pillow images to tensors (ToTensor)."),
    ],
    requires=(VISION,),
)
def transform(call: Any) -> dict[str, Any]:
    """Set a torchvision transform (Resize, ToTensor, Normalize) on a copy of a dataset.

    The input dataset is not changed: a shallow copy gets the new `transform`.
    """
    transforms = optional_import("torchvision.transforms", VISION, "Transform")
    p = call.params
    steps: list[Any] = []
    if p["resize"] > 0:
        steps.append(transforms.Resize((p["resize"], p["resize"])))
    if p["to_tensor"]:
        steps.append(transforms.ToTensor())
    if p["normalize"]:
        steps.append(transforms.Normalize((0.5,), (0.5,)))
    dataset = call.inputs["dataset"]
    if not steps:
        return {"dataset": dataset}
    # A shallow copy: the samples are shared, only the transform differs (CodefyUI mutates).
    clone = copy.copy(dataset)
    clone.transform = transforms.Compose(steps)
    return {"dataset": clone}
