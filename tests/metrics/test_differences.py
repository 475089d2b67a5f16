"""The paired accuracy difference: its formula written out, and a seeded coverage simulation.

The simulation draws images in groups of 1 to 14 that share a label, a group effect (both
models find a patient's images easy or hard together) and a group-by-model effect (one
model suits some patients better); each image is right for model a when
``mu_a[label] + u + w + v + e_a > 0`` and for model b when ``mu_b[label] + u - w + v + e_b
> 0``, with ``u ~ N(0, 1)`` per group, ``w ~ N(0, 0.5^2)`` per group and ``v, e_a, e_b ~
N(0, 1)`` per image, so the true accuracies are ``mean over labels of Phi(mu / sqrt(3.25))``.

Run as a script it prints the coverage table of ``paired_accuracy_difference``'s docstring
(3,000 data sets per row, a few minutes); the tests run 1,000 data sets per case.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from mpx_eval.metrics import AccuracyDifference, paired_accuracy_difference

GROUP_SD, GROUP_BY_MODEL_SD = 1.0, 0.5
LATENT_SD = math.sqrt(GROUP_SD**2 + GROUP_BY_MODEL_SD**2 + 2)
#: Latent means (label 0, label 1) of models a and b, named by their accuracies.
SETTINGS = {
    "0.80 vs 0.80": ((1.5, 1.5), (1.5, 1.5)),
    "0.85 vs 0.78": ((2.0, 1.8), (1.5, 1.3)),
    "0.93 vs 0.88": ((2.8, 2.6), (2.2, 2.1)),
    "0.96 vs 0.90": ((3.4, 3.2), (2.4, 2.3)),
}


def true_difference(mu_a, mu_b) -> float:
    accuracy = lambda mu: np.mean(scipy.stats.norm.cdf(np.divide(mu, LATENT_SD)))  # noqa: E731
    return float(accuracy(mu_a) - accuracy(mu_b))


def draw(rng, n, mu_a, mu_b, *, grouped=True):
    """(y, pred_a, pred_b, groups) of one data set of ``n`` images."""
    if grouped:
        sizes = rng.integers(1, 15, size=n)
        group = np.repeat(np.arange(n), sizes)[:n]  # the last group cut at n images
    else:
        group = np.arange(n)
    n_groups = group[-1] + 1
    label = (rng.random(n_groups) < 0.5)[group]
    shared = rng.normal(0, GROUP_SD, n_groups)[group] + rng.normal(size=n)
    split = rng.normal(0, GROUP_BY_MODEL_SD, n_groups)[group]
    right_a = np.where(label, mu_a[1], mu_a[0]) + shared + split + rng.normal(size=n) > 0
    right_b = np.where(label, mu_b[1], mu_b[0]) + shared - split + rng.normal(size=n) > 0
    y = label.astype(int)
    return y, np.where(right_a, y, 1 - y), np.where(right_b, y, 1 - y), group


def cluster_t_interval(y, pred_a, pred_b, group, confidence_level=0.95):
    """The alternative: ratio estimator of the group sums with t on groups - 1 df."""
    frame = pd.DataFrame({"d": (pred_a == y).astype(float) - (pred_b == y), "g": group})
    sums = frame.groupby("g")["d"].agg(["sum", "count"])
    n, k = len(frame), len(sums)
    difference = sums["sum"].sum() / n
    variance = k / (k - 1) * ((sums["sum"] - difference * sums["count"]) ** 2).sum() / n**2
    half = scipy.stats.t.ppf(0.5 + confidence_level / 2, k - 1) * math.sqrt(variance)
    return difference - half, difference + half


def newcombe_interval(y, pred_a, pred_b, confidence_level=0.95):
    """Newcombe's (1998) paired score interval (his method 10), groups ignored."""
    right_a, right_b = pred_a == y, pred_b == y
    n = len(y)
    both, a_only = np.sum(right_a & right_b), np.sum(right_a & ~right_b)
    b_only, neither = np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)
    z = scipy.stats.norm.ppf(0.5 + confidence_level / 2)

    def wilson(k):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return p, centre - half, centre + half

    p1, l1, u1 = wilson(both + a_only)
    p2, l2, u2 = wilson(both + b_only)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = (both * neither - a_only * b_only) / math.sqrt(margins) if margins else 0.0
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return low, high


