"""Seeded coverage simulations: the default 95 % intervals cover the truth 93-97 % of the time.

Each case draws many data sets of n = 100 images from a model whose accuracy, sensitivity and
AUC are known in closed form, and counts how often the interval holds the true value. With
2,000 data sets the coverage's own standard error is about 0.005, so the window
[0.93, 0.97] fails a biased interval, not an unlucky seed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mpx_eval.metrics import delong_auc_ci, proportion_intervals

N_IMAGES = 100
N_DATASETS = 2000
TRUE_AUC = 0.80
THRESHOLD = 0.3


def _independent(rng):
    """Images drawn one by one: label ~ Bernoulli(0.5), score = delta * label + N(0, 1)."""
    delta = np.sqrt(2) * norm.ppf(TRUE_AUC)
    truth = {
        "sensitivity": norm.cdf(delta - THRESHOLD),
        "specificity": norm.cdf(THRESHOLD),
    }
    truth["accuracy"] = 0.5 * truth["sensitivity"] + 0.5 * truth["specificity"]

    def draw():
        y = (rng.random(N_IMAGES) < 0.5).astype(int)
        return y, delta * y + rng.normal(size=N_IMAGES), None

    return draw, truth


def _clustered(rng, sigma=1.0):
    """Patients of 1-5 images, one label each, a shared patient effect u ~ N(0, sigma^2)."""
    scale = np.sqrt(1 + sigma**2)
    delta = np.sqrt(2) * scale * norm.ppf(TRUE_AUC)
    truth = {
        "sensitivity": norm.cdf((delta - THRESHOLD) / scale),
        "specificity": norm.cdf(THRESHOLD / scale),
    }
    truth["accuracy"] = 0.5 * truth["sensitivity"] + 0.5 * truth["specificity"]

    def draw():
        sizes = rng.integers(1, 6, size=N_IMAGES)
        group = np.repeat(np.arange(N_IMAGES), sizes)[:N_IMAGES]
        n_groups = group[-1] + 1
        label = (rng.random(n_groups) < 0.5).astype(int)
        effect = rng.normal(scale=sigma, size=n_groups)
        y = label[group]
        score = delta * y + effect[group] + rng.normal(size=N_IMAGES)
        return y, score, group

    return draw, truth


def _coverage(draw, truth):
    hits = {name: 0 for name in ("accuracy", "sensitivity", "auc")}
    for _ in range(N_DATASETS):
        y, score, group = draw()
        predicted = (score > THRESHOLD).astype(int)
        cis = proportion_intervals(y, predicted, labels=[0, 1], positive_class=1, groups=group)
        for name in ("accuracy", "sensitivity"):
            hits[name] += cis[name].low <= truth[name] <= cis[name].high
        auc = delong_auc_ci(y, score, positive_class=1, groups=group)
        hits["auc"] += auc.low <= TRUE_AUC <= auc.high
    return {name: count / N_DATASETS for name, count in hits.items()}


@pytest.mark.parametrize("case", [_independent, _clustered], ids=["independent", "clustered"])
def test_default_intervals_cover_at_nominal_level(case):
    draw, truth = case(np.random.default_rng(20261129))
    coverage = _coverage(draw, truth)
    for name, value in coverage.items():
        assert 0.93 <= value <= 0.97, f"{name}: coverage {value:.3f}"


def test_ignoring_the_groups_under_covers():
    """The check has power: the same clustered data without groups fall short."""
    draw, truth = _clustered(np.random.default_rng(7))

    def ungrouped():
        y, score, _ = draw()
        return y, score, None

    coverage = _coverage(ungrouped, truth)
    assert coverage["accuracy"] < 0.93
    assert coverage["auc"] < 0.93
