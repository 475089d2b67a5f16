"""What a clinician reads off a classifier with a positive class: operating points, the
rates and likelihood ratios at a threshold, read-outs of a pooled ROC, and net benefit.

Every function here has two sides, the positive class and all other classes, and calls a
sample positive when its score is ``>=`` the threshold (the convention of
:func:`operating_point`). A threshold is chosen on one set (:func:`threshold_for_target`,
e.g. on an inner validation part) and read on another (:func:`rates_at_threshold`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

from . import _kernels as K
from ._bootstrap import (
    ConfidenceInterval,
    block_size,
    count_blocks,
    percentile_interval,
    resampling_plan,
)
from ._intervals import clustered_size, group_index, intervals_of
from ._ranking import OperatingPoint, _curve_counts, _positive_scores, operating_point
from .validation import (
    _plain,
    check_confidence_level,
    check_positive_int,
    check_unit_interval,
    prepare_labelled,
    prepare_scored,
    resolve_positive,
)

# --- choosing a threshold on one set ---


def threshold_for_target(
    y_true,
    y_score,
    *,
    target_sensitivity=None,
    target_specificity=None,
    labels=None,
    positive_class=None,
):
    """The threshold that reaches a target sensitivity or specificity on these data.

    Exactly one target is given:

    - ``target_sensitivity``: the highest threshold whose sensitivity is at least the
      target, the most specific way to reach it (as :func:`operating_point`, which it
      calls);
    - ``target_specificity``: the lowest threshold whose specificity is at least the
      target, the most sensitive way to reach it.

    Thresholds are the distinct scores (and ``inf``, nothing called positive, which is the
    answer when even the highest score belongs to too many negatives for the target
    specificity); samples with a score ``>=`` the threshold are called positive. The
    rates are those of these data: read the threshold on other images with
    :func:`rates_at_threshold`.

    Parameters
    ----------
    y_true, y_score, labels, positive_class
        As in :func:`roc_curve`; ``y_true`` must hold the positive class and another.
    target_sensitivity, target_specificity : float in (0, 1], default=None
        The rate to reach; give exactly one.

    Returns
    -------
    OperatingPoint
        ``threshold``, ``sensitivity`` and ``specificity`` on these data.

    Examples
    --------
    >>> from mpx_eval.metrics import threshold_for_target
    >>> y, score = [0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.6, 0.4, 0.7, 0.9]
    >>> threshold_for_target(y, score, target_sensitivity=0.9)
    OperatingPoint(threshold=0.4, sensitivity=1.0, specificity=0.6666666666666667)
    >>> threshold_for_target(y, score, target_specificity=0.9)
    OperatingPoint(threshold=0.7, sensitivity=0.6666666666666666, specificity=1.0)
    """
    if (target_sensitivity is None) == (target_specificity is None):
        given = "neither" if target_sensitivity is None else "both"
        raise ValueError(
            f"give exactly one of target_sensitivity and target_specificity, got {given} "
            f"(target_sensitivity={target_sensitivity!r}, "
            f"target_specificity={target_specificity!r})"
        )
    if target_sensitivity is not None:
        return operating_point(
            y_true,
            y_score,
            target_sensitivity=target_sensitivity,
            labels=labels,
            positive_class=positive_class,
        )
    target = check_unit_interval("target_specificity", target_specificity)
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    score, is_positive = _positive_scores(codes, y_score, classes, positive_class, "a threshold")
    tps, fps, thresholds = _curve_counts(score, is_positive)
    # Specificity as TN / negatives (not 1 - FPR, which can fall an ulp short of a target
    # it reaches); it falls along the curve from 1 at ``inf``: the last point at the target.
    specificity = np.r_[1.0, (fps[-1] - fps) / fps[-1]]
    i = int(np.count_nonzero(specificity >= target)) - 1
    sensitivity = np.r_[0.0, tps / tps[-1]]
    threshold = np.r_[np.inf, thresholds][i]
    return OperatingPoint(float(threshold), float(sensitivity[i]), float(specificity[i]))


# --- rates and likelihood ratios at a given threshold ---


class ThresholdRates(NamedTuple):
    """Counts, rates and likelihood ratios of a positive class at one threshold.

    Each rate and ratio is a :class:`ConfidenceInterval` (``estimate``, ``low``, ``high``,
    ``method``).
    """

    threshold: float
    positive_class: object
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: ConfidenceInterval
    specificity: ConfidenceInterval
    ppv: ConfidenceInterval
    npv: ConfidenceInterval
    lr_positive: ConfidenceInterval
    lr_negative: ConfidenceInterval


class LikelihoodRatios(NamedTuple):
    """Positive and negative likelihood ratios of a positive class, with their intervals."""

    positive_class: object
    lr_positive: ConfidenceInterval
    lr_negative: ConfidenceInterval


class _Side(NamedTuple):
    """One proportion of images: its count, images, effective size and degrees of freedom."""

    count: int
    n: int
    n_effective: float
    df: float  # inf for independent images


def _side(success: np.ndarray, group: np.ndarray) -> _Side:
    """A proportion's side of a likelihood ratio, with the effective size of its Wilson
    interval (:func:`clustered_size` when a group holds several of its images)."""
    n = success.shape[0]
    count = int(success.sum())
    if n and np.unique(group).shape[0] < n:
        n_effective, df = clustered_size(success, group)
        return _Side(count, n, float(n_effective), float(df))
    return _Side(count, n, float(n), np.inf)


def _log_variance(side: _Side, add: float) -> tuple[float, float]:
    """Delta-method variance of the log proportion on its effective size, and the proportion.

    ``add`` (0 or 1/2) is added to the effective count of successes and of failures.
    """
    size = side.n_effective + 2 * add
    p = (side.count / side.n * side.n_effective + add) / size
    return (1.0 - p) / (p * size), p


def _quantile(confidence_level: float, v_top: float, top: _Side, v_bottom: float, bottom: _Side):
    """Normal quantile, or Student's t on the two sides' Satterthwaite degrees of freedom."""
    tail = 0.5 + confidence_level / 2
    weight = v_top**2 / top.df + v_bottom**2 / bottom.df
    if weight == 0:  # both sides independent images (or no variance at all)
        return float(scipy.stats.norm.ppf(tail))
    return float(scipy.stats.t.ppf(tail, (v_top + v_bottom) ** 2 / weight))


def _ratio_method(top: _Side, bottom: _Side, corrected: bool) -> str:
    method = "log scale (Simel et al. 1991)"
    if np.isfinite(top.df) or np.isfinite(bottom.df):
        method += ", groups' design effect"
    return method + (", 0.5 added to each cell" if corrected else "")


def _ratio_interval(top: _Side, bottom: _Side, confidence_level: float) -> ConfidenceInterval:
    """``(top.count / top.n) / (bottom.count / bottom.n)`` with its log-scale interval."""
    corrected = top.count == 0 or bottom.count == 0
    method = _ratio_method(top, bottom, corrected)
    if top.n == 0 or bottom.n == 0 or top.count == bottom.count == 0:
        return ConfidenceInterval(np.nan, np.nan, np.nan, method)
    estimate = np.inf if bottom.count == 0 else (top.count / top.n) / (bottom.count / bottom.n)
    add = 0.5 if corrected else 0.0
    v_top, p_top = _log_variance(top, add)
    v_bottom, p_bottom = _log_variance(bottom, add)
    half = _quantile(confidence_level, v_top, top, v_bottom, bottom) * np.sqrt(v_top + v_bottom)
    centre = np.log(p_top / p_bottom)
    low = 0.0 if top.count == 0 else float(np.exp(centre - half))
    high = np.inf if bottom.count == 0 else float(np.exp(centre + half))
    return ConfidenceInterval(float(estimate), low, high, method)


def _likelihood_ratios(is_positive, called, group, confidence_level):
    """LR+ = sensitivity / (1 - specificity) and LR- = (1 - sensitivity) / specificity."""
    positives, negatives = group[is_positive], group[~is_positive]
    sensitivity = _side(called[is_positive], positives)
    false_positive_rate = _side(called[~is_positive], negatives)
    false_negative_rate = _side(~called[is_positive], positives)
    specificity = _side(~called[~is_positive], negatives)
    return (
        _ratio_interval(sensitivity, false_positive_rate, confidence_level),
        _ratio_interval(false_negative_rate, specificity, confidence_level),
    )


def _check_threshold(value) -> float:
    """A threshold: any number but NaN (``inf`` calls nothing positive)."""
    if isinstance(value, (bool, str, bytes)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"threshold must be a number, got {value!r}")
    if np.isnan(value):
        raise ValueError(f"threshold must be a number, got {value!r}")
    return float(value)


def rates_at_threshold(
    y_true,
    y_score,
    *,
    threshold,
    labels=None,
    positive_class=None,
    groups=None,
    confidence_level=0.95,
):
    """Counts, rates and likelihood ratios at a threshold chosen elsewhere, with intervals.

    Samples with a score ``>= threshold`` are called positive. With ``TP, FP, TN, FN``
    counted for the positive class against all others:

    - sensitivity = TP / (TP + FN), specificity = TN / (TN + FP), PPV = TP / (TP + FP) and
      NPV = TN / (TN + FN), with the Wilson score intervals of
      :func:`proportion_intervals` (clustered Wilson when a group holds several of the
      images a proportion counts). A proportion with an empty denominator is NaN.
    - LR+ = sensitivity / (1 - specificity) and LR- = (1 - sensitivity) / specificity, how
      much a positive (negative) call multiplies the odds of the positive class.

    The likelihood ratios' interval is Simel, Samsa & Matchar's (1991), on the log scale:
    ``exp(log LR ± z · se)`` with ``se² = 1/TP − 1/(TP+FN) + 1/FP − 1/(FP+TN)`` for LR+
    and ``se² = 1/FN − 1/(TP+FN) + 1/TN − 1/(FP+TN)`` for LR-: the delta-method variance
    of the log of each of the two proportions, taken as independent (they count different
    images).

    With ``groups`` holding several images of a proportion, each of the two variances,
    ``(1 − p) / (p · n)``, takes the proportion's effective size ``n / deff`` for ``n``,
    the one its clustered Wilson interval uses (:func:`clustered_size`: the groups'
    jackknife design effect with one pseudo-group, at least 1), and ``z`` becomes Student's
    t on the Satterthwaite combination of the two sides' degrees of freedom (Kish's
    effective number of groups less one for a clustered side, infinite for a side of
    independent images). This design-effect version was chosen over a cluster bootstrap:
    it is the same correction as the sensitivity and specificity intervals beside it, with
    their small-sample guards, and needs no seed; a bootstrapped ratio is infinite in
    every resample without a false positive (negative), and the percentile bootstrap of a
    few groups under-covers, which is why the library's proportions are not bootstrapped.
    A covariance of the two proportions through groups holding both classes is left out;
    a group effect moves sensitivity and the false-positive rate alike, so leaving it out
    widens the interval (and patients usually hold one class). With one image per group
    the interval is exactly that without groups.

    In a seeded simulation (``tests/metrics/test_operating.py``, in the design of
    ``test_coverage.py``: groups of 1 to 14 images sharing a label and a skewed or bimodal
    group effect, 1,000 data sets per cell at 60, 200 and 1,000 images, prevalence 0.2
    and 0.5, AUC 0.70 and 0.95, the threshold halfway between the classes) these 95 %
    intervals covered LR+ 0.949-0.984 and LR- 0.948-0.993 of the time; ignoring the
    groups, 0.59-0.75 and 0.64-0.85; a percentile bootstrap of whole groups (1,000
    resamples; measured once, not in the suite) 0.80-0.95 and 0.81-0.94, shortest with
    few groups. With independent images (100 and 400, 2,000 data sets) Simel's interval
    covered 0.943-0.957.

    Empty cells. When a count in a variance is 0 (TP or FP for LR+, FN or TN for LR-), 0.5
    is added to each of the four (effective) cells for the interval (Haldane's correction;
    the method says so), and:

    - specificity 1 (FP = 0) with TP > 0: LR+ = ``inf``, its interval runs from the
      corrected lower bound to ``inf`` (the data cannot bound it above);
    - TP = 0 with FP > 0: LR+ = 0, its interval runs from 0 to the corrected upper bound;
    - TP = FP = 0 (nothing called positive): LR+ = 0/0 is NaN, and so are its bounds.

    LR- alike with FN in place of TP and TN in place of FP. Without images of a class both
    ratios and bounds are NaN. A rule that calls every image positive has LR+ = 1 with an
    interval of no width (both proportions are 1); every image negative, LR- alike.

    Parameters
    ----------
    y_true, y_score, labels, positive_class
        As in :func:`roc_curve`; ``y_score`` is the positive class's score or an
        (n, k) array whose columns follow ``labels``.
    threshold : float
        Scores ``>=`` it are called positive; ``inf`` calls none.
    groups : array-like of shape (n_samples,), default=None
        Group id of each image (patient, image family).
    confidence_level : float, default=0.95

    Returns
    -------
    ThresholdRates
        ``threshold``, ``positive_class``, the counts ``tp``, ``fp``, ``tn``, ``fn``, and
        ``sensitivity``, ``specificity``, ``ppv``, ``npv``, ``lr_positive`` and
        ``lr_negative``, each a ConfidenceInterval.

    Examples
    --------
    >>> from mpx_eval.metrics import rates_at_threshold
    >>> y = [1] * 20 + [0] * 30
    >>> score = [0.9] * 16 + [0.2] * 4 + [0.8] * 3 + [0.1] * 27
    >>> r = rates_at_threshold(y, score, threshold=0.5)
    >>> r.tp, r.fp, r.tn, r.fn
    (16, 3, 27, 4)
    >>> r.sensitivity.estimate, r.specificity.estimate
    (0.8, 0.9)
    >>> lr = r.lr_positive
    >>> round(lr.estimate, 3), round(lr.low, 3), round(lr.high, 3)
    (8.0, 2.675, 23.929)
    >>> lr.method
    'log scale (Simel et al. 1991)'
    """
    confidence_level = check_confidence_level(confidence_level)
    threshold = _check_threshold(threshold)
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    positive = resolve_positive(classes, positive_class)
    group = group_index(groups, codes.shape[0])
    score = y_score[:, positive] if y_score.ndim == 2 else y_score
    is_positive = codes == positive
    called = score >= threshold
    cis = intervals_of(
        is_positive.astype(np.intp), called.astype(np.intp), 1, group, confidence_level
    )
    lr_positive, lr_negative = _likelihood_ratios(is_positive, called, group, confidence_level)
    return ThresholdRates(
        threshold,
        _plain(classes[positive]),
        int(np.sum(is_positive & called)),
        int(np.sum(~is_positive & called)),
        int(np.sum(~is_positive & ~called)),
        int(np.sum(is_positive & ~called)),
        cis["sensitivity"],
        cis["specificity"],
        cis["ppv"],
        cis["npv"],
        lr_positive,
        lr_negative,
    )


def likelihood_ratios(
    y_true, y_pred, *, labels=None, positive_class=None, groups=None, confidence_level=0.95
):
    """Positive and negative likelihood ratios of predicted labels, with intervals.

    LR+ = sensitivity / (1 - specificity), LR- = (1 - sensitivity) / specificity, for
    ``positive_class`` against all other classes, a sample called positive when its
    prediction is the positive class. The intervals, with and without ``groups``, and the
    cases of an empty cell are those of :func:`rates_at_threshold`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : array-like, default=None
        The classes; by default the sorted union of the labels seen.
    positive_class : label, default=None
        By default the second class; required with more than two classes.
    groups : array-like of shape (n_samples,), default=None
        Group id of each image.
    confidence_level : float, default=0.95

    Returns
    -------
    LikelihoodRatios
        ``positive_class``, ``lr_positive`` and ``lr_negative`` (ConfidenceIntervals).

    Examples
    --------
    >>> from mpx_eval.metrics import likelihood_ratios
    >>> y_true = ["pox"] * 20 + ["other"] * 30
    >>> y_pred = ["pox"] * 16 + ["other"] * 4 + ["pox"] * 3 + ["other"] * 27
    >>> lr = likelihood_ratios(y_true, y_pred, positive_class="pox")
    >>> round(lr.lr_positive.estimate, 3), round(lr.lr_negative.estimate, 4)
    (8.0, 0.2222)
    """
    confidence_level = check_confidence_level(confidence_level)
    codes, predicted, classes = prepare_labelled(y_true, y_pred, labels)
    positive = resolve_positive(classes, positive_class)
    group = group_index(groups, codes.shape[0])
    lr_positive, lr_negative = _likelihood_ratios(
        codes == positive, predicted == positive, group, confidence_level
    )
    return LikelihoodRatios(_plain(classes[positive]), lr_positive, lr_negative)


# --- read-outs of a pooled ROC at a fixed rate, with a group bootstrap ---


class ROCReadout(NamedTuple):
    """A rate read off the ROC at a fixed other rate, its bootstrap interval and threshold.

    ``n_dropped`` counts the resamples without images of both classes, left out.
    """

    value: float
    low: float
    high: float
    threshold: float
    method: str
    n_dropped: int


def _rates_under_weights(ranked: K.RankedScores, W: np.ndarray):
    """Sensitivity and specificity at every distinct threshold (high to low, after the
    point at ``inf``) of each resample, one row per row of counts ``W``."""
    pos, neg = ranked._tie_sums(W)
    tps = np.cumsum(pos[:, ::-1], axis=1)
    fps = np.cumsum(neg[:, ::-1], axis=1)
    ones = np.ones((W.shape[0], 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.hstack([0 * ones, tps / tps[:, -1:]])
        specificity = np.hstack([ones, (fps[:, -1:] - fps) / fps[:, -1:]])
    return tpr, specificity


def _read_off(ranked: K.RankedScores, W: np.ndarray, fixed: str, target: float) -> np.ndarray:
    """Each resample's sensitivity at ``specificity >= target`` (the lowest such threshold),
    or specificity at ``sensitivity >= target`` (the highest), as the point estimate
    chooses them; NaN for a resample without images of both classes."""
    tpr, specificity = _rates_under_weights(ranked, W)
    rows = np.arange(W.shape[0])
    if fixed == "specificity":
        value = tpr[rows, np.count_nonzero(specificity >= target, axis=1) - 1]
    else:
        value = specificity[rows, np.argmax(tpr >= target, axis=1)]
    both = np.isfinite(tpr[:, -1]) & np.isfinite(specificity[:, -1])
    return np.where(both, value, np.nan)


def _readout(y_true, y_score, fixed: str, target, **options) -> ROCReadout:
    """The rate at the ``fixed`` rate's ``target`` with a percentile interval over resamples
    of images or groups (``options``: labels, positive_class, groups, confidence_level,
    n_resamples, random_state)."""
    confidence_level = check_confidence_level(options["confidence_level"])
    n_resamples = check_positive_int("n_resamples", options["n_resamples"], minimum=2)
    labels, positive_class = options["labels"], options["positive_class"]
    point = threshold_for_target(
        y_true, y_score, labels=labels, positive_class=positive_class, **{f"target_{fixed}": target}
    )
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=False
    )
    score, is_positive = _positive_scores(codes, y_score, classes, positive_class, "a read-out")
    plan = resampling_plan(codes, options["groups"], stratify=False)
    ranked = K.RankedScores(score, is_positive)
    values = np.empty(n_resamples)
    rng = np.random.default_rng(options["random_state"])
    for start, counts in count_blocks(plan, n_resamples, rng, block_size(codes.shape[0])):
        values[start : start + counts.shape[0]] = _read_off(ranked, counts, fixed, float(target))
    low, high, n_dropped = percentile_interval(values, confidence_level)
    # The estimate read as the resamples are, so that it is computed alike to the last bit.
    value = float(_read_off(ranked, np.ones((1, codes.shape[0])), fixed, float(target))[0])
    method = f"percentile ({plan.description})"
    return ROCReadout(value, low, high, point.threshold, method, n_dropped)


def sensitivity_at_specificity(
    y_true,
    y_score,
    *,
    specificity,
    labels=None,
    positive_class=None,
    groups=None,
    confidence_level=0.95,
    n_resamples=2000,
    random_state=0,
):
    """The highest sensitivity of the pooled ROC at a specificity of at least ``specificity``.

    The best achievable point, not an interpolation: among the ROC's thresholds (the
    distinct scores, and ``inf``) those whose specificity is at least the fixed value, the
    lowest, which has the highest sensitivity (:func:`threshold_for_target` with
    ``target_specificity``). A straight line between two ROC points would be a mixture of
    two thresholds, which no single threshold reaches.

    The interval is a percentile bootstrap (:func:`bootstrap_ci`'s resampling, not
    stratified): each resample's ROC is read at the same fixed specificity, its threshold
    chosen afresh. With ``groups``, whole groups are resampled; without, images.
    Resamples lacking a class are left out and counted in ``n_dropped``.

    Parameters
    ----------
    y_true, y_score, labels, positive_class
        As in :func:`roc_curve`.
    specificity : float in (0, 1]
        The fixed specificity.
    groups : array-like of shape (n_samples,), default=None
        Group id of each image; groups are resampled whole.
    confidence_level : float, default=0.95
    n_resamples : int, default=2000
    random_state : None, int or numpy.random.Generator, default=0

    Returns
    -------
    ROCReadout
        ``value`` (the sensitivity), ``low``, ``high``, ``threshold`` (chosen on all the
        data), ``method`` and ``n_dropped``.

    Examples
    --------
    >>> import numpy as np
    >>> from mpx_eval.metrics import sensitivity_at_specificity
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([1, 0], 50)
    >>> score = y + rng.normal(size=100)
    >>> r = sensitivity_at_specificity(y, score, specificity=0.9, n_resamples=500)
    >>> r.value, bool(r.low <= r.value <= r.high)
    (0.3, True)
    """
    return _readout(
        y_true,
        y_score,
        "specificity",
        specificity,
        labels=labels,
        positive_class=positive_class,
        groups=groups,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        random_state=random_state,
    )


def specificity_at_sensitivity(
    y_true,
    y_score,
    *,
    sensitivity,
    labels=None,
    positive_class=None,
    groups=None,
    confidence_level=0.95,
    n_resamples=2000,
    random_state=0,
):
    """The highest specificity of the pooled ROC at a sensitivity of at least ``sensitivity``.

    The best achievable point: the highest threshold whose sensitivity is at least the
    fixed value (:func:`operating_point`), not an interpolation. The interval, its
    resampling and the parameters are those of :func:`sensitivity_at_specificity`.

    Returns
    -------
    ROCReadout
        ``value`` (the specificity), ``low``, ``high``, ``threshold``, ``method`` and
        ``n_dropped``.

    Examples
    --------
    >>> import numpy as np
    >>> from mpx_eval.metrics import specificity_at_sensitivity
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([1, 0], 50)
    >>> score = y + rng.normal(size=100)
    >>> r = specificity_at_sensitivity(y, score, sensitivity=0.9, n_resamples=500)
    >>> r.value, bool(r.low <= r.value <= r.high)
    (0.52, True)
    """
    return _readout(
        y_true,
        y_score,
        "sensitivity",
        sensitivity,
        labels=labels,
        positive_class=positive_class,
        groups=groups,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        random_state=random_state,
    )


# --- net benefit and decision curves ---


class DecisionCurve(NamedTuple):
    """Net benefit of the model, of treating everyone and of treating no one, per threshold."""

    thresholds: np.ndarray
    model: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray


#: Threshold probabilities of a decision curve unless given: 0.01, 0.02, ..., 0.99.
DEFAULT_THRESHOLDS = np.round(np.arange(1, 100) / 100, 2)


def _check_thresholds(values) -> np.ndarray:
    """Threshold probabilities as a 1-D float array, each strictly between 0 and 1."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"thresholds must hold numbers, got {values!r}")
    try:
        array = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"thresholds must hold numbers, got {values!r}") from None
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D list, got shape {array.shape}")
    outside = ~((array > 0) & (array < 1))  # NaN counts as outside
    if outside.any():
        raise ValueError(
            f"thresholds must lie in (0, 1); {int(outside.sum())} do not, e.g. "
            f"{float(array[outside][0])!r}"
        )
    return array