def coverage(rng, n, setting, n_sets, *, grouped=True):
    """Share of data sets whose interval holds the truth, for each interval, and widths."""
    mu_a, mu_b = SETTINGS[setting]
    truth = true_difference(mu_a, mu_b)
    methods = {
        "this": lambda y, a, b, g: paired_accuracy_difference(y, a, b, groups=g)[1:3],
        "cluster t": cluster_t_interval,
        "ignoring groups": lambda y, a, b, g: newcombe_interval(y, a, b),
    }
    hits = dict.fromkeys(methods, 0)
    widths = dict.fromkeys(methods, 0.0)
    for _ in range(n_sets):
        y, a, b, group = draw(rng, n, mu_a, mu_b, grouped=grouped)
        for name, interval in methods.items():
            low, high = interval(y, a, b, group)
            hits[name] += low <= truth <= high
            widths[name] += high - low
    return {name: (hits[name] / n_sets, widths[name] / n_sets) for name in methods}


@pytest.mark.parametrize("n", [60, 200])
@pytest.mark.parametrize("setting", ["0.85 vs 0.78", "0.93 vs 0.88"])
def test_the_interval_covers_the_true_difference_with_grouped_images(n, setting):
    # 1,000 data sets: a coverage of 0.95 has a standard error of 0.007.
    rng = np.random.default_rng([20261201, n, int(setting[2:4])])
    mu_a, mu_b = SETTINGS[setting]
    truth = true_difference(mu_a, mu_b)
    hits = 0
    for _ in range(1000):
        y, a, b, group = draw(rng, n, mu_a, mu_b)
        result = paired_accuracy_difference(y, a, b, groups=group)
        hits += result.low <= truth <= result.high
    assert hits / 1000 >= 0.93


def test_ignoring_the_groups_under_covers():
    """The check has power: the same grouped images passed without groups fall short."""
    rng = np.random.default_rng(11)
    mu_a, mu_b = SETTINGS["0.85 vs 0.78"]
    truth = true_difference(mu_a, mu_b)
    hits = 0
    for _ in range(1000):
        y, a, b, _ = draw(rng, 200, mu_a, mu_b)
        result = paired_accuracy_difference(y, a, b)
        hits += result.low <= truth <= result.high
    assert hits / 1000 < 0.90


# --- the formula ---


def bonett_price_written_out(a_only, b_only, n, q):
    p12, p21 = (a_only + 1) / (n + 2), (b_only + 1) / (n + 2)
    se = math.sqrt((p12 + p21 - (p12 - p21) ** 2) / (n + 2))
    return max(-1.0, p12 - p21 - q * se), min(1.0, p12 - p21 + q * se)


def test_without_groups_it_is_bonett_and_prices_interval():
    # Fagerland, Lydersen & Laake's example of the paired 2x2 table (airway
    # hyper-responsiveness before and after stem cell transplantation): 59 both, 6 only
    # the first, 16 only the second, 80 neither.
    y = np.ones(161, dtype=int)
    a = np.r_[np.ones(59 + 6), np.zeros(16 + 80)].astype(int)
    b = np.r_[np.ones(59), np.zeros(6), np.ones(16), np.zeros(80)].astype(int)
    result = paired_accuracy_difference(y, a, b)
    low, high = bonett_price_written_out(6, 16, 161, scipy.stats.norm.ppf(0.975))
    assert result.difference == pytest.approx((6 - 16) / 161)
    assert (result.low, result.high) == pytest.approx((low, high), abs=1e-12)
    assert (result.n, result.n_groups, result.method) == (161, 161, "Bonett-Price adjusted Wald")
    assert round(result.low, 4) == -0.1195 and round(result.high, 4) == -0.0032


