"""Intervals and tests for grouped images against independent implementations written here.

Each clustered method must (1) agree with a direct, loop-by-loop transcription of its paper's
formulas and (2) give exactly the unclustered result when every group holds one image.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.special
import scipy.stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from mpx_eval.metrics import (
    bootstrap_prediction_metrics,
    delong_auc_ci,
    delong_auc_difference,
    delong_roc_test,
    mcnemar_test,
    proportion_intervals,
    wilson_interval,
)

from .reference import slow_delong, slow_obuchowski


def clustered_data(seed, n_patients=30):
    """Patients of one label with 1-4 images each; two models' correlated scores."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_patients)
    patient = np.repeat(np.arange(n_patients), sizes)
    label = np.repeat(rng.random(n_patients) < 0.4, sizes)
    effect = np.repeat(rng.normal(size=n_patients), sizes)
    a = 1.2 * label + effect + rng.normal(size=patient.shape[0])
    b = 0.8 * label + effect + rng.normal(size=patient.shape[0])
    if seed % 2:
        a, b = np.round(a, 1), np.round(b, 1)  # ties
    return label.astype(int), a, b, np.array([f"p{i}" for i in patient])


# --- clustered DeLong (Obuchowski 1997) ---


@pytest.mark.parametrize("seed", range(4))
def test_clustered_delong_test_matches_obuchowski_written_out(seed):
    y, a, b, groups = clustered_data(seed)
    aucs, cov = slow_obuchowski(y, [a, b], groups)
    result = delong_roc_test(y, a, b, positive_class=1, groups=groups)
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert (result.auc_a, result.auc_b) == pytest.approx(tuple(aucs), abs=1e-12)
    assert result.statistic == pytest.approx(z, rel=1e-10)
    assert result.pvalue == pytest.approx(2 * scipy.stats.norm.sf(abs(z)), rel=1e-9)


def with_pseudo_images(y, scores, groups):
    """The data with one pseudo-image per class, each its own patient, written out."""
    y = np.asarray(y)
    extra = [[np.median(s[y == 0]), np.median(s[y == 1])] for s in scores]
    return (
        np.r_[y, 1, 0],
        [np.r_[s, e] for s, e in zip(scores, extra, strict=True)],
        np.concatenate([np.asarray(groups, dtype=object), ["pseudo positive", "pseudo negative"]]),
    )


def rarer_class_quantile(y, groups, level=0.975):
    """Student's t on (groups of the rarer class - 1) degrees of freedom."""
    y, groups = np.asarray(y), np.asarray(groups)
    rarer = min(len(set(groups[y == 1])), len(set(groups[y == 0])))
    return scipy.stats.t.ppf(level, rarer - 1)


@pytest.mark.parametrize("seed", range(4))
def test_clustered_delong_interval_matches_obuchowski_written_out(seed):
    y, a, _, groups = clustered_data(seed)
    aucs, cov = slow_obuchowski(y, [a], groups)
    q = rarer_class_quantile(y, groups)
    ci = delong_auc_ci(y, a, positive_class=1, groups=groups, method="wald")
    half = q * math.sqrt(cov[0, 0])
    assert (ci.low, ci.high) == pytest.approx((aucs[0] - half, min(1.0, aucs[0] + half)))
    assert ci.reason is None
    # The logit interval is that of the data extended by the two pseudo-images, its upper
    # end raised to the plain logit interval's where that is higher.
    shrunk, shrunk_cov = slow_obuchowski(*with_pseudo_images(y, [a], groups))
    centre = math.log(shrunk[0] / (1 - shrunk[0]))
    spread = q * math.sqrt(shrunk_cov[0, 0]) / (shrunk[0] * (1 - shrunk[0]))
    low, high = scipy.special.expit([centre - spread, centre + spread])
    plain_spread = q * math.sqrt(cov[0, 0]) / (aucs[0] * (1 - aucs[0]))
    high = max(high, scipy.special.expit(math.log(aucs[0] / (1 - aucs[0])) + plain_spread))
    logit = delong_auc_ci(y, a, positive_class=1, groups=groups)
    assert logit.auc == pytest.approx(aucs[0], abs=1e-12)
    assert (logit.low, logit.high) == pytest.approx((min(low, aucs[0]), max(high, aucs[0])))