def _model_net_benefit(score, is_positive, thresholds):
    """TP / n − FP / n · p_t / (1 − p_t), treating those with a score ``>= p_t``."""
    n = score.shape[0]
    positives = np.sort(score[is_positive])
    negatives = np.sort(score[~is_positive])
    tp = positives.shape[0] - np.searchsorted(positives, thresholds, side="left")
    fp = negatives.shape[0] - np.searchsorted(negatives, thresholds, side="left")
    return tp / n - fp / n * thresholds / (1 - thresholds)


def _prepared_probabilities(y_true, y_score, labels, positive_class):
    codes, y_score, classes = prepare_scored(
        y_true, y_score, labels, name="y_score", probabilities=True
    )
    positive = resolve_positive(classes, positive_class)
    score = y_score[:, positive] if y_score.ndim == 2 else y_score
    return score, codes == positive


def net_benefit(y_true, y_score, *, thresholds, labels=None, positive_class=None):
    """Net benefit of treating the samples whose probability is at least each threshold.

    ``NB(p_t) = TP / n − FP / n · p_t / (1 − p_t)`` (Vickers & Elkin, 2006), counting as
    treated the samples with ``y_score >= p_t``: true positives gained per sample, less
    false positives weighted by the odds at the threshold probability, the exchange rate
    of harms and benefits that a clinician who would treat at risk ``p_t`` accepts. The
    scores must be probabilities of the positive class, and calibrated for the result to
    mean what it says.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes)
        Probabilities of the positive class, or of every class with columns following
        ``labels``; values in [0, 1].
    thresholds : float or array-like of floats in (0, 1)
        Threshold probabilities ``p_t``.
    labels, positive_class
        As in :func:`roc_curve`.

    Returns
    -------
    float or ndarray
        One net benefit per threshold (a float for a single threshold).

    Examples
    --------
    >>> from mpx_eval.metrics import net_benefit
    >>> y = [1, 1, 1, 0, 0, 0, 0, 0]
    >>> p = [0.9, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.1]
    >>> net_benefit(y, p, thresholds=[0.25, 0.5])
    array([0.29166667, 0.125     ])
    """
    array = _check_thresholds(thresholds)
    score, is_positive = _prepared_probabilities(y_true, y_score, labels, positive_class)
    values = _model_net_benefit(score, is_positive, array)
    return float(values[0]) if np.ndim(thresholds) == 0 else values


