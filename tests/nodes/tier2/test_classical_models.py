"""Classical nodes (nodes.md §3.7) and the 2-D plots that draw them (§3.4).

scikit-learn and matplotlib are optional extras: the tests that need them are skipped when they
are missing, and the missing-extra error is tested instead.
"""

from __future__ import annotations

import base64
import importlib.util

import numpy as np
import pytest
import torch

from nodeloom.kernel import NodeFailure
from nodeloom.plugins.core_nodes.nodes import classical_models as cm
from nodeloom.plugins.core_nodes.nodes import plots

from ..helpers import call_node

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAS_MPL = importlib.util.find_spec("matplotlib") is not None
needs_sklearn = pytest.mark.skipif(not HAS_SKLEARN, reason="needs scikit-learn (nodeloom[classical])")
needs_mpl = pytest.mark.skipif(not HAS_MPL, reason="needs matplotlib (nodeloom[plot])")

# Two well separated clusters: every classifier should get the queries right.
X = torch.tensor([[0.0, 0.0], [0.2, 0.1], [0.1, 0.3], [5.0, 5.0], [5.2, 4.9], [4.8, 5.1]])
Y = ["a", "a", "a", "b", "b", "b"]
Q = torch.tensor([[0.1, 0.1], [5.0, 5.1]])
DATA = {"x_train": X, "y_train": Y, "x_query": Q}
CLASSIFIERS = [cm.decision_tree_classifier, cm.logistic_regression, cm.mlp_classifier,
               cm.random_forest_classifier, cm.svm_classifier]


# -- Accuracy (no scikit-learn) -------------------------------------------------------------------


def test_accuracy_compares_as_strings():
    out = call_node(cm.accuracy, {"predictions": ["1", "0", "2", "2"], "labels": torch.tensor([1, 0, 1, 2])})
    assert out == {"accuracy": 0.75, "correct": 3, "total": 4}
    assert isinstance(out["correct"], int) and isinstance(out["accuracy"], float)


def test_accuracy_of_nothing_is_zero():
    assert call_node(cm.accuracy, {"predictions": [], "labels": []}) == {"accuracy": 0.0, "correct": 0, "total": 0}


def test_accuracy_length_mismatch():
    with pytest.raises(ValueError, match="Accuracy: length mismatch — predictions 1 vs labels 2."):
        call_node(cm.accuracy, {"predictions": ["a"], "labels": ["a", "b"]})


# -- scikit-learn nodes ----------------------------------------------------------------------------


@pytest.mark.skipif(HAS_SKLEARN, reason="scikit-learn is installed")
@pytest.mark.parametrize("fn", [*CLASSIFIERS, cm.linear_regression])
def test_classical_nodes_without_sklearn_name_the_extra(fn):
    with pytest.raises(NodeFailure) as info:
        call_node(fn, dict(DATA))
    assert info.value.code == "dependency_missing"
    assert "pip install 'nodeloom[classical]'" in str(info.value)


@needs_sklearn
@pytest.mark.parametrize("fn", CLASSIFIERS)
def test_classifiers_predict_and_wrap_a_model(fn):
    out = call_node(fn, dict(DATA))
    assert out["predictions"] == ["a", "b"]
    assert out["classes"] == ["a", "b"]
    model = out["model"]
    assert model.predict(np.array([[0.0, 0.2], [5.1, 5.0]], dtype=np.float32)) == ["a", "b"]
    if "probabilities" in out:
        probs = out["probabilities"]
        assert probs.dtype == torch.float32 and probs.shape == (2, 2)
        assert torch.allclose(probs.sum(1), torch.ones(2))


@needs_sklearn
def test_classifiers_check_row_counts():
    with pytest.raises(ValueError, match="features and labels length mismatch — 6 rows vs 2 labels."):
        call_node(cm.svm_classifier, {**DATA, "y_train": ["a", "b"]})


@needs_sklearn
def test_decision_tree_outputs_text_and_importances():
    out = call_node(cm.decision_tree_classifier, dict(DATA), max_depth=0)
    assert "feature_0" in out["tree_text"] and "class: a" in out["tree_text"]
    assert out["feature_importances"].dtype == torch.float32
    assert out["feature_importances"].sum().item() == pytest.approx(1.0)


@needs_sklearn
def test_logistic_regression_needs_two_classes_and_gives_coefficients():
    with pytest.raises(ValueError, match="at least 2 classes"):
        call_node(cm.logistic_regression, {**DATA, "y_train": ["a"] * 6})
    for penalty in ("l2", "l1", "none"):
        # Weak regularisation: on six points an L1 fit at C=1 may zero every weight.
        out = call_node(cm.logistic_regression, dict(DATA), penalty=penalty, C=100.0)
        assert out["coef"].shape == (1, 2) and out["predictions"] == ["a", "b"]
    # The node is deterministic (saga's shuffling is seeded): two L1 fits give the same weights.
    first, again = (call_node(cm.logistic_regression, dict(DATA), penalty="l1", C=100.0) for _ in range(2))
    assert torch.equal(first["coef"], again["coef"])


@needs_sklearn
def test_mlp_classifier_reports_its_loss_and_rejects_empty_layers():
    out = call_node(cm.mlp_classifier, dict(DATA), hidden_sizes="8", max_iter=300)
    assert isinstance(out["train_loss"], float) and out["train_loss"] >= 0
    with pytest.raises(ValueError, match="at least one layer"):
        call_node(cm.mlp_classifier, dict(DATA), hidden_sizes=" , ")


