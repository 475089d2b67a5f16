"""Bootstrap intervals: what is resampled, reproducibility, agreement of the two paths, coverage."""

import tracemalloc

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics as skm

from mpx_eval.metrics import _bootstrap, bootstrap_ci, bootstrap_prediction_metrics

CLASSES = ["Monkeypox", "Others"]


def binary_predictions(seed, n_pos=40, n_neg=50, separation=1.0):
    rng = np.random.default_rng(seed)
    y = np.array(["Monkeypox"] * n_pos + ["Others"] * n_neg)
    score = rng.normal(size=n_pos + n_neg) + separation * (y == "Monkeypox")
    p = 1 / (1 + np.exp(-score))
    return y, np.column_stack([p, 1 - p])


def count_monkeypox(y, _):
    return float(np.sum(y == "Monkeypox"))


def test_stratified_resamples_keep_every_class_count():
    y, prob = binary_predictions(0)
    stratified = bootstrap_ci(
        count_monkeypox, y, prob, stratify=True, n_resamples=200, random_state=1
    )
    assert stratified.low == stratified.high == 40
    free = bootstrap_ci(count_monkeypox, y, prob, n_resamples=200, random_state=1)
    assert free.low < 40 < free.high
    assert stratified.method == "percentile (samples resampled, stratified by label)"
    assert free.method == "percentile (samples resampled, not stratified)"


def test_groups_are_resampled_whole_and_stratified_by_their_label():
    # Patients with 1 to 4 images each; every image of a patient has the patient's label.
    sizes = [1, 2, 3, 4] * 5
    groups = np.repeat([f"p{i}" for i in range(20)], sizes)
    y = np.where(np.repeat(np.arange(20) % 2, sizes) == 0, "Monkeypox", "Others")
    size_of = dict(zip([f"p{i}" for i in range(20)], sizes, strict=True))

    def whole_groups_drawn(y_resampled, g_resampled):
        names, counts = np.unique(g_resampled, return_counts=True)
        draws = counts / np.array([size_of[g] for g in names])
        if not np.allclose(draws, np.round(draws)):
            return -1.0  # a group was split
        is_monkeypox = np.array([y_resampled[g_resampled == g][0] == "Monkeypox" for g in names])
        return float(draws[is_monkeypox].sum())  # groups drawn from the Monkeypox stratum

    ci = bootstrap_ci(
        whole_groups_drawn, y, groups, groups=groups, stratify=True, n_resamples=200, random_state=2
    )
    assert ci.low == ci.high == 10
    assert ci.method == "percentile (whole groups resampled, stratified by group label)"
    images = bootstrap_ci(
        count_monkeypox, y, groups, groups=groups, n_resamples=200, random_state=2
    )
    assert images.low < images.estimate < images.high  # image counts vary with the groups drawn


def test_same_seed_same_interval_other_seed_other_interval():
    y, prob = binary_predictions(3)
    auc = lambda t, p: skm.roc_auc_score(t == "Monkeypox", p[:, 0])  # noqa: E731
    first = bootstrap_ci(auc, y, prob, n_resamples=300, random_state=7)
    again = bootstrap_ci(auc, y, prob, n_resamples=300, random_state=7)
    other = bootstrap_ci(auc, y, prob, n_resamples=300, random_state=8)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == pytest.approx(skm.roc_auc_score(y == "Monkeypox", prob[:, 0]))


def sklearn_metrics():
    def predicted(p):
        return np.array(CLASSES)[p.argmax(axis=1)]

    return {
        "accuracy": lambda t, p: skm.accuracy_score(t, predicted(p)),
        "balanced_accuracy": lambda t, p: skm.balanced_accuracy_score(t, predicted(p)),
        "mcc": lambda t, p: skm.matthews_corrcoef(t, predicted(p)),
        "f1": lambda t, p: skm.f1_score(t, predicted(p), pos_label="Monkeypox"),
        "roc_auc": lambda t, p: skm.roc_auc_score(t == "Monkeypox", p[:, 0]),
        "average_precision": lambda t, p: skm.average_precision_score(t == "Monkeypox", p[:, 0]),
        "brier": lambda t, p: skm.brier_score_loss(t == "Monkeypox", p[:, 0]),
        "npv": lambda t, p: skm.precision_score(t, predicted(p), pos_label="Others"),
    }