def decision_curve(y_true, y_score, *, thresholds=None, labels=None, positive_class=None):
    """Decision curve: net benefit of the model, of treating all and of treating none.

    The model's net benefit is :func:`net_benefit`'s; treating everyone gives
    ``prevalence − (1 − prevalence) · p_t / (1 − p_t)`` and treating no one 0 (Vickers &
    Elkin, 2006). The model is of use at a threshold where it is above both.

    Parameters
    ----------
    y_true, y_score, labels, positive_class
        As in :func:`net_benefit`.
    thresholds : array-like of floats in (0, 1), default=None
        Threshold probabilities; by default 0.01, 0.02, ..., 0.99.

    Returns
    -------
    DecisionCurve
        ``thresholds``, ``model``, ``treat_all`` and ``treat_none`` (zeros), each an array
        with one value per threshold.

    Examples
    --------
    >>> from mpx_eval.metrics import decision_curve
    >>> y = [1, 1, 1, 0, 0, 0, 0, 0]
    >>> p = [0.9, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.1]
    >>> curve = decision_curve(y, p, thresholds=[0.2, 0.5])
    >>> curve.model
    array([0.28125, 0.125  ])
    >>> curve.treat_all
    array([ 0.21875, -0.25   ])
    """
    array = DEFAULT_THRESHOLDS.copy() if thresholds is None else _check_thresholds(thresholds)
    score, is_positive = _prepared_probabilities(y_true, y_score, labels, positive_class)
    prevalence = float(is_positive.mean())
    treat_all = prevalence - (1 - prevalence) * array / (1 - array)
    model = _model_net_benefit(score, is_positive, array)
    return DecisionCurve(array, model, treat_all, np.zeros_like(array))