@needs_sklearn
def test_svm_exposes_its_support_vectors():
    out = call_node(cm.svm_classifier, dict(DATA), kernel="linear", gamma="0.5")
    vectors = out["support_vectors"]
    assert vectors.dtype == torch.float32 and vectors.shape[1] == 2 and len(vectors) >= 2
    assert np.allclose(out["model"].support_vectors, vectors.numpy())
    # Support vectors are training rows.
    assert all(any(torch.allclose(v, row) for row in X) for v in vectors)


@needs_sklearn
def test_linear_regression_recovers_a_line():
    x = torch.arange(6.0).reshape(-1, 1)
    y = 3 * x[:, 0] + 1
    out = call_node(cm.linear_regression, {"x_train": x, "y_train": y, "x_query": torch.tensor([[10.0]])})
    assert out["predictions"].dtype == torch.float32
    assert out["predictions"].item() == pytest.approx(31.0, abs=1e-4)
    assert out["coef"].tolist() == pytest.approx([3.0], abs=1e-5)
    assert isinstance(out["intercept"], float) and out["intercept"] == pytest.approx(1.0, abs=1e-4)
    multi = call_node(cm.linear_regression, {"x_train": x, "y_train": torch.stack([y, -y], 1), "x_query": x})
    assert isinstance(multi["intercept"], torch.Tensor) and multi["intercept"].shape == (2,)


def test_parse_gamma():
    assert cm.parse_gamma("0.25") == 0.25
    assert cm.parse_gamma("scale") == "scale"


def test_logistic_kwargs_follow_the_installed_scikit_learn():
    old = type("M", (), {"__version__": "1.5.2"})
    new = type("M", (), {"__version__": "1.9.1"})
    assert cm.logistic_kwargs(old, "l1", 2.0) == {"C": 2.0, "penalty": "l1", "solver": "saga", "random_state": 0}
    assert cm.logistic_kwargs(old, "none", 2.0)["penalty"] is None
    assert cm.logistic_kwargs(new, "l2", 2.0) == {"C": 2.0, "l1_ratio": 0.0, "solver": "lbfgs", "random_state": 0}
    assert cm.logistic_kwargs(new, "none", 2.0)["C"] == float("inf")


# -- plots ----------------------------------------------------------------------------------------


def test_decision_boundary_grid_padding_and_class_mapping():
    x = np.array([[0.0, 10.0], [2.0, 30.0]], dtype=np.float32)
    gx, gy = plots.grid_axes(x, 5)
    assert len(gx) == 20  # steps are clamped to 20..500
    assert gx[0] == pytest.approx(-0.6) and gx[-1] == pytest.approx(2.6)  # pad 0.5 + 0.05 * 2
    assert gy[0] == pytest.approx(8.5) and gy[-1] == pytest.approx(31.5)  # pad 0.5 + 0.05 * 20
    assert plots.class_indices(["b", "zz", "a"], ["a", "b"]).tolist() == [1, 0, 0]


@pytest.mark.skipif(HAS_MPL, reason="matplotlib is installed")
def test_plots_without_matplotlib_name_the_extra():
    with pytest.raises(NodeFailure) as info:
        call_node(plots.scatter_plot_2d, {"points": torch.zeros(3, 2)})
    assert info.value.code == "dependency_missing" and "nodeloom[plot]" in str(info.value)


def test_scatter_plot_rejects_points_that_are_not_2d():
    with pytest.raises(ValueError, match=r"ScatterPlot2D expects points of shape \[N, 2\]; got \[3, 3\]\."):
        call_node(plots.scatter_plot_2d, {"points": torch.zeros(3, 3)})


def test_decision_boundary_needs_a_predicting_model():
    with pytest.raises(ValueError, match="DecisionBoundary needs a model input — connect a Classifier"):
        call_node(plots.decision_boundary, {"model": torch.nn.Linear(2, 2), "x_train": X, "y_train": Y})


def _is_png(text: str) -> bool:
    return base64.b64decode(text).startswith(b"\x89PNG\r\n\x1a\n")


@needs_mpl
def test_scatter_plot_renders_a_png():
    out = call_node(plots.scatter_plot_2d, {"points": X, "labels": Y}, title="clusters")
    assert _is_png(out["image"])
    assert _is_png(call_node(plots.scatter_plot_2d, {"points": X})["image"])


@needs_mpl
def test_decision_boundary_renders_with_a_stub_model():
    class Half:
        support_vectors = np.array([[0.0, 0.0]], dtype=np.float32)

        def predict(self, grid):
            return ["a" if row[0] < 2.5 else "b" for row in grid]

    out = call_node(plots.decision_boundary, {"model": Half(), "x_train": X, "y_train": Y},
                    grid_steps=30, show_support_vectors=True, title="t")
    assert _is_png(out["image"])


@needs_mpl
@needs_sklearn
def test_decision_boundary_draws_a_fitted_svm():
    svm = call_node(cm.svm_classifier, dict(DATA))
    out = call_node(plots.decision_boundary, {"model": svm["model"], "x_train": X, "y_train": Y},
                    grid_steps=20, show_support_vectors=True)
    assert _is_png(out["image"])