@pytest.mark.parametrize("grouped", [False, True])
def test_vectorised_intervals_equal_the_generic_path_with_sklearn_metrics(grouped):
    y, prob = binary_predictions(5, n_pos=30, n_neg=36)
    groups = np.array([f"g{i // 3}" for i in range(66)]) if grouped else None
    fast = bootstrap_prediction_metrics(
        y,
        prob,
        labels=CLASSES,
        positive_class="Monkeypox",
        groups=groups,
        n_resamples=150,
        random_state=11,
    )
    for name, metric in sklearn_metrics().items():
        slow = bootstrap_ci(metric, y, prob, groups=groups, n_resamples=150, random_state=11)
        assert fast[name].estimate == pytest.approx(slow.estimate, abs=1e-12), name
        assert fast[name].low == pytest.approx(slow.low, abs=1e-12), name
        assert fast[name].high == pytest.approx(slow.high, abs=1e-12), name
        assert fast[name].method == slow.method


def test_bca_follows_scipy_for_unstratified_rows():
    rng = np.random.default_rng(0)
    correct = (rng.random(80) < 0.8).astype(float)
    y = np.where(correct == 1, "right", "wrong")
    accuracy = lambda t, _: float(np.mean(t == "right"))  # noqa: E731
    ours = bootstrap_ci(
        accuracy, y, correct, stratify=False, method="bca", n_resamples=500, random_state=3
    )
    reference = scipy.stats.bootstrap(
        (correct,), np.mean, method="BCa", n_resamples=500, rng=np.random.default_rng(3)
    ).confidence_interval
    assert ours.low == pytest.approx(reference.low)
    assert ours.high == pytest.approx(reference.high)
    assert ours.method == "BCa (samples resampled)"


def test_percentile_intervals_cover_the_truth_about_95_percent_of_the_time():
    """Coverage over 300 seeded trials of a design with fixed class counts.

    Each trial draws 60 Monkeypox and 60 Others images; a Monkeypox image is classified
    correctly with probability 0.8 and an Others image with probability 0.7, so the true
    accuracy is 0.75; scores are binormal with a separation of 1, so the true AUC is
    Phi(1 / sqrt(2)) = 0.7602. With 300 trials the standard error of an observed coverage
    of 95 % is 1.3 points; we accept 90 % to 99 % (about -4 and +3 standard errors; the
    percentile bootstrap is known to under-cover slightly at this sample size).
    """
    rng = np.random.default_rng(2024)
    n = 60
    y = np.array(["Monkeypox"] * n + ["Others"] * n)
    true_auc = scipy.stats.norm.cdf(1 / np.sqrt(2))
    trials, covered_accuracy, covered_auc = 300, 0, 0
    for trial in range(trials):
        correct = np.r_[rng.random(n) < 0.8, rng.random(n) < 0.7]
        confidence = rng.uniform(0.55, 0.95, 2 * n)
        is_monkeypox_call = np.where(y == "Monkeypox", correct, ~correct)
        p_monkeypox = np.where(is_monkeypox_call, confidence, 1 - confidence)
        accuracy_ci = bootstrap_prediction_metrics(
            y,
            np.column_stack([p_monkeypox, 1 - p_monkeypox]),
            labels=CLASSES,
            n_resamples=400,
            random_state=trial,
        )["accuracy"]
        covered_accuracy += accuracy_ci.low <= 0.75 <= accuracy_ci.high
        score = rng.normal(size=2 * n) + (y == "Monkeypox")
        p = 1 / (1 + np.exp(-score))
        auc_ci = bootstrap_prediction_metrics(
            y, np.column_stack([p, 1 - p]), labels=CLASSES, n_resamples=400, random_state=trial
        )["roc_auc"]
        covered_auc += auc_ci.low <= true_auc <= auc_ci.high
    assert 0.90 <= covered_accuracy / trials <= 0.99
    assert 0.90 <= covered_auc / trials <= 0.99


def test_resamples_where_the_metric_fails_are_left_out():
    y = np.array(["Monkeypox", "Others"] * 10)
    score = np.linspace(0, 1, 20)
    auc = lambda t, s: skm.roc_auc_score(t == "Monkeypox", s)  # noqa: E731
    # Unstratified resamples of 20 rows can hold one class; sklearn raises there.
    ci = bootstrap_ci(auc, y, score, stratify=False, n_resamples=300, random_state=0)
    assert 0 <= ci.low <= ci.high <= 1


# --- groups of one image, and counts drawn in blocks ---


