"""summarize_predictions on synthetic runs: structure, and numbers recomputed independently."""

import json
import math
import statistics
import time

import numpy as np
import pandas as pd
import pytest
import scipy.special
import scipy.stats
import sklearn.metrics as skm
from statsmodels.stats.contingency_tables import mcnemar

from mpx_eval.metrics import wilson_interval
from mpx_eval.summary import summarize_predictions

from ..metrics.reference import slow_delong
from ..metrics.synthetic import make_run

BINARY = ["Monkeypox", "Others"]
THREE = ["Chickenpox", "Measles", "Monkeypox"]
BINARY_METRICS = [
    "accuracy",
    "balanced_accuracy",
    "f1",
    "f1_macro",
    "mcc",
    "kappa",
    "roc_auc",
    "average_precision",
    "brier",
    "ece",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
]


@pytest.fixture(scope="module")
def binary_run():
    predictions, history = make_run(seed=1)
    summary = summarize_predictions(
        predictions,
        labels=BINARY,
        positive_class="Monkeypox",
        history=history,
        n_resamples=300,
        random_state=5,
    )
    return predictions, history, summary


def assert_plain_json(value, where="summary"):
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, where
            assert_plain_json(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain_json(item, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), (where, type(value))
        if type(value) is float:
            assert math.isfinite(value), where


def best_cv(predictions, model):
    rows = predictions[
        (predictions.model == model)
        & (predictions.scheme == "cv")
        & (predictions.checkpoint == "best")
    ]
    return rows.sort_values(["fold", "path"])


def predicted(rows, classes):
    return np.array(classes)[rows[[f"prob_{c}" for c in classes]].to_numpy().argmax(axis=1)]


def test_output_is_plain_json(binary_run):
    _, _, summary = binary_run
    assert_plain_json(summary)
    json.dumps(summary, allow_nan=False)


def test_top_level_and_model_structure(binary_run):
    _, _, summary = binary_run
    assert summary["classes"] == BINARY
    assert summary["positive_class"] == "Monkeypox"
    assert summary["confidence_level"] == 0.95
    assert summary["metrics"] == BINARY_METRICS
    assert list(summary["models"]) == ["cnn", "vgg"]
    cv = summary["models"]["cnn"]["cv"]
    assert cv["k"] == 5 and cv["n"] == 228
    assert [f["fold"] for f in cv["folds"]] == [1, 2, 3, 4, 5]
    for fold in cv["folds"]:
        assert set(fold) == {"fold", "n_test", "n_train", "best_epoch", *BINARY_METRICS}
        assert fold["n_train"] == 228 - fold["n_test"]
    for part in ("mean", "std", "min", "max", "pooled"):
        assert list(cv[part]) == BINARY_METRICS
    assert set(cv["ci"]) == set(BINARY_METRICS)
    assert set(cv["ci"]["accuracy"]) == {"low", "high", "method", "n_dropped"}
    assert set(cv["auc_delong"]) == {"auc", "low", "high", "reason"}
    assert cv["confusion_matrix"]["labels"] == BINARY
    assert set(cv["per_class"]) == set(BINARY)
    assert set(cv["per_class"]["Others"]) == {"precision", "recall", "f1", "support"}
    assert set(cv["last"]) == {"mean", "std", "pooled"}
    assert len(cv["mean_roc"]["fpr"]) == 101
    assert len(cv["reliability"]["counts"]) == 10
    seed = summary["models"]["cnn"]["seed_split"]
    assert {
        "n_val",
        "accuracy",
        "roc_auc",
        "best_epoch",
        "best_val_accuracy",
        "last_val_accuracy",
        "balanced_accuracy",
        "ci",
    } <= set(seed)
    optimism = summary["models"]["cnn"]["optimism"]
    assert set(optimism) == {
        "best_epoch_on_test", "chosen", "last", "gap", "per_fold", "rule", "rules",
    }  # fmt: skip
    assert [c["a"] + "/" + c["b"] for c in summary["comparisons"]] == ["cnn/vgg"]


def test_fold_and_pooled_numbers_match_sklearn(binary_run):
    predictions, history, summary = binary_run
    cv = summary["models"]["cnn"]["cv"]
    rows = best_cv(predictions, "cnn")
    pred = predicted(rows, BINARY)
    accuracies = []
    for fold in cv["folds"]:
        mask = (rows.fold == fold["fold"]).to_numpy()
        accuracies.append(skm.accuracy_score(rows.label[mask], pred[mask]))
        assert fold["accuracy"] == pytest.approx(accuracies[-1])
        assert fold["n_test"] == mask.sum()
        assert fold["roc_auc"] == pytest.approx(
            skm.roc_auc_score(rows.label[mask] == "Monkeypox", rows.prob_Monkeypox[mask])
        )
        h = history[
            (history.model == "cnn") & (history.scheme == "cv") & (history.fold == fold["fold"])
        ]
        # the default rule: the last epoch of the highest inner-validation accuracy
        h = h.sort_values("epoch")
        assert fold["best_epoch"] == int(h.epoch[h.val_accuracy == h.val_accuracy.max()].iloc[-1])
    assert cv["mean"]["accuracy"] == pytest.approx(statistics.mean(accuracies))
    assert cv["std"]["accuracy"] == pytest.approx(statistics.stdev(accuracies))
    assert cv["min"]["accuracy"] == pytest.approx(min(accuracies))
    assert cv["pooled"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(rows.label == "Monkeypox", rows.prob_Monkeypox)
    )
    assert cv["pooled"]["sensitivity"] == pytest.approx(
        skm.recall_score(rows.label, pred, pos_label="Monkeypox")
    )
    assert cv["pooled"]["mcc"] == pytest.approx(skm.matthews_corrcoef(rows.label, pred))
    counts = skm.confusion_matrix(rows.label, pred, labels=BINARY)
    assert cv["confusion_matrix"]["counts"] == counts.tolist()
    np.testing.assert_allclose(
        cv["confusion_matrix"]["normalized"], counts / counts.sum(axis=1, keepdims=True)
    )
    precision = [
        skm.precision_score(
            rows.label[rows.fold == f], pred[(rows.fold == f).to_numpy()], pos_label="Others"
        )
        for f in range(1, 6)
    ]
    others = cv["per_class"]["Others"]
    assert others["precision"]["mean"] == pytest.approx(np.mean(precision))
    assert others["precision"]["std"] == pytest.approx(np.std(precision, ddof=1))
    assert others["support"]["pooled"] == int((rows.label == "Others").sum())
    last = predictions[
        (predictions.model == "cnn")
        & (predictions.scheme == "cv")
        & (predictions.checkpoint == "last")
    ]
    last_accuracy = [
        skm.accuracy_score(last.label[last.fold == f], predicted(last[last.fold == f], BINARY))
        for f in range(1, 6)
    ]
    assert cv["last"]["mean"]["accuracy"] == pytest.approx(np.mean(last_accuracy))


def test_intervals(binary_run):
    predictions, _, summary = binary_run
    cv = summary["models"]["cnn"]["cv"]
    methods = {
        "accuracy": "Wilson score",
        "sensitivity": "Wilson score",
        "roc_auc": "DeLong variance, logit scale",
        "brier": "percentile (samples resampled, not stratified)",
    }
    for name, method in methods.items():
        ci = cv["ci"][name]
        assert ci["low"] <= cv["pooled"][name] <= ci["high"], name
        assert ci["method"] == method, name
        assert ci["n_dropped"] == 0, name
    rows = best_cv(predictions, "cnn")
    correct = int((predicted(rows, BINARY) == rows.label).sum())
    wilson = wilson_interval(correct, len(rows))
    assert (cv["ci"]["accuracy"]["low"], cv["ci"]["accuracy"]["high"]) == pytest.approx(
        (wilson.low, wilson.high)
    )
    aucs, cov = slow_delong(rows.label == "Monkeypox", [rows.prob_Monkeypox.to_numpy()])
    half = scipy.stats.norm.ppf(0.975) * math.sqrt(cov[0, 0]) / (aucs[0] * (1 - aucs[0]))
    logit = math.log(aucs[0] / (1 - aucs[0]))
    assert cv["auc_delong"]["auc"] == pytest.approx(aucs[0])
    assert cv["auc_delong"]["low"] == pytest.approx(scipy.special.expit(logit - half))
    assert cv["auc_delong"]["high"] == pytest.approx(scipy.special.expit(logit + half))
    assert cv["ci"]["roc_auc"]["low"] == cv["auc_delong"]["low"]


def test_grouped_predictions_get_cluster_aware_intervals_and_tests():
    predictions, _ = make_run(seed=4, patients=20, with_seed=False, with_last=False)
    # Every image of a patient gets the patient's first prediction, as copies of one photo
    # would: the images of a group are then as alike as they can be.
    columns = [f"prob_{c}" for c in BINARY]
    predictions[columns] = predictions.groupby(["model", "group"])[columns].transform("first")
    grouped = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=200
    )
    alone = summarize_predictions(
        predictions.assign(group=predictions["path"]),
        labels=BINARY,
        positive_class="Monkeypox",
        n_resamples=200,
    )
    cv, cv_alone = grouped["models"]["cnn"]["cv"], alone["models"]["cnn"]["cv"]
    assert cv["ci"]["accuracy"]["method"] == "Wilson score, groups' design effect"
    assert cv["ci"]["roc_auc"]["method"].startswith("Obuchowski's clustered DeLong")
    assert cv["ci"]["brier"]["method"].startswith("percentile (whole groups resampled")
    for name in ("accuracy", "sensitivity", "roc_auc", "brier"):
        width = cv["ci"][name]["high"] - cv["ci"][name]["low"]
        alone_width = cv_alone["ci"][name]["high"] - cv_alone["ci"][name]["low"]
        assert width > alone_width, name
    mcnemar = grouped["comparisons"][0]["mcnemar"]
    assert mcnemar["method"] == "clustered (cluster counts, Obuchowski 1998)"
    assert alone["comparisons"][0]["mcnemar"]["method"] == "exact"
    assert grouped["comparisons"][0]["delong"]["p"] != alone["comparisons"][0]["delong"]["p"]


