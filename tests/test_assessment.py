"""Baselines, alarms, counted folds, intervals and departures (mpx_eval.assessment)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpx_eval.assessment.aggregate import assess
from mpx_eval.assessment.departures import departures
from mpx_eval.assessment.intervals import exact_interval, proportion_interval, t_interval
from mpx_eval.assessment.verdicts import primary_result
from mpx_eval.config import RunConfig, config_from_toml_text, dump_toml, resolve
from mpx_eval.summary import summarize_predictions
from mpx_eval.summary._from_json import from_json
from mpx_eval.summary.layout import Comparison, Interval

CLASSES = ["Monkeypox", "Others"]


def _predictions(p_monkeypox_by_fold: dict[int, list[float]], labels_by_fold) -> pd.DataFrame:
    rows = []
    for fold, scores in p_monkeypox_by_fold.items():
        for i, (p, label) in enumerate(zip(scores, labels_by_fold[fold], strict=True)):
            rows.append(
                {
                    "model": "m",
                    "scheme": "cv",
                    "fold": fold,
                    "checkpoint": "best",
                    "path": f"{fold}-{i}.jpg",
                    "label": label,
                    "group": f"{fold}-{i}.jpg",
                    "prob_Monkeypox": p,
                    "prob_Others": 1 - p,
                }
            )
    return pd.DataFrame(rows)


def _assess(frame: pd.DataFrame) -> dict:
    metrics = summarize_predictions(
        frame, labels=CLASSES, positive_class=CLASSES[0], n_resamples=200
    )
    metrics["dataset"] = {"counts": frame["label"].value_counts().to_dict()}
    return assess(metrics, frame, RunConfig())


def test_exact_interval_of_24_out_of_24_is_not_zero_width():
    ci = exact_interval(24, 24)
    assert ci.low == pytest.approx(0.8575, abs=1e-4) and ci.high == 1.0
    assert exact_interval(0, 0) is None
    with pytest.raises(ValueError, match="successes must be between 0 and n=3, got 4"):
        exact_interval(4, 3)


def test_a_perfect_small_model_gets_a_real_interval_not_one_point():
    labels = {1: ["Monkeypox", "Others"] * 6, 2: ["Monkeypox", "Others"] * 6}
    scores = {f: [0.9, 0.1] * 6 for f in (1, 2)}
    found = _assess(_predictions(scores, labels))["models"]["m"]["assessment"]
    accuracy = found["headline"]["accuracy"]
    # 24 of 24: the metrics' Wilson interval (about 0.86-1), never [1, 1]
    assert accuracy["estimate"] == 1.0 and accuracy["method"].startswith("Wilson")
    assert 0.8 < accuracy["low"] < 0.9 and accuracy["high"] == pytest.approx(1.0)
    # with no width in the metrics' interval, the exact binomial one steps in
    exact = proportion_interval(Interval(low=1.0, high=1.0, method="x", n_dropped=0), 24, 24)
    assert exact.low == pytest.approx(exact_interval(24, 24).low) and exact.low < 1
    assert found["alarms"] == []


def test_a_model_that_calls_everything_others_raises_every_alarm():
    labels = {1: ["Monkeypox"] * 4 + ["Others"] * 6, 2: ["Monkeypox"] * 4 + ["Others"] * 6}
    scores = {f: [0.3] * 10 for f in (1, 2)}
    metrics = _assess(_predictions(scores, labels))
    found = metrics["models"]["m"]["assessment"]
    assert found["baseline"] == {"class": "Others", "accuracy": 0.6, "roc_auc": 0.5, "n": 20}
    assert [a["kind"] for a in found["alarms"]] == [
        "one_class",
        "constant_scores",
        "not_above_baseline",
        "auc_not_above_chance",
    ]
    assert found["alarms"][0]["message"] == "predicts every image as Others (20 of 20)"
    assert "0.300 for every image" in found["alarms"][1]["message"]
    assert found["fold_counts"]["ppv"]["n"] == 0
    assert (
        found["fold_counts"]["ppv"]["left_out"][0]["reason"] == "the model predicted no Monkeypox"
    )


def test_fold_means_count_their_folds_and_give_a_t_interval():
    ci = t_interval([0.9, 1.0, None, 0.95])
    assert ci.k == 3 and ci.mean == pytest.approx(0.95)
    half = 4.302653 * 0.05 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(k)
    assert ci.low == pytest.approx(0.95 - half, abs=1e-5)
    assert ci.high == 1.0  # clipped: these metrics lie between 0 and 1
    assert t_interval([0.9]) is None


def test_primary_result_favours_a_model_only_below_alpha():
    comparison = {"a": "t3", "b": "t4", "mean_difference": -0.04, "corrected_t": {"p": 0.01}}

    def typed(found: dict) -> Comparison:
        t = found["corrected_t"] and {"t": 1.0, "df": 4, **found["corrected_t"]}
        pair = {"metric": "accuracy", "k": 5, "folds": [1, 2, 3, 4, 5], "n_paired": 100}
        mcnemar = {"statistic": 0, "p": 1.0, "n_a_only": 0, "n_b_only": 0}
        full = {**pair, **found, "corrected_t": t, "mcnemar": mcnemar, "delong": None}
        return from_json(Comparison, {"mean_a": 0.8, "mean_b": 0.84, **full})

    assert primary_result(typed(comparison)) == {
        "test": "corrected_t",
        "p": 0.01,
        "significant": True,
        "favours": "t4",
    }
    comparison["corrected_t"]["p"] = 0.2
    assert primary_result(typed(comparison))["favours"] is None
    comparison["corrected_t"] = None
    assert primary_result(typed(comparison))["p"] is None


def _recorded(cfg: RunConfig) -> RunConfig:
    """The configuration as a run folder records it and reads it back."""
    return config_from_toml_text(dump_toml(cfg))[0]


def test_the_blogs_settings_have_no_departure_and_quick_toml_has_three():
    assert departures(_recorded(RunConfig()), ["t3", "t4"]) == []
    quick = resolve(config_file="configs/quick.toml")
    found = {d["setting"]: d["used"] for d in departures(_recorded(quick), ["t3", "t4"])}
    assert found == {"folds": 3, "epochs": 10, "image_size": "96 px"}
    short = departures(_recorded(RunConfig(epochs=5, learning_rate=1e-3)), ["t4"])
    assert [(d["setting"], d["used"], d["blog"]) for d in short] == [
        ("epochs", 5, "50"),
        ("learning_rate", 0.001, "0.0001"),
    ]
    # T4 at its own 224 px is no departure; T3 forced to 224 px is one
    assert departures(_recorded(RunConfig(image_size=224, models=("t4",))), ["t4"]) == []
    assert departures(_recorded(RunConfig(image_size=224)), ["t3", "t4"])[0]["blog"] == (
        "t3 180 px, t4 224 px"
    )


def test_the_demo_config_does_not_name_a_data_folder_and_reads_back():
    cfg = resolve(overrides={"demo": True})
    text = dump_toml(cfg)
    assert "data_dir =" not in text and "--demo draws its images" in text
    read_back, _ = config_from_toml_text(text)
    assert read_back == cfg
    assert "data_dir = 'elsewhere'" in dump_toml(cfg.replace(data_dir="elsewhere"))
