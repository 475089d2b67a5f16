"""Calibration of predicted probabilities: reliability curve, Brier score and ECE.

Bins are equal-width on [0, 1] and closed on the right, the first also holding 0: with 10 bins
a probability of exactly 0.1 falls in the first bin, as in scikit-learn's calibration_curve.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels as K
from .validation import (
    check_positive_int,
    prepare_scored,
    resolve_positive,
)


def _is_binary_view(y_prob, classes, positive_class) -> bool:
    return y_prob.ndim == 1 or len(classes) == 2 or positive_class is not None


def _full_probabilities(codes, y_prob, classes, positive_class):
    """(n, k) probabilities; a 1-D positive-class probability is expanded for two classes."""
    if y_prob.ndim == 2:
        return y_prob
    if len(classes) != 2:
        raise ValueError(
            f"a 1-D y_prob describes two classes, but {len(classes)} classes are known; "
            "pass the (n_samples, n_classes) probabilities"
        )
    positive = resolve_positive(classes, positive_class)
    full = np.empty((y_prob.shape[0], 2))
    full[:, positive] = y_prob
    full[:, 1 - positive] = 1.0 - y_prob
    return full


def brier_score_loss(y_true, y_prob, *, labels=None, positive_class=None):
    """Brier score: mean squared difference between probabilities and outcomes.

    Binary (1-D ``y_prob``, two classes, or ``positive_class`` given): the mean of
    ``(p - o)^2``, where ``p`` is the positive class's probability and ``o`` is 1 for a
    positive sample and 0 otherwise; it lies in [0, 1].

    More than two classes: the mean over samples of the squared error *summed over the
    classes* between the probability vector and the one-hot true class (Brier's original
    definition, range [0, 2]; scikit-learn's multi-class value). For two classes this sum
    would be exactly twice the binary value, which is why the binary form is used there.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples,) or (n_samples, n_classes)
        Positive-class probabilities, or probabilities with columns following ``labels``.
    labels : array-like, default=None
        The classes; by default the sorted labels of ``y_true``.
    positive_class : label, default=None
        By default the second class; required with more than two classes.

    Examples
    --------
    >>> from mpx_eval.metrics import brier_score_loss
    >>> brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.4])
    0.055
    >>> brier_score_loss(["a", "b", "c"], [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1]])
    0.16666666666666666
    """
    codes, y_prob, classes = prepare_scored(
        y_true, y_prob, labels, name="y_prob", probabilities=True
    )
    if _is_binary_view(y_prob, classes, positive_class):
        positive = resolve_positive(classes, positive_class)
        p = y_prob[:, positive] if y_prob.ndim == 2 else y_prob
        return float(np.mean((p - (codes == positive)) ** 2))
    one_hot = np.eye(len(classes))[codes]
    return float(np.mean(((y_prob - one_hot) ** 2).sum(axis=1)))


def expected_calibration_error(y_true, y_prob, *, labels=None, positive_class=None, n_bins=10):
    """Top-label expected calibration error with equal-width bins.

    Each sample's confidence is its largest class probability and it is "correct" when
    that class (the first one on ties) is the true class. Confidences are put in
    ``n_bins`` equal-width bins on [0, 1] and

    ``ECE = sum_b (n_b / n) * |accuracy_b - mean confidence_b|``.

    0 means that, bin by bin, the model is right as often as it claims; lower is better.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
        Probabilities with columns following ``labels``; for two classes, also the
        positive class's probability alone.
    labels, positive_class
        As in :func:`brier_score_loss`; ``positive_class`` only says which class a 1-D
        ``y_prob`` belongs to.
    n_bins : int, default=10

    Examples
    --------
    >>> from mpx_eval.metrics import expected_calibration_error
    >>> y_prob = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    >>> round(expected_calibration_error([0, 1, 1, 1], y_prob), 4)
    0.4
    """
    n_bins = check_positive_int("n_bins", n_bins)
    codes, y_prob, classes = prepare_scored(
        y_true, y_prob, labels, name="y_prob", probabilities=True
    )
    full = _full_probabilities(codes, y_prob, classes, positive_class)
    predicted = np.argmax(full, axis=1)
    confidence = full[np.arange(full.shape[0]), predicted]
    ones = np.ones((1, codes.shape[0]))
    return float(K.expected_calibration_error(ones, confidence, predicted == codes, n_bins)[0])


class ReliabilityCurve(NamedTuple):
    """Per-bin summary of predicted probabilities against observed frequencies.

    Empty bins have ``count`` 0 and NaN means.
    """

    bin_edges: np.ndarray
    bin_centers: np.ndarray
    mean_predicted: np.ndarray
    observed_frequency: np.ndarray
    counts: np.ndarray


def reliability_curve(y_true, y_prob, *, labels=None, positive_class=None, n_bins=10):
    """Reliability (calibration) curve in equal-width bins.

    Binary view (1-D ``y_prob``, two classes, or ``positive_class`` given): the positive
    class's probability is binned, and the observed frequency is the share of positive
    samples in each bin. With more than two classes and no ``positive_class``: top-label
    view, the largest probability is binned and the observed frequency is the accuracy of
    the top label in the bin.

    Parameters
    ----------
    y_true, y_prob, labels, positive_class
        As in :func:`brier_score_loss`.
    n_bins : int, default=10

    Returns
    -------
    ReliabilityCurve
        ``bin_edges`` (n_bins + 1), ``bin_centers``, ``mean_predicted``,
        ``observed_frequency`` (NaN for empty bins) and ``counts`` (n_bins each).

    Examples
    --------
    >>> from mpx_eval.metrics import reliability_curve
    >>> curve = reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> curve.mean_predicted
    array([0.15, 0.8 ])
    >>> curve.observed_frequency
    array([0., 1.])
    >>> curve.counts
    array([2, 2])
    """
    n_bins = check_positive_int("n_bins", n_bins)
    codes, y_prob, classes = prepare_scored(
        y_true, y_prob, labels, name="y_prob", probabilities=True
    )
    if _is_binary_view(y_prob, classes, positive_class):
        positive = resolve_positive(classes, positive_class)
        predicted = y_prob[:, positive] if y_prob.ndim == 2 else y_prob
        observed = (codes == positive).astype(float)
    else:
        top = np.argmax(y_prob, axis=1)
        predicted = y_prob[np.arange(y_prob.shape[0]), top]
        observed = (top == codes).astype(float)
    return _reliability(predicted, observed, n_bins)


def _reliability(predicted, observed, n_bins) -> ReliabilityCurve:
    edges, bins = K.calibration_bins(predicted, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    mean_predicted = K.safe_divide(np.bincount(bins, predicted, minlength=n_bins), counts)
    observed_frequency = K.safe_divide(np.bincount(bins, observed, minlength=n_bins), counts)
    centers = (edges[:-1] + edges[1:]) / 2
    return ReliabilityCurve(edges, centers, mean_predicted, observed_frequency, counts)