def test_a_constant_fold_difference_gives_no_corrected_t_and_says_why():
    # vgg predicts exactly what cnn predicts: the same accuracy in every fold.
    predictions, _ = make_run(seed=2, with_seed=False, with_last=False)
    columns = [f"prob_{c}" for c in BINARY]
    cnn = predictions["model"] == "cnn"
    predictions.loc[~cnn, columns] = predictions.loc[cnn, columns].to_numpy()
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=20
    )
    t = summary["comparisons"][0]["corrected_t"]
    assert t["t"] is None and t["p"] is None
    assert t["undefined_reason"] == "no_variance"


def test_seed_split_and_optimism_follow_the_history(binary_run):
    predictions, history, summary = binary_run
    seed = summary["models"]["vgg"]["seed_split"]
    rows = predictions[
        (predictions.model == "vgg")
        & (predictions.scheme == "seed")
        & (predictions.checkpoint == "best")
    ]
    assert seed["n_val"] == len(rows) == 45
    assert seed["accuracy"] == pytest.approx(
        skm.accuracy_score(rows.label, predicted(rows, BINARY))
    )
    h = history[(history.model == "vgg") & (history.scheme == "seed")].sort_values("epoch")
    assert seed["best_epoch"] == int(h.epoch[h.val_accuracy.idxmax()])
    assert seed["best_val_accuracy"] == h.val_accuracy.max()
    assert seed["last_val_accuracy"] == h.val_accuracy.iloc[-1]
    assert seed["val_accuracy_source"] == "history"

    optimism = summary["models"]["vgg"]["optimism"]
    cv_history = history[(history.model == "vgg") & (history.scheme == "cv")]
    best_on_test, chosen, last = [], [], []
    for _, h in cv_history.groupby("fold"):
        h = h.sort_values("epoch").reset_index(drop=True)
        best_on_test.append(h.test_accuracy.max())
        chosen.append(h.test_accuracy[h.val_accuracy == h.val_accuracy.max()].iloc[-1])
        last.append(h.test_accuracy.iloc[-1])
    assert optimism["best_epoch_on_test"] == pytest.approx(np.mean(best_on_test))
    assert optimism["chosen"] == pytest.approx(np.mean(chosen))
    assert optimism["last"] == pytest.approx(np.mean(last))
    assert optimism["gap"] == pytest.approx(np.mean(best_on_test) - np.mean(chosen))
    assert optimism["gap"] >= 0
    assert [f["chosen"] for f in optimism["per_fold"]] == pytest.approx(chosen)


