"""Vectorised metric kernels over integer-coded inputs and per-sample weights.

A weight matrix ``W`` of shape (n_resamples, n_samples) says how often each sample occurs in
each resample (all ones for the data as observed), so one call computes a metric for every
bootstrap resample at once. The public functions call these with a single row of ones.
"""

from __future__ import annotations

import numpy as np


def safe_divide(numerator, denominator):
    """``numerator / denominator`` elementwise, NaN where the denominator is zero."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def nanmean(values, axis=-1):
    """Mean over the finite entries along ``axis``; NaN where there are none (no warning)."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return safe_divide(total, finite.sum(axis=axis))


# --- confusion-matrix metrics: C has shape (..., K, K), rows = true, columns = predicted ---


def confusion_from_weights(W: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    cell = np.zeros((y.shape[0], k * k))
    cell[np.arange(y.shape[0]), y * k + pred] = 1.0
    return (W @ cell).reshape(W.shape[0], k, k)


def accuracy(C):
    return safe_divide(np.trace(C, axis1=-2, axis2=-1), C.sum(axis=(-2, -1)))


def per_class(C):
    """precision, recall, F1, support per class, each (..., K); undefined ratios are NaN."""
    tp = np.diagonal(C, axis1=-2, axis2=-1)
    predicted = C.sum(axis=-2)
    support = C.sum(axis=-1)
    precision = safe_divide(tp, predicted)
    recall = safe_divide(tp, support)
    f1 = safe_divide(2 * tp, predicted + support)
    return precision, recall, f1, support


def balanced_accuracy(C):
    _, recall, _, _ = per_class(C)
    return nanmean(recall)


def f1_macro(C):
    _, _, f1, _ = per_class(C)
    return nanmean(f1)


def matthews(C):
    t = C.sum(axis=-1)
    p = C.sum(axis=-2)
    n = C.sum(axis=(-2, -1))
    correct = np.trace(C, axis1=-2, axis2=-1)
    cov_tp = correct * n - (t * p).sum(axis=-1)
    cov_pp = n**2 - (p * p).sum(axis=-1)
    cov_tt = n**2 - (t * t).sum(axis=-1)
    return safe_divide(cov_tp, np.sqrt(cov_pp * cov_tt))


def kappa(C):
    n = C.sum(axis=(-2, -1))
    observed = safe_divide(np.trace(C, axis1=-2, axis2=-1), n)
    expected = safe_divide((C.sum(axis=-1) * C.sum(axis=-2)).sum(axis=-1), n**2)
    return safe_divide(observed - expected, 1.0 - expected)


def binary_rates(C, positive: int):
    """sensitivity, specificity, PPV, NPV of class ``positive`` against all others."""
    n = C.sum(axis=(-2, -1))
    tp = C[..., positive, positive]
    fn = C[..., positive, :].sum(axis=-1) - tp
    fp = C[..., :, positive].sum(axis=-1) - tp
    tn = n - tp - fn - fp
    return (
        safe_divide(tp, tp + fn),
        safe_divide(tn, tn + fp),
        safe_divide(tp, tp + fp),
        safe_divide(tn, tn + fn),
    )


# --- ranking metrics under weights ---


class RankedScores:
    """One score column sorted once, with its ties grouped, for weighted AUC and AP."""

    def __init__(self, score: np.ndarray, is_positive: np.ndarray):
        order = np.argsort(score, kind="stable")
        sorted_score = score[order]
        starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
        self.order = order
        self.starts = starts
        self.positive = is_positive[order].astype(float)
        self.negative = 1.0 - self.positive

    def _tie_sums(self, W):
        Ws = W[:, self.order]
        pos = np.add.reduceat(Ws * self.positive, self.starts, axis=1)
        neg = np.add.reduceat(Ws * self.negative, self.starts, axis=1)
        return pos, neg

    def auc(self, W):
        """Probability that a positive outranks a negative, ties counting one half."""
        pos, neg = self._tie_sums(W)
        below = np.cumsum(neg, axis=1) - neg
        numerator = (pos * (below + 0.5 * neg)).sum(axis=1)
        return safe_divide(numerator, pos.sum(axis=1) * neg.sum(axis=1))

    def average_precision(self, W):
        """Sum over thresholds (high to low) of the recall increase times the precision."""
        pos, neg = self._tie_sums(W)
        pos, neg = pos[:, ::-1], neg[:, ::-1]
        tp = np.cumsum(pos, axis=1)
        fp = np.cumsum(neg, axis=1)
        precision = safe_divide(tp, tp + fp)
        gained = np.where(pos > 0, pos * np.nan_to_num(precision), 0.0)
        return safe_divide(gained.sum(axis=1), pos.sum(axis=1))


def calibration_bins(confidence: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins on [0, 1], closed on the right (the first also holds 0)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return edges, np.searchsorted(edges[1:-1], confidence, side="left")


def expected_calibration_error(W, confidence, correct, n_bins: int):
    _, bins = calibration_bins(confidence, n_bins)
    gap = np.zeros((confidence.shape[0], n_bins))
    gap[np.arange(confidence.shape[0]), bins] = correct.astype(float) - confidence
    return safe_divide(np.abs(W @ gap).sum(axis=1), W.sum(axis=1))


def weighted_mean(W, per_sample):
    return safe_divide(W @ per_sample, W.sum(axis=1))
