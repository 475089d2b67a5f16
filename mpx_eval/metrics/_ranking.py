"""Metrics of scores: ROC and precision-recall curves, their areas, and operating points.

A binary problem takes ``y_score`` either as the positive class's score (1-D) or as an
(n, k) probability array whose columns follow ``labels``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels as K
from .validation import (
    check_unit_interval,
    prepare_scored,
    require_both,
    resolve_positive,
)


def _positive_scores(codes, y_score, classes, positive_class, what, *, need_negatives=True):
    """The positive class's score and a boolean 'is positive' array, checked for ``what``."""
    positive = resolve_positive(classes, positive_class)
    if need_negatives:
        require_both(codes, positive, classes, what)
    elif not (codes == positive).any():
        raise ValueError(
            f"y_true has no samples of the positive class {classes[positive]!r}; "
            f"{what} needs at least one"
        )
    score = y_score[:, positive] if y_score.ndim == 2 else y_score
    return score, codes == positive


def _curve_counts(score, is_positive):
    """Cumulative true and false positives at each distinct threshold, high to low."""
    order = np.argsort(-score, kind="stable")
    score = score[order]
    hits = is_positive[order].astype(float)
    last_of_tie = np.r_[np.flatnonzero(np.diff(score)), score.shape[0] - 1]
    tps = np.cumsum(hits)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps, fps, score[last_of_tie]


def roc_curve(y_true, y_score, *, labels=None, positive_class=None):
    """Receiver operating characteristic curve of one positive class.

    One point per distinct score, plus the origin: a sample counts as positive when its
    score is ``>=`` the threshold. No point is dropped (scikit-learn's
    ``drop_intermediate=False``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; must contain the positive class and at least one other class.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Scores of the positive class, or probabilities with columns following ``labels``.
    labels : array-like, default=None
        The classes (needed to read a 2-D ``y_score``); by default the sorted labels of
        ``y_true``.
    positive_class : label, default=None
        By default the second class; required with more than two classes.

    Returns
    -------
    fpr, tpr : ndarray
        False- and true-positive rates, increasing, starting at 0 and ending at 1.
    thresholds : ndarray
        Decreasing thresholds; the first is ``inf`` (nothing predicted positive).

    Examples
    --------
    >>> from mpx_eval.metrics import roc_curve
    >>> fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr
    array([0. , 0. , 0.5, 0.5, 1. ])
    >>> tpr
    array([0. , 0.5, 0.5, 1. , 1. ])
    >>> thresholds
    array([ inf, 0.8 , 0.4 , 0.35, 0.1 ])
    """
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    score, is_positive = _positive_scores(codes, y_score, classes, positive_class, "a ROC curve")
    tps, fps, thresholds = _curve_counts(score, is_positive)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def roc_auc_score(y_true, y_score, *, labels=None, positive_class=None, average="macro"):
    """Area under the ROC curve.

    Binary (1-D ``y_score``, two classes, or ``positive_class`` given): the probability that
    a random positive sample scores higher than a random negative one, ties counting one
    half. With more than two classes and no ``positive_class``: one-vs-rest, each class's
    probability column against all other samples, averaged.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Positive-class scores, or probabilities with columns following ``labels``.
    labels : array-like, default=None
        The classes, in the column order of ``y_score``; by default the sorted labels of
        ``y_true``.
    positive_class : label, default=None
        The positive class of the binary case; by default the second class. Given with
        more than two classes, the AUC of that class against all others is returned; a 1-D
        ``y_score`` with more than two classes needs it.
    average : {"macro", "weighted", None}, default="macro"
        One-vs-rest only: the plain mean over classes, the mean weighted by each class's
        count in ``y_true``, or ``None`` for the per-class array. Every class must occur
        in ``y_true``.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from mpx_eval.metrics import roc_auc_score
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> y = ["cat", "dog", "fox", "dog"]
    >>> p = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]]
    >>> roc_auc_score(y, p, labels=["cat", "dog", "fox"])
    1.0
    """
    if average not in ("macro", "weighted", None):
        raise ValueError(f"average must be 'macro', 'weighted' or None, got {average!r}")
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    if y_score.ndim == 1 or len(classes) == 2 or positive_class is not None:
        score, is_positive = _positive_scores(codes, y_score, classes, positive_class, "ROC AUC")
        ones = np.ones((1, codes.shape[0]))
        return float(K.RankedScores(score, is_positive).auc(ones)[0])
    counts = np.bincount(codes, minlength=len(classes))
    if (counts == 0).any():
        absent = [str(c) for c in classes[counts == 0]]
        raise ValueError(
            "one-vs-rest ROC AUC needs every class in y_true; absent: " + ", ".join(absent)
        )
    ones = np.ones((1, codes.shape[0]))
    per_class = np.array(
        [K.RankedScores(y_score[:, j], codes == j).auc(ones)[0] for j in range(len(classes))]
    )
    if average is None:
        return per_class
    weights = counts if average == "weighted" else np.ones(len(classes))
    return float(np.average(per_class, weights=weights))