def _brute_force_epochs(cv_history: pd.DataFrame, rule: str) -> list[int]:
    """Each fold's epoch under ``rule``, written out the long way."""
    curves = {
        fold: h.sort_values("epoch").reset_index(drop=True)
        for fold, h in cv_history.groupby("fold")
    }
    if rule.startswith("mean-"):
        column = rule.removeprefix("mean-").replace("-", "_")
        mean = sum(h[column] for h in curves.values()) / len(curves)
        epoch = int(mean.idxmin() if column == "val_loss" else mean.idxmax()) + 1
        return [epoch] * len(curves)
    out = []
    for h in curves.values():
        if rule == "last":
            out.append(int(h.epoch.iloc[-1]))
        elif rule == "val-loss":
            out.append(int(h.epoch[h.val_loss.idxmin()]))
        elif rule == "val-accuracy":
            out.append(int(h.epoch[h.val_accuracy.idxmax()]))
        else:  # the latest of the tied best
            best = h.val_accuracy.max()
            out.append(int(h.epoch[h.val_accuracy == best].iloc[-1]))
    return out


@pytest.mark.parametrize(
    "rule",
    [
        "val-loss",
        "val-accuracy",
        "val-accuracy-latest",
        "mean-val-loss",
        "mean-val-accuracy",
        "last",
    ],
)
def test_every_checkpoint_rule_is_given_beside_the_runs_rule(binary_run, rule):
    predictions, history, _ = binary_run
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history,
        n_resamples=50, checkpoint=rule,
    )  # fmt: skip
    cv_history = history[(history.model == "vgg") & (history.scheme == "cv")]
    epochs = _brute_force_epochs(cv_history, rule)
    optimism = summary["models"]["vgg"]["optimism"]
    assert optimism["rule"] == rule
    assert [f["best_epoch"] for f in summary["models"]["vgg"]["cv"]["folds"]] == epochs
    assert [f["chosen_epoch"] for f in optimism["per_fold"]] == epochs
    by_rule = {r["rule"]: r for r in optimism["rules"]}
    assert list(by_rule)[-1] == "best-on-test" and not by_rule["best-on-test"]["honest"]
    test = cv_history.set_index(["fold", "epoch"]).test_accuracy
    accuracy = [test[(fold, e)] for fold, e in zip(range(1, 6), epochs, strict=True)]
    assert by_rule[rule]["epochs"] == epochs
    assert by_rule[rule]["mean"] == pytest.approx(np.mean(accuracy))
    assert by_rule[rule]["std"] == pytest.approx(np.std(accuracy, ddof=1))
    assert optimism["chosen"] == pytest.approx(np.mean(accuracy))
    # the test columns choose nothing: scrambling them moves no honest rule's epochs
    scrambled = history.assign(
        test_accuracy=history.test_accuracy.sample(frac=1, random_state=1).to_numpy()
    )
    again = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=scrambled,
        n_resamples=50, checkpoint=rule,
    )  # fmt: skip
    assert [r["epochs"] for r in again["models"]["vgg"]["optimism"]["rules"][:-1]] == [
        r["epochs"] for r in optimism["rules"][:-1]
    ]


