"""Metrics across cross-validation folds: per-fold tables, their summary, the mean ROC curve."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from . import _kernels as K
from ._bundle import MetricBundle, prepare_bundle
from ._ranking import _curve_counts
from .validation import (
    as_1d,
    as_scores,
    check_columns,
    check_lengths,
    check_positive_int,
    check_row_sums,
    encode,
    resolve_classes,
    resolve_positive,
)


def fold_metrics(y_true, y_prob, folds, *, labels=None, positive_class=None, n_bins=10):
    """One row of :func:`prediction_metrics` per fold.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples, n_classes)
        Out-of-fold probabilities, columns following ``labels``.
    folds : array-like of shape (n_samples,)
        The fold each row was held out in.
    labels, positive_class, n_bins
        As in :func:`prediction_metrics`. Pass ``labels`` when a fold may lack a class.

    Returns
    -------
    pandas.DataFrame
        Indexed by fold (sorted), with ``n_test`` and one column per metric. A metric that
        is undefined in a fold (e.g. the AUC of a fold holding one class) is NaN.

    Examples
    --------
    >>> from mpx_eval.metrics import fold_metrics
    >>> y_true = [0, 1, 0, 1, 0, 1]
    >>> y_prob = [[.8, .2], [.3, .7], [.6, .4], [.7, .3], [.9, .1], [.2, .8]]
    >>> table = fold_metrics(y_true, y_prob, [1, 1, 2, 2, 3, 3])
    >>> table[["n_test", "accuracy", "roc_auc"]]  # doctest: +NORMALIZE_WHITESPACE
          n_test  accuracy  roc_auc
    fold
    1          2       1.0      1.0
    2          2       0.5      0.0
    3          2       1.0      1.0
    """
    bundle, _ = prepare_bundle(y_true, y_prob, labels, positive_class, n_bins)
    folds = as_1d("folds", folds)
    check_lengths(y_true=bundle.y, folds=folds)
    return _fold_table(bundle, folds)


def fold_weights(folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted fold ids and a (n_folds, n_samples) 0/1 matrix selecting each fold's rows."""
    fold_ids, fold_of = np.unique(folds, return_inverse=True)
    W = np.zeros((fold_ids.shape[0], fold_of.shape[0]))
    W[fold_of, np.arange(fold_of.shape[0])] = 1.0
    return fold_ids, W


def _fold_table(bundle: MetricBundle, folds: np.ndarray) -> pd.DataFrame:
    fold_ids, W = fold_weights(folds)
    values = bundle.compute(W)
    table = pd.DataFrame({"n_test": W.sum(axis=1).astype(int), **values})
    table.index = pd.Index(fold_ids.tolist(), name="fold")
    return table


