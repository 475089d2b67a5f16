"""Operating points, rates and likelihood ratios at a threshold, ROC read-outs and net benefit,
each against a brute-force computation written out here."""

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from mpx_eval.metrics import (
    bootstrap_ci,
    decision_curve,
    likelihood_ratios,
    net_benefit,
    operating_point,
    proportion_intervals,
    rates_at_threshold,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    threshold_for_target,
)
from mpx_eval.metrics._intervals import clustered_size

Z95 = norm.ppf(0.975)


def scored(seed, n=70, ties=True):
    """Labels, scores with many ties (rounded to 0.1) and patients of 1-4 images."""
    rng = np.random.default_rng(seed)
    y = rng.choice(["Monkeypox", "Others"], n, p=[0.4, 0.6])
    score = rng.normal(size=n) + 1.2 * (y == "Monkeypox")
    if ties:
        score = np.round(score, 1)
    patients = np.repeat(np.arange(n), rng.integers(1, 5, size=n))[:n]
    return y, score, patients


def rates(y, score, threshold, positive="Monkeypox"):
    """(sensitivity, specificity) of calling ``score >= threshold`` positive, by counting."""
    pos = y == positive
    called = score >= threshold
    return np.sum(pos & called) / np.sum(pos), np.sum(~pos & ~called) / np.sum(~pos)


def candidate_thresholds(score):
    return np.r_[np.unique(score), np.inf]


# --- threshold_for_target ---