def test_an_unknown_checkpoint_rule_is_refused_by_name(binary_run):
    predictions, history, _ = binary_run
    with pytest.raises(ValueError, match=r"checkpoint rule must be one of val-loss, .*'best'"):
        summarize_predictions(predictions, labels=BINARY, history=history, checkpoint="best")


def test_comparison_numbers(binary_run):
    predictions, _, summary = binary_run
    comparison = summary["comparisons"][0]
    a, b = best_cv(predictions, "cnn"), best_cv(predictions, "vgg")
    assert (a.path.to_numpy() == b.path.to_numpy()).all()
    pred_a, pred_b = predicted(a, BINARY), predicted(b, BINARY)
    acc_a = np.array(
        [
            skm.accuracy_score(a.label[a.fold == f], pred_a[(a.fold == f).to_numpy()])
            for f in range(1, 6)
        ]
    )
    acc_b = np.array(
        [
            skm.accuracy_score(b.label[b.fold == f], pred_b[(b.fold == f).to_numpy()])
            for f in range(1, 6)
        ]
    )
    d = acc_a - acc_b
    n_test = a.groupby("fold").size().mean()
    t = d.mean() / math.sqrt((1 / 5 + n_test / (228 - n_test)) * d.var(ddof=1))
    assert comparison["metric"] == "accuracy" and comparison["k"] == 5
    assert comparison["mean_difference"] == pytest.approx(d.mean())
    assert comparison["corrected_t"]["t"] == pytest.approx(t)
    assert comparison["corrected_t"]["p"] == pytest.approx(2 * scipy.stats.t.sf(abs(t), 4))
    assert comparison["corrected_t"]["df"] == 4
    ca, cb = pred_a == a.label.to_numpy(), pred_b == b.label.to_numpy()
    reference = mcnemar(
        [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]], exact=True
    )
    assert comparison["mcnemar"]["statistic"] == reference.statistic
    assert comparison["mcnemar"]["p"] == pytest.approx(reference.pvalue)
    assert comparison["mcnemar"]["n_a_only"] == np.sum(ca & ~cb)
    aucs, cov = slow_delong(
        a.label == "Monkeypox", [a.prob_Monkeypox.to_numpy(), b.prob_Monkeypox.to_numpy()]
    )
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert comparison["delong"]["z"] == pytest.approx(z)
    assert comparison["delong"]["auc_b"] == pytest.approx(aucs[1])
    assert comparison["n_paired"] == 228


