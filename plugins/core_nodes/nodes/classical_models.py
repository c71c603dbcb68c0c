"""Tier-2 classical machine learning (nodes.md §3.7): Accuracy and six scikit-learn estimators.

Every estimator node takes ``x_train``, ``y_train`` and ``x_query``, converts the features to
float32 numpy and the labels to strings, checks that the row counts match, and needs the
``classical`` extra. Classifiers also output a :class:`~.classical.FittedClassifier` on ``model``
so ``DecisionBoundary`` can draw them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nodeloom.kernel import PortSpec
from nodeloom.kernel.api import In, Out, Param, node
from nodeloom.torchkit import int_list

from .classical import (
    CLASSICAL,
    FittedClassifier,
    check_lengths,
    features_numpy,
    labels_list,
    optional_import,
)

CATEGORY = "Classical"


def _inputs(label_type: str) -> list[Any]:
    return [
        In("x_train", "TENSOR", "Training features [N, D]."),
        In("y_train", label_type, "Training labels (N items)."),
        In("x_query", "TENSOR", "Features to predict [Q, D]."),
    ]


def training_data(node_name: str, call: Any) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(x_train, labels as strings, x_query)`` with the row counts checked."""
    x_train = features_numpy(call.inputs["x_train"])
    labels = [str(v) for v in labels_list(call.inputs["y_train"])]
    check_lengths(node_name, x_train, labels)
    if not labels:
        raise ValueError(f"{node_name}: the training set is empty")
    return x_train, labels, features_numpy(call.inputs["x_query"])


def float_tensor(values: Any, device: str) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32)).to(device)


