"""Metrics of hard predictions: confusion matrix, per-class scores, agreement and binary rates.

Labels may be integers or class names. Where a ratio has a zero denominator (precision of a
class never predicted, sensitivity without positives, ...) the result is NaN, never 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels as K
from .validation import (
    prepare_labelled,
    resolve_positive,
)


def _confusion_counts(y_true, y_pred, labels) -> tuple[np.ndarray, np.ndarray]:
    t, p, classes = prepare_labelled(y_true, y_pred, labels)
    k = len(classes)
    counts = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    return counts, classes


def confusion_matrix(y_true, y_pred, *, labels=None, normalize=None):
    """Confusion matrix: rows are true classes, columns predicted classes.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels (integers or class names).
    labels : array-like, default=None
        Classes in the order of the rows and columns. By default the sorted union of the
        labels seen. A label outside ``labels`` raises ``ValueError``.
    normalize : {None, "true"}, default=None
        ``None`` returns counts; ``"true"`` divides each row by its total so that row ``i``
        holds the fraction of class ``i`` predicted as each class. A row whose class does
        not occur in ``y_true`` is NaN (scikit-learn returns zeros there).

    Returns
    -------
    ndarray of shape (n_classes, n_classes)
        Integer counts, or floats when ``normalize="true"``.

    Examples
    --------
    >>> from mpx_eval.metrics import confusion_matrix
    >>> y_true = ["Monkeypox", "Monkeypox", "Others", "Others"]
    >>> y_pred = ["Monkeypox", "Others", "Others", "Others"]
    >>> confusion_matrix(y_true, y_pred)
    array([[1, 1],
           [0, 2]])
    >>> confusion_matrix(y_true, y_pred, normalize="true")
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    counts, _ = _confusion_counts(y_true, y_pred, labels)
    if normalize is None:
        return counts
    return K.safe_divide(counts, counts.sum(axis=1, keepdims=True))


class PerClassScores(NamedTuple):
    """Per-class precision, recall, F1 and support, each ordered like ``labels``."""

    labels: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def precision_recall_f1_support(y_true, y_pred, *, labels=None):
    """Precision, recall, F1 and support of every class.

    Precision of a class that is never predicted and recall of a class absent from
    ``y_true`` are NaN (0/0); F1 is ``2 TP / (2 TP + FP + FN)`` and is NaN only when the
    class appears in neither array. scikit-learn's default reports 0 with a warning instead;
    its ``zero_division=np.nan`` gives the same precision and recall as here (its F1 is then
    also NaN whenever precision or recall is).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : array-like, default=None
        Classes to report, in order; by default the sorted union of the labels seen.

    Returns
    -------
    PerClassScores
        ``labels``, ``precision``, ``recall``, ``f1`` (float arrays) and ``support``
        (integer counts of each class in ``y_true``).

    Examples
    --------
    >>> from mpx_eval.metrics import precision_recall_f1_support
    >>> scores = precision_recall_f1_support([0, 0, 1, 1, 1], [0, 1, 1, 1, 1])
    >>> scores.precision
    array([1.  , 0.75])
    >>> scores.recall
    array([0.5, 1. ])
    >>> scores.support
    array([2, 3])
    """
    counts, classes = _confusion_counts(y_true, y_pred, labels)
    precision, recall, f1, support = K.per_class(counts.astype(float))
    return PerClassScores(classes, precision, recall, f1, support.astype(int))


def accuracy_score(y_true, y_pred):
    """Fraction of predictions equal to the true label.

    Examples
    --------
    >>> from mpx_eval.metrics import accuracy_score
    >>> accuracy_score(["a", "b", "b", "a"], ["a", "b", "a", "a"])
    0.75
    """
    counts, _ = _confusion_counts(y_true, y_pred, None)
    return float(K.accuracy(counts.astype(float)))