def test_without_history():
    predictions, _ = make_run(seed=2, n=100)
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=100
    )
    model = summary["models"]["cnn"]
    assert model["optimism"] is None
    assert all(f["best_epoch"] is None for f in model["cv"]["folds"])
    seed = model["seed_split"]
    assert seed["val_accuracy_source"] == "predictions"
    assert seed["best_epoch"] is None
    assert seed["best_val_accuracy"] == seed["accuracy"]
    last = predictions[
        (predictions.model == "cnn")
        & (predictions.scheme == "seed")
        & (predictions.checkpoint == "last")
    ]
    assert seed["last_val_accuracy"] == pytest.approx(
        skm.accuracy_score(last.label, predicted(last, BINARY))
    )


def test_three_classes():
    predictions, history = make_run(classes=THREE, n=150, seed=3)
    summary = summarize_predictions(predictions, labels=THREE, history=history, n_resamples=100)
    assert summary["positive_class"] is None
    assert summary["metrics"] == BINARY_METRICS[:10]
    cv = summary["models"]["vgg"]["cv"]
    assert "sensitivity" not in cv["folds"][0] and "sensitivity" not in cv["pooled"]
    assert cv["auc_delong"] is None and cv["mean_roc"] is None
    rows = best_cv(predictions, "vgg")
    prob = rows[[f"prob_{c}" for c in THREE]].to_numpy()
    assert cv["pooled"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(rows.label, prob, labels=THREE, multi_class="ovr")
    )
    assert cv["pooled"]["f1"] == pytest.approx(
        skm.f1_score(rows.label, predicted(rows, THREE), average="macro")
    )
    assert cv["pooled"]["brier"] == pytest.approx(
        skm.brier_score_loss(rows.label, prob, labels=THREE)
    )
    assert len(cv["confusion_matrix"]["counts"]) == 3
    comparison = summary["comparisons"][0]
    assert comparison["delong"] is None
    assert comparison["mcnemar"]["statistic"] is not None


def test_one_model_without_seed_rows_or_last_checkpoint():
    predictions, _ = make_run(models=("cnn",), with_seed=False, with_last=False, n=60, seed=4)
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=50
    )
    assert summary["comparisons"] == []
    model = summary["models"]["cnn"]
    assert model["seed_split"] is None
    assert model["cv"]["last"] is None
    assert model["cv"]["k"] == 5


def test_seed_only_model_has_no_cv_and_is_not_compared():
    predictions, _ = make_run(seed=9, n=80)
    predictions = predictions[(predictions.model == "cnn") | (predictions.scheme == "seed")]
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=50
    )
    assert summary["models"]["vgg"]["cv"] is None
    assert summary["models"]["vgg"]["optimism"] is None
    assert summary["models"]["vgg"]["seed_split"]["n_val"] == 16
    assert summary["comparisons"] == []


