"""Effect sizes of paired comparisons: how much more accurate one model is than another.

The tests in :mod:`._comparison` say whether two models differ; these say by how much, with
an interval that respects the pairing (both models scored on the same images) and, with
``groups``, the clustering of images of one patient or one photo.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.stats

from ._comparison import paired_correctness
from ._intervals import effective_size
from .validation import check_confidence_level


class AccuracyDifference(NamedTuple):
    """Accuracy of model a minus that of model b on the same images, with its interval.

    ``n`` counts the images and ``n_groups`` the groups (``n`` without groups); ``method``
    names the interval.
    """

    difference: float
    low: float
    high: float
    n: int
    n_groups: int
    method: str


def paired_accuracy_difference(
    y_true, y_pred_a, y_pred_b, *, groups=None, confidence_level=0.95
) -> AccuracyDifference:
    """Accuracy of model a minus accuracy of model b on the same images, with an interval.

    The difference is ``(b - c) / n``, with ``b`` the images only model a gets right and
    ``c`` those only model b gets right: images both get right or both get wrong do not
    move it, but they do narrow its interval, which is why a paired interval is needed
    (the two accuracies are correlated through the images).

    The interval is Bonett & Price's (2012) adjusted Wald interval for paired proportions:
    one pseudo-image is added to each discordant cell and two to the total,
    ``p12 = (b + 1) / (n + 2)``, ``p21 = (c + 1) / (n + 2)``, and the bounds are
    ``p12 - p21 +/- z * sqrt((p12 + p21 - (p12 - p21)^2) / (n + 2))``, clipped to
    [-1, 1]. The adjustment keeps it from collapsing when few images are discordant (a
    plain Wald interval has zero width at ``b = c = 0``).

    With ``groups`` holding several images, images of a group are not independent. ``n``
    is then replaced by the effective size ``n / deff`` (``b`` and ``c`` scaled with it),
    ``deff`` being the design effect of the per-image differences (correct for a minus
    correct for b): their between-group (ratio-estimator) variance over their variance
    as independent images, each with its small-sample factor (``g / (g - 1)`` for ``g``
    groups, ``n / (n - 1)`` for ``n`` images), taken as at least 1, and the number of
    groups when the differences do not vary. ``z`` becomes Student's t quantile with
    ``g - 1`` degrees of freedom. When every group holds one image the result is exactly
    that without groups. (Bonett, D. G. & Price, R. M. (2012). Adjusted Wald confidence
    interval for a difference of binomial proportions based on paired data. Journal of
    Educational and Behavioral Statistics 37, 479-488.)

    Chosen by a seeded simulation (``tests/metrics/test_differences.py``, 3,000 data sets
    per row): ``n`` images in groups of 1 to 14 (uniform) sharing a label, a group effect
    shared by both models and a group-by-model effect (details in the test). Coverage of
    the 95 % intervals, mean width in brackets:

    ==================  ==============  ==============  ==============  ==============
    images, accuracy    this interval   cluster t       Newcombe,       this interval,
    of a vs b                                           groups ignored  no groups
    ==================  ==============  ==============  ==============  ==============
    60, 0.80 vs 0.80    0.976 (0.41)    0.949 (0.37)    0.827 (0.23)    0.961 (0.24)
    60, 0.85 vs 0.78    0.975 (0.41)    0.938 (0.37)    0.822 (0.23)    0.965 (0.24)
    60, 0.93 vs 0.88    0.984 (0.32)    0.940 (0.27)    0.859 (0.20)    0.969 (0.19)
    60, 0.96 vs 0.90    0.981 (0.30)    0.864 (0.23)    0.870 (0.18)    0.975 (0.17)
    200, 0.80 vs 0.80   0.952 (0.20)    0.942 (0.20)    0.813 (0.13)    0.960 (0.13)
    200, 0.85 vs 0.78   0.950 (0.19)    0.942 (0.19)    0.811 (0.13)    0.948 (0.13)
    200, 0.93 vs 0.88   0.957 (0.15)    0.939 (0.14)    0.838 (0.10)    0.956 (0.10)
    200, 0.96 vs 0.90   0.939 (0.13)    0.917 (0.12)    0.849 (0.09)    0.956 (0.09)
    ==================  ==============  ==============  ==============  ==============

    The "cluster t" interval (the ratio estimator ``sum d_i / n`` of the groups' sums
    ``d_i`` of per-image differences, its between-group variance and t on groups - 1
    degrees of freedom) falls short near the ceiling, where few images are discordant
    (0.864 at 0.96 vs 0.90 on 60 images, about 8 groups); this interval holds at least
    0.939 everywhere, at the price of some width with few groups. Ignoring the groups
    covers 0.81 to 0.87. Without groups (last column, independent images) it is Bonett &
    Price's interval, whose coverage was 0.948 to 0.975 where Newcombe's (1998) paired
    score interval, the other usual choice, gave 0.944 to 0.962.

    Parameters
    ----------
    y_true, y_pred_a, y_pred_b : array-like of shape (n_samples,)
        True labels and the two models' predictions for the same images.
    groups : array-like of shape (n_samples,), default=None
        Group id of each image (patient, image family).
    confidence_level : float, default=0.95

    Returns
    -------
    AccuracyDifference
        ``difference`` (accuracy of a minus accuracy of b), ``low``, ``high``, ``n``,
        ``n_groups`` and ``method``.

    Examples
    --------
    >>> from mpx_eval.metrics import paired_accuracy_difference
    >>> y = [1] * 10 + [0] * 10
    >>> a = [1] * 9 + [0] + [0] * 9 + [1]
    >>> b = [1] * 6 + [0] * 4 + [0] * 7 + [1] * 3
    >>> result = paired_accuracy_difference(y, a, b)
    >>> round(result.difference, 4), round(result.low, 4), round(result.high, 4)
    (0.25, 0.0115, 0.443)
    >>> result.method
    'Bonett-Price adjusted Wald'
    >>> patients = [i // 4 for i in range(20)]
    >>> result = paired_accuracy_difference(y, a, b, groups=patients)
    >>> round(result.low, 4), round(result.high, 4), result.n_groups
    (-0.1296, 0.5734, 5)
    """
    confidence_level = check_confidence_level(confidence_level)
    correct_a, correct_b, group = paired_correctness(y_true, y_pred_a, y_pred_b, groups)
    return _accuracy_difference(correct_a, correct_b, group, confidence_level)


def _accuracy_difference(correct_a, correct_b, group, confidence_level) -> AccuracyDifference:
    n = correct_a.shape[0]
    share_a_only = float(np.mean(correct_a & ~correct_b))
    share_b_only = float(np.mean(correct_b & ~correct_a))
    n_groups = int(np.unique(group).shape[0])
    tail = 0.5 + confidence_level / 2
    if n_groups < n:
        # The design effect rests on the groups, not the images: t with groups - 1 df.
        n_effective = effective_size(correct_a.astype(float) - correct_b, group)
        q = float(scipy.stats.t.ppf(tail, max(n_groups - 1, 1)))
        method = "Bonett-Price adjusted Wald, groups' design effect"
    else:
        n_effective = float(n)
        q = float(scipy.stats.norm.ppf(tail))
        method = "Bonett-Price adjusted Wald"
    total = n_effective + 2
    p12 = (share_a_only * n_effective + 1) / total
    p21 = (share_b_only * n_effective + 1) / total
    centre = p12 - p21
    half = q * np.sqrt((p12 + p21 - centre**2) / total)
    return AccuracyDifference(
        share_a_only - share_b_only,
        float(max(-1.0, centre - half)),
        float(min(1.0, centre + half)),
        int(n),
        n_groups,
        method,
    )