def balanced_accuracy_score(y_true, y_pred, *, labels=None):
    """Mean recall over the classes present in ``y_true``.

    Classes listed in ``labels`` (or predicted) but absent from ``y_true`` have no recall
    and are left out of the mean, as in scikit-learn.

    Examples
    --------
    >>> from mpx_eval.metrics import balanced_accuracy_score
    >>> balanced_accuracy_score([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    """
    counts, _ = _confusion_counts(y_true, y_pred, labels)
    return float(K.balanced_accuracy(counts.astype(float)))


def f1_macro_score(y_true, y_pred, *, labels=None):
    """Unweighted mean of the per-class F1 over classes that occur in either array.

    Examples
    --------
    >>> from mpx_eval.metrics import f1_macro_score
    >>> f1_macro_score([0, 0, 1, 1], [0, 1, 1, 1])
    0.7333333333333334
    """
    counts, _ = _confusion_counts(y_true, y_pred, labels)
    return float(K.f1_macro(counts.astype(float)))


def matthews_corrcoef(y_true, y_pred, *, labels=None):
    """Matthews correlation coefficient (multi-class form of Gorodkin, 2004).

    Returns NaN when it is undefined, i.e. when all true labels or all predictions fall in
    one class (scikit-learn returns 0.0 there).

    Examples
    --------
    >>> from mpx_eval.metrics import matthews_corrcoef
    >>> matthews_corrcoef([1, 1, 0, 0], [1, 0, 0, 0])
    0.5773502691896258
    >>> matthews_corrcoef([1, 1, 0, 0], [1, 1, 1, 1])
    nan
    """
    counts, _ = _confusion_counts(y_true, y_pred, labels)
    return float(K.matthews(counts.astype(float)))


def cohen_kappa_score(y_true, y_pred, *, labels=None):
    """Cohen's kappa: agreement beyond what the marginal frequencies give by chance.

    ``(p_o - p_e) / (1 - p_e)``; NaN when chance agreement is already 1 (both arrays hold
    one and the same class).

    Examples
    --------
    >>> from mpx_eval.metrics import cohen_kappa_score
    >>> cohen_kappa_score(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.5
    """
    counts, _ = _confusion_counts(y_true, y_pred, labels)
    return float(K.kappa(counts.astype(float)))


class BinaryRates(NamedTuple):
    """Rates of one class (``positive_class``) against all others."""

    positive_class: object
    sensitivity: float
    specificity: float
    ppv: float
    npv: float


def binary_rates(y_true, y_pred, *, labels=None, positive_class=None):
    """Sensitivity, specificity, PPV and NPV with a chosen positive class.

    With ``TP, FN, FP, TN`` counted for the positive class against all others:

    - sensitivity (recall, true-positive rate) = TP / (TP + FN); NaN without positives,
    - specificity (true-negative rate) = TN / (TN + FP); NaN without negatives,
    - PPV (precision) = TP / (TP + FP); NaN when nothing is predicted positive,
    - NPV = TN / (TN + FN); NaN when nothing is predicted negative.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : array-like, default=None
        The classes; by default the sorted union of the labels seen.
    positive_class : label, default=None
        The class treated as positive; by default the second class. Required with more
        than two classes, whose other classes together form the negative side.

    Returns
    -------
    BinaryRates
        ``positive_class``, ``sensitivity``, ``specificity``, ``ppv`` and ``npv``.

    Examples
    --------
    >>> from mpx_eval.metrics import binary_rates
    >>> y_true = ["Monkeypox", "Monkeypox", "Others", "Others", "Others"]
    >>> y_pred = ["Monkeypox", "Others", "Others", "Others", "Monkeypox"]
    >>> rates = binary_rates(y_true, y_pred, positive_class="Monkeypox")
    >>> rates.positive_class, rates.sensitivity, rates.specificity
    ('Monkeypox', 0.5, 0.6666666666666666)
    >>> rates.ppv, rates.npv
    (0.5, 0.6666666666666666)
    """
    counts, classes = _confusion_counts(y_true, y_pred, labels)
    positive = resolve_positive(classes, positive_class)
    rates = K.binary_rates(counts.astype(float), positive)
    label = classes[positive]
    label = label.item() if isinstance(label, np.generic) else label
    return BinaryRates(label, *(float(r) for r in rates))
