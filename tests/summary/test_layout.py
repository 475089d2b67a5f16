"""The types of mpx_eval.summary.layout describe what summarize_predictions returns, key by key,
and the summary reaches the metrics through their public names only."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import mpx_eval.summary
from mpx_eval.summary import summarize_predictions
from mpx_eval.summary.layout import Summary

from ..helpers.layout import check
from ..metrics.synthetic import make_run

BINARY = ["Monkeypox", "Others"]
THREE = ["Chickenpox", "Measles", "Monkeypox"]


def _binary_patients_history():
    predictions, history = make_run(n=90, seed=21, patients=30)
    return summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=50
    )


def _three_classes():
    predictions, history = make_run(n=60, seed=22, classes=THREE, models=("a", "b", "c"))
    return summarize_predictions(predictions, labels=THREE, history=history, n_resamples=50)


def _repeats_without_seed_split_or_history():
    predictions, _ = make_run(n=40, seed=23, with_seed=False, with_last=False)
    repeated = pd.concat([predictions, predictions.assign(fold=predictions["fold"] + 5)])
    return summarize_predictions(
        repeated, labels=BINARY, positive_class="Others", n_resamples=50, folds_per_repeat=5
    )


def _seed_split_only():
    predictions, _ = make_run(n=30, seed=24)
    seed = predictions[predictions["scheme"] == "seed"]
    return summarize_predictions(seed, labels=BINARY, n_resamples=50)


@pytest.mark.parametrize(
    "make",
    [
        _binary_patients_history,
        _three_classes,
        _repeats_without_seed_split_or_history,
        _seed_split_only,
    ],
    ids=lambda make: make.__name__.strip("_"),
)
def test_summaries_fit_the_typed_layout(make):
    check(make(), Summary, "summary")


def test_the_checker_refuses_what_the_layout_does_not_declare():
    predictions, _ = make_run(n=40, seed=25)
    summary = summarize_predictions(predictions, labels=BINARY, n_resamples=20)
    summary["models"]["cnn"]["cv"]["extra"] = 1
    with pytest.raises(AssertionError, match=r"\['extra'\] that CrossValidation does not"):
        check(summary, Summary, "summary")
    del summary["models"]["cnn"]["cv"]["extra"]
    summary["models"]["cnn"]["cv"]["folds"][0]["n_test"] = 3.0
    with pytest.raises(AssertionError, match=r"n_test'\] is 3\.0, not int"):
        check(summary, Summary, "summary")


def test_the_summary_uses_only_public_names_of_the_metrics():
    private = []
    for path in Path(mpx_eval.summary.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and "metrics" in (node.module or ""):
                parts = node.module.split(".")
                names = [alias.name for alias in node.names]
                private += [
                    f"{path.name}: {node.module}.{name}"
                    for name in names
                    if name.startswith("_") or any(p.startswith("_") for p in parts)
                ]
    assert private == []


def test_the_history_the_summary_reads_is_part_of_what_a_run_writes():
    from mpx_eval.rundir.layout import HISTORY_COLUMNS
    from mpx_eval.summary._summarize import HISTORY_USED

    assert set(HISTORY_USED) <= set(HISTORY_COLUMNS)