def summarize_folds(table) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1), minimum and maximum of per-fold metrics.

    Parameters
    ----------
    table : pandas.DataFrame or mapping of str to sequence
        One row per fold, one numeric column per metric (e.g. from :func:`fold_metrics`).

    Returns
    -------
    pandas.DataFrame
        Rows ``mean``, ``std``, ``min``, ``max``; one column per metric. NaN fold values
        (metric undefined in that fold) are left out; the standard deviation needs two
        defined folds and is NaN otherwise.

    Examples
    --------
    >>> from mpx_eval.metrics import summarize_folds
    >>> table = {"accuracy": [0.8, 0.9, 1.0], "roc_auc": [0.9, float("nan"), 0.7]}
    >>> summarize_folds(table)  # doctest: +NORMALIZE_WHITESPACE
          accuracy  roc_auc
    mean       0.9 0.800000
    std        0.1 0.141421
    min        0.8 0.700000
    max        1.0 0.900000
    """
    frame = pd.DataFrame(table)
    if frame.shape[0] == 0:
        raise ValueError("table has no folds")
    try:
        frame = frame.astype(float)
    except (TypeError, ValueError):
        raise ValueError("every column of table must be numeric") from None
    return pd.DataFrame(
        {
            "mean": frame.mean(skipna=True),
            "std": frame.std(ddof=1, skipna=True),
            "min": frame.min(skipna=True),
            "max": frame.max(skipna=True),
        }
    ).T


class MeanROC(NamedTuple):
    """Fold-averaged ROC curve on a fixed false-positive-rate grid."""

    fpr: np.ndarray
    tpr_mean: np.ndarray
    tpr_std: np.ndarray
    tpr_lower: np.ndarray
    tpr_upper: np.ndarray
    fold_auc: np.ndarray
    folds: np.ndarray


def _interpolated_tpr(fpr_grid, score, is_positive):
    tps, fps, _ = _curve_counts(score, is_positive)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    # Interpolate from the last curve point at or left of x (the top of a vertical step)
    # to the next point, which lies strictly to the right of x.
    j = np.searchsorted(fpr, fpr_grid, side="right") - 1
    nxt = np.minimum(j + 1, fpr.shape[0] - 1)
    span = fpr[nxt] - fpr[j]
    slope = K.safe_divide(tpr[nxt] - tpr[j], span)
    out = tpr[j] + np.where(span > 0, (fpr_grid - fpr[j]) * np.nan_to_num(slope), 0.0)
    out[fpr_grid == 0] = 0.0
    return out


def mean_roc_curve(y_true, y_score, folds, *, labels=None, positive_class=None, n_points=101):
    """Fold-averaged ROC curve with a band of plus/minus one standard deviation.

    Each fold's ROC curve is linearly interpolated onto ``n_points`` equally spaced false-
    positive rates in [0, 1] (TPR(0) is set to 0, and at an FPR where the curve steps up
    vertically the top of the step is used). The mean and standard deviation (ddof=1) are
    taken across folds at every grid point, and the band ``mean +/- std`` is clipped to
    [0, 1]. Folds whose test rows lack the positive class or the others have no ROC curve
    and are skipped.

    The two ways of drawing a cross-validated ROC curve answer different questions. The
    *pooled* curve (:func:`roc_curve` over all out-of-fold predictions at once) treats the
    scores of different folds' models as one scale, which assumes they are comparable
    across models; it describes the whole procedure's predictions. This *fold-averaged*
    curve never mixes scores of different models: it describes the curve of a typical
    single fold's model and, through the band, how much that curve varies from one
    training run to the next.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Positive-class scores, or probabilities with columns following ``labels``.
    folds : array-like of shape (n_samples,)
    labels, positive_class
        As in :func:`roc_curve`.
    n_points : int, default=101
        Size of the FPR grid (101 gives steps of 0.01).

    Returns
    -------
    MeanROC
        ``fpr`` (grid), ``tpr_mean``, ``tpr_std``, ``tpr_lower``, ``tpr_upper``,
        ``fold_auc`` (each used fold's AUC) and ``folds`` (the folds used).

    Examples
    --------
    >>> from mpx_eval.metrics import mean_roc_curve
    >>> y_true = [0, 0, 1, 1, 0, 0, 1, 1]
    >>> y_score = [0.1, 0.6, 0.4, 0.9, 0.2, 0.3, 0.7, 0.8]
    >>> curve = mean_roc_curve(y_true, y_score, [1, 1, 1, 1, 2, 2, 2, 2], n_points=5)
    >>> curve.fpr
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> curve.tpr_mean
    array([0.  , 0.75, 1.  , 1.  , 1.  ])
    >>> curve.fold_auc
    array([0.75, 1.  ])
    """
    n_points = check_positive_int("n_points", n_points, minimum=2)
    y_true = as_1d("y_true", y_true)
    y_score = as_scores("y_score", y_score)
    folds = as_1d("folds", folds)
    check_lengths(y_true=y_true, y_score=y_score, folds=folds)
    classes = resolve_classes(labels, y_true)
    if y_score.ndim == 2:
        check_columns("y_score", y_score, classes)
        check_row_sums("y_score", y_score)
    codes = encode("y_true", y_true, classes)
    positive = resolve_positive(classes, positive_class)
    score = y_score[:, positive] if y_score.ndim == 2 else y_score
    return _mean_roc(score, codes == positive, folds, n_points)


def _mean_roc(score, is_positive, folds, n_points) -> MeanROC:
    grid = np.linspace(0.0, 1.0, n_points)
    curves, aucs, used = [], [], []
    for fold in np.unique(folds):
        rows = folds == fold
        if is_positive[rows].all() or not is_positive[rows].any():
            continue
        curves.append(_interpolated_tpr(grid, score[rows], is_positive[rows]))
        ranked = K.RankedScores(score[rows], is_positive[rows])
        aucs.append(ranked.auc(np.ones((1, int(rows.sum()))))[0])
        used.append(fold)
    if not curves:
        raise ValueError("no fold holds both the positive class and another class")
    curves = np.array(curves)
    mean = curves.mean(axis=0)
    std = curves.std(axis=0, ddof=1) if len(curves) > 1 else np.full(n_points, np.nan)
    return MeanROC(
        grid,
        mean,
        std,
        np.clip(mean - std, 0.0, 1.0),
        np.clip(mean + std, 0.0, 1.0),
        np.array(aucs),
        np.array(used),
    )