def test_a_high_clustered_auc_keeps_room_above_it():
    # the shrunk centre pulls towards 0.5; the upper end must not stop at the estimate
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 4, 40)
    patient = np.repeat(np.arange(40), sizes)
    y = (patient % 2).astype(int)
    score = 3 * y + rng.normal(size=patient.shape[0])
    ci = delong_auc_ci(y, score, positive_class=1, groups=patient)
    assert 0.99 < ci.auc < 1 and ci.high > ci.auc + 0.004


def test_clustered_degrees_of_freedom_come_from_the_rarer_class():
    # 3 patients with the disease, 30 without: the variance rests on the 3, so t on 2 df,
    # not on the 32 of all patients less one.
    rng = np.random.default_rng(5)
    sizes = rng.integers(2, 6, 33)
    patient = np.repeat(np.arange(33), sizes)
    y = (patient < 3).astype(int)
    score = y + np.repeat(rng.normal(size=33), sizes) + rng.normal(size=patient.shape[0])
    _, cov = slow_obuchowski(y, [score], patient)
    ci = delong_auc_ci(
        y, score, positive_class=1, groups=patient, method="wald", confidence_level=0.5
    )
    assert ci.low > 0 and ci.high < 1
    half = scipy.stats.t.ppf(0.75, 2) * math.sqrt(cov[0, 0])
    assert (ci.high - ci.low) / 2 == pytest.approx(half)


def perfect_separation():
    """Four patients of each class, two to three photos each, every Monkeypox photo above."""
    y = np.array(["Others"] * 10 + ["Monkeypox"] * 10)
    score = np.r_[np.linspace(0.05, 0.45, 10), np.linspace(0.55, 0.95, 10)]
    patient = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7])
    return y, score, patient


