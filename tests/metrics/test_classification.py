"""Classification metrics against scikit-learn, plus the NaN conventions and relabelling."""

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from mpx_eval.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    binary_rates,
    cohen_kappa_score,
    confusion_matrix,
    f1_macro_score,
    matthews_corrcoef,
    precision_recall_f1_support,
)

CLASSES = ["Chickenpox", "Measles", "Monkeypox", "Normal"]


def random_labels(seed, n=60, classes=CLASSES, accuracy=0.6):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(classes, n)
    y_pred = np.where(rng.random(n) < accuracy, y_true, rng.choice(classes, n))
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(5))
def test_confusion_matrix_matches_sklearn(seed):
    y_true, y_pred = random_labels(seed)
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, labels=CLASSES),
        skm.confusion_matrix(y_true, y_pred, labels=CLASSES),
    )
    np.testing.assert_allclose(
        confusion_matrix(y_true, y_pred, labels=CLASSES, normalize="true"),
        skm.confusion_matrix(y_true, y_pred, labels=CLASSES, normalize="true"),
    )


def test_normalized_row_of_absent_class_is_nan():
    normalized = confusion_matrix(["a", "a"], ["a", "b"], labels=["a", "b"], normalize="true")
    np.testing.assert_array_equal(normalized[0], [0.5, 0.5])
    assert np.isnan(normalized[1]).all()


@pytest.mark.parametrize("seed", range(5))
def test_scalar_metrics_match_sklearn(seed):
    y_true, y_pred = random_labels(seed)
    assert accuracy_score(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert balanced_accuracy_score(y_true, y_pred) == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred)
    )
    assert matthews_corrcoef(y_true, y_pred) == pytest.approx(skm.matthews_corrcoef(y_true, y_pred))
    assert cohen_kappa_score(y_true, y_pred) == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    assert f1_macro_score(y_true, y_pred) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro")
    )


@pytest.mark.parametrize("seed", range(5))
def test_per_class_scores_match_sklearn_with_nan_for_zero_division(seed):
    # Few samples and a low accuracy make classes that are never predicted likely.
    y_true, y_pred = random_labels(seed, n=8, accuracy=0.3)
    ours = precision_recall_f1_support(y_true, y_pred, labels=CLASSES)
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=CLASSES, zero_division=np.nan
    )
    np.testing.assert_allclose(ours.precision, p, equal_nan=True)
    np.testing.assert_allclose(ours.recall, r, equal_nan=True)
    np.testing.assert_array_equal(ours.support, s)
    # sklearn's F1 is NaN as soon as precision or recall is; ours only when both counts are 0.
    defined = ~np.isnan(f)
    np.testing.assert_allclose(ours.f1[defined], f[defined])
    tp_fp_fn = np.array([np.sum((y_true == c) | (y_pred == c)) for c in CLASSES])
    assert np.all(np.isnan(ours.f1) == (tp_fp_fn == 0))
    assert list(ours.labels) == CLASSES


@pytest.mark.parametrize("seed", range(5))
def test_binary_rates_match_sklearn(seed):
    y_true, y_pred = random_labels(seed, classes=["Monkeypox", "Others"])
    rates = binary_rates(y_true, y_pred, positive_class="Monkeypox")
    assert rates.positive_class == "Monkeypox"
    assert rates.sensitivity == pytest.approx(
        skm.recall_score(y_true, y_pred, pos_label="Monkeypox")
    )
    assert rates.specificity == pytest.approx(skm.recall_score(y_true, y_pred, pos_label="Others"))
    assert rates.ppv == pytest.approx(skm.precision_score(y_true, y_pred, pos_label="Monkeypox"))
    assert rates.npv == pytest.approx(skm.precision_score(y_true, y_pred, pos_label="Others"))


def test_binary_rates_default_positive_is_second_class_without_monkeypox():
    rates = binary_rates([0, 0, 1, 1], [0, 1, 1, 1])
    assert rates.positive_class == 1
    assert (rates.sensitivity, rates.specificity, rates.ppv, rates.npv) == (1.0, 0.5, 2 / 3, 1.0)
    swapped = binary_rates([0, 0, 1, 1], [0, 1, 1, 1], positive_class=0)
    assert (swapped.sensitivity, swapped.specificity) == (0.5, 1.0)


def test_binary_rates_zero_denominators_are_nan():
    # No positives in y_true and nothing predicted positive: sensitivity and PPV are 0/0.
    rates = binary_rates(
        ["Others"] * 3, ["Others"] * 3, labels=["Monkeypox", "Others"], positive_class="Monkeypox"
    )
    assert math.isnan(rates.sensitivity)
    assert math.isnan(rates.ppv)
    assert rates.specificity == 1.0
    assert rates.npv == 1.0


def test_binary_rates_one_vs_rest_with_three_classes():
    y_true = ["Monkeypox", "Measles", "Normal", "Monkeypox"]
    y_pred = ["Monkeypox", "Monkeypox", "Normal", "Normal"]
    rates = binary_rates(y_true, y_pred, positive_class="Monkeypox")
    assert rates.positive_class == "Monkeypox"
    assert (rates.sensitivity, rates.specificity, rates.ppv, rates.npv) == (0.5, 0.5, 0.5, 0.5)


def test_undefined_mcc_and_kappa_are_nan():
    assert math.isnan(matthews_corrcoef([0, 0, 1, 1], [1, 1, 1, 1]))
    assert math.isnan(cohen_kappa_score([1, 1], [1, 1]))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=40),
    st.permutations(["cat", "dog", "fox"]),
)
def test_metrics_are_consistent_under_renaming_the_classes(pairs, names):
    """Renaming classes (and so reordering them) permutes per-class scores, nothing else."""
    t = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    base = ["cat", "dog", "fox"]
    y_true, y_pred = np.array(base)[t], np.array(base)[p]
    renamed_true, renamed_pred = np.array(names)[t], np.array(names)[p]
    for metric in (accuracy_score, balanced_accuracy_score, f1_macro_score):
        np.testing.assert_allclose(metric(y_true, y_pred), metric(renamed_true, renamed_pred))
    for metric in (matthews_corrcoef, cohen_kappa_score):
        np.testing.assert_allclose(
            metric(y_true, y_pred, labels=base),
            metric(renamed_true, renamed_pred, labels=names),
            equal_nan=True,
        )
    ours = precision_recall_f1_support(y_true, y_pred, labels=base)
    renamed = precision_recall_f1_support(renamed_true, renamed_pred, labels=names)
    np.testing.assert_allclose(ours.recall, renamed.recall, equal_nan=True)
    np.testing.assert_allclose(ours.f1, renamed.f1, equal_nan=True)
    np.testing.assert_array_equal(ours.support, renamed.support)
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, labels=base),
        confusion_matrix(renamed_true, renamed_pred, labels=names),
    )


def test_integer_and_string_labels_agree():
    t = [0, 1, 1, 0, 1]
    p = [0, 1, 0, 0, 1]
    names = np.array(["Others", "Monkeypox"])
    assert accuracy_score(t, p) == accuracy_score(names[t], names[p])
    assert binary_rates(t, p, positive_class=1) == binary_rates(
        names[t], names[p], positive_class="Monkeypox"
    )._replace(positive_class=1)
