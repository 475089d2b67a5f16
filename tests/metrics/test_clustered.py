"""Intervals and tests for grouped images against independent implementations written here.

Each clustered method must (1) agree with a direct, loop-by-loop transcription of its paper's
formulas and (2) give exactly the unclustered result when every group holds one image.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from mpx_eval.metrics import (
    bootstrap_prediction_metrics,
    delong_auc_ci,
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


@pytest.mark.parametrize("seed", range(4))
def test_clustered_delong_interval_matches_obuchowski_written_out(seed):
    y, a, _, groups = clustered_data(seed)
    aucs, cov = slow_obuchowski(y, [a], groups)
    ci = delong_auc_ci(y, a, positive_class=1, groups=groups, method="wald")
    half = scipy.stats.norm.ppf(0.975) * math.sqrt(cov[0, 0])
    assert (ci.low, ci.high) == pytest.approx((aucs[0] - half, min(1.0, aucs[0] + half)))
    logit = delong_auc_ci(y, a, positive_class=1, groups=groups)
    n_groups = len(set(groups))
    q = scipy.stats.t.ppf(0.975, n_groups - 1)
    centre = math.log(aucs[0] / (1 - aucs[0]))
    spread = q * math.sqrt(cov[0, 0]) / (aucs[0] * (1 - aucs[0]))
    expected = (1 / (1 + math.exp(-(centre - spread))), 1 / (1 + math.exp(-(centre + spread))))
    assert (logit.low, logit.high) == pytest.approx(expected)


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


# --- clustered McNemar (Durkalski et al. 2003) ---


def durkalski_written_out(y, a, b, groups):
    frame = pd.DataFrame({"g": groups, "b": (a == y) & (b != y), "c": (b == y) & (a != y)})
    per_group = frame.groupby("g")[["b", "c"]].sum()
    d = per_group["b"] - per_group["c"]
    statistic = d.sum() ** 2 / (d**2).sum()
    return statistic, scipy.stats.chi2.sf(statistic, 1)


@pytest.mark.parametrize("seed", range(6))
def test_clustered_mcnemar_matches_durkalski_written_out(seed):
    y, a, b, groups = clustered_data(seed)
    pred_a, pred_b = (a > 0.6).astype(int), (b > 0.4).astype(int)
    result = mcnemar_test(y, pred_a, pred_b, groups=groups)
    statistic, p = durkalski_written_out(y, pred_a, pred_b, groups)
    assert result.method == "clustered (Durkalski et al. 2003)"
    assert result.statistic == pytest.approx(statistic)
    assert result.pvalue == pytest.approx(p)
    assert result.n_a_only == int(((pred_a == y) & (pred_b != y)).sum())


@pytest.mark.parametrize("seed", range(6))
def test_clustered_mcnemar_with_one_image_per_group_is_the_exact_test(seed):
    y, a, b, _ = clustered_data(seed)
    pred_a, pred_b = (a > 0.6).astype(int), (b > 0.4).astype(int)
    singletons = [f"img{i}" for i in range(y.shape[0])]
    result = mcnemar_test(y, pred_a, pred_b, groups=singletons)
    assert result == mcnemar_test(y, pred_a, pred_b)
    ca, cb = pred_a == y, pred_b == y
    table = [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]]
    assert result.pvalue == pytest.approx(mcnemar(table, exact=True).pvalue)
    # Durkalski's statistic on singletons is the uncorrected asymptotic McNemar statistic.
    statistic, _ = durkalski_written_out(y, pred_a, pred_b, np.array(singletons))
    assert statistic == pytest.approx(mcnemar(table, exact=False, correction=False).statistic)


def test_clustered_mcnemar_without_discordant_images_has_p_one():
    result = mcnemar_test([0, 1, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0], groups=[1, 1, 2, 2])
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
    frame = pd.DataFrame({"y": success.astype(float), "g": groups})
    p, n = frame["y"].mean(), len(frame)
    totals = frame.groupby("g")["y"].agg(["sum", "count"])
    g = len(totals)
    between = g / (g - 1) * ((totals["sum"] - p * totals["count"]) ** 2).sum()
    independent = n / (n - 1) * ((frame["y"] - p) ** 2).sum()
    return max(1.0, between / independent), g


@pytest.mark.parametrize("seed", range(4))
def test_clustered_wilson_uses_the_design_effect_written_out(seed):
    y, a, _, groups = clustered_data(seed)
    pred = (a > 0.6).astype(int)
    cis = proportion_intervals(y, pred, positive_class=1, groups=groups)
    for name, success, rows in (
        ("accuracy", pred == y, np.ones_like(y, dtype=bool)),
        ("sensitivity", pred == 1, y == 1),
    ):
        deff, g = design_effect_written_out(success[rows], groups[rows])
        n_eff = rows.sum() / deff
        p = success[rows].mean()
        q = scipy.stats.t.ppf(0.975, g - 1)
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