@pytest.mark.parametrize("target", [0.05, 0.5, 0.8, 0.9, 0.97, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_threshold_for_sensitivity_is_the_highest_reaching_it(seed, target):
    y, score, _ = scored(seed)
    point = threshold_for_target(y, score, target_sensitivity=target, positive_class="Monkeypox")
    reaching = [t for t in candidate_thresholds(score) if rates(y, score, t)[0] >= target]
    best = max(reaching)
    assert point.threshold == best
    assert (point.sensitivity, point.specificity) == pytest.approx(rates(y, score, best))
    assert point == operating_point(y, score, target_sensitivity=target, positive_class="Monkeypox")


@pytest.mark.parametrize("target", [0.05, 0.5, 0.8, 0.9, 0.97, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_threshold_for_specificity_is_the_lowest_reaching_it(seed, target):
    y, score, _ = scored(seed)
    point = threshold_for_target(y, score, target_specificity=target, positive_class="Monkeypox")
    reaching = [t for t in candidate_thresholds(score) if rates(y, score, t)[1] >= target]
    best = min(reaching)
    assert point.threshold == best
    assert (point.sensitivity, point.specificity) == pytest.approx(rates(y, score, best))
    assert point.specificity >= target


def test_full_specificity_can_mean_calling_nothing_positive():
    point = threshold_for_target([1, 0, 1, 0], [0.2, 0.9, 0.5, 0.1], target_specificity=1.0)
    assert point == (np.inf, 0.0, 1.0)


def test_a_probability_array_uses_the_positive_column():
    y, score, _ = scored(4)
    p = 1 / (1 + np.exp(-score))
    prob = np.column_stack([p, 1 - p])
    point = threshold_for_target(
        y, prob, target_specificity=0.8, labels=["Monkeypox", "Others"], positive_class="Monkeypox"
    )
    assert point == threshold_for_target(y, p, target_specificity=0.8, positive_class="Monkeypox")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of target_sensitivity and target_specificity, got neither"),
        (
            {"target_sensitivity": 0.9, "target_specificity": 0.9},
            "got both",
        ),
        ({"target_specificity": 1.5}, r"target_specificity must lie in \(0, 1\], got 1.5"),
        ({"target_sensitivity": 0}, r"target_sensitivity must lie in \(0, 1\], got 0"),
    ],
)
def test_threshold_for_target_refuses_bad_targets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        threshold_for_target([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], **kwargs)


# --- rates_at_threshold and likelihood_ratios ---


def simel(tp, fp, tn, fn):
    """LR+ and LR- with Simel, Samsa & Matchar's (1991) 95 % log-scale bounds, written out."""
    sens, spec = tp / (tp + fn), tn / (tn + fp)
    lr_pos, lr_neg = sens / (1 - spec), (1 - sens) / spec
    se_pos = np.sqrt(1 / tp - 1 / (tp + fn) + 1 / fp - 1 / (fp + tn))
    se_neg = np.sqrt(1 / fn - 1 / (tp + fn) + 1 / tn - 1 / (fp + tn))
    return (
        (lr_pos, lr_pos * np.exp(-Z95 * se_pos), lr_pos * np.exp(Z95 * se_pos)),
        (lr_neg, lr_neg * np.exp(-Z95 * se_neg), lr_neg * np.exp(Z95 * se_neg)),
    )


@pytest.mark.parametrize("threshold", [0.0, 0.4, 1.1])
@pytest.mark.parametrize("seed", range(3))
def test_rates_at_threshold_match_a_confusion_matrix(seed, threshold):
    y, score, _ = scored(seed)
    r = rates_at_threshold(y, score, threshold=threshold, positive_class="Monkeypox")
    pos, called = y == "Monkeypox", score >= threshold
    tp, fp = int(np.sum(pos & called)), int(np.sum(~pos & called))
    tn, fn = int(np.sum(~pos & ~called)), int(np.sum(pos & ~called))
    assert (r.tp, r.fp, r.tn, r.fn) == (tp, fp, tn, fn)
    assert min(tp, fp, tn, fn) > 0  # the cells with zeros are tested below
    assert r.threshold == threshold and r.positive_class == "Monkeypox"
    assert r.sensitivity.estimate == pytest.approx(tp / (tp + fn))
    assert r.specificity.estimate == pytest.approx(tn / (tn + fp))
    assert r.ppv.estimate == pytest.approx(tp / (tp + fp))
    assert r.npv.estimate == pytest.approx(tn / (tn + fn))
    # The proportions' intervals are proportion_intervals' on the same calls.
    predicted = np.where(called, "Monkeypox", "Others")
    cis = proportion_intervals(y, predicted, positive_class="Monkeypox")
    for name in ("sensitivity", "specificity", "ppv", "npv"):
        assert getattr(r, name) == cis[name]
    (lr_pos, low_pos, high_pos), (lr_neg, low_neg, high_neg) = simel(tp, fp, tn, fn)
    assert r.lr_positive.estimate == pytest.approx(lr_pos, rel=1e-12)
    assert r.lr_negative.estimate == pytest.approx(lr_neg, rel=1e-12)
    assert (r.lr_positive.low, r.lr_positive.high) == pytest.approx((low_pos, high_pos), rel=1e-9)
    assert (r.lr_negative.low, r.lr_negative.high) == pytest.approx((low_neg, high_neg), rel=1e-9)
    assert r.lr_positive.method == "log scale (Simel et al. 1991)"


def test_likelihood_ratio_interval_at_the_papers_counts():
    """Counts 16/20 and 27/30 (LR+ 8): bounds from the formula evaluated by hand."""
    r = rates_at_threshold(
        [1] * 20 + [0] * 30, [1] * 16 + [0] * 4 + [1] * 3 + [0] * 27, threshold=1
    )
    se = np.sqrt(1 / 16 - 1 / 20 + 1 / 3 - 1 / 30)  # 0.5268...
    assert r.lr_positive.estimate == 8.0
    assert r.lr_positive.low == pytest.approx(8 * np.exp(-1.959964 * se), rel=1e-6)
    assert r.lr_positive.high == pytest.approx(8 * np.exp(1.959964 * se), rel=1e-6)
    assert r.lr_positive.low == pytest.approx(2.6746, abs=1e-4)


def test_singleton_groups_change_nothing_and_repeated_groups_widen():
    y, score, patients = scored(5, n=120)
    plain = rates_at_threshold(y, score, threshold=0.5, positive_class="Monkeypox")
    singletons = rates_at_threshold(
        y, score, threshold=0.5, positive_class="Monkeypox", groups=[f"p{i}" for i in range(120)]
    )
    assert plain == singletons
    grouped = rates_at_threshold(
        y, score, threshold=0.5, positive_class="Monkeypox", groups=patients
    )
    for name in ("lr_positive", "lr_negative"):
        ours, independent = getattr(grouped, name), getattr(plain, name)
        assert ours.estimate == independent.estimate
        assert ours.low <= independent.low and ours.high >= independent.high
        assert ours.method == "log scale (Simel et al. 1991), groups' design effect"


def test_grouped_interval_is_simel_on_the_effective_sizes_written_out():
    """Each log-proportion variance on its clustered Wilson effective size, and t on the
    Satterthwaite combination of the two sides' degrees of freedom."""
    y, score, patients = scored(5, n=120)
    r = rates_at_threshold(y, score, threshold=0.5, positive_class="Monkeypox", groups=patients)
    pos, called = y == "Monkeypox", score >= 0.5
    sens, fpr = called[pos].mean(), called[~pos].mean()
    n_pos, df_pos = clustered_size(called[pos], patients[pos])
    n_neg, df_neg = clustered_size(called[~pos], patients[~pos])
    v_pos, v_neg = (1 - sens) / (sens * n_pos), (1 - fpr) / (fpr * n_neg)
    df = (v_pos + v_neg) ** 2 / (v_pos**2 / df_pos + v_neg**2 / df_neg)
    half = student_t.ppf(0.975, df) * np.sqrt(v_pos + v_neg)
    expected = (sens / fpr * np.exp(-half), sens / fpr * np.exp(half))
    assert (r.lr_positive.low, r.lr_positive.high) == pytest.approx(expected, rel=1e-9)
    assert np.isfinite(df) and df < 60  # the t quantile is not the normal one here


def test_groups_that_copy_each_image_widen_the_interval_like_fewer_images():
    """Every image four times in one group: the effective sizes are the images', and the
    interval is close to that of the images once (t instead of z keeps it a little wider)."""
    y, score, _ = scored(6, n=80)
    once = rates_at_threshold(y, score, threshold=0.5, positive_class="Monkeypox")
    copies = rates_at_threshold(
        np.repeat(y, 4),
        np.repeat(score, 4),
        threshold=0.5,
        positive_class="Monkeypox",
        groups=np.repeat(np.arange(80), 4),
    )
    assert copies.lr_positive.estimate == pytest.approx(once.lr_positive.estimate)
    ratio = np.log(copies.lr_positive.high / copies.lr_positive.low) / np.log(
        once.lr_positive.high / once.lr_positive.low
    )
    assert 1.0 <= ratio < 1.15


def test_empty_cells_give_infinite_zero_or_undefined_ratios():
    y = [1] * 10 + [0] * 10
    perfect = rates_at_threshold(y, [1] * 8 + [0] * 2 + [0] * 10, threshold=1)
    assert perfect.lr_positive.estimate == np.inf and perfect.lr_positive.high == np.inf
    # Haldane's half in each cell: TP 8.5 of 11, FP 0.5 of 11.
    se = np.sqrt(1 / 8.5 - 1 / 11 + 1 / 0.5 - 1 / 11)
    assert perfect.lr_positive.low == pytest.approx(17 * np.exp(-Z95 * se))
    assert perfect.lr_positive.method.endswith("0.5 added to each cell")
    none = rates_at_threshold(y, [0] * 20, threshold=1)
    assert np.isnan(none.lr_positive.estimate) and np.isnan(none.lr_positive.low)
    assert none.lr_negative.estimate == 1.0  # nothing called positive: LR- carries nothing
    missed = rates_at_threshold(y, [0] * 10 + [1] * 2 + [0] * 8, threshold=1)
    assert missed.lr_positive.estimate == 0.0 and missed.lr_positive.low == 0.0
    assert 0 < missed.lr_positive.high < np.inf


def test_likelihood_ratios_of_predictions_equal_those_at_a_threshold():
    y, score, patients = scored(7, n=90)
    r = rates_at_threshold(y, score, threshold=0.6, positive_class="Monkeypox", groups=patients)
    predicted = np.where(score >= 0.6, "Monkeypox", "Others")
    lr = likelihood_ratios(y, predicted, positive_class="Monkeypox", groups=patients)
    assert lr == ("Monkeypox", r.lr_positive, r.lr_negative)


def test_more_than_two_classes_need_a_positive_class():
    y = ["Chickenpox", "Measles", "Monkeypox"] * 4
    score = np.linspace(0, 1, 12)
    with pytest.raises(ValueError, match=r"3 classes .* but no positive_class"):
        rates_at_threshold(y, score, threshold=0.5)
    with pytest.raises(ValueError, match=r"3 classes .* but no positive_class"):
        likelihood_ratios(y, y)
    with pytest.raises(ValueError, match=r"3 classes .* but no positive_class"):
        threshold_for_target(y, score, target_specificity=0.9)
    with pytest.raises(ValueError, match=r"3 classes .* but no positive_class"):
        net_benefit(y, score, thresholds=0.5)
    r = rates_at_threshold(y, score, threshold=0.5, positive_class="Measles")
    assert r.tp + r.fn == 4 and r.fp + r.tn == 8


@pytest.mark.parametrize("threshold", ["0.5", None, float("nan"), True])
def test_rates_at_threshold_refuses_a_threshold_that_is_not_a_number(threshold):
    with pytest.raises(ValueError, match="threshold must be a number"):
        rates_at_threshold([0, 1], [0.2, 0.7], threshold=threshold)


def _lr_coverage(n, prevalence, level, reps):
    """Coverage of LR+ and LR- intervals with and without the groups, in test_coverage's
    design of groups of 1-14 images with skewed and bimodal group effects."""
    from .test_coverage import SHIFT, _grouped_draw, _grouped_truth, _seed

    shift = SHIFT[level]
    truth = _grouped_truth(shift, shift / 2)
    sens, spec = truth["sensitivity"], truth["specificity"]
    true_lr = {"lr_positive": sens / (1 - spec), "lr_negative": (1 - sens) / spec}
    rng = np.random.default_rng(_seed(n, prevalence, level))
    hits = {(name, grouped): 0 for name in true_lr for grouped in (True, False)}
    given = 0
    for _ in range(reps):
        y, score, _, group = _grouped_draw(rng, n, prevalence, shift)
        if not 0 < y.sum() < n:
            continue
        given += 1
        for grouped in (True, False):
            r = rates_at_threshold(
                y,
                score,
                threshold=shift / 2,
                labels=[0, 1],
                positive_class=1,
                groups=group if grouped else None,
            )
            for name, value in true_lr.items():
                ci = getattr(r, name)
                hits[name, grouped] += bool(ci.low <= value <= ci.high)
    return {key: count / given for key, count in hits.items()}


def test_grouped_likelihood_ratio_intervals_cover():
    """200 images in groups of 1-14 (about 27 groups): covered with the groups, far from it
    without (0.6-0.65 at 1,000 data sets)."""
    coverage = _lr_coverage(200, 0.5, 0.70, reps=300)
    for name in ("lr_positive", "lr_negative"):
        assert 0.93 <= coverage[name, True] <= 0.995, coverage
        assert coverage[name, False] < 0.8, coverage


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n", "prevalence", "level"),
    [(60, 0.5, 0.70), (200, 0.2, 0.70), (200, 0.5, 0.95), (1000, 0.5, 0.70), (1000, 0.2, 0.95)],
)
def test_grouped_likelihood_ratio_intervals_cover_in_every_cell(n, prevalence, level):
    """The cells quoted in rates_at_threshold's docstring."""
    coverage = _lr_coverage(n, prevalence, level, reps=1000)
    for name in ("lr_positive", "lr_negative"):
        assert coverage[name, True] >= 0.93, coverage


# --- sensitivity_at_specificity and specificity_at_sensitivity ---


def best_sensitivity(y, score, specificity):
    """The highest sensitivity at a specificity >= the fixed one, scanning every threshold."""
    found = []
    for t in candidate_thresholds(score):
        sensitivity, reached = rates(y, score, t)
        if reached >= specificity:
            found.append((sensitivity, -t))
    value, threshold = max(found)
    return value, -threshold


def best_specificity(y, score, sensitivity):
    found = []
    for t in candidate_thresholds(score):
        reached, specificity = rates(y, score, t)
        if reached >= sensitivity:
            found.append((specificity, t))
    return max(found)


@pytest.mark.parametrize("fixed", [0.5, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("seed", range(3))
def test_read_outs_match_a_scan_of_thresholds(seed, fixed):
    y, score, _ = scored(seed)
    sens = sensitivity_at_specificity(
        y, score, specificity=fixed, positive_class="Monkeypox", n_resamples=50
    )
    assert (sens.value, sens.threshold) == pytest.approx(best_sensitivity(y, score, fixed))
    spec = specificity_at_sensitivity(
        y, score, sensitivity=fixed, positive_class="Monkeypox", n_resamples=50
    )
    assert (spec.value, spec.threshold) == pytest.approx(best_specificity(y, score, fixed))
    for r in (sens, spec):
        assert r.low <= r.value <= r.high


@pytest.mark.parametrize("grouped", [False, True])
def test_read_out_interval_is_the_group_bootstrap_of_the_scan(grouped):
    """The same resamples as bootstrap_ci (same plan, same seed), each read by the scan."""
    y, score, patients = scored(8, n=50)
    groups = patients if grouped else None

    def scan(t, s):
        if len(set(t)) < 2:
            raise ValueError("one class")
        return best_sensitivity(t, s, 0.8)[0]

    ours = sensitivity_at_specificity(
        y,
        score,
        specificity=0.8,
        positive_class="Monkeypox",
        groups=groups,
        n_resamples=150,
        random_state=3,
    )
    reference = bootstrap_ci(scan, y, score, groups=groups, n_resamples=150, random_state=3)
    assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high))
    assert ours.n_dropped == reference.n_dropped
    assert ours.method == reference.method
    assert ("whole groups" in ours.method) == grouped


def test_read_outs_are_deterministic_for_a_seed():
    y, score, patients = scored(9)
    kwargs = {"positive_class": "Monkeypox", "groups": patients, "n_resamples": 200}
    first = specificity_at_sensitivity(y, score, sensitivity=0.85, **kwargs)
    assert specificity_at_sensitivity(y, score, sensitivity=0.85, **kwargs) == first
    other = specificity_at_sensitivity(y, score, sensitivity=0.85, random_state=1, **kwargs)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.value == first.value and other.threshold == first.threshold


def test_read_outs_refuse_bad_options():
    y, score, _ = scored(0)
    with pytest.raises(ValueError, match=r"target_specificity must lie in \(0, 1\], got 0"):
        sensitivity_at_specificity(y, score, specificity=0, positive_class="Monkeypox")
    with pytest.raises(ValueError, match="n_resamples must be an integer >= 2, got 1"):
        specificity_at_sensitivity(
            y, score, sensitivity=0.9, positive_class="Monkeypox", n_resamples=1
        )


# --- net_benefit and decision_curve ---


def slow_net_benefit(y, p, thresholds):
    """Vickers & Elkin's net benefit, threshold by threshold, counting TP and FP directly."""
    n = len(y)
    out = []
    for pt in thresholds:
        tp = sum(1 for yi, pi in zip(y, p, strict=True) if yi == 1 and pi >= pt)
        fp = sum(1 for yi, pi in zip(y, p, strict=True) if yi == 0 and pi >= pt)
        out.append(tp / n - fp / n * pt / (1 - pt))
    return np.array(out)


@pytest.mark.parametrize("seed", range(3))
def test_net_benefit_and_decision_curve_match_a_direct_count(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(60) < 0.3).astype(int)
    p = np.round(np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, 60), 0, 1), 2)  # ties
    thresholds = np.round(np.arange(1, 100) / 100, 2)
    expected = slow_net_benefit(y, p, thresholds)
    np.testing.assert_allclose(net_benefit(y, p, thresholds=thresholds), expected, atol=1e-12)
    curve = decision_curve(y, p)
    np.testing.assert_array_equal(curve.thresholds, thresholds)
    np.testing.assert_allclose(curve.model, expected, atol=1e-12)
    np.testing.assert_allclose(curve.treat_all, slow_net_benefit(y, np.ones(60), thresholds))
    prevalence = y.mean()
    np.testing.assert_allclose(
        curve.treat_all, prevalence - (1 - prevalence) * thresholds / (1 - thresholds)
    )
    np.testing.assert_array_equal(curve.treat_none, np.zeros(99))
    assert net_benefit(y, p, thresholds=0.3) == pytest.approx(expected[29])


