"""Comparing models: corrected resampled t-test, exact McNemar test, DeLong's AUC test and CI."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

from . import _kernels as K
from ._validation import (
    as_1d,
    as_scores,
    check_confidence_level,
    check_lengths,
    encode,
    require_both,
    resolve_classes,
    resolve_positive,
)


class CorrectedTTestResult(NamedTuple):
    statistic: float
    pvalue: float
    df: int
    mean_difference: float


def corrected_resampled_ttest(scores_a, scores_b, *, n_train, n_test):
    """Nadeau and Bengio's corrected resampled t-test on paired per-fold scores.

    Folds of a cross-validation share training data, so their scores are correlated and
    the ordinary paired t-test is far too liberal. With ``d`` the per-fold differences
    ``scores_a - scores_b`` over ``k`` folds,

    ``t = mean(d) / sqrt((1/k + n_test/n_train) * var(d, ddof=1))``

    with ``k - 1`` degrees of freedom and a two-sided p-value (Nadeau & Bengio, 2003,
    Machine Learning 52:239-281). When all differences are equal, ``t`` is ``+/-inf``
    (p = 0) if they are non-zero and NaN if they are all zero.

    Parameters
    ----------
    scores_a, scores_b : array-like of shape (k,)
        The two models' scores on the same folds, in the same order.
    n_train, n_test : float
        Training- and test-set sizes of a fold (means over folds when they differ).

    Returns
    -------
    CorrectedTTestResult
        ``statistic`` (t), ``pvalue``, ``df`` and ``mean_difference`` (a minus b).

    Examples
    --------
    >>> from mpx_eval.metrics import corrected_resampled_ttest
    >>> a = [0.80, 0.85, 0.90, 0.75, 0.80]
    >>> b = [0.78, 0.80, 0.86, 0.74, 0.77]
    >>> result = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    >>> round(result.statistic, 6), round(result.pvalue, 6), result.df
    (2.828427, 0.047421, 4)
    """
    a = as_scores("scores_a", scores_a, ndim=1)
    b = as_scores("scores_b", scores_b, ndim=1)
    check_lengths(scores_a=a, scores_b=b)
    k = a.shape[0]
    if k < 2:
        raise ValueError(f"the corrected t-test needs at least two folds, got {k}")
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    d = a - b
    mean = float(d.mean())
    variance = float(d.var(ddof=1))
    scale = np.sqrt((1.0 / k + n_test / n_train) * variance)
    if scale == 0:
        t = float("nan") if mean == 0 else float(np.copysign(np.inf, mean))
    else:
        t = mean / scale
    p = float(2 * scipy.stats.t.sf(abs(t), k - 1)) if not np.isnan(t) else float("nan")
    return CorrectedTTestResult(float(t), p, k - 1, mean)


class McNemarResult(NamedTuple):
    statistic: int
    pvalue: float
    n_a_only: int
    n_b_only: int


def mcnemar_test(y_true, y_pred_a, y_pred_b):
    """Exact McNemar test of two classifiers' paired correctness.

    Counts ``b`` = samples only model a gets right and ``c`` = samples only model b gets
    right; under the null hypothesis of equal accuracy each discordant sample is equally
    likely to go either way, so ``min(b, c)`` is binomial with ``b + c`` trials and
    probability 1/2. The statistic is ``min(b, c)`` and the two-sided p-value
    ``min(1, 2 * P(X <= min(b, c)))``, as statsmodels' ``mcnemar(table, exact=True)``.

    Parameters
    ----------
    y_true, y_pred_a, y_pred_b : array-like of shape (n_samples,)
        True labels and the two models' predictions for the same samples.

    Returns
    -------
    McNemarResult
        ``statistic``, ``pvalue``, ``n_a_only`` (b) and ``n_b_only`` (c).

    Examples
    --------
    >>> from mpx_eval.metrics import mcnemar_test
    >>> y = [1] * 10
    >>> a = [1] * 9 + [0]
    >>> b = [1] * 3 + [0] * 7
    >>> mcnemar_test(y, a, b)
    McNemarResult(statistic=0, pvalue=0.03125, n_a_only=6, n_b_only=0)
    """
    y_true = as_1d("y_true", y_true)
    y_pred_a = as_1d("y_pred_a", y_pred_a)
    y_pred_b = as_1d("y_pred_b", y_pred_b)
    check_lengths(y_true=y_true, y_pred_a=y_pred_a, y_pred_b=y_pred_b)
    classes = resolve_classes(None, y_true, y_pred_a, y_pred_b)
    t = encode("y_true", y_true, classes)
    correct_a = encode("y_pred_a", y_pred_a, classes) == t
    correct_b = encode("y_pred_b", y_pred_b, classes) == t
    only_a = int((correct_a & ~correct_b).sum())
    only_b = int((correct_b & ~correct_a).sum())
    statistic = min(only_a, only_b)
    pvalue = min(1.0, 2.0 * float(scipy.stats.binom.cdf(statistic, only_a + only_b, 0.5)))
    return McNemarResult(statistic, pvalue, only_a, only_b)


def _delong(is_positive: np.ndarray, scores: np.ndarray):
    """AUCs and their DeLong covariance for score rows ``scores`` (n_models, n_samples).

    Fast form of Sun & Xu (2014): midranks within the positives, within the negatives and
    over all samples give every structural component in O(n log n).
    """
    x = scores[:, is_positive]
    y = scores[:, ~is_positive]
    m, n = x.shape[1], y.shape[1]
    rank_x = scipy.stats.rankdata(x, axis=1)
    rank_y = scipy.stats.rankdata(y, axis=1)
    rank_all = scipy.stats.rankdata(np.concatenate([x, y], axis=1), axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:, :m] - rank_x) / n  # per positive: share of negatives it outranks
    v01 = 1.0 - (rank_all[:, m:] - rank_y) / m  # per negative: share of positives above it
    if m < 2 or n < 2:
        return aucs, np.full((scores.shape[0], scores.shape[0]), np.nan)
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, covariance


def _binary_inputs(y_true, positive_class, **scores):
    y_true = as_1d("y_true", y_true)
    arrays = {name: as_scores(name, s, ndim=1) for name, s in scores.items()}
    check_lengths(y_true=y_true, **arrays)
    classes = resolve_classes(None, y_true)
    codes = encode("y_true", y_true, classes)
    positive = resolve_positive(classes, positive_class)
    require_both(codes, positive, classes, "DeLong's method")
    return codes == positive, np.vstack(list(arrays.values()))


class DeLongResult(NamedTuple):
    statistic: float
    pvalue: float
    auc_a: float
    auc_b: float


def delong_roc_test(y_true, y_score_a, y_score_b, *, positive_class=None):
    """DeLong's test for two correlated ROC AUCs (two models scored on the same samples).

    ``z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab)`` with the nonparametric
    variance and covariance of DeLong, DeLong & Clarke-Pearson (1988), computed with the
    O(n log n) midrank algorithm of Sun & Xu (2014); the p-value is two-sided from the
    standard normal. ``z`` is NaN when the variance of the difference is zero (e.g.
    identical rankings) or when a class has fewer than two samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, containing the positive class and at least one other.
    y_score_a, y_score_b : array-like of shape (n_samples,)
        The two models' scores for the positive class.
    positive_class : label, default=None
        By default ``"Monkeypox"`` when among the labels, otherwise the second label in
        sorted order.

    Returns
    -------
    DeLongResult
        ``statistic`` (z), ``pvalue``, ``auc_a`` and ``auc_b``.

    Examples
    --------
    >>> from mpx_eval.metrics import delong_roc_test
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> result = delong_roc_test(y, [.1, .2, .3, .4, .5, .6], [.1, .5, .3, .4, .2, .6])
    >>> result.auc_a, round(result.auc_b, 4), round(result.statistic, 4)
    (1.0, 0.6667, 1.2247)
    """
    is_positive, scores = _binary_inputs(
        y_true, positive_class, y_score_a=y_score_a, y_score_b=y_score_b
    )
    return _delong_test(is_positive, scores[0], scores[1])


def _delong_test(is_positive, score_a, score_b) -> DeLongResult:
    aucs, cov = _delong(is_positive, np.vstack([score_a, score_b]))
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = float(K.safe_divide(aucs[0] - aucs[1], np.sqrt(max(variance, 0.0))))
    p = float(2 * scipy.stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    return DeLongResult(z, p, float(aucs[0]), float(aucs[1]))


class AUCInterval(NamedTuple):
    auc: float
    low: float
    high: float


def delong_auc_ci(y_true, y_score, *, positive_class=None, confidence_level=0.95):
    """Confidence interval of one ROC AUC from DeLong's variance.

    ``AUC +/- z * sqrt(var)``, with ``z`` the normal quantile of the confidence level and
    the variance of DeLong et al. (1988) (Sun & Xu's fast algorithm), clipped to [0, 1].
    The bounds are NaN when a class has fewer than two samples.

    Examples
    --------
    >>> from mpx_eval.metrics import delong_auc_ci
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> ci = delong_auc_ci(y, [.1, .5, .3, .4, .2, .6])
    >>> round(ci.auc, 4), round(ci.low, 4), round(ci.high, 4)
    (0.6667, 0.1332, 1.0)
    """
    confidence_level = check_confidence_level(confidence_level)
    is_positive, scores = _binary_inputs(y_true, positive_class, y_score=y_score)
    return _delong_ci(is_positive, scores[0], confidence_level)


def _delong_ci(is_positive, score, confidence_level) -> AUCInterval:
    aucs, cov = _delong(is_positive, score[np.newaxis, :])
    half = scipy.stats.norm.ppf(0.5 + confidence_level / 2) * np.sqrt(cov[0, 0])
    auc = float(aucs[0])
    return AUCInterval(auc, float(np.clip(auc - half, 0, 1)), float(np.clip(auc + half, 0, 1)))