@pytest.mark.parametrize("stratify", [False, True])
def test_groups_of_one_image_give_exactly_the_ungrouped_bootstrap(stratify):
    # Once 0.6965 with groups of one against 0.6933 without, and another method string.
    y, prob = binary_predictions(4)
    singletons = [f"img{i}" for i in range(y.shape[0])]
    auc = lambda t, p: skm.roc_auc_score(t == "Monkeypox", p[:, 0])  # noqa: E731
    options = {"stratify": stratify, "n_resamples": 300, "random_state": 5}
    alone = bootstrap_ci(auc, y, prob, groups=singletons, **options)
    assert alone == bootstrap_ci(auc, y, prob, **options)
    assert alone.method.startswith("percentile (samples resampled")
    vectorised = bootstrap_prediction_metrics(
        y, prob, labels=CLASSES, positive_class="Monkeypox", groups=singletons, **options
    )
    assert vectorised == bootstrap_prediction_metrics(
        y, prob, labels=CLASSES, positive_class="Monkeypox", **options
    )


def counts_all_at_once(plan, n_resamples, rng):
    """The counts as drawn before blocking: every resample of one stratum, then the next."""
    unit_counts = np.zeros((n_resamples, plan.unit_strata.shape[0]), dtype=np.int32)
    for stratum in np.unique(plan.unit_strata):
        members = np.flatnonzero(plan.unit_strata == stratum)
        m = members.shape[0]
        unit_counts[:, members] = rng.multinomial(m, np.full(m, 1.0 / m), size=n_resamples)
    return unit_counts[:, plan.unit_of_sample]


@pytest.mark.parametrize(("stratify", "grouped"), [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("block", [1, 7, 64, 10_000])
def test_counts_drawn_in_blocks_equal_the_counts_drawn_at_once(stratify, grouped, block):
    y = np.array(["Monkeypox"] * 23 + ["Others"] * 31 + ["Unsure"] * 9)
    groups = np.array([f"g{i // 3}" for i in range(y.shape[0])]) if grouped else None
    plan = _bootstrap.resampling_plan(y, groups, stratify)
    rng = np.random.default_rng(17)
    blocks = list(_bootstrap.count_blocks(plan, 50, rng, block))
    reference_rng = np.random.default_rng(17)
    reference = counts_all_at_once(plan, 50, reference_rng)
    assert [start for start, _ in blocks] == list(range(0, 50, block))
    np.testing.assert_array_equal(np.concatenate([c for _, c in blocks]), reference)
    # The generator is left where the draw at once leaves it (a caller's Generator goes on).
    assert rng.random() == reference_rng.random()


@pytest.mark.parametrize("grouped", [False, True])
def test_small_blocks_give_the_same_intervals(monkeypatch, grouped):
    y, prob = binary_predictions(6, n_pos=25, n_neg=35)
    groups = np.array([f"g{i // 4}" for i in range(60)]) if grouped else None
    options = {
        "labels": CLASSES,
        "positive_class": "Monkeypox",
        "groups": groups,
        "stratify": True,
        "n_resamples": 120,
        "random_state": 9,
    }
    at_once = bootstrap_prediction_metrics(y, prob, **options)
    mcc = lambda t, p: skm.matthews_corrcoef(t, np.array(CLASSES)[p.argmax(axis=1)])  # noqa: E731
    generic_options = {k: options[k] for k in ("groups", "stratify", "n_resamples", "random_state")}
    generic = bootstrap_ci(mcc, y, prob, **generic_options)
    monkeypatch.setattr(_bootstrap, "_BLOCK_ENTRIES", 60 * 7)  # blocks of 7 resamples
    blocked = bootstrap_prediction_metrics(y, prob, **options)
    assert blocked.keys() == at_once.keys()
    for name, ci in blocked.items():
        # Same resamples; a matrix product over 7 rows may round the last bit differently.
        expected = at_once[name]
        assert ci[:3] == pytest.approx(expected[:3], rel=1e-12, abs=1e-15), name
        assert (ci.method, ci.n_dropped) == (expected.method, expected.n_dropped)
    assert bootstrap_ci(mcc, y, prob, **generic_options) == generic


def test_the_bootstrap_no_longer_holds_every_resample_at_once(monkeypatch):
    """Extra memory is bounded by the block, not by images x resamples.

    The whole count matrix of 20,000 images x 500 resamples is 40 MB as int32 (the draw
    made 80 MB of int64 on the way); in blocks of 5 resamples the peak stays far below.
    """
    rng = np.random.default_rng(0)
    n, n_resamples = 20_000, 500
    y = np.where(rng.random(n) < 0.4, "Monkeypox", "Others")
    p = np.clip(np.where(y == "Monkeypox", 0.7, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    prob = np.column_stack([p, 1 - p])
    monkeypatch.setattr(_bootstrap, "_BLOCK_ENTRIES", 100_000)
    tracemalloc.start()
    try:
        bootstrap_prediction_metrics(
            y, prob, labels=CLASSES, n_resamples=n_resamples, random_state=0
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_matrix = n * n_resamples * 4
    assert peak < whole_matrix / 2, f"peak {peak / 1e6:.1f} MB"