def test_a_fold_without_positives_gives_none_not_an_error():
    predictions, _ = make_run(models=("cnn",), with_seed=False, n=100, seed=6)
    fold_1_monkeypox = (predictions.fold == 1) & (predictions.label == "Monkeypox")
    predictions = predictions[~fold_1_monkeypox]
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=50
    )
    cv = summary["models"]["cnn"]["cv"]
    fold_1 = cv["folds"][0]
    assert fold_1["roc_auc"] is None and fold_1["sensitivity"] is None
    assert fold_1["specificity"] is not None
    other_aucs = [f["roc_auc"] for f in cv["folds"][1:]]
    assert cv["mean"]["roc_auc"] == pytest.approx(np.mean(other_aucs))
    assert cv["mean_roc"]["folds"] == [2, 3, 4, 5]


def test_repeated_groups_switch_to_a_grouped_bootstrap():
    predictions, _ = make_run(models=("cnn",), n=120, patients=12, seed=7)
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=100
    )
    method = summary["models"]["cnn"]["cv"]["ci"]["f1"]["method"]
    assert method == "percentile (whole groups resampled, not stratified)"


def test_deterministic_for_a_seed():
    predictions, history = make_run(n=80, seed=8)
    first = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=100
    )
    again = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=100
    )
    other = summarize_predictions(
        predictions,
        labels=BINARY,
        positive_class="Monkeypox",
        history=history,
        n_resamples=100,
        random_state=1,
    )
    assert first == again
    assert first["models"]["cnn"]["cv"]["ci"] != other["models"]["cnn"]["cv"]["ci"]


def test_full_size_run_is_fast():
    """2 models x 228 images x 5 folds with 2,000 resamples takes well under a second here."""
    predictions, history = make_run(seed=10)
    start = time.perf_counter()
    summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=2000
    )
    assert time.perf_counter() - start < 10


def broken(change):
    predictions, _ = make_run(n=40, seed=12)
    return change(predictions.copy())


SUMMARY_ERRORS = {
    "missing column": (lambda p: p.drop(columns="group"), "predictions lacks column(s): group"),
    "missing probability column": (
        lambda p: p.drop(columns="prob_Others"),
        "predictions lacks column(s): prob_Others",
    ),
    "bad scheme": (lambda p: p.assign(scheme="holdout"), "scheme values 'holdout'"),
    "bad checkpoint": (lambda p: p.assign(checkpoint="final"), "checkpoint values 'final'"),
    "seed fold": (
        lambda p: p.assign(fold=np.where(p.scheme == "seed", 3, p.fold)),
        "scheme 'seed' rows with fold 3",
    ),
    "unknown label": (
        lambda p: p.assign(label=np.where(p.index == 0, "Cowpox", p.label)),
        "labels not among the classes 'Monkeypox', 'Others': 'Cowpox'",
    ),
    "probabilities off": (
        lambda p: p.assign(prob_Others=p.prob_Others * 0.5),
        "rows whose probabilities do not sum to 1",
    ),
    "nan probability": (
        lambda p: p.assign(prob_Others=np.where(p.index < 2, np.nan, p.prob_Others)),
        "has 2 NaN values",
    ),
    "duplicate row": (lambda p: pd.concat([p, p.iloc[:1]]), "lists path 'img_"),
    "not a partition": (
        lambda p: pd.concat([p, p[(p.scheme == "cv") & (p.fold == 1)].iloc[:1].assign(fold=2)]),
        "the cv test folds must partition the images",
    ),
    "models differ": (
        lambda p: p[~((p.model == "vgg") & (p.path == p.path.iloc[0]))],
        "models 'cnn' and 'vgg' do not hold the same cv test images",
    ),
    "no best rows": (
        lambda p: p[~((p.model == "vgg") & (p.scheme == "cv") & (p.checkpoint == "best"))],
        "model 'vgg' has cv rows but none with checkpoint 'best'",
    ),
    "labels differ between models": (
        lambda p: p.assign(
            label=np.where(
                (p.model == "vgg") & (p.path == "img_0000.jpg"),
                np.where(p.label == "Others", "Monkeypox", "Others"),
                p.label,
            )
        ),
        "disagree on the label",
    ),
}


@pytest.mark.parametrize("case", sorted(SUMMARY_ERRORS))
def test_summarize_predictions_rejects_bad_tables(case):
    change, message = SUMMARY_ERRORS[case]
    with pytest.raises(ValueError) as info:
        summarize_predictions(
            broken(change), labels=BINARY, positive_class="Monkeypox", n_resamples=20
        )
    assert message in str(info.value)


