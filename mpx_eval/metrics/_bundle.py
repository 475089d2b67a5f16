"""The standard set of summary metrics of one set of probabilistic predictions.

``prediction_metrics`` is what a fold, a pooled set of out-of-fold predictions or a
validation split is summarised by; the bootstrap computes the same set under resampling
weights through ``MetricBundle.compute``.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from .validation import (
    as_1d,
    as_probabilities,
    as_scores,
    check_columns,
    check_lengths,
    check_positive_int,
    encode,
    format_labels,
    resolve_classes,
    resolve_positive,
)

#: Metrics for any number of classes, in reporting order.
COMMON_METRICS = (
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
)
#: Extra metrics of the positive class, for two classes only.
BINARY_METRICS = ("sensitivity", "specificity", "ppv", "npv")


def metric_names(n_classes: int) -> tuple[str, ...]:
    """The keys of :func:`prediction_metrics` for ``n_classes`` classes, in reporting order.

    Examples
    --------
    >>> from mpx_eval.metrics import metric_names
    >>> metric_names(3)[:4]
    ('accuracy', 'balanced_accuracy', 'f1', 'f1_macro')
    >>> metric_names(2)[-4:]
    ('sensitivity', 'specificity', 'ppv', 'npv')
    """
    return COMMON_METRICS + (BINARY_METRICS if n_classes == 2 else ())


def predicted_labels(y_prob, *, labels) -> np.ndarray:
    """The most probable class of each row of ``y_prob``, the first of ``labels`` on ties:
    the prediction every metric of this library scores.

    Examples
    --------
    >>> from mpx_eval.metrics import predicted_labels
    >>> predicted_labels([[0.7, 0.3], [0.5, 0.5]], labels=["Monkeypox", "Others"]).tolist()
    ['Monkeypox', 'Monkeypox']
    """
    prob = as_scores("y_prob", y_prob, ndim=2)
    classes = np.asarray(list(labels), dtype=object)
    check_columns("y_prob", prob, classes)
    return classes[np.argmax(prob, axis=1)]


class MetricBundle:
    """Per-sample quantities from which every summary metric follows for any weights.

    ``y`` holds class indices, ``prob`` the (n, k) probabilities, ``positive`` the index of
    the positive class (two classes) or ``None`` (more than two).
    """

    def __init__(self, y: np.ndarray, prob: np.ndarray, positive: int | None, n_bins: int = 10):
        self.y = y
        self.k = prob.shape[1]
        self.positive = positive
        self.n_bins = n_bins
        self.pred = np.argmax(prob, axis=1)
        self.confidence = prob[np.arange(prob.shape[0]), self.pred]
        one_hot = np.eye(self.k)[y]
        if positive is not None:
            self.squared_error = (prob[:, positive] - one_hot[:, positive]) ** 2
            self.ranked = [K.RankedScores(prob[:, positive], y == positive)]
        else:
            self.squared_error = ((prob - one_hot) ** 2).sum(axis=1)
            self.ranked = [K.RankedScores(prob[:, j], y == j) for j in range(self.k)]

    @property
    def names(self) -> tuple[str, ...]:
        return metric_names(self.k) if self.positive is not None else COMMON_METRICS

    def confusion(self, W: np.ndarray) -> np.ndarray:
        return K.confusion_from_weights(W, self.y, self.pred, self.k)

    def compute(self, W: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric for every row of ``W`` (shape (n_rows, n_samples))."""
        C = self.confusion(W)
        out = {
            "accuracy": K.accuracy(C),
            "balanced_accuracy": K.balanced_accuracy(C),
            "f1_macro": K.f1_macro(C),
            "mcc": K.matthews(C),
            "kappa": K.kappa(C),
            "brier": K.weighted_mean(W, self.squared_error),
            "ece": K.expected_calibration_error(
                W, self.confidence, self.pred == self.y, self.n_bins
            ),
        }
        if self.positive is not None:
            _, _, f1, _ = K.per_class(C)
            out["f1"] = f1[:, self.positive]
            out["roc_auc"] = self.ranked[0].auc(W)
            out["average_precision"] = self.ranked[0].average_precision(W)
            rates = K.binary_rates(C, self.positive)
            out.update(zip(BINARY_METRICS, rates, strict=True))
        else:
            out["f1"] = out["f1_macro"]
            # A class absent from the rows makes its one-vs-rest AUC NaN and so the mean.
            out["roc_auc"] = np.mean([r.auc(W) for r in self.ranked], axis=0)
            out["average_precision"] = np.mean(
                [r.average_precision(W) for r in self.ranked], axis=0
            )
        return {name: out[name] for name in self.names}


