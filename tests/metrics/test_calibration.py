"""Calibration metrics against scikit-learn and a plain loop implementation of ECE."""

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.calibration import calibration_curve

from mpx_eval.metrics import brier_score_loss, expected_calibration_error, reliability_curve


def probabilities(seed, n=120, k=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, prob


def loop_ece(y, prob, n_bins):
    """Top-label ECE written out bin by bin, with right-closed bins (the first holds 0)."""
    conf = prob.max(axis=1)
    correct = prob.argmax(axis=1) == y
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = (conf > lo) & (conf <= hi) if b else (conf <= hi)
        if members.any():
            total += members.mean() * abs(correct[members].mean() - conf[members].mean())
    return total


@pytest.mark.parametrize("seed", range(4))
def test_binary_brier_matches_sklearn(seed):
    y, prob = probabilities(seed)
    assert brier_score_loss(y, prob[:, 1]) == pytest.approx(skm.brier_score_loss(y, prob[:, 1]))
    assert brier_score_loss(y, prob, labels=[0, 1]) == pytest.approx(
        skm.brier_score_loss(y, prob[:, 1])
    )
    assert brier_score_loss(y, prob, labels=[0, 1], positive_class=0) == pytest.approx(
        skm.brier_score_loss(y == 0, prob[:, 0])
    )


@pytest.mark.parametrize("seed", range(4))
def test_multiclass_brier_is_the_summed_squared_error_as_sklearn(seed):
    y, prob = probabilities(seed, k=4)
    ours = brier_score_loss(y, prob, labels=[0, 1, 2, 3])
    assert ours == pytest.approx(skm.brier_score_loss(y, prob, labels=[0, 1, 2, 3]))
    assert ours == pytest.approx(np.mean(((prob - np.eye(4)[y]) ** 2).sum(axis=1)))


@pytest.mark.parametrize("n_bins", [5, 10, 15])
@pytest.mark.parametrize("seed", range(3))
def test_reliability_curve_matches_sklearn_on_non_empty_bins(seed, n_bins):
    y, prob = probabilities(seed, n=60)
    curve = reliability_curve(y, prob[:, 1], n_bins=n_bins)
    prob_true, prob_pred = calibration_curve(y, prob[:, 1], n_bins=n_bins)
    filled = curve.counts > 0
    np.testing.assert_allclose(curve.observed_frequency[filled], prob_true)
    np.testing.assert_allclose(curve.mean_predicted[filled], prob_pred)
    assert curve.counts.sum() == 60
    assert np.isnan(curve.mean_predicted[~filled]).all()
    np.testing.assert_allclose(curve.bin_edges, np.linspace(0, 1, n_bins + 1))
    np.testing.assert_allclose(curve.bin_centers, (np.arange(n_bins) + 0.5) / n_bins)


def test_top_label_reliability_curve_for_three_classes():
    y = np.array([0, 1, 2, 2])
    prob = np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    curve = reliability_curve(y, prob, n_bins=2)
    np.testing.assert_array_equal(curve.counts, [1, 3])
    np.testing.assert_allclose(curve.mean_predicted, [0.5, (0.9 + 0.7 + 0.7) / 3])
    np.testing.assert_allclose(curve.observed_frequency, [0.0, 1.0])


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_ece_matches_a_loop_implementation(seed, k):
    y, prob = probabilities(seed, k=k)
    ours = expected_calibration_error(y, prob, labels=list(range(k)))
    assert ours == pytest.approx(loop_ece(y, prob, 10), abs=1e-12)
    assert expected_calibration_error(y, prob, labels=list(range(k)), n_bins=4) == pytest.approx(
        loop_ece(y, prob, 4), abs=1e-12
    )


def test_ece_of_a_one_dimensional_binary_probability():
    y, prob = probabilities(3)
    assert expected_calibration_error(y, prob[:, 1]) == pytest.approx(loop_ece(y, prob, 10))


def test_perfectly_calibrated_bins_give_zero_ece():
    # In each bin the accuracy equals the confidence: 3 of 4 right at 0.75, 1 of 2 at 0.5.
    prob = np.array([[0.75, 0.25]] * 4 + [[0.5, 0.5]] * 2)
    y = np.array([0, 0, 0, 1, 0, 1])
    assert expected_calibration_error(y, prob) == pytest.approx(0.0, abs=1e-15)