def test_summarize_predictions_rejects_bad_options_and_history():
    predictions, history = make_run(n=40, seed=13)
    with pytest.raises(ValueError, match="positive_class applies to two classes only"):
        summarize_predictions(predictions, labels=THREE, positive_class="Monkeypox")
    with pytest.raises(ValueError, match="labels must name at least two classes"):
        summarize_predictions(predictions, labels=["Monkeypox"])
    with pytest.raises(ValueError, match="positive_class 'Cowpox' is not among the classes"):
        summarize_predictions(predictions, labels=BINARY, positive_class="Cowpox")
    with pytest.raises(ValueError, match="predictions must be a pandas DataFrame"):
        summarize_predictions(predictions.to_dict(), labels=BINARY, positive_class="Monkeypox")
    with pytest.raises(ValueError, match="history lacks column"):
        summarize_predictions(
            predictions,
            labels=BINARY,
            positive_class="Monkeypox",
            history=history.drop(columns="epoch"),
        )
    with pytest.raises(ValueError, match="history lists epoch 1 more than once"):
        summarize_predictions(
            predictions,
            labels=BINARY,
            positive_class="Monkeypox",
            history=pd.concat([history, history]),
        )
    with pytest.raises(ValueError, match="confidence_level must lie in"):
        summarize_predictions(
            predictions, labels=BINARY, positive_class="Monkeypox", confidence_level=1.5
        )


def test_positive_class_can_be_chosen():
    predictions, _ = make_run(models=("cnn",), n=60, seed=14)
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Others", n_resamples=50
    )
    assert summary["positive_class"] == "Others"
    rows = best_cv(predictions, "cnn")
    assert summary["models"]["cnn"]["cv"]["pooled"]["sensitivity"] == pytest.approx(
        skm.recall_score(rows.label, predicted(rows, BINARY), pos_label="Others")
    )


def test_folds_that_each_hold_one_class_give_no_auc_and_no_mean_roc():
    predictions, _ = make_run(models=("cnn",), with_seed=False, k=2, n=40, seed=15)
    predictions = predictions.assign(fold=np.where(predictions.label == "Monkeypox", 1, 2))
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", n_resamples=50
    )
    cv = summary["models"]["cnn"]["cv"]
    assert [f["roc_auc"] for f in cv["folds"]] == [None, None]
    assert cv["mean"]["roc_auc"] is None
    assert cv["mean_roc"] is None
    assert cv["pooled"]["roc_auc"] is not None
    assert cv["auc_delong"]["auc"] == pytest.approx(cv["pooled"]["roc_auc"])


def test_ties_in_validation_accuracy_take_the_later_epoch_in_cv_and_the_first_in_the_seed_split():
    predictions, _ = make_run(models=("cnn",), k=2, n=40, seed=16)
    epochs = [1, 2, 3, 4]
    history = pd.DataFrame(
        [
            {"model": "cnn", "scheme": scheme, "fold": fold, "epoch": e,
             "val_accuracy": val, "test_accuracy": test}
            for scheme, fold in (("cv", 1), ("cv", 2), ("seed", 0))
            for e, val, test in zip(
                epochs,
                [0.80, 0.90, 0.90, 0.85],
                [0.70, 0.75, 0.95, 0.95] if scheme == "cv" else [np.nan] * 4,
                strict=True,
            )
        ]
    )  # fmt: skip
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=50
    )
    model = summary["models"]["cnn"]
    # the default rule keeps the later of tied epochs; the blog's seed split the first
    assert [f["best_epoch"] for f in model["cv"]["folds"]] == [3, 3]
    assert model["seed_split"]["best_epoch"] == 2
    assert model["seed_split"]["best_val_accuracy"] == 0.90
    assert model["seed_split"]["last_val_accuracy"] == 0.85
    fold_1 = model["optimism"]["per_fold"][0]
    assert fold_1 == {
        "fold": 1,
        "chosen_epoch": 3,
        "best_test_epoch": 3,
        "best_epoch_on_test": 0.95,
        "chosen": 0.95,
        "last": 0.95,
    }
    assert model["optimism"]["gap"] == pytest.approx(0.0)
    first = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history,
        n_resamples=50, checkpoint="val-accuracy",
    )["models"]["cnn"]  # fmt: skip
    assert [f["best_epoch"] for f in first["cv"]["folds"]] == [2, 2]
    assert first["optimism"]["gap"] == pytest.approx(0.20)