def design_effect_written_out(differences, groups):
    frame = pd.DataFrame({"d": differences, "g": groups})
    mean, n = frame["d"].mean(), len(frame)
    totals = frame.groupby("g")["d"].agg(["sum", "count"])
    k = len(totals)
    between = k / (k - 1) * ((totals["sum"] - mean * totals["count"]) ** 2).sum()
    independent = n / (n - 1) * ((frame["d"] - mean) ** 2).sum()
    return max(1.0, between / independent), k


@pytest.mark.parametrize("seed", range(4))
def test_with_groups_it_uses_the_design_effect_written_out(seed):
    rng = np.random.default_rng(seed)
    y, a, b, group = draw(rng, 120, *SETTINGS["0.85 vs 0.78"])
    groups = np.array([f"patient {g}" for g in group])
    result = paired_accuracy_difference(y, a, b, groups=groups, confidence_level=0.9)
    differences = (a == y).astype(float) - (b == y)
    deff, k = design_effect_written_out(differences, groups)
    n_effective = 120 / deff
    a_only = np.mean((a == y) & (b != y)) * n_effective
    b_only = np.mean((b == y) & (a != y)) * n_effective
    q = scipy.stats.t.ppf(0.95, k - 1)
    expected = bonett_price_written_out(a_only, b_only, n_effective, q)
    assert (result.low, result.high) == pytest.approx(expected, abs=1e-12)
    assert result.difference == pytest.approx(np.mean(a == y) - np.mean(b == y))
    assert (result.n, result.n_groups) == (120, k)
    assert result.method == "Bonett-Price adjusted Wald, groups' design effect"


@pytest.mark.parametrize("seed", range(3))
def test_groups_of_one_image_give_exactly_the_ungrouped_interval(seed):
    rng = np.random.default_rng(seed)
    y, a, b, _ = draw(rng, 80, *SETTINGS["0.93 vs 0.88"])
    names = np.array(["Monkeypox", "Others"])
    alone = paired_accuracy_difference(names[y], names[a], names[b], groups=np.arange(80))
    assert alone == paired_accuracy_difference(names[y], names[a], names[b])


def test_identical_predictions_give_a_difference_of_zero_with_a_proper_interval():
    y = [0, 1] * 10
    result = paired_accuracy_difference(y, y, y)
    assert isinstance(result, AccuracyDifference)
    assert result.difference == 0.0
    assert result.low < 0 < result.high  # not a zero-width interval
    # With groups and no discordant image, the groups stand in for the images.
    grouped = paired_accuracy_difference(y, y, y, groups=[i // 4 for i in range(20)])
    assert grouped.low < result.low and grouped.high > result.high


def test_the_difference_is_antisymmetric():
    rng = np.random.default_rng(3)
    y, a, b, group = draw(rng, 90, *SETTINGS["0.85 vs 0.78"])
    ab = paired_accuracy_difference(y, a, b, groups=group)
    ba = paired_accuracy_difference(y, b, a, groups=group)
    assert ab.difference == -ba.difference
    assert (ab.low, ab.high) == pytest.approx((-ba.high, -ba.low))


def main(n_sets: int = 3000) -> None:
    """Print the coverage table of the docstring (seeded; a few minutes)."""
    rng = np.random.default_rng(20261202)
    print("images, setting: coverage (mean width) of this / cluster t / ignoring groups")
    for grouped in (True, False):
        for n in (60, 200):
            for setting in SETTINGS:
                result = coverage(rng, n, setting, n_sets, grouped=grouped)
                cells = "  ".join(f"{name} {c:.3f} ({w:.3f})" for name, (c, w) in result.items())
                kind = "grouped" if grouped else "independent"
                print(f"{kind} {n}, {setting}: {cells}", flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