def test_a_clustered_auc_of_one_gets_a_real_interval():
    y, score, patient = perfect_separation()
    ci = delong_auc_ci(y, score, positive_class="Monkeypox", groups=patient)
    assert ci.auc == 1.0 and ci.high == 1.0 and ci.reason is None
    # Four patients a class: perfect separation is far from proof of an AUC near 1.
    assert 0.3 < ci.low < 0.9
    # ...and it is the interval of the data with the pseudo-images, written out.
    codes = (y == "Monkeypox").astype(int)
    shrunk, cov = slow_obuchowski(*with_pseudo_images(codes, [score], patient))
    half = rarer_class_quantile(codes, patient) * math.sqrt(cov[0, 0])
    expected = scipy.special.expit(
        math.log(shrunk[0] / (1 - shrunk[0])) - half / (shrunk[0] * (1 - shrunk[0]))
    )
    assert ci.low == pytest.approx(expected)
    # Two patients a class (pairs merged), a wider interval; an AUC of 0 mirrors one of 1.
    wider = delong_auc_ci(y, score, positive_class="Monkeypox", groups=patient // 2)
    assert wider.low < ci.low
    flipped = delong_auc_ci(y, -score, positive_class="Monkeypox", groups=patient)
    assert flipped.auc == 0.0
    assert (flipped.low, flipped.high) == pytest.approx((1 - ci.high, 1 - ci.low))
    wald = delong_auc_ci(y, score, positive_class="Monkeypox", groups=patient, method="wald")
    assert wald.high == 1.0 and wald.low < 1.0


def test_an_unclustered_auc_of_one_gets_a_real_interval():
    ci = delong_auc_ci([0] * 10 + [1] * 10, np.arange(20))
    assert ci.auc == 1.0 and ci.high == 1.0 and 0.6 < ci.low < 0.99


def test_too_few_groups_of_a_class_gives_nan_bounds_and_says_why():
    y, score, patient = perfect_separation()
    one_positive_patient = np.where(y == "Monkeypox", 99, patient)
    ci = delong_auc_ci(y, score, positive_class="Monkeypox", groups=one_positive_patient)
    assert ci.auc == 1.0 and math.isnan(ci.low) and math.isnan(ci.high)
    assert ci.reason.startswith("too few groups of class 'Monkeypox' (1)")
    one_other_patient = np.where(y == "Others", 99, patient)
    ci = delong_auc_ci(y, score, positive_class="Monkeypox", groups=one_other_patient)
    assert ci.reason.startswith("too few groups of class 'Others' (1)")
    ci = delong_auc_ci([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(ci.low) and ci.reason.startswith("too few images of class 0 (1)")
    # The first three fields are the interval, as before the reason was added.
    auc, low, high = ci[:3]
    assert auc == 1.0 and math.isnan(low) and math.isnan(high)


# --- AUC difference (paired, clustered) ---


@pytest.mark.parametrize("seed", range(4))
def test_clustered_auc_difference_matches_obuchowski_written_out(seed):
    y, a, b, groups = clustered_data(seed)
    aucs, _ = slow_obuchowski(y, [a, b], groups)
    _, cov = slow_obuchowski(*with_pseudo_images(y, [a, b], groups))
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    q = rarer_class_quantile(y, groups)
    df = min(len(set(groups[y == 1])), len(set(groups[y == 0]))) - 1
    d = aucs[0] - aucs[1]
    result = delong_auc_difference(y, a, b, positive_class=1, groups=groups)
    assert (result.auc_a, result.auc_b) == pytest.approx(tuple(aucs), abs=1e-12)
    assert result.difference == pytest.approx(d, abs=1e-12)
    assert (result.low, result.high) == pytest.approx((d - q * se, d + q * se))
    assert result.pvalue == pytest.approx(2 * scipy.stats.t.sf(abs(d) / se, df))
    assert (result.low > 0 or result.high < 0) == (result.pvalue < 0.05)
    swapped = delong_auc_difference(y, b, a, positive_class=1, groups=groups)
    assert (swapped.difference, swapped.low, swapped.high) == pytest.approx(
        (-result.difference, -result.high, -result.low)
    )


def test_clustered_auc_difference_says_why_it_has_no_interval():
    y, a, _, groups = clustered_data(2)
    same = delong_auc_difference(y, a, 2 * a + 1, positive_class=1, groups=groups)
    assert same.difference == 0 and math.isnan(same.low) and math.isnan(same.pvalue)
    assert "rank the images alike" in same.reason
    y, score, patient = perfect_separation()
    lumped = np.where(y == "Others", 99, patient)
    result = delong_auc_difference(y, score, score**2, positive_class="Monkeypox", groups=lumped)
    assert math.isnan(result.high) and result.reason.startswith("too few groups of class 'Others'")


@pytest.mark.parametrize("seed", range(4))
def test_clustered_delong_with_one_image_per_group_is_delong_exactly(seed):
    y, a, b, _ = clustered_data(seed)
    singletons = np.arange(y.shape[0])
    assert delong_roc_test(y, a, b, positive_class=1, groups=singletons) == delong_roc_test(
        y, a, b, positive_class=1
    )
    for method in ("wald", "logit"):
        assert delong_auc_ci(
            y, a, positive_class=1, groups=singletons, method=method
        ) == delong_auc_ci(y, a, positive_class=1, method=method)
    # ...and that is DeLong written out; Obuchowski's formula agrees with singletons too.
    aucs, cov = slow_delong(y, [a, b])
    slow_aucs, slow_cov = slow_obuchowski(y, [a, b], singletons)
    np.testing.assert_allclose(slow_cov, cov, rtol=1e-10)
    np.testing.assert_allclose(slow_aucs, aucs)


def test_the_clustered_auc_interval_is_wider_when_images_of_a_patient_agree():
    y, a, _, groups = clustered_data(11, n_patients=60)
    ignoring = delong_auc_ci(y, a, positive_class=1)
    clustered = delong_auc_ci(y, a, positive_class=1, groups=groups)
    assert clustered.high - clustered.low > 1.1 * (ignoring.high - ignoring.low)


# --- clustered McNemar: cluster counts (default) and Durkalski et al. (2003) ---


def per_group_discordance(y, a, b, groups):
    frame = pd.DataFrame({"g": groups, "b": (a == y) & (b != y), "c": (b == y) & (a != y)})
    return frame.groupby("g").agg(b=("b", "sum"), c=("c", "sum"), n=("b", "size"))


def cluster_count_written_out(y, a, b, groups):
    table = per_group_discordance(y, a, b, groups)
    d = table["b"] - table["c"]
    statistic = d.sum() ** 2 / (d**2).sum()
    return statistic, scipy.stats.chi2.sf(statistic, 1)


def durkalski_written_out(y, a, b, groups):
    """Durkalski et al.'s statistic on each group's proportions of discordant images."""
    table = per_group_discordance(y, a, b, groups)
    share = (table["b"] - table["c"]) / table["n"]
    statistic = share.sum() ** 2 / (share**2).sum()
    return statistic, scipy.stats.chi2.sf(statistic, 1)


@pytest.mark.parametrize("seed", range(6))
def test_clustered_mcnemar_matches_the_cluster_count_form_written_out(seed):
    y, a, b, groups = clustered_data(seed)
    pred_a, pred_b = (a > 0.6).astype(int), (b > 0.4).astype(int)
    result = mcnemar_test(y, pred_a, pred_b, groups=groups)
    statistic, p = cluster_count_written_out(y, pred_a, pred_b, groups)
    assert result.method == "clustered (cluster counts, Obuchowski 1998)"
    assert result == mcnemar_test(y, pred_a, pred_b, groups=groups, method="cluster-count")
    assert result.statistic == pytest.approx(statistic)
    assert result.pvalue == pytest.approx(p)
    assert result.n_a_only == int(((pred_a == y) & (pred_b != y)).sum())


@pytest.mark.parametrize("seed", range(6))
def test_clustered_mcnemar_matches_durkalski_written_out(seed):
    y, a, b, groups = clustered_data(seed)
    pred_a, pred_b = (a > 0.6).astype(int), (b > 0.4).astype(int)
    result = mcnemar_test(y, pred_a, pred_b, groups=groups, method="durkalski")
    statistic, p = durkalski_written_out(y, pred_a, pred_b, groups)
    assert result.method == "clustered (Durkalski et al. 2003)"
    assert result.statistic == pytest.approx(statistic)
    assert result.pvalue == pytest.approx(p)
    assert result.n_b_only == int(((pred_b == y) & (pred_a != y)).sum())


def test_the_two_clustered_forms_agree_when_every_group_has_the_same_size():
    y, a, b, _ = clustered_data(3)
    groups = np.arange(y.shape[0]) // 3
    pred_a, pred_b = (a > 0.6).astype(int), (b > 0.4).astype(int)
    count = mcnemar_test(y, pred_a, pred_b, groups=groups)
    durkalski = mcnemar_test(y, pred_a, pred_b, groups=groups, method="durkalski")
    if y.shape[0] % 3 == 0:
        assert count.statistic == pytest.approx(durkalski.statistic)
    # Unequal sizes (the last group may be short) make them differ, not equal sizes.
    sizes = [3] * (y.shape[0] // 3) + [y.shape[0] % 3] * bool(y.shape[0] % 3)
    assert len(set(sizes)) > 1 or count.statistic == pytest.approx(durkalski.statistic)


@pytest.mark.parametrize("method", ["cluster-count", "durkalski"])
@pytest.mark.parametrize("seed", range(6))
def test_clustered_mcnemar_with_one_image_per_group_is_the_exact_test(seed, method):
    y, a, b, _ = clustered_data(seed)
    pred_a, pred_b = (a > 0.6).astype(int), (b > 0.4).astype(int)
    singletons = [f"img{i}" for i in range(y.shape[0])]
    result = mcnemar_test(y, pred_a, pred_b, groups=singletons, method=method)
    assert result == mcnemar_test(y, pred_a, pred_b)
    ca, cb = pred_a == y, pred_b == y
    table = [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]]
    assert result.pvalue == pytest.approx(mcnemar(table, exact=True).pvalue)
    # Both clustered statistics on singletons are the uncorrected asymptotic McNemar one.
    asymptotic = mcnemar(table, exact=False, correction=False).statistic
    for written_out in (cluster_count_written_out, durkalski_written_out):
        statistic, _ = written_out(y, pred_a, pred_b, np.array(singletons))
        assert statistic == pytest.approx(asymptotic)


@pytest.mark.parametrize("method", ["cluster-count", "durkalski"])
def test_clustered_mcnemar_without_discordant_images_has_p_one(method):
    result = mcnemar_test(
        [0, 1, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0], groups=[1, 1, 2, 2], method=method
    )
    assert (result.statistic, result.pvalue) == (0.0, 1.0)


# --- Wilson intervals ---


@pytest.mark.parametrize(("k", "n"), [(0, 5), (1, 1), (10, 10), (37, 50), (3, 228), (120, 228)])
def test_wilson_interval_matches_statsmodels(k, n):
    ci = wilson_interval(k, n)
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-12)
    assert ci.estimate == k / n


def test_intervals_no_longer_collapse_at_the_edges():
    # Sensitivity 10/10 and a PPV from a single predicted positive.
    y_true = [1] * 10 + [0] * 20
    y_pred = [1] * 10 + [0] * 20
    cis = proportion_intervals(y_true, y_pred, positive_class=1)
    assert cis["sensitivity"].high == 1.0 and cis["sensitivity"].low == pytest.approx(0.7225, 1e-3)
    one_call = proportion_intervals([1, 1, 0, 0, 0], [1, 0, 0, 0, 0], positive_class=1)
    assert one_call["ppv"].estimate == 1.0 and one_call["ppv"].low < 0.25


def test_bootstrap_records_the_resamples_where_a_metric_is_undefined():
    y = np.array(["Monkeypox"] * 2 + ["Others"] * 28)
    p = np.r_[0.9, 0.2, np.full(28, 0.1)]
    cis = bootstrap_prediction_metrics(
        y,
        np.column_stack([p, 1 - p]),
        labels=["Monkeypox", "Others"],
        positive_class="Monkeypox",
        n_resamples=400,
        random_state=0,
    )
    # PPV is undefined whenever the one image called positive is not drawn: (1 - 1/30)^30.
    assert cis["ppv"].n_dropped / 400 == pytest.approx((29 / 30) ** 30, abs=0.06)
    assert cis["accuracy"].n_dropped == 0


def design_effect_written_out(success, groups):
    """Jackknife (CR3) design effect with one pseudo-group; Kish's effective group count."""
    frame = pd.DataFrame({"y": success.astype(float), "g": groups})
    n = len(frame)
    totals = frame.groupby("g")["y"].agg(["sum", "count"]).astype(float)
    kish = n**2 / (totals["count"] ** 2).sum()
    pseudo = n / len(totals)  # the mean group size, half of its images successes
    totals.loc["pseudo-group"] = [pseudo / 2, pseudo]
    total = n + pseudo
    p = totals["sum"].sum() / total
    between = (((totals["sum"] - p * totals["count"]) / (1 - totals["count"] / total)) ** 2).sum()
    images = ((frame["y"] - p) ** 2).sum() + pseudo * (0.5 - p) ** 2
    return max(1.0, between / (images / (1 - 1 / total) ** 2)), kish


@pytest.mark.parametrize("seed", range(4))
def test_clustered_wilson_uses_the_design_effect_written_out(seed):
    y, a, _, groups = clustered_data(seed)
    pred = (a > 0.6).astype(int)
    cis = proportion_intervals(y, pred, positive_class=1, groups=groups)
    for name, success, rows in (
        ("accuracy", pred == y, np.ones_like(y, dtype=bool)),
        ("sensitivity", pred == 1, y == 1),
    ):
        deff, kish = design_effect_written_out(success[rows], groups[rows])
        n_eff = rows.sum() / deff
        p = success[rows].mean()
        q = scipy.stats.t.ppf(0.975, kish - 1)
        centre = (p + q**2 / (2 * n_eff)) / (1 + q**2 / n_eff)
        half = q * math.sqrt(p * (1 - p) / n_eff + q**2 / (4 * n_eff**2)) / (1 + q**2 / n_eff)
        assert cis[name].method == "Wilson score, groups' design effect"
        assert (cis[name].low, cis[name].high) == pytest.approx((centre - half, centre + half))


@pytest.mark.parametrize("seed", range(4))
def test_clustered_wilson_with_one_image_per_group_is_wilson_exactly(seed):
    y, a, _, _ = clustered_data(seed)
    pred = (a > 0.6).astype(int)
    alone = proportion_intervals(y, pred, positive_class=1, groups=np.arange(y.shape[0]))
    assert alone == proportion_intervals(y, pred, positive_class=1)
    correct = int((pred == y).sum())
    assert alone["accuracy"] == wilson_interval(correct, y.shape[0])
