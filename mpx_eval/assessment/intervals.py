"""Intervals as the headline shows them: the metrics' own interval when it has a width, an
exact binomial interval for a proportion when it has none, and a t interval over folds.

Shared by the assessment, which decides the headline, and the report, which shows the
same rule in its detailed tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats

from ..summary.layout import Interval
from .layout import FoldMean

#: An interval narrower than this is shown as none: it is a bootstrap that could not move.
ZERO_WIDTH = 1e-9

_PROPORTIONS = ("accuracy", "sensitivity", "specificity", "ppv", "npv")


@dataclass(frozen=True)
class Bounds:
    """An interval with the name of how it was made."""

    low: float
    high: float
    method: str

    def as_json(self) -> dict:
        return {"low": self.low, "high": self.high, "method": self.method}


class HasEnds(Protocol):
    """Anything with the two ends of an interval (an interval of the summary, an estimate
    of the headline, a fold mean, ...)."""

    low: float | None
    high: float | None


def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- intervals


def exact_interval(successes: int, n: int, *, confidence_level: float = 0.95) -> Bounds | None:
    """Clopper–Pearson interval of ``successes`` out of ``n``; None when ``n`` is 0.

    Unlike a bootstrap it is never zero-width: 24 of 24 gives about 0.86–1.00.

    Examples
    --------
    >>> ci = exact_interval(24, 24)
    >>> round(ci.low, 3), ci.high
    (0.858, 1.0)
    """
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level}")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    if n == 0:
        return None
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence_level, method="exact"
    )
    return Bounds(float(ci.low), float(ci.high), "exact binomial")


def usable(ci: HasEnds | None) -> bool:
    """An interval with both ends and a width: a zero-width interval is never shown."""
    return bool(
        ci is not None and finite(ci.low) and finite(ci.high) and ci.high - ci.low > ZERO_WIDTH
    )


def proportion_interval(
    from_metrics: Interval | None, successes: int, n: int, *, confidence_level: float = 0.95
) -> Bounds | None:
    """The interval of a proportion the headline shows.

    The metrics' own interval (``from_metrics``: a Wilson interval, widened for groups, or
    a bootstrap) when it has a width; otherwise the exact binomial interval, which never
    collapses to a point.
    """
    if usable(from_metrics):
        return Bounds(from_metrics.low, from_metrics.high, from_metrics.method)
    return exact_interval(successes, n, confidence_level=confidence_level)


def proportion_counts(labels, predicted, metric: str, positive, classes) -> tuple[int, int] | None:
    """(successes, trials) of a metric that is a plain proportion of images; None for the
    others (AUC, F1, ...), which have no exact binomial interval."""
    labels = np.asarray(labels, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    if metric == "accuracy":
        return int((labels == predicted).sum()), int(labels.size)
    if positive is None or metric not in _PROPORTIONS:
        return None
    negative = [c for c in classes if c != positive]
    is_pos, said_pos = labels == positive, predicted == positive
    is_neg, said_neg = np.isin(labels, negative), np.isin(predicted, negative)
    base, hit = {
        "sensitivity": (is_pos, said_pos),
        "specificity": (is_neg, said_neg),
        "ppv": (said_pos, is_pos),
        "npv": (said_neg, is_neg),
    }[metric]
    return int((base & hit).sum()), int(base.sum())


def t_interval(values, *, confidence_level: float = 0.95) -> FoldMean | None:
    """Mean over folds with a Student t interval (k - 1 degrees of freedom); None under two
    defined values. Undefined (None/NaN) folds are left out and counted in ``k``."""
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    array = array[np.isfinite(array)]
    k = int(array.size)
    if k < 2:
        return None
    mean, sd = float(array.mean()), float(array.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence_level / 2, k - 1)) * sd / math.sqrt(k)
    # the metrics shown this way are bounded by 0 and 1; an end beyond them means nothing
    low, high = max(mean - half, 0.0), min(mean + half, 1.0)
    return FoldMean(mean=mean, low=low, high=high, sd=sd, k=k)