def test_partial_run_compares_models_on_their_common_folds():
    rng = np.random.default_rng(5)
    classes = ["Monkeypox", "Others"]
    n = 60
    labels = np.repeat(classes, n // 2)
    fold = np.arange(n) % 3 + 1
    frames = []
    for model in ("t3", "t4"):
        p = np.clip(np.where(labels == "Monkeypox", 0.7, 0.3) + rng.normal(0, 0.2, n), 0, 1)
        frame = pd.DataFrame(
            {
                "model": model,
                "scheme": "cv",
                "fold": fold,
                "checkpoint": "best",
                "path": [f"i{i}.jpg" for i in range(n)],
                "label": labels,
                "group": [f"i{i}.jpg" for i in range(n)],
                "prob_Monkeypox": p,
                "prob_Others": 1 - p,
            }
        )
        frames.append(frame if model == "t3" else frame[frame.fold != 3])  # t4 lacks fold 3
    summary = summarize_predictions(pd.concat(frames), labels=classes, n_samples=n, n_resamples=50)
    (comparison,) = summary["comparisons"]
    assert comparison["folds"] == [1, 2] and comparison["k"] == 2
    assert comparison["n_paired"] == 40
    assert summary["models"]["t4"]["cv"]["n"] == n
    assert summary["models"]["t4"]["cv"]["folds"][0]["n_train"] == n - 20


def _repeated_run(repeats=2, k=3, n=60):
    """R independent k-fold runs of the same images, folds numbered on as a run numbers them."""
    frames = []
    for r in range(repeats):
        predictions, _ = make_run(seed=20 + r, n=n, k=k, with_seed=False, with_last=False)
        predictions["fold"] += r * k
        frames.append(predictions)
    return pd.concat(frames, ignore_index=True)


def test_repeated_folds_summarise_over_all_folds_with_the_repeated_kfold_test():
    predictions = _repeated_run()
    summary = summarize_predictions(
        predictions,
        labels=BINARY,
        positive_class="Monkeypox",
        n_resamples=50,
        folds_per_repeat=3,
    )
    cv = summary["models"]["cnn"]["cv"]
    assert (cv["k"], cv["repeats"], cv["n"]) == (6, 2, 60)
    assert [f["fold"] for f in cv["folds"]] == [1, 2, 3, 4, 5, 6]
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in cv["folds"]]))
    # Every image is pooled twice: the copies share a group, so the intervals are clustered.
    assert cv["ci"]["accuracy"]["method"] == "Wilson score, groups' design effect"
    comparison = summary["comparisons"][0]
    assert (comparison["k"], comparison["repeats"]) == (6, 2)
    a = [f["accuracy"] for f in cv["folds"]]
    b = [f["accuracy"] for f in summary["models"]["vgg"]["cv"]["folds"]]
    n_test = np.mean([f["n_test"] for f in cv["folds"]])
    d = np.subtract(a, b)
    # Bouckaert & Frank (2004): t = mean(d) / sqrt((1/(k r) + n_test/n_train) var(d)), df k r - 1
    t = d.mean() / math.sqrt((1 / 6 + n_test / (60 - n_test)) * d.var(ddof=1))
    assert comparison["corrected_t"]["t"] == pytest.approx(t)
    assert comparison["corrected_t"]["df"] == 5
    assert comparison["corrected_t"]["p"] == pytest.approx(2 * scipy.stats.t.sf(abs(t), 5))
    assert comparison["mcnemar"]["method"] == "clustered (cluster counts, Obuchowski 1998)"


def test_repeated_folds_must_each_partition_the_images():
    predictions = _repeated_run()
    # Without folds_per_repeat every image in two folds is an error, as before.
    with pytest.raises(ValueError, match="the cv test folds must partition the images"):
        summarize_predictions(predictions, labels=BINARY, positive_class="Monkeypox")
    # With it, an image in two folds of one repeat still is.
    extra = predictions[(predictions["fold"] == 4) & (predictions["model"] == "cnn")].iloc[[0]]
    twice = pd.concat([predictions, extra.assign(fold=5)], ignore_index=True)
    with pytest.raises(ValueError, match="is in cv folds 1, 4, 5; the cv test folds must"):
        summarize_predictions(twice, labels=BINARY, positive_class="Monkeypox", folds_per_repeat=3)
