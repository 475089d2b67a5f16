"""Size and power of the two clustered McNemar tests: the seeded simulation behind the default.

Each data set has ``K`` groups of 1 to 14 images (uniform). An image is right for model a
when ``0.8 + delta + u + w + v + e_a > 0`` and for model b when ``0.8 + u - w + v + e_b >
0``: a group effect ``u ~ N(0, 1)`` shared by both models, a group-by-model effect
``w ~ N(0, tau^2)`` (one model suits some patients better) and image terms ``v, e_a, e_b ~
N(0, 1)``. ``delta = 0`` is the null hypothesis. A last case keeps the accuracies over
images equal while the models' difference grows with group size.

Run as a script it prints the table of ``mcnemar_test``'s docstring (10,000 data sets per
cell, several minutes); the tests run 1,000 to 2,000 data sets per case.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mpx_eval.metrics import mcnemar_test

#: Mean size of a group of 1 to 14 images, and the size at which the difference of the
#: "grows with group size" case changes sign: E[m^2] / E[m] (72.5 / 7.5), which makes the
#: expected image-weighted difference zero.
_PIVOT = 72.5 / 7.5


def _split(correct_a, correct_b, image_set, group):
    bounds = np.flatnonzero(np.diff(image_set)) + 1
    return list(zip(*(np.split(x, bounds) for x in (correct_a, correct_b, group)), strict=True))


def latent_sets(rng, n_sets, n_groups, delta, tau):
    """(correct_a, correct_b, group) of each data set of the latent model."""
    sizes = rng.integers(1, 15, size=n_sets * n_groups)
    group = np.repeat(np.arange(n_sets * n_groups), sizes)
    n = group.shape[0]
    u = rng.normal(0, 1, sizes.shape[0])[group]
    w = rng.normal(0, tau, sizes.shape[0])[group]
    v = rng.normal(size=n)
    correct_a = 0.8 + delta + u + w + v + rng.normal(size=n) > 0
    correct_b = 0.8 + u - w + v + rng.normal(size=n) > 0
    return _split(correct_a, correct_b, group // n_groups, group)


def size_dependent_sets(rng, n_sets, n_groups):
    """Equal accuracy over images, but model a better in large groups and b in small ones.

    30 % of images are discordant; on those model a is right with probability
    ``0.5 + 0.04 * (m - 9.67)`` in a group of ``m`` images, whose image-weighted mean is 0.5.
    """
    sizes = rng.integers(1, 15, size=n_sets * n_groups)
    group = np.repeat(np.arange(n_sets * n_groups), sizes)
    n = group.shape[0]
    discordant = rng.random(n) < 0.3
    a_wins = rng.random(n) < 0.5 + 0.04 * (sizes[group] - _PIVOT)
    correct_a = discordant & a_wins
    correct_b = discordant & ~a_wins
    return _split(correct_a, correct_b, group // n_groups, group)


def rejection_rate(sets, method, alpha=0.05):
    rejected = 0
    for correct_a, correct_b, group in sets:
        y = np.ones(correct_a.shape[0], dtype=int)
        result = mcnemar_test(
            y, correct_a.astype(int), correct_b.astype(int), groups=group, method=method
        )
        rejected += result.pvalue < alpha
    return rejected / len(sets)


def test_both_clustered_tests_hold_the_level_under_the_null():
    # 2,000 data sets: a size of 0.05 has a standard error of 0.005.
    sets = latent_sets(np.random.default_rng(20261203), 2000, 24, delta=0.0, tau=0.5)
    for method in ("cluster-count", "durkalski"):
        size = rejection_rate(sets, method)
        assert 0.03 <= size <= 0.07, f"{method}: {size:.3f}"


def test_only_the_cluster_count_test_keeps_the_level_for_accuracy_over_images():
    """Durkalski's test weighs every group alike, so it tests another null hypothesis."""
    sets = size_dependent_sets(np.random.default_rng(20261204), 1000, 48)
    assert rejection_rate(sets, "cluster-count") <= 0.07
    assert rejection_rate(sets, "durkalski") > 0.15


def test_the_cluster_count_test_has_more_power_when_models_differ_image_by_image():
    sets = latent_sets(np.random.default_rng(20261205), 1000, 48, delta=0.25, tau=0.0)
    assert rejection_rate(sets, "cluster-count") > rejection_rate(sets, "durkalski") + 0.05


@pytest.mark.parametrize("seed", range(3))
def test_the_simulated_sets_are_what_they_say(seed):
    sets = latent_sets(np.random.default_rng(seed), 5, 24, delta=0.0, tau=0.5)
    for correct_a, _, group in sets:
        sizes = np.unique(group, return_counts=True)[1]
        assert sizes.shape[0] == 24 and sizes.min() >= 1 and sizes.max() <= 14
        assert correct_a.shape[0] == sizes.sum()


CASES = [
    ("null, tau = 0.5", 0.0, 0.5),
    ("null, tau = 1", 0.0, 1.0),
    ("null over images, difference grows with size", None, None),
    ("delta = 0.25, tau = 0", 0.25, 0.0),
    ("delta = 0.5, tau = 0.5", 0.5, 0.5),
    ("delta = 0.5, tau = 1", 0.5, 1.0),
]


def main(n_sets: int = 10_000) -> None:
    """Print the rejection rates of the docstring's table (cluster-count / Durkalski)."""
    rng = np.random.default_rng(20261206)
    for name, delta, tau in CASES:
        cells = []
        for n_groups in (24, 48):
            if delta is None:
                sets = size_dependent_sets(rng, n_sets, n_groups)
            else:
                sets = latent_sets(rng, n_sets, n_groups, delta, tau)
            rates = [rejection_rate(sets, m) for m in ("cluster-count", "durkalski")]
            cells.append(f"K = {n_groups}: {rates[0]:.3f} / {rates[1]:.3f}")
        print(f"{name}: " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