def precision_recall_curve(y_true, y_score, *, labels=None, positive_class=None):
    """Precision-recall pairs at every distinct threshold of the positive class's score.

    Laid out as scikit-learn does: thresholds increase, recall decreases, and a final point
    (precision 1, recall 0) with no threshold closes the curve.

    Parameters
    ----------
    y_true, y_score, labels, positive_class
        As in :func:`roc_curve`; ``y_true`` must contain the positive class.

    Returns
    -------
    precision, recall : ndarray of shape (n_thresholds + 1,)
    thresholds : ndarray of shape (n_thresholds,)

    Examples
    --------
    >>> from mpx_eval.metrics import precision_recall_curve
    >>> precision, recall, thresholds = precision_recall_curve(
    ...     [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> precision
    array([0.5       , 0.66666667, 0.5       , 1.        , 1.        ])
    >>> recall
    array([1. , 1. , 0.5, 0.5, 0. ])
    >>> thresholds
    array([0.1 , 0.35, 0.4 , 0.8 ])
    """
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    score, is_positive = _positive_scores(
        codes, y_score, classes, positive_class, "a precision-recall curve", need_negatives=False
    )
    tps, fps, thresholds = _curve_counts(score, is_positive)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision_score(y_true, y_score, *, labels=None, positive_class=None, average="macro"):
    """Average precision: the step-wise area under the precision-recall curve.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over thresholds from high to low, without
    interpolation (as scikit-learn). With more than two classes and no ``positive_class``,
    one-vs-rest per class and averaged as in :func:`roc_auc_score`.

    Examples
    --------
    >>> from mpx_eval.metrics import average_precision_score
    >>> average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8333333333333333
    """
    if average not in ("macro", "weighted", None):
        raise ValueError(f"average must be 'macro', 'weighted' or None, got {average!r}")
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    ones = np.ones((1, codes.shape[0]))
    if y_score.ndim == 1 or len(classes) == 2 or positive_class is not None:
        score, is_positive = _positive_scores(
            codes, y_score, classes, positive_class, "average precision", need_negatives=False
        )
        return float(K.RankedScores(score, is_positive).average_precision(ones)[0])
    counts = np.bincount(codes, minlength=len(classes))
    if (counts == 0).any():
        absent = [str(c) for c in classes[counts == 0]]
        raise ValueError(
            "one-vs-rest average precision needs every class in y_true; absent: "
            + ", ".join(absent)
        )
    per_class = np.array(
        [
            K.RankedScores(y_score[:, j], codes == j).average_precision(ones)[0]
            for j in range(len(classes))
        ]
    )
    if average is None:
        return per_class
    weights = counts if average == "weighted" else np.ones(len(classes))
    return float(np.average(per_class, weights=weights))


class OperatingPoint(NamedTuple):
    """A threshold on the positive class's score and the rates it gives."""

    threshold: float
    sensitivity: float
    specificity: float


def operating_point(y_true, y_score, *, target_sensitivity, labels=None, positive_class=None):
    """The highest threshold whose sensitivity reaches ``target_sensitivity``.

    Walking the ROC curve from the strictest threshold down, the first point with
    sensitivity ``>= target_sensitivity``: the most specific way to reach the target on
    these data. Samples with a score ``>= threshold`` are called positive.

    Parameters
    ----------
    y_true, y_score, labels, positive_class
        As in :func:`roc_curve`.
    target_sensitivity : float in (0, 1]
        The sensitivity to reach.

    Returns
    -------
    OperatingPoint
        ``threshold``, ``sensitivity`` (at least the target) and ``specificity``.

    Examples
    --------
    >>> from mpx_eval.metrics import operating_point
    >>> operating_point([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], target_sensitivity=0.9)
    OperatingPoint(threshold=0.35, sensitivity=1.0, specificity=0.5)
    """
    target = check_unit_interval("target_sensitivity", target_sensitivity)
    fpr, tpr, thresholds = roc_curve(y_true, y_score, labels=labels, positive_class=positive_class)
    i = int(np.argmax(tpr >= target))
    return OperatingPoint(float(thresholds[i]), float(tpr[i]), float(1.0 - fpr[i]))
