"""Model comparison tests: corrected t-test, exact McNemar, DeLong's test and interval."""

import math

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.contingency_tables import mcnemar

from mpx_eval.metrics import (
    CorrectedTTestResult,
    corrected_resampled_ttest,
    delong_auc_ci,
    delong_auc_difference,
    delong_roc_test,
    mcnemar_test,
    roc_auc_score,
)

from .reference import slow_delong

# --- Nadeau-Bengio corrected resampled t-test ---


def test_corrected_ttest_against_hand_computed_values():
    # d = a - b = [0.02, 0.05, 0.04, 0.01, 0.03]: mean 0.03, sum of squared deviations
    # 0.0001 + 0.0004 + 0.0001 + 0.0004 + 0 = 0.001, so var(d, ddof=1) = 0.00025.
    # With k = 5, n_test = 20, n_train = 80: (1/5 + 20/80) * 0.00025 = 0.0001125 and
    # t = 0.03 / sqrt(0.0001125) = 2 * sqrt(2).
    # For 4 degrees of freedom the t distribution has the closed form
    # F(t) = 1/2 + (3/4) u (1 - u^2 / 3) with u = t / sqrt(4 + t^2); here u = sqrt(2/3), so
    # the two-sided p = 1 - (3/2) u (7/9) = 1 - (7/6) sqrt(2/3).
    a = [0.80, 0.85, 0.90, 0.75, 0.80]
    b = [0.78, 0.80, 0.86, 0.74, 0.77]
    result = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert result.statistic == pytest.approx(2 * math.sqrt(2), rel=1e-9)
    assert result.pvalue == pytest.approx(1 - 7 / 6 * math.sqrt(2 / 3), rel=1e-9)
    assert result.df == 4
    assert result.mean_difference == pytest.approx(0.03)
    # The uncorrected paired t-test would claim far stronger evidence.
    naive = scipy.stats.ttest_rel(a, b)
    assert naive.statistic == pytest.approx(3 * math.sqrt(2))
    assert naive.pvalue < result.pvalue


def test_corrected_ttest_is_antisymmetric():
    a, b = [0.9, 0.8, 0.85], [0.7, 0.75, 0.8]
    ab = corrected_resampled_ttest(a, b, n_train=40, n_test=10)
    ba = corrected_resampled_ttest(b, a, n_train=40, n_test=10)
    assert ab.statistic == pytest.approx(-ba.statistic)
    assert ab.pvalue == pytest.approx(ba.pvalue)


@pytest.mark.parametrize(
    "a, b",
    [
        ([0.8, 0.9], [0.8, 0.9]),  # no difference at all
        ([0.75, 1.0], [0.5, 0.75]),  # exactly 0.25 in both folds
        # One more error in each fold of 20: differences equal only up to rounding
        # (0.95 - 0.9 and 0.85 - 0.8 differ in the last bit), which once gave t = 2e15.
        ([0.95, 0.85, 0.9, 0.8, 0.75], [0.9, 0.8, 0.85, 0.75, 0.7]),
    ],
)
def test_corrected_ttest_without_variance_is_nan_with_a_warning_never_p_zero(a, b):
    d = np.subtract(a, b)
    with pytest.warns(RuntimeWarning, match="do not vary"):
        result = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert math.isnan(result.statistic) and math.isnan(result.pvalue)
    assert math.isnan(result.low) and math.isnan(result.high)
    assert result.mean_difference == pytest.approx(d.mean())
    assert result.df == len(a) - 1


