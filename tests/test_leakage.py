"""The seed split's leaky vs leak-free accuracy, from a prediction table and the audit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mpx_eval.assessment.leakage import seed_leakage_metrics

CLASSES = ["Monkeypox", "Others"]


def _predictions(right: list[bool], labels: list[str], groups: list[str]) -> pd.DataFrame:
    p = np.array(
        [0.9 if (lab == "Monkeypox") == ok else 0.1 for ok, lab in zip(right, labels, strict=True)]
    )
    frame = pd.DataFrame(
        {
            "model": "t4",
            "scheme": "seed",
            "fold": 0,
            "checkpoint": "best",
            "path": [f"img{i}.jpg" for i in range(len(right))],
            "label": labels,
            "group": groups,
            "prob_Monkeypox": p,
            "prob_Others": 1 - p,
        }
    )
    # the last checkpoint and a cv unit must not count
    other = frame.assign(checkpoint="last", prob_Monkeypox=1 - p, prob_Others=p)
    return pd.concat([frame, other, frame.assign(scheme="cv", fold=1)], ignore_index=True)


def test_accuracy_is_split_by_sibling_in_training():
    labels = ["Monkeypox", "Others"] * 12
    right = [True] * 12 + [True, False, False] * 4
    groups = [f"g{i}" for i in range(24)]
    audit = {"seed_leakage": {"with_sibling_in_train": [f"img{i}.jpg" for i in range(12)]}}
    found = seed_leakage_metrics(_predictions(right, labels, groups), audit, CLASSES)
    entry = found["t4"]
    assert entry["checkpoint"] == "best"
    assert entry["with_sibling"]["n"] == 12 and entry["with_sibling"]["accuracy"] == 1.0
    assert entry["without_sibling"]["n"] == 12
    assert entry["without_sibling"]["accuracy"] == 4 / 12
    assert entry["all"]["accuracy"] == 16 / 24
    low, high = entry["without_sibling"]["low"], entry["without_sibling"]["high"]
    assert 0 <= low <= 4 / 12 <= high <= 1 and low < high


def test_all_right_in_few_groups_is_not_certainty():
    labels = ["Monkeypox", "Others"] * 12
    groups = [f"g{i // 4}" for i in range(24)]  # six groups of four
    audit = {"seed_leakage": {"with_sibling_in_train": []}}
    found = seed_leakage_metrics(_predictions([True] * 24, labels, groups), audit, CLASSES)
    entry = found["t4"]["all"]
    # 24 of 24 right, but in six groups: a wide interval, never "1.000-1.000"
    assert entry["accuracy"] == 1.0 and entry["high"] == 1.0 and entry["low"] < 0.8
    alone = seed_leakage_metrics(
        _predictions([True] * 24, labels, [f"i{i}" for i in range(24)]), audit, CLASSES
    )["t4"]["all"]
    assert entry["low"] < alone["low"] < 1.0  # clustering widens it


def test_no_interval_from_a_single_group():
    labels = ["Monkeypox", "Others"] * 2
    audit = {"seed_leakage": {"with_sibling_in_train": []}}
    found = seed_leakage_metrics(_predictions([True] * 4, labels, ["g"] * 4), audit, CLASSES)
    assert found["t4"]["all"] == {"n": 4, "accuracy": 1.0, "low": None, "high": None}


def test_nothing_to_report_without_a_leakage_record_or_seed_unit():
    frame = _predictions([True, False], ["Monkeypox", "Others"], ["a", "b"])
    assert seed_leakage_metrics(frame, {}, CLASSES) == {}
    audit = {"seed_leakage": {"with_sibling_in_train": []}}
    found = seed_leakage_metrics(frame, audit, CLASSES)["t4"]
    assert found["with_sibling"] == {"n": 0, "accuracy": None, "low": None, "high": None}
    assert found["without_sibling"]["n"] == 2
