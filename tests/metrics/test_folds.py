"""Per-fold tables, their summary and the fold-averaged ROC curve."""

import math
import statistics

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm

from mpx_eval.metrics import fold_metrics, mean_roc_curve, prediction_metrics, summarize_folds

CLASSES = ["Monkeypox", "Others"]


def folded(seed, n=100, k=5):
    rng = np.random.default_rng(seed)
    y = rng.choice(CLASSES, n)
    p = np.clip(0.5 + 0.25 * np.where(y == "Monkeypox", 1, -1) + rng.normal(0, 0.25, n), 0, 1)
    prob = np.column_stack([p, 1 - p])
    folds = rng.integers(1, k + 1, n)
    return y, prob, folds


def test_fold_metrics_match_sklearn_fold_by_fold():
    y, prob, folds = folded(0)
    table = fold_metrics(y, prob, folds, labels=CLASSES, positive_class="Monkeypox")
    assert list(table.index) == [1, 2, 3, 4, 5]
    for fold in range(1, 6):
        rows = folds == fold
        pred = np.array(CLASSES)[prob[rows].argmax(axis=1)]
        row = table.loc[fold]
        assert row["n_test"] == rows.sum()
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(y[rows], pred))
        assert row["roc_auc"] == pytest.approx(
            skm.roc_auc_score(y[rows] == "Monkeypox", prob[rows, 0])
        )
        assert row["f1"] == pytest.approx(skm.f1_score(y[rows], pred, pos_label="Monkeypox"))
        assert row["specificity"] == pytest.approx(
            skm.recall_score(y[rows], pred, pos_label="Others")
        )
        assert row["brier"] == pytest.approx(
            skm.brier_score_loss(y[rows] == "Monkeypox", prob[rows, 0])
        )


def test_prediction_metrics_match_sklearn_for_three_classes():
    rng = np.random.default_rng(4)
    classes = ["Chickenpox", "Measles", "Monkeypox"]
    y = rng.choice(classes, 90)
    logits = rng.normal(size=(90, 3))
    logits[np.arange(90), np.searchsorted(classes, y)] += 1
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = np.array(classes)[prob.argmax(axis=1)]
    m = prediction_metrics(y, prob, labels=classes)
    assert set(m) == {
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_macro",
        "mcc",
        "kappa",
        "roc_auc",
        "average_precision",
        "brier",
        "ece",
    }
    assert m["f1"] == m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, prob, multi_class="ovr"))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, prob, labels=classes))


def test_a_fold_with_one_class_has_nan_auc_not_an_error():
    y = np.array(["Monkeypox", "Others", "Others", "Others"])
    prob = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    table = fold_metrics(y, prob, [1, 1, 2, 2], labels=CLASSES, positive_class="Monkeypox")
    assert table.loc[1, "roc_auc"] == 1.0
    assert math.isnan(table.loc[2, "roc_auc"])
    assert math.isnan(table.loc[2, "sensitivity"])
    assert table.loc[2, "specificity"] == 0.5
    summary = summarize_folds(table[["roc_auc", "specificity"]])
    assert summary.loc["mean", "roc_auc"] == 1.0
    assert math.isnan(summary.loc["std", "roc_auc"])


def test_summarize_folds_uses_sample_standard_deviation():
    values = [0.81, 0.86, 0.79, 0.9, 0.84]
    summary = summarize_folds(pd.DataFrame({"accuracy": values}))
    assert summary.loc["mean", "accuracy"] == pytest.approx(statistics.mean(values))
    assert summary.loc["std", "accuracy"] == pytest.approx(statistics.stdev(values))
    assert summary.loc["min", "accuracy"] == 0.79
    assert summary.loc["max", "accuracy"] == 0.9
    assert list(summary.index) == ["mean", "std", "min", "max"]


def reference_tpr(grid, y, score):
    """Interpolation as in scikit-learn's cross-validated ROC example (all points kept)."""
    fpr, tpr, _ = skm.roc_curve(y, score, drop_intermediate=False)
    out = np.empty_like(grid)
    for i, x in enumerate(grid):
        j = np.searchsorted(fpr, x, side="right") - 1  # the top of any vertical step at x
        out[i] = tpr[j] if j == len(fpr) - 1 else np.interp(x, fpr[j : j + 2], tpr[j : j + 2])
    out[0] = 0.0
    return out


@pytest.mark.parametrize("seed", range(3))
def test_mean_roc_curve_averages_interpolated_fold_curves(seed):
    y, prob, folds = folded(seed, n=150)
    curve = mean_roc_curve(y, prob[:, 0], folds, positive_class="Monkeypox")
    grid = np.linspace(0, 1, 101)
    np.testing.assert_allclose(curve.fpr, grid)
    per_fold = np.array(
        [
            reference_tpr(grid, y[folds == f] == "Monkeypox", prob[folds == f, 0])
            for f in range(1, 6)
        ]
    )
    np.testing.assert_allclose(curve.tpr_mean, per_fold.mean(axis=0))
    np.testing.assert_allclose(curve.tpr_std, per_fold.std(axis=0, ddof=1))
    np.testing.assert_allclose(curve.tpr_upper, np.clip(curve.tpr_mean + curve.tpr_std, 0, 1))
    assert curve.tpr_mean[0] == 0.0
    assert curve.tpr_mean[-1] == 1.0
    assert np.all(np.diff(curve.tpr_mean) >= -1e-12)
    np.testing.assert_allclose(
        curve.fold_auc,
        [skm.roc_auc_score(y[folds == f] == "Monkeypox", prob[folds == f, 0]) for f in range(1, 6)],
    )


def test_mean_roc_curve_skips_folds_without_both_classes():
    y = np.array(["Monkeypox", "Others", "Others", "Others", "Monkeypox", "Others"])
    score = np.array([0.9, 0.2, 0.4, 0.3, 0.6, 0.7])
    curve = mean_roc_curve(y, score, [1, 1, 2, 2, 3, 3], n_points=3, positive_class="Monkeypox")
    np.testing.assert_array_equal(curve.folds, [1, 3])
    np.testing.assert_allclose(curve.fold_auc, [1.0, 0.0])