def test_corrected_ttest_interval_of_the_mean_difference_against_hand_computed_values():
    # As above: mean 0.03, corrected se sqrt(0.0001125) = 0.0106066; the 97.5 % quantile
    # of t with 4 degrees of freedom is 2.7764451, so the half-width is 0.0294489.
    a = [0.80, 0.85, 0.90, 0.75, 0.80]
    b = [0.78, 0.80, 0.86, 0.74, 0.77]
    result = corrected_resampled_ttest(a, b, n_train=80, n_test=20)
    assert result.low == pytest.approx(0.03 - 2.7764451 * math.sqrt(0.0001125), rel=1e-7)
    assert result.high == pytest.approx(0.03 + 2.7764451 * math.sqrt(0.0001125), rel=1e-7)
    wider = corrected_resampled_ttest(a, b, n_train=80, n_test=20, confidence_level=0.99)
    assert wider.low < result.low and wider.high > result.high
    assert wider[:4] == result[:4]  # the test itself does not depend on the level


@pytest.mark.parametrize("seed", range(6))
def test_corrected_interval_excludes_zero_exactly_when_p_is_below_the_level(seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.7, 0.9, 5)
    b = a - rng.normal(0.02, 0.02, 5)
    for level in (0.9, 0.95):
        result = corrected_resampled_ttest(a, b, n_train=200, n_test=50, confidence_level=level)
        assert (result.low > 0 or result.high < 0) == (result.pvalue < 1 - level)
        assert result.low < result.mean_difference < result.high


def test_corrected_ttest_result_still_builds_from_its_first_four_fields():
    result = CorrectedTTestResult(1.0, 0.5, 4, 0.02)
    assert math.isnan(result.low) and math.isnan(result.high)
    _, _, _, mean, low, high = corrected_resampled_ttest(
        [0.8, 0.9, 0.7], [0.7, 0.85, 0.7], n_train=8, n_test=2
    )
    assert low < mean < high


def test_corrected_ttest_with_small_real_variation_is_still_computed():
    result = corrected_resampled_ttest([0.95, 0.85], [0.9, 0.81], n_train=80, n_test=20)
    assert math.isfinite(result.statistic) and 0 < result.pvalue < 1


# --- exact McNemar ---


@pytest.mark.parametrize("seed", range(8))
def test_mcnemar_matches_statsmodels_exact(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    y = rng.choice(["Monkeypox", "Others"], n)
    a = np.where(rng.random(n) < 0.8, y, "Monkeypox")
    b = np.where(rng.random(n) < 0.6, y, "Others")
    ca, cb = a == y, b == y
    table = [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]]
    reference = mcnemar(table, exact=True)
    ours = mcnemar_test(y, a, b)
    assert ours.statistic == reference.statistic
    assert ours.pvalue == pytest.approx(reference.pvalue)
    assert (ours.n_a_only, ours.n_b_only) == (table[0][1], table[1][0])


def test_mcnemar_without_discordant_pairs_has_p_one():
    result = mcnemar_test([0, 1, 1], [0, 1, 0], [0, 1, 0])
    assert result == (0, 1.0, 0, 0, "exact")


# --- DeLong ---