def fit_quietly(estimator: Any, x: np.ndarray, y: Any) -> tuple[Any, list[str]]:
    """Fit ``estimator``; returns it and the warnings it raised (e.g. no convergence) as text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(x, y)
    return estimator, sorted({str(w.message) for w in caught})


def _with_log(result: dict[str, Any], lines: Sequence[str]) -> dict[str, Any]:
    if lines:
        result["__log__"] = "\n".join(lines)
    return result


def classifier_outputs(
    clf: Any, x_query: np.ndarray, device: str, *, probabilities: bool = True
) -> dict[str, Any]:
    """predictions (strings), classes, model and, when asked, probabilities [Q, C] float32."""
    classes = [str(c) for c in clf.classes_]
    out: dict[str, Any] = {
        "predictions": [str(p) for p in clf.predict(x_query)],
        "classes": classes,
        "model": FittedClassifier(clf, classes),
    }
    if probabilities:
        out["probabilities"] = float_tensor(clf.predict_proba(x_query), device)
    return out


def _probabilistic_outputs(*extra: PortSpec) -> list[PortSpec]:
    """The output ports every probabilistic classifier shares, with its own ``extra`` ones."""
    return [
        Out("predictions", "LIST", "Predicted label of each query row (strings)."),
        Out("probabilities", "TENSOR", "Class probabilities [Q, C] (float32)."),
        Out("classes", "LIST", "Class labels in probability column order."),
        *extra,
        Out("model", "MODEL", "The fitted classifier (usable by DecisionBoundary)."),
    ]


# -- Accuracy -----------------------------------------------------------------------------------


def accuracy_counts(predictions: Sequence[Any], labels: Sequence[Any]) -> tuple[float, int, int]:
    """``(accuracy, correct, total)`` comparing items as strings; empty lists give zeros."""
    if len(predictions) != len(labels):
        raise ValueError(
            f"Accuracy: length mismatch — predictions {len(predictions)} vs labels {len(labels)}."
        )
    total = len(labels)
    if total == 0:
        return 0.0, 0, 0
    correct = sum(1 for p, y in zip(predictions, labels, strict=True) if str(p) == str(y))
    return correct / total, correct, total


@node(
    name="Accuracy",
    category=CATEGORY,
    inputs=[
        In("predictions", "LIST", "Predicted labels."),
        In("labels", "LIST", "True labels, in the same order."),
    ],
    outputs=[
        Out("accuracy", "SCALAR", "correct / total (0.0 when empty)."),
        Out("correct", "SCALAR", "Number of matches."),
        Out("total", "SCALAR", "Number of items."),
    ],
)
def accuracy(call: Any) -> dict[str, Any]:
    """Fraction of predictions equal to the labels (compared as strings). No scikit-learn needed."""
    acc, correct, total = accuracy_counts(
        labels_list(call.inputs["predictions"]), labels_list(call.inputs["labels"])
    )
    return {"accuracy": acc, "correct": correct, "total": total}


# -- DecisionTreeClassifier ---------------------------------------------------------------------


@node(
    name="DecisionTreeClassifier",
    category=CATEGORY,
    inputs=_inputs("LIST"),
    outputs=[
        Out("predictions", "LIST", "Predicted label of each query row (strings)."),
        Out("feature_importances", "TENSOR", "Importance of each feature (float32)."),
        Out("tree_text", "STRING", "The fitted tree as text (sklearn.tree.export_text)."),
        Out("classes", "LIST", "Class labels."),
        Out("model", "MODEL", "The fitted classifier (usable by DecisionBoundary)."),
    ],
    params=[
        Param.int("max_depth", 5, "Maximum depth; 0 = unlimited.", min=0),
        Param.select("criterion", "gini", ("gini", "entropy", "log_loss"), "Split quality measure."),
        Param.int("random_state", 42, "Seed for tie-breaking between features."),
    ],
    requires=(CLASSICAL,),
)
def decision_tree_classifier(call: Any) -> dict[str, Any]:
    """A single decision tree (`sklearn.tree.DecisionTreeClassifier`) with its rules as text."""
    tree = optional_import("sklearn.tree", CLASSICAL, "DecisionTreeClassifier")
    x_train, labels, x_query = training_data("DecisionTreeClassifier", call)
    p = call.params
    clf = tree.DecisionTreeClassifier(
        max_depth=None if p["max_depth"] <= 0 else p["max_depth"],
        criterion=p["criterion"],
        random_state=p["random_state"],
    ).fit(x_train, labels)
    out = classifier_outputs(clf, x_query, call.device, probabilities=False)
    out["feature_importances"] = float_tensor(clf.feature_importances_, call.device)
    out["tree_text"] = tree.export_text(clf)
    return out


# -- LinearRegression ---------------------------------------------------------------------------


@node(
    name="LinearRegression",
    category=CATEGORY,
    inputs=_inputs("TENSOR"),
    outputs=[
        Out("predictions", "TENSOR", "Predicted targets (float32)."),
        Out("coef", "TENSOR", "Coefficients (float32)."),
        Out("intercept", "SCALAR", "Intercept (a float32 tensor for multi-output targets)."),
    ],
    params=[Param.bool("fit_intercept", True, "Fit an intercept term.")],
    requires=(CLASSICAL,),
)
def linear_regression(call: Any) -> dict[str, Any]:
    """Ordinary least squares (`sklearn.linear_model.LinearRegression`)."""
    linear = optional_import("sklearn.linear_model", CLASSICAL, "LinearRegression")
    x_train = features_numpy(call.inputs["x_train"])
    y = features_numpy(call.inputs["y_train"])
    if len(x_train) != len(y):
        raise ValueError(
            "LinearRegression: features and labels length mismatch — "
            f"{len(x_train)} rows vs {len(y)} labels."
        )
    reg = linear.LinearRegression(fit_intercept=call.params["fit_intercept"]).fit(x_train, y)
    intercept = np.asarray(reg.intercept_)
    return {
        "predictions": float_tensor(reg.predict(features_numpy(call.inputs["x_query"])), call.device),
        "coef": float_tensor(reg.coef_, call.device),
        "intercept": float(intercept) if intercept.ndim == 0 else float_tensor(intercept, call.device),
    }


# -- LogisticRegression -------------------------------------------------------------------------


def _sklearn_version(sklearn: Any) -> tuple[int, int]:
    parts = str(getattr(sklearn, "__version__", "0.0")).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 0, 0


def logistic_kwargs(sklearn: Any, penalty: str, c: float) -> dict[str, Any]:
    """Constructor arguments for a penalty; scikit-learn >= 1.8 spells it with ``l1_ratio``/``C``.

    The models are the same; only the deprecated ``penalty`` argument is avoided where it warns.
    """
    # saga shuffles the data; a fixed random_state keeps the node deterministic (no seed param).
    common = {"solver": "saga" if penalty == "l1" else "lbfgs", "random_state": 0}
    if _sklearn_version(sklearn) >= (1, 8):
        if penalty == "none":
            return {"C": math.inf, **common}
        return {"C": c, "l1_ratio": 1.0 if penalty == "l1" else 0.0, **common}
    return {"C": c, "penalty": None if penalty == "none" else penalty, **common}


@node(
    name="LogisticRegression",
    category=CATEGORY,
    inputs=_inputs("LIST"),
    outputs=_probabilistic_outputs(Out("coef", "TENSOR", "Coefficients (float32).")),
    params=[
        Param.float("C", 1.0, "Inverse regularisation strength."),
        Param.int("max_iter", 200, "Solver iterations.", min=1),
        Param.select("penalty", "l2", ("l2", "l1", "none"), "Regularisation."),
    ],
    requires=(CLASSICAL,),
)
def logistic_regression(call: Any) -> dict[str, Any]:
    """Logistic regression (lbfgs, or saga for l1) with class probabilities."""
    sklearn = optional_import("sklearn", CLASSICAL, "LogisticRegression")
    linear = optional_import("sklearn.linear_model", CLASSICAL, "LogisticRegression")
    x_train, labels, x_query = training_data("LogisticRegression", call)
    if len(set(labels)) < 2:
        raise ValueError("LogisticRegression needs at least 2 classes in y_train.")
    p = call.params
    clf, log = fit_quietly(
        linear.LogisticRegression(
            max_iter=max(1, p["max_iter"]), **logistic_kwargs(sklearn, p["penalty"], p["C"])
        ),
        x_train,
        labels,
    )
    out = classifier_outputs(clf, x_query, call.device)
    out["coef"] = float_tensor(clf.coef_, call.device)
    return _with_log(out, log)


# -- MLPClassifier ------------------------------------------------------------------------------


@node(
    name="MLPClassifier",
    category=CATEGORY,
    inputs=_inputs("LIST"),
    outputs=_probabilistic_outputs(Out("train_loss", "SCALAR", "Final training loss.")),
    params=[
        Param.string("hidden_sizes", "16,16", "Comma-separated hidden layer widths."),
        Param.select(
            "activation", "relu", ("relu", "tanh", "logistic", "identity"), "Hidden activation."
        ),
        Param.int("max_iter", 500, "Training epochs (at most).", min=1),
        Param.float("learning_rate_init", 0.01, "Adam learning rate.", min=0),
        Param.int("seed", 42, "random_state of the weight initialisation and shuffling."),
    ],
    requires=(CLASSICAL,),
)
def mlp_classifier(call: Any) -> dict[str, Any]:
    """A small multi-layer perceptron trained with Adam (`sklearn.neural_network.MLPClassifier`)."""
    network = optional_import("sklearn.neural_network", CLASSICAL, "MLPClassifier")
    p = call.params
    hidden = int_list("MLPClassifier", "hidden_sizes", p["hidden_sizes"])
    if not hidden:
        raise ValueError("MLPClassifier: hidden_sizes must list at least one layer width")
    x_train, labels, x_query = training_data("MLPClassifier", call)
    clf, log = fit_quietly(
        network.MLPClassifier(
            hidden_layer_sizes=tuple(hidden),
            activation=p["activation"],
            solver="adam",
            learning_rate_init=p["learning_rate_init"],
            max_iter=p["max_iter"],
            random_state=p["seed"],
        ),
        x_train,
        labels,
    )
    out = classifier_outputs(clf, x_query, call.device)
    out["train_loss"] = float(clf.loss_)
    return _with_log(out, log)


# -- RandomForestClassifier ---------------------------------------------------------------------


@node(
    name="RandomForestClassifier",
    category=CATEGORY,
    inputs=_inputs("LIST"),
    outputs=_probabilistic_outputs(),
    params=[
        Param.int("n_estimators", 100, "Number of trees.", min=1),
        Param.int("max_depth", 0, "Maximum depth of each tree; 0 = unlimited.", min=0),
        Param.int("seed", 0, "random_state of the bootstrap and feature sampling."),
    ],
    requires=(CLASSICAL,),
)
def random_forest_classifier(call: Any) -> dict[str, Any]:
    """An ensemble of randomised decision trees (`sklearn.ensemble.RandomForestClassifier`)."""
    ensemble = optional_import("sklearn.ensemble", CLASSICAL, "RandomForestClassifier")
    x_train, labels, x_query = training_data("RandomForestClassifier", call)
    p = call.params
    clf = ensemble.RandomForestClassifier(
        n_estimators=max(1, p["n_estimators"]),
        max_depth=None if p["max_depth"] <= 0 else p["max_depth"],
        random_state=p["seed"],
    ).fit(x_train, labels)
    return classifier_outputs(clf, x_query, call.device)


# -- SVMClassifier ------------------------------------------------------------------------------


def parse_gamma(raw: str) -> float | str:
    """``gamma`` as a float when it parses, else the string itself (``scale`` / ``auto``)."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        return str(raw).strip()


