"""2-D plot nodes (nodes.md §3.4, N11): ``ScatterPlot2D`` and ``DecisionBoundary``.

Both draw on a bare matplotlib ``Figure`` (Agg canvas, no pyplot global state, so concurrent runs
cannot draw into each other's figures) and return the base64 text of a PNG. The numeric parts
(grids, class indices) are plain numpy functions so they can be tested without matplotlib.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from nodeloom.kernel import Requirement
from nodeloom.kernel.api import In, Out, Param, node

from .classical import features_numpy, labels_list, optional_import

CATEGORY = "Utility"
PLOT = Requirement("matplotlib", "matplotlib", "plot")
FIGSIZE = (6, 6)


def _figure(node_name: str) -> Any:
    figure_mod = optional_import("matplotlib.figure", PLOT, node_name)
    return figure_mod.Figure(figsize=FIGSIZE)


def _colour(index: int) -> Any:
    from matplotlib import colormaps

    return colormaps["tab10"](index % 10)


def png_base64(fig: Any) -> str:
    """nodes.md N11: tight layout, PNG at dpi 100, base64 text without a ``data:`` prefix."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def points_2d(node_name: str, points: Any) -> np.ndarray:
    """Points as a float32 [N, 2] array, or the node's shape error."""
    arr = features_numpy(points)
    if arr.ndim != 2 or arr.shape[1] != 2:
        if node_name == "ScatterPlot2D":
            raise ValueError(f"ScatterPlot2D expects points of shape [N, 2]; got {list(arr.shape)}.")
        raise ValueError(f"{node_name} expects features of shape [N, 2]; got {list(arr.shape)}.")
    return arr


def sorted_classes(labels: Sequence[Any]) -> list[str]:
    """The distinct labels as strings, sorted."""
    return sorted({str(v) for v in labels})


@node(
    name="ScatterPlot2D",
    category=CATEGORY,
    inputs=[
        In("points", "TENSOR", "Points [N, 2]."),
        In("labels", "LIST", "One label per point; colours the points by class.", optional=True),
    ],
    outputs=[Out("image", "STRING", "Base64 PNG of the plot.")],
    params=[Param.string("title", "", "Plot title (none when empty).")],
    requires=(PLOT,),
    display_only=True,
)
def scatter_plot_2d(call: Any) -> dict[str, Any]:
    """Scatter plot of 2-D points, one colour per class when labels are wired."""
    pts = points_2d("ScatterPlot2D", call.inputs["points"])
    fig = _figure("ScatterPlot2D")
    ax = fig.add_subplot(1, 1, 1)
    labels = call.inputs.get("labels")
    if labels is None:
        ax.scatter(pts[:, 0], pts[:, 1], s=18, alpha=0.8)
    else:
        names = np.array([str(v) for v in labels_list(labels)])
        if len(names) != len(pts):
            raise ValueError(
                f"ScatterPlot2D: {len(pts)} points but {len(names)} labels; they must match."
            )
        for i, cls in enumerate(sorted_classes(names)):
            mask = names == cls
            ax.scatter(pts[mask, 0], pts[mask, 1], s=18, alpha=0.8, color=_colour(i), label=cls)
        ax.legend(title="class")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_aspect("equal")
    if call.params["title"]:
        ax.set_title(call.params["title"])
    return {"image": png_base64(fig)}


# -- DecisionBoundary ---------------------------------------------------------------------------

GRID_MIN, GRID_MAX = 20, 500


def grid_axes(x: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``linspace`` axes covering the data plus ``0.5 + 0.05 * range`` padding on each side."""
    steps = max(GRID_MIN, min(GRID_MAX, int(steps)))
    axes = []
    for col in range(2):
        lo, hi = float(x[:, col].min()), float(x[:, col].max())
        pad = 0.5 + 0.05 * (hi - lo)
        axes.append(np.linspace(lo - pad, hi + pad, steps))
    return axes[0], axes[1]


def class_indices(predictions: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    """Predicted labels mapped to their index in ``classes``; unknown labels count as class 0."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(str(p), 0) for p in predictions], dtype=np.int64)


def _support_vectors(model: Any) -> np.ndarray | None:
    vectors = getattr(model, "support_vectors", None)
    if vectors is None:
        return None
    arr = np.asarray(vectors)
    return arr if arr.size else None


@node(
    name="DecisionBoundary",
    category=CATEGORY,
    inputs=[
        In("model", "MODEL", "A fitted classifier (a Classical node's model output)."),
        In("x_train", "TENSOR", "Training features [N, 2]."),
        In("y_train", "LIST", "Training labels."),
    ],
    outputs=[Out("image", "STRING", "Base64 PNG of the plot.")],
    params=[
        Param.int("grid_steps", 200, "Grid resolution per axis.", min=20, max=500),
        Param.bool("show_support_vectors", False, "Circle the model's support vectors (SVM)."),
        Param.string("title", "", "Plot title (none when empty)."),
    ],
    requires=(PLOT,),
    display_only=True,
)
def decision_boundary(call: Any) -> dict[str, Any]:
    """Colour the plane by a 2-D classifier's prediction and overlay the training points."""
    model = call.inputs.get("model")
    if model is None or not callable(getattr(model, "predict", None)):
        raise ValueError(
            "DecisionBoundary needs a model input — connect a Classifier node's model output."
        )
    x = points_2d("DecisionBoundary", call.inputs["x_train"])
    labels = np.array([str(v) for v in labels_list(call.inputs["y_train"])])
    if len(labels) != len(x):
        raise ValueError(
            "DecisionBoundary: features and labels length mismatch — "
            f"{len(x)} rows vs {len(labels)} labels."
        )
    classes = sorted_classes(labels)
    gx, gy = grid_axes(x, call.params["grid_steps"])
    xx, yy = np.meshgrid(gx, gy)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
    zz = class_indices(model.predict(grid), classes).reshape(xx.shape)

    fig = _figure("DecisionBoundary")
    from matplotlib.colors import ListedColormap

    ax = fig.add_subplot(1, 1, 1)
    palette = ListedColormap([_colour(i) for i in range(len(classes))])
    ax.contourf(
        xx, yy, zz, levels=np.arange(-0.5, len(classes), 1), cmap=palette, alpha=0.3,
        vmin=-0.5, vmax=len(classes) - 0.5,
    )
    for i, cls in enumerate(classes):
        mask = labels == cls
        ax.scatter(
            x[mask, 0], x[mask, 1], s=18, color=_colour(i), edgecolors="white", linewidths=0.4,
            label=cls,
        )
    vectors = _support_vectors(model) if call.params["show_support_vectors"] else None
    if vectors is not None:
        ax.scatter(
            vectors[:, 0], vectors[:, 1], s=140, facecolors="none", edgecolors="black",
            linewidths=1.6, label="support vectors",
        )
    ax.legend(title="class")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    if call.params["title"]:
        ax.set_title(call.params["title"])
    return {"image": png_base64(fig)}
