"""Every public function rejects bad input with a ValueError that names what is wrong."""

import numpy as np
import pandas as pd
import pytest

import mpx_eval.metrics as M

Y2 = np.array(["Monkeypox", "Others"] * 5)
P1 = np.linspace(0.05, 0.95, 10)
P2 = np.column_stack([P1, 1 - P1])
Y3 = np.array(["a", "b", "c"] * 4)
P3 = np.tile([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]], (4, 1))


def with_nans(values, count):
    values = np.array(values, dtype=float)
    values.flat[:count] = np.nan
    return values


CASES = {
    # lengths
    "accuracy length": (
        lambda: M.accuracy_score([0, 1], [0]),
        "y_true has 2 entries, y_pred has 1",
    ),
    "auc length": (lambda: M.roc_auc_score(Y2, P1[:9]), "y_true has 10 entries, y_score has 9"),
    "delong length": (
        lambda: M.delong_roc_test(Y2, P1, P1[:8]),
        "y_true has 10 entries, y_score_b has 8",
    ),
    "mcnemar length": (
        lambda: M.mcnemar_test([0, 1, 1], [0, 1], [0, 1, 1]),
        "y_true has 3 entries, y_pred_a has 2",
    ),
    "ttest length": (
        lambda: M.corrected_resampled_ttest([0.8, 0.9, 0.7], [0.8, 0.9], n_train=8, n_test=2),
        "scores_a has 3 entries, scores_b has 2",
    ),
    "bootstrap groups length": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, groups=["g"] * 9),
        "y_true has 10 entries, groups has 9",
    ),
    "fold length": (
        lambda: M.fold_metrics(Y2, P2, [1] * 9, labels=["Monkeypox", "Others"]),
        "y_true has 10 entries, folds has 9",
    ),
    "empty": (lambda: M.accuracy_score([], []), "y_true is empty"),
    # non-finite scores
    "nan scores": (lambda: M.roc_auc_score(Y2, with_nans(P1, 3)), "y_score has 3 NaN values"),
    "inf scores": (
        lambda: M.roc_curve(Y2, np.r_[np.inf, P1[1:]]),
        "y_score has 1 infinite value",
    ),
    "nan probabilities": (
        lambda: M.brier_score_loss(Y2, with_nans(P1, 2)),
        "y_prob has 2 NaN values",
    ),
    "nan fold scores": (
        lambda: M.corrected_resampled_ttest([0.8, np.nan], [0.7, 0.6], n_train=8, n_test=2),
        "scores_a has 1 NaN value",
    ),
    "non-numeric scores": (lambda: M.roc_auc_score(Y2, ["x"] * 10), "y_score must hold numbers"),
    # probabilities outside [0, 1]
    "brier > 1": (lambda: M.brier_score_loss(Y2, P1 + 0.5), "y_prob has 5 values outside [0, 1]"),
    "ece < 0": (lambda: M.expected_calibration_error(Y2, P2 - 0.1), "outside [0, 1]"),
    "reliability logits": (lambda: M.reliability_curve(Y2, P1 * 10), "outside [0, 1]"),
    "bundle percentages": (
        lambda: M.prediction_metrics(Y2, P2 * 100, labels=["Monkeypox", "Others"]),
        "outside [0, 1]",
    ),
    # one class where two are needed
    "auc one class": (
        lambda: M.roc_auc_score(["Others"] * 4, [0.1, 0.2, 0.3, 0.4]),
        "y_true contains only one class ('Others')",
    ),
    "auc positive absent": (
        lambda: M.roc_auc_score(
            ["Others"] * 4, [0.1, 0.2, 0.3, 0.4], labels=["Monkeypox", "Others"]
        ),
        "y_true contains only one class ('Others'); ROC AUC needs samples of both",
    ),
    "roc curve one class": (
        lambda: M.roc_curve([1, 1, 1], [0.2, 0.4, 0.6], labels=[0, 1]),
        "only one class",
    ),
    "delong one class": (
        lambda: M.delong_auc_ci([0, 0, 0], [0.1, 0.2, 0.3]),
        "y_true contains only one class (0)",
    ),
    "pr curve without positives": (
        lambda: M.precision_recall_curve(
            ["Others"] * 3,
            [0.1, 0.2, 0.3],
            labels=["Monkeypox", "Others"],
            positive_class="Monkeypox",
        ),
        "no samples of the positive class 'Monkeypox'",
    ),
    "ovr absent class": (
        lambda: M.roc_auc_score(np.array(["a", "b"] * 6), P3, labels=["a", "b", "c"]),
        "absent: c",
    ),
    "mean roc no usable fold": (
        lambda: M.mean_roc_curve([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [1, 1, 2, 2]),
        "no fold holds both",
    ),
    # labels not among the classes
    "unknown predicted label": (
        lambda: M.confusion_matrix(["a", "b"], ["a", "c"], labels=["a", "b"]),
        "y_pred has labels not among the classes 'a', 'b': 'c'",
    ),
    "unknown true labels": (
        lambda: M.brier_score_loss(
            ["cat", "dog", "Others"], [0.1, 0.2, 0.3], labels=["Monkeypox", "Others"]
        ),
        "y_true has labels not among the classes 'Monkeypox', 'Others': 'cat', 'dog'",
    ),
    "unknown positive class": (
        lambda: M.binary_rates(Y2, Y2, positive_class="Cowpox"),
        "positive_class 'Cowpox' is not among the classes",
    ),
    "duplicate classes": (
        lambda: M.roc_auc_score(Y3, P3, labels=["a", "b", "a"]),
        "labels lists 'a' more than once",
    ),
    "mixed label types": (
        lambda: M.accuracy_score(np.array([1, "a"], dtype=object), np.array([1, 1], dtype=object)),
        "mix types",
    ),
    # shapes and options
    "columns vs classes": (
        lambda: M.roc_auc_score(Y3, P3[:, :2], labels=["a", "b", "c"]),
        "y_score has 2 columns but 3 classes were given",
    ),
    "1-D y_prob for 3 classes": (
        lambda: M.expected_calibration_error(Y3, np.full(12, 0.5)),
        "a 1-D y_prob describes two classes",
    ),
    "3-D scores": (lambda: M.roc_auc_score(Y2, np.zeros((10, 2, 2))), "must be 1-D or 2-D"),
    "2-D labels": (lambda: M.accuracy_score(np.zeros((2, 2)), np.zeros((2, 2))), "one-dimensional"),
    "bundle 1-D": (
        lambda: M.prediction_metrics(Y2, P1),
        "y_prob must be 2-D",
    ),
    "bundle positive for 3 classes": (
        lambda: M.prediction_metrics(Y3, P3, positive_class="a"),
        "positive_class applies to two classes only",
    ),
    "normalize": (lambda: M.confusion_matrix([0], [0], normalize="all"), "normalize must be"),
    "average": (lambda: M.roc_auc_score(Y3, P3, average="micro"), "average must be"),
    "ap average": (lambda: M.average_precision_score(Y3, P3, average="samples"), "average must be"),
    "target sensitivity": (
        lambda: M.operating_point(Y2, P1, target_sensitivity=1.5),
        "target_sensitivity must lie in (0, 1]",
    ),
    "target sensitivity zero": (
        lambda: M.operating_point(Y2, P1, target_sensitivity=0),
        "target_sensitivity must lie in (0, 1]",
    ),
    "n_bins": (lambda: M.reliability_curve(Y2, P1, n_bins=0), "n_bins must be an integer >= 1"),
    "n_points": (lambda: M.mean_roc_curve(Y2, P1, [1] * 10, n_points=1), "n_points must be"),
    "confidence level": (
        lambda: M.delong_auc_ci(Y2, P1, confidence_level=1.0),
        "confidence_level must lie in (0, 1)",
    ),
    "bootstrap confidence": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, confidence_level=95),
        "confidence_level must lie in (0, 1), got 95",
    ),
    "confidence level zero": (
        lambda: M.proportion_intervals(Y2, Y2, confidence_level=0),
        "confidence_level must lie in (0, 1), got 0",
    ),
    "n_resamples": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, n_resamples=1),
        "n_resamples must be an integer >= 2",
    ),
    "bootstrap method": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, method="basic"),
        "method must be 'percentile' or 'bca'",
    ),
    "bca with strata": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, stratify=True, method="bca"),
        "pass stratify=False and groups=None",
    ),
    "ttest confidence level": (
        lambda: M.corrected_resampled_ttest(
            [0.8, 0.9], [0.7, 0.8], n_train=8, n_test=2, confidence_level=1
        ),
        "confidence_level must lie in (0, 1), got 1",
    ),
    "mcnemar method": (
        lambda: M.mcnemar_test([0, 1, 1], [0, 1, 0], [1, 1, 0], groups=[1, 1, 2], method="yang"),
        "method must be 'cluster-count' or 'durkalski', got 'yang'",
    ),
    "accuracy difference length": (
        lambda: M.paired_accuracy_difference([0, 1, 1], [0, 1], [0, 1, 1]),
        "y_true has 3 entries, y_pred_a has 2",
    ),
    "accuracy difference nan label": (
        lambda: M.paired_accuracy_difference(["a", np.nan], ["a", "b"], ["b", "b"]),
        "y_true has 1 missing value",
    ),
    "accuracy difference confidence level": (
        lambda: M.paired_accuracy_difference([0, 1], [0, 1], [1, 1], confidence_level=95),
        "confidence_level must lie in (0, 1), got 95",
    ),
    "accuracy difference groups length": (
        lambda: M.paired_accuracy_difference([0, 1], [0, 1], [1, 1], groups=[1]),
        "groups has 1 entries, y_true has 2",
    ),
    "ttest one fold": (
        lambda: M.corrected_resampled_ttest([0.8], [0.7], n_train=8, n_test=2),
        "at least two folds, got 1",
    ),
    "ttest n_train": (
        lambda: M.corrected_resampled_ttest([0.8, 0.9], [0.7, 0.8], n_train=0, n_test=2),
        "n_train must be a positive number, got 0",
    ),
    "ttest n_train text": (
        lambda: M.corrected_resampled_ttest([0.8, 0.9], [0.7, 0.8], n_train="80", n_test=20),
        "n_train must be a positive number, got '80'",
    ),
    "ttest n_test nan": (
        lambda: M.corrected_resampled_ttest([0.8, 0.9], [0.7, 0.8], n_train=80, n_test=np.nan),
        "n_test must be a positive number, got nan",
    ),
    "bootstrap n_resamples text": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, n_resamples="100"),
        "n_resamples must be an integer >= 2, got '100'",
    ),
    "confidence level text": (
        lambda: M.delong_auc_ci(Y2, P1, positive_class="Monkeypox", confidence_level="0.9"),
        "confidence_level must be a number, got '0.9'",
    ),
    "n_bins float": (
        lambda: M.expected_calibration_error(Y2, P2, n_bins=2.5),
        "n_bins must be an integer >= 1, got 2.5",
    ),
    "wilson successes above n": (lambda: M.wilson_interval(5, 3), "successes (5) exceeds n (3)"),
    "wilson n text": (
        lambda: M.wilson_interval(1, "3"),
        "n must be a non-negative integer, got '3'",
    ),
    "delong ci method": (
        lambda: M.delong_auc_ci(Y2, P1, positive_class="Monkeypox", method="exact"),
        "method must be 'logit' or 'wald', got 'exact'",
    ),
    # missing labels: NaN, None and pandas' NA would otherwise become a class of their own
    "auc nan label": (
        lambda: M.roc_auc_score([0, 1, 0, np.nan], [0.1, 0.9, 0.2, 0.95]),
        "y_true has 1 missing value (NaN, None or NA)",
    ),
    "accuracy none label": (
        lambda: M.accuracy_score(["a", None, "b"], ["a", "b", "b"]),
        "y_true has 1 missing value",
    ),
    "confusion pd.NA prediction": (
        lambda: M.confusion_matrix(["a", "b"], pd.array(["a", pd.NA], dtype="string")),
        "y_pred has 1 missing value",
    ),
    "bundle nan label": (
        lambda: M.prediction_metrics(np.r_[np.zeros(5), np.ones(4), np.nan], P2),
        "y_true has 1 missing value",
    ),
    "groups none": (
        lambda: M.mcnemar_test([0, 1, 1], [0, 1, 0], [1, 1, 0], groups=["p1", None, "p2"]),
        "groups has 1 missing value",
    ),
    # ... and a NaN among class names, which numpy would turn into the text 'nan'
    "auc nan among class names": (
        lambda: M.roc_auc_score(["Mpox", "Others", np.nan, "Mpox"], [0.9, 0.2, 0.5, 0.8]),
        "y_true has 1 missing value (NaN, None or NA)",
    ),
    "auc nan among class names, positive named": (
        lambda: M.roc_auc_score(
            ["Mpox", "Others", np.nan, "Mpox"], [0.9, 0.2, 0.5, 0.8], positive_class="Mpox"
        ),
        "y_true has 1 missing value",
    ),
    "two nans in a tuple of names": (
        lambda: M.accuracy_score(("a", np.nan, "b", float("nan")), ("a", "b", "b", "a")),
        "y_true has 2 missing values",
    ),
    "nan among predicted names": (
        lambda: M.confusion_matrix(["a", "b", "a"], ["a", np.nan, "b"]),
        "y_pred has 1 missing value",
    ),
    "nan among group names": (
        lambda: M.mcnemar_test([0, 1, 1], [0, 1, 0], [1, 1, 0], groups=["p1", np.nan, "p2"]),
        "groups has 1 missing value",
    ),
    "bootstrap nan among group names": (
        lambda: M.bootstrap_ci(lambda t, s: 0.0, Y2, P1, groups=["g"] * 9 + [np.nan]),
        "groups has 1 missing value",
    ),
    "bundle nan among class names": (
        lambda: M.prediction_metrics(["Monkeypox"] * 9 + [np.nan], P2),
        "y_true has 1 missing value",
    ),
    "bundle one class": (
        lambda: M.prediction_metrics([1, 1, 1], [[0.2, 0.8], [0.3, 0.7], [0.1, 0.9]]),
        "y_true holds only one class (1) and labels= was not given; at least two classes",
    ),
    "bundle one label for two columns": (
        lambda: M.prediction_metrics([1, 1, 1], [[0.2, 0.8], [0.3, 0.7], [0.1, 0.9]], labels=[1]),
        "labels holds only one class (1); at least two classes are needed",
    ),
    "labels list nan": (
        lambda: M.confusion_matrix([0, 1], [0, 1], labels=[0, 1, np.nan]),
        "labels has 1 missing value",
    ),
    # probability rows must sum to 1
    "brier rows not summing": (
        lambda: M.brier_score_loss(Y2, np.column_stack([P1, 1 - P1 + 0.01])),
        "y_prob has 10 rows whose probabilities do not sum to 1",
    ),
    "ece rows not summing": (
        lambda: M.expected_calibration_error(Y3, P3 * 0.9),
        "y_prob has 12 rows whose probabilities do not sum to 1",
    ),
    "bundle rows not summing": (
        lambda: M.prediction_metrics(Y2, np.column_stack([P1, np.full(10, 0.5)])),
        "do not sum to 1",
    ),
    "auc 2-D rows not summing": (
        lambda: M.roc_auc_score(Y2, np.column_stack([P1, P1]), labels=["Monkeypox", "Others"]),
        "y_score has 10 rows whose probabilities do not sum to 1",
    ),
    # 1-D scores with more than two classes need the positive class
    "auc 1-D three classes": (
        lambda: M.roc_auc_score(Y3, np.linspace(0, 1, 12)),
        "3 classes ('a', 'b', 'c') but no positive_class",
    ),
    "mean roc 2-D rows not summing": (
        lambda: M.mean_roc_curve(Y2, P2 * 0.5, [1, 2] * 5, positive_class="Monkeypox"),
        "y_score has 10 rows whose probabilities do not sum to 1",
    ),
    "brier 1-D three classes": (
        lambda: M.brier_score_loss(Y3, np.linspace(0, 1, 12)),
        "but no positive_class",
    ),
    "roc curve 1-D three classes": (
        lambda: M.roc_curve(Y3, np.linspace(0, 1, 12)),
        "but no positive_class",
    ),
    "binary rates three classes": (
        lambda: M.binary_rates(Y3, Y3),
        "but no positive_class",
    ),
    "summarize_folds text": (lambda: M.summarize_folds({"accuracy": ["high"]}), "must be numeric"),
    "summarize_folds empty": (lambda: M.summarize_folds({"accuracy": []}), "no folds"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_value_error_naming_the_problem(case):
    call, message = CASES[case]
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_a_confidence_level_message_states_the_range_it_enforces():
    # It once said "(0, 1]" and then refused 1.
    for level in (1, 1.0, 2, 95, 0, -0.5, float("nan")):
        with pytest.raises(ValueError) as info:
            M.wilson_interval(3, 10, confidence_level=level)
        assert "must lie in (0, 1), got" in str(info.value), level
        assert "(0, 1]" not in str(info.value)


def test_one_class_is_said_in_words_not_as_1_classes():
    with pytest.raises(ValueError) as info:
        M.prediction_metrics([1, 1, 1], [[0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])
    assert "1 classes" not in str(info.value)
    with pytest.raises(ValueError, match="has 2 columns but 1 class was given"):
        M.roc_auc_score([0, 1], [[0.2, 0.8], [0.6, 0.4]], labels=[0])


def test_class_names_without_missing_values_still_pass_as_lists():
    # The check looks at the list before numpy converts it; plain names are untouched,
    # and a class literally named "nan" in a numpy array of text is a name, not a gap.
    assert M.accuracy_score(["a", "b", "a"], ["a", "b", "b"]) == pytest.approx(2 / 3)
    assert M.accuracy_score(np.array(["nan", "b"]), np.array(["nan", "a"])) == 0.5