@node(
    name="SVMClassifier",
    category=CATEGORY,
    inputs=_inputs("LIST"),
    outputs=[
        Out("predictions", "LIST", "Predicted label of each query row (strings)."),
        Out("support_vectors", "TENSOR", "The support vectors (float32)."),
        Out("classes", "LIST", "Class labels."),
        Out("model", "MODEL", "The fitted classifier (usable by DecisionBoundary)."),
    ],
    params=[
        Param.float("C", 1.0, "Inverse regularisation strength."),
        Param.select("kernel", "rbf", ("linear", "rbf", "poly", "sigmoid"), "Kernel function."),
        Param.string("gamma", "scale", "Kernel coefficient: a number, `scale` or `auto`."),
    ],
    requires=(CLASSICAL,),
)
def svm_classifier(call: Any) -> dict[str, Any]:
    """A support-vector machine (`sklearn.svm.SVC`, no probabilities)."""
    svm = optional_import("sklearn.svm", CLASSICAL, "SVMClassifier")
    x_train, labels, x_query = training_data("SVMClassifier", call)
    p = call.params
    # probability=False is SVC's default; it is not passed because scikit-learn >= 1.9 warns
    # about the argument itself.
    clf = svm.SVC(C=p["C"], kernel=p["kernel"], gamma=parse_gamma(p["gamma"])).fit(x_train, labels)
    vectors = np.asarray(clf.support_vectors_, dtype=np.float32)
    out = classifier_outputs(clf, x_query, call.device, probabilities=False)
    out["model"] = FittedClassifier(clf, out["classes"], vectors)
    out["support_vectors"] = float_tensor(vectors, call.device)
    return out