def correlated_scores(seed, n=70, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    shared = rng.normal(size=n)
    a = shared + 1.0 * y + rng.normal(0, 0.7, n)
    b = shared + 0.6 * y + rng.normal(0, 0.7, n)
    if ties:
        a, b = np.round(a), np.round(b)
    return y.astype(int), a, b


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_delong_test_matches_the_slow_definition(seed, ties):
    y, a, b = correlated_scores(seed, ties=ties)
    aucs, cov = slow_delong(y, [a, b])
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    result = delong_roc_test(y, a, b)
    assert result.auc_a == pytest.approx(aucs[0], abs=1e-12)
    assert result.auc_b == pytest.approx(aucs[1], abs=1e-12)
    assert result.statistic == pytest.approx(z, rel=1e-9)
    assert result.pvalue == pytest.approx(2 * scipy.stats.norm.sf(abs(z)), rel=1e-9)
    assert result.auc_a == pytest.approx(roc_auc_score(y, a))


@pytest.mark.parametrize("seed", range(4))
def test_delong_interval_matches_the_slow_definition(seed):
    y, a, _ = correlated_scores(seed, ties=bool(seed % 2))
    aucs, cov = slow_delong(y, [a])
    half = scipy.stats.norm.ppf(0.95) * math.sqrt(cov[0, 0])
    ci = delong_auc_ci(y, a, confidence_level=0.90, method="wald")
    assert ci.auc == pytest.approx(aucs[0])
    assert ci.low == pytest.approx(max(0.0, aucs[0] - half))
    assert ci.high == pytest.approx(min(1.0, aucs[0] + half))


def test_delong_interval_reproduces_a_published_example():
    """Hanley & McNeil's CT ratings, as analysed in Stata's roctab documentation.

    Data: 109 patients rated on a 5-point scale (1 = definitely normal ... 5 = definitely
    abnormal); 58 normal with ratings 1-5 counted 33, 6, 6, 11, 2 and 51 abnormal counted
    3, 2, 2, 11, 33 (Hanley JA, McNeil BJ. The meaning and use of the area under a receiver
    operating characteristic (ROC) curve. Radiology 1982;143:29-36, Table 1).
    The Stata Base Reference Manual, [R] roctab, Example 1 ("roctab disease rating", whose
    default standard error is DeLong, DeLong & Clarke-Pearson's) reports:
    ROC area 0.8932, Std. err. 0.0307, 95% CI 0.83295 to 0.95339.
    """
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58, dtype=int), np.ones(51, dtype=int)]
    rating = np.r_[normal, abnormal].astype(float)
    ci = delong_auc_ci(y, rating, method="wald")
    assert round(ci.auc, 4) == 0.8932
    assert round((ci.high - ci.low) / (2 * scipy.stats.norm.ppf(0.975)), 4) == 0.0307
    assert round(ci.low, 5) == 0.83295
    assert round(ci.high, 5) == 0.95339


def test_delong_test_of_identical_scores_is_undefined():
    y, a, _ = correlated_scores(1)
    result = delong_roc_test(y, a, a)
    assert result.auc_a == result.auc_b
    assert math.isnan(result.statistic) and math.isnan(result.pvalue)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_auc_difference_matches_the_slow_definition(seed, ties):
    y, a, b = correlated_scores(seed, ties=ties)
    aucs, cov = slow_delong(y, [a, b])
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    d = aucs[0] - aucs[1]
    z = scipy.stats.norm.ppf(0.95)
    result = delong_auc_difference(y, a, b, confidence_level=0.90)
    assert result.difference == pytest.approx(d, abs=1e-12)
    assert (result.low, result.high) == pytest.approx((d - z * se, d + z * se))
    assert result.reason is None
    # Without groups the p-value is DeLong's test's, and agrees with the interval.
    assert result.pvalue == pytest.approx(delong_roc_test(y, a, b).pvalue, rel=1e-12)
    assert (result.low > 0 or result.high < 0) == (result.pvalue < 0.10)


def test_auc_difference_with_a_perfect_model_still_has_an_interval():
    y, a, b = correlated_scores(3)
    perfect = y + 0.01 * a  # every positive above every negative
    result = delong_auc_difference(y, perfect, b)
    assert result.auc_a == 1.0 and result.reason is None
    # DeLong's variance of a perfect AUC is 0; the covariance is then that of the data with
    # a pseudo-image of each class at the other class's median score (see delong_auc_ci).
    scores = [np.r_[s, np.median(s[y == 0]), np.median(s[y == 1])] for s in (perfect, b)]
    _, cov = slow_delong(np.r_[y, 1, 0], scores)
    half = scipy.stats.norm.ppf(0.975) * math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    d = result.difference
    assert (result.low, result.high) == pytest.approx((d - half, min(1.0, d + half)))


def test_delong_respects_the_positive_class():
    y, a, b = correlated_scores(2)
    names = np.where(y == 1, "Monkeypox", "Others")
    by_name = delong_roc_test(names, a, b, positive_class="Monkeypox")
    assert by_name.statistic == pytest.approx(delong_roc_test(y, a, b).statistic)
    flipped = delong_roc_test(names, -a, -b, positive_class="Others")
    assert flipped.statistic == pytest.approx(by_name.statistic)