def prepare_bundle(
    y_true, y_prob, labels, positive_class, n_bins
) -> tuple[MetricBundle, np.ndarray]:
    """Validate the public inputs and build the bundle; returns it with the class array."""
    n_bins = check_positive_int("n_bins", n_bins)
    y_true = as_1d("y_true", y_true)
    y_prob = as_probabilities("y_prob", y_prob, ndim=2)
    check_lengths(y_true=y_true, y_prob=y_prob)
    classes = resolve_classes(labels, y_true)
    if len(classes) < 2:
        # Checked before the columns: with one class the column count cannot be right, and
        # "2 columns but 1 class" would hide that the labels are what is short.
        columns = f"{y_prob.shape[1]} column{'s' if y_prob.shape[1] != 1 else ''}"
        if labels is None:
            raise ValueError(
                f"y_true holds only one class ({format_labels(classes)}) and labels= was not "
                f"given; at least two classes are needed: pass labels= naming the class of "
                f"each of y_prob's {columns}"
            )
        raise ValueError(
            f"labels holds only one class ({format_labels(classes)}); at least two classes "
            f"are needed, one for each of y_prob's {columns}"
        )
    check_columns("y_prob", y_prob, classes)
    codes = encode("y_true", y_true, classes)
    if len(classes) == 2:
        positive = resolve_positive(classes, positive_class)
    elif positive_class is not None:
        raise ValueError(
            f"positive_class applies to two classes only; {len(classes)} classes were given"
        )
    else:
        positive = None
    return MetricBundle(codes, y_prob, positive, n_bins), classes


def prediction_metrics(y_true, y_prob, *, labels=None, positive_class=None, n_bins=10):
    """All summary metrics of one set of probabilistic predictions, as a dict.

    The predicted class is the most probable one (the first class on ties). Keys, in order:

    - ``accuracy``, ``balanced_accuracy`` (mean recall over classes present),
    - ``f1``: the positive class's F1 for two classes, the macro F1 for more,
    - ``f1_macro``, ``mcc`` (Matthews), ``kappa`` (Cohen),
    - ``roc_auc``: AUC of the positive class's probability for two classes, one-vs-rest
      macro AUC for more,
    - ``average_precision``: likewise (binary, or one-vs-rest macro),
    - ``brier``: see :func:`brier_score_loss`; ``ece``: top-label, ``n_bins`` equal-width
      bins (see :func:`expected_calibration_error`),
    - two classes only: ``sensitivity``, ``specificity``, ``ppv``, ``npv`` of the positive
      class.

    Unlike the single-metric functions, this never raises for degenerate content: a value
    that is undefined on these rows (an AUC when one class is absent, a PPV when nothing
    is predicted positive, ...) is NaN.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples, n_classes)
        Probabilities; columns follow ``labels``.
    labels : array-like, default=None
        By default the sorted labels of ``y_true`` (pass them when a class may be absent).
    positive_class : label, default=None
        Two classes only; by default the second class.
    n_bins : int, default=10
        Bins of the expected calibration error.

    Returns
    -------
    dict of str to float

    Examples
    --------
    >>> from mpx_eval.metrics import prediction_metrics
    >>> y_true = ["Monkeypox", "Others", "Others", "Monkeypox"]
    >>> y_prob = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
    >>> m = prediction_metrics(
    ...     y_true, y_prob, labels=["Monkeypox", "Others"], positive_class="Monkeypox")
    >>> m["accuracy"], m["sensitivity"], m["specificity"], m["roc_auc"]
    (0.5, 0.5, 0.5, 0.75)
    """
    bundle, _ = prepare_bundle(y_true, y_prob, labels, positive_class, n_bins)
    values = bundle.compute(np.ones((1, bundle.y.shape[0])))
    return {name: float(v[0]) for name, v in values.items()}