def test_decision_curve_of_class_names_and_probability_columns():
    rng = np.random.default_rng(11)
    y = rng.choice(["Monkeypox", "Others"], 40)
    p = np.clip(0.5 + 0.3 * (y == "Monkeypox") - 0.15 + rng.normal(0, 0.2, 40), 0, 1)
    prob = np.column_stack([p, 1 - p])
    classes = ["Monkeypox", "Others"]
    curve = decision_curve(
        y, prob, thresholds=[0.1, 0.5, 0.9], labels=classes, positive_class="Monkeypox"
    )
    expected = slow_net_benefit((y == "Monkeypox").astype(int), p, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(curve.model, expected, atol=1e-12)


@pytest.mark.parametrize("thresholds", [[0.0, 0.5], [0.5, 1.0], [-0.1], [np.nan], [1.5]])
def test_decision_thresholds_must_lie_strictly_between_0_and_1(thresholds):
    with pytest.raises(ValueError, match=r"thresholds must lie in \(0, 1\)"):
        decision_curve([0, 1, 1], [0.2, 0.6, 0.9], thresholds=thresholds)
    with pytest.raises(ValueError, match=r"thresholds must lie in \(0, 1\)"):
        net_benefit([0, 1, 1], [0.2, 0.6, 0.9], thresholds=thresholds)


def test_net_benefit_needs_probabilities_and_numeric_thresholds():
    with pytest.raises(ValueError, match=r"y_score has 1 value outside \[0, 1\]"):
        net_benefit([0, 1], [0.2, 1.7], thresholds=[0.5])
    with pytest.raises(ValueError, match="thresholds must hold numbers"):
        net_benefit([0, 1], [0.2, 0.7], thresholds="0.5")
    with pytest.raises(ValueError, match="thresholds must be a non-empty 1-D list"):
        net_benefit([0, 1], [0.2, 0.7], thresholds=[])
