"""Ranking metrics against scikit-learn, and AUC's invariance to monotone transforms."""

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from mpx_eval.metrics import (
    average_precision_score,
    operating_point,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def binary_data(seed, n=80, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.choice(["Monkeypox", "Others"], n)
    score = rng.normal(size=n) + (y == "Monkeypox")
    if ties:
        score = np.round(score, 1)
    return y, score


def multiclass_data(seed, n=90, classes=("Chickenpox", "Measles", "Monkeypox")):
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n)
    logits = rng.normal(size=(n, len(classes)))
    logits[np.arange(n), np.searchsorted(classes, y)] += 1.0
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, prob, list(classes)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_roc_curve_matches_sklearn(seed, ties):
    y, score = binary_data(seed, ties=ties)
    fpr, tpr, thresholds = roc_curve(y, score, positive_class="Monkeypox")
    ref = skm.roc_curve(y, score, pos_label="Monkeypox", drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref[0])
    np.testing.assert_allclose(tpr, ref[1])
    np.testing.assert_array_equal(thresholds, ref[2])


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_binary_auc_and_average_precision_match_sklearn(seed, ties):
    y, score = binary_data(seed, ties=ties)
    positive = y == "Monkeypox"
    assert roc_auc_score(y, score, positive_class="Monkeypox") == pytest.approx(
        skm.roc_auc_score(positive, score), abs=1e-12
    )
    assert average_precision_score(y, score, positive_class="Monkeypox") == pytest.approx(
        skm.average_precision_score(positive, score), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(4))
def test_precision_recall_curve_matches_sklearn(seed):
    y, score = binary_data(seed, ties=True)
    ours = precision_recall_curve(y, score, positive_class="Monkeypox")
    ref = skm.precision_recall_curve(y, score, pos_label="Monkeypox")
    for mine, theirs in zip(ours, ref, strict=True):
        np.testing.assert_allclose(mine, theirs)


def test_two_column_probabilities_use_the_positive_column():
    y, score = binary_data(7)
    p = 1 / (1 + np.exp(-score))
    prob = np.column_stack([p, 1 - p])
    classes = ["Monkeypox", "Others"]
    assert roc_auc_score(y, prob, labels=classes, positive_class="Monkeypox") == roc_auc_score(
        y, p, positive_class="Monkeypox"
    )
    assert roc_auc_score(y, prob, labels=classes, positive_class="Others") == pytest.approx(
        skm.roc_auc_score(y == "Others", 1 - p)
    )


@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("seed", range(3))
def test_one_vs_rest_auc_matches_sklearn(seed, average):
    y, prob, classes = multiclass_data(seed)
    assert roc_auc_score(y, prob, labels=classes, average=average) == pytest.approx(
        skm.roc_auc_score(y, prob, labels=classes, multi_class="ovr", average=average)
    )


@pytest.mark.parametrize("seed", range(3))
def test_one_vs_rest_average_precision_matches_sklearn(seed):
    y, prob, classes = multiclass_data(seed)
    one_hot = (y[:, None] == np.array(classes)[None, :]).astype(int)
    assert average_precision_score(y, prob, labels=classes) == pytest.approx(
        skm.average_precision_score(one_hot, prob, average="macro")
    )
    per_class = average_precision_score(y, prob, labels=classes, average=None)
    np.testing.assert_allclose(per_class, skm.average_precision_score(one_hot, prob, average=None))


def test_one_vs_rest_auc_per_class_and_single_class_view():
    y, prob, classes = multiclass_data(11)
    per_class = roc_auc_score(y, prob, labels=classes, average=None)
    for j, c in enumerate(classes):
        assert per_class[j] == pytest.approx(skm.roc_auc_score(y == c, prob[:, j]))
    assert roc_auc_score(y, prob, labels=classes, positive_class="Measles") == per_class[1]


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_operating_point_is_the_strictest_threshold_reaching_the_target(seed, target):
    y, score = binary_data(seed, ties=True)
    positive = y == "Monkeypox"
    point = operating_point(y, score, target_sensitivity=target, positive_class="Monkeypox")
    called = score >= point.threshold
    assert point.sensitivity == pytest.approx(called[positive].mean())
    assert point.specificity == pytest.approx((~called[~positive]).mean())
    assert point.sensitivity >= target
    # Any stricter threshold (the next higher distinct score) misses the target.
    higher = np.unique(score[score > point.threshold])
    if higher.size:
        assert (score[positive] >= higher[0]).mean() < target


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(-50, 50)), min_size=2, max_size=40).filter(
        lambda rows: 0 < sum(label for label, _ in rows) < len(rows)
    ),
    st.sampled_from(["exp", "cube", "affine", "logistic"]),
)
def test_auc_unchanged_by_strictly_increasing_transforms(rows, transform):
    y = np.array([label for label, _ in rows]).astype(int)
    score = np.array([value for _, value in rows], dtype=float) / 10
    transformed = {
        "exp": np.exp(score),
        "cube": score**3,
        "affine": 3.0 * score - 7.0,
        "logistic": 1 / (1 + np.exp(-score)),
    }[transform]
    assert roc_auc_score(y, transformed) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert roc_auc_score(y, -score) == pytest.approx(1 - roc_auc_score(y, score), abs=1e-12)
