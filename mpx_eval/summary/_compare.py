"""The paired comparison of two models over the cv folds both have: the corrected t-test on
the per-fold accuracies, McNemar's test and DeLong's test on the pooled test images, and the
effect sizes (paired differences with their intervals) beside them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..metrics import (
    corrected_resampled_ttest,
    delong_auc_difference,
    delong_roc_test,
    mcnemar_test,
    paired_accuracy_difference,
    predicted_labels,
)
from ._rows import Rows, repeat_of


def _common_folds(rows_a: Rows, rows_b: Rows) -> tuple[Rows, Rows, list[int]]:
    """Both models restricted to the folds both have (a partial run may lack some)."""
    common = np.intersect1d(np.unique(rows_a.folds), np.unique(rows_b.folds))
    if len(common) < len(np.unique(rows_a.folds)):
        rows_a = rows_a.subset(np.isin(rows_a.folds, common))
    if len(common) < len(np.unique(rows_b.folds)):
        rows_b = rows_b.subset(np.isin(rows_b.folds, common))
    return rows_a, rows_b, [int(f) for f in common]


def _paired_probabilities(name_a, rows_a: Rows, name_b, rows_b: Rows) -> np.ndarray:
    """Model b's probabilities in the order of a's rows; both must hold the same labelled images."""
    key_a = rows_a.frame.set_index(["fold", "path"]).index
    key_b = rows_b.frame.set_index(["fold", "path"]).index
    only_a, only_b = key_a.difference(key_b), key_b.difference(key_a)
    if len(only_a) or len(only_b):
        parts = []
        for name, only in ((name_a, only_a), (name_b, only_b)):
            if len(only):
                fold, path = only[0]
                parts.append(f"{len(only)} only in {name!r} (e.g. fold {fold}, path {path!r})")
        raise ValueError(
            f"models {name_a!r} and {name_b!r} do not hold the same cv test images "
            f"(checkpoint 'best'): {'; '.join(parts)}"
        )
    order = key_b.get_indexer(key_a)
    differ = rows_b.y[order] != rows_a.y
    if differ.any():
        fold, path = key_a[int(np.flatnonzero(differ)[0])]
        raise ValueError(
            f"models {name_a!r} and {name_b!r} disagree on the label of fold {fold}, path {path!r}"
        )
    return rows_b.prob[order]


def _corrected_t(table_a: pd.DataFrame, table_b: pd.DataFrame, n: int, level: float):
    """The corrected t-test's record and the fold-mean difference's effect, or (None, None)
    with one fold."""
    acc_a = table_a["accuracy"].to_numpy()
    acc_b = table_b["accuracy"].to_numpy()
    if acc_a.shape[0] < 2:
        return None, None
    n_test = float(table_a["n_test"].mean())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = corrected_resampled_ttest(
            acc_a, acc_b, n_train=n - n_test, n_test=n_test, confidence_level=level
        )
    test = {
        "t": result.statistic,
        "p": result.pvalue,
        "df": result.df,
        "undefined_reason": "no_variance" if caught else None,
    }
    effect = {
        "difference": result.mean_difference,
        "low": result.low,
        "high": result.high,
        "method": f"corrected resampled t over {acc_a.shape[0]} folds (Nadeau–Bengio)",
        "reason": "the per-fold differences do not vary" if caught else None,
    }
    return test, effect


def _accuracy_effect(rows_a: Rows, predicted_b: np.ndarray) -> dict:
    level = rows_a.settings.confidence_level
    result = paired_accuracy_difference(
        rows_a.y, rows_a.predicted, predicted_b, groups=rows_a.groups, confidence_level=level
    )
    return {
        "difference": result.difference,
        "low": result.low,
        "high": result.high,
        "method": result.method,
        "reason": None,
    }


def _auc_effect(rows_a: Rows, prob_b: np.ndarray) -> dict | None:
    if not rows_a.has_both():
        return None
    result = delong_auc_difference(
        rows_a.y,
        rows_a.positive_score(),
        rows_a.positive_score(prob_b),
        positive_class=rows_a.settings.positive_class,
        groups=rows_a.groups,
        confidence_level=rows_a.settings.confidence_level,
    )
    clustered = rows_a.groups_repeat()
    return {
        "difference": result.difference,
        "low": result.low,
        "high": result.high,
        "method": "DeLong, clustered (Obuchowski)" if clustered else "DeLong",
        "reason": result.reason,
    }


def _delong(rows_a: Rows, prob_b: np.ndarray) -> dict | None:
    if not rows_a.has_both():
        return None
    result = delong_roc_test(
        rows_a.y,
        rows_a.positive_score(),
        rows_a.positive_score(prob_b),
        positive_class=rows_a.settings.positive_class,
        groups=rows_a.groups,
    )
    return {"z": result.statistic, "p": result.pvalue, "auc_a": result.auc_a, "auc_b": result.auc_b}


def compare(name_a, rows_a: Rows, name_b, rows_b: Rows, n: int) -> dict | None:
    rows_a, rows_b, folds = _common_folds(rows_a, rows_b)
    if not folds:
        return None
    prob_b = _paired_probabilities(name_a, rows_a, name_b, rows_b)
    table_a, table_b = rows_a.fold_table(), rows_b.fold_table()
    acc_a = table_a["accuracy"].to_numpy()
    acc_b = table_b["accuracy"].to_numpy()
    predicted_b = predicted_labels(prob_b, labels=rows_a.settings.classes)
    mcnemar = mcnemar_test(rows_a.y, rows_a.predicted, predicted_b, groups=rows_a.groups)
    corrected_t, fold_effect = _corrected_t(table_a, table_b, n, rows_a.settings.confidence_level)
    return {
        "a": name_a,
        "b": name_b,
        "metric": "accuracy",
        "k": acc_a.shape[0],
        "repeats": int(np.unique(repeat_of(folds, rows_a.settings.folds_per_repeat)).shape[0]),
        "folds": folds,
        "mean_a": float(acc_a.mean()),
        "mean_b": float(acc_b.mean()),
        "mean_difference": float(acc_a.mean() - acc_b.mean()),
        "corrected_t": corrected_t,
        "mcnemar": {
            "statistic": mcnemar.statistic,
            "p": mcnemar.pvalue,
            "n_a_only": mcnemar.n_a_only,
            "n_b_only": mcnemar.n_b_only,
            "method": mcnemar.method,
        },
        "delong": _delong(rows_a, prob_b),
        "n_paired": len(rows_a),
        "effects": {
            "accuracy": _accuracy_effect(rows_a, predicted_b),
            "roc_auc": _auc_effect(rows_a, prob_b),
            "fold_mean_accuracy": fold_effect,
        },
    }
