"""Classical machine-learning nodes backed by scikit-learn (nodes.md §2.11, §3.7).

Also home of :func:`optional_import`, which every node with an optional dependency uses so that a
missing extra fails with the pip command to run instead of a bare ``ImportError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import attrs
import numpy as np
import torch

from nodeloom.kernel import NodeFailure, Requirement
from nodeloom.kernel.api import In, Out, Param, node

CATEGORY = "Classical"

CLASSICAL = Requirement("sklearn", "scikit-learn", "classical")


def optional_import(module: str, requirement: Requirement, node_name: str) -> ModuleType:
    """Import ``module`` or fail the node with ``dependency_missing`` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NodeFailure(
            f"{node_name} {requirement.reason()}: {exc}", code="dependency_missing"
        ) from None


def features_numpy(x: Any) -> np.ndarray:
    """Features as a float32 numpy matrix (tensors are detached and moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def labels_list(labels: Any) -> list[Any]:
    """Labels as a plain list (tensors and arrays via ``.tolist()``)."""
    if hasattr(labels, "tolist"):
        return list(labels.tolist())
    return list(labels)


def check_lengths(node_name: str, x: np.ndarray, labels: Sequence[Any]) -> None:
    """Features and labels must describe the same rows (nodes.md §3.7)."""
    if len(x) != len(labels):
        raise ValueError(
            f"{node_name}: features and labels length mismatch — {len(x)} rows vs {len(labels)} labels."
        )


@attrs.frozen
class FittedClassifier:
    """A fitted scikit-learn classifier on a ``MODEL`` port (nodes.md §3.7; not an ``nn.Module``).

    ``predict`` returns string labels; ``support_vectors`` is set for SVMs only.
    """

    estimator: Any
    classes: list[str]
    support_vectors: np.ndarray | None = None

    def predict(self, x: Any) -> list[str]:
        return [str(p) for p in self.estimator.predict(features_numpy(x))]


@node(
    name="KNN",
    category=CATEGORY,
    inputs=[
        In("x_train", "TENSOR", "Training features [N, D]."),
        In("y_train", "LIST", "Training labels (N items)."),
        In("x_query", "TENSOR", "Features to classify [Q, D]."),
    ],
    outputs=[
        Out("predictions", "LIST", "Predicted label of each query row (strings)."),
        Out("probabilities", "TENSOR", "Class probabilities [Q, C] (float32)."),
        Out("classes", "LIST", "Class labels in probability column order."),
        Out("model", "MODEL", "The fitted classifier (usable by DecisionBoundary)."),
    ],
    params=[
        Param.int("n_neighbors", 5, "Neighbours that vote (capped at the training size).", min=1),
        Param.select("weights", "uniform", ("uniform", "distance"), "Vote weighting."),
        Param.select(
            "metric",
            "minkowski",
            ("minkowski", "euclidean", "manhattan", "chebyshev", "cosine"),
            "Distance metric.",
        ),
    ],
    requires=(CLASSICAL,),
)
def knn(call: Any) -> dict[str, Any]:
    """k-nearest-neighbours classification (`sklearn.neighbors.KNeighborsClassifier`)."""
    neighbors = optional_import("sklearn.neighbors", CLASSICAL, "KNN")
    x_train = features_numpy(call.inputs["x_train"])
    labels = [str(v) for v in labels_list(call.inputs["y_train"])]
    check_lengths("KNN", x_train, labels)
    if len(labels) == 0:
        raise ValueError("KNN: the training set is empty")
    x_query = features_numpy(call.inputs["x_query"])
    k = min(max(call.params["n_neighbors"], 1), len(labels))
    clf = neighbors.KNeighborsClassifier(
        n_neighbors=k, weights=call.params["weights"], metric=call.params["metric"]
    ).fit(x_train, labels)
    classes = [str(c) for c in clf.classes_]
    return {
        "predictions": [str(p) for p in clf.predict(x_query)],
        "probabilities": torch.as_tensor(clf.predict_proba(x_query), dtype=torch.float32).to(
            call.device
        ),
        "classes": classes,
        "model": FittedClassifier(clf, classes),
    }
