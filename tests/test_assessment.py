"""Baselines, alarms, counted folds, intervals and departures (mpx_eval.assessment.headline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpx_eval.assessment import headline as A
from mpx_eval.config import RunConfig, config_from_toml_text, dump_toml, resolve
from mpx_eval.summary import summarize_predictions

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
    return A.assess(metrics, frame, {})


def test_exact_interval_of_24_out_of_24_is_not_zero_width():
    ci = A.exact_interval(24, 24)
    assert ci["low"] == pytest.approx(0.8575, abs=1e-4) and ci["high"] == 1.0
    assert A.exact_interval(0, 0) is None
    with pytest.raises(ValueError, match="successes must be between 0 and n=3, got 4"):
        A.exact_interval(4, 3)


def test_a_perfect_small_model_gets_a_real_interval_not_one_point():
    labels = {1: ["Monkeypox", "Others"] * 6, 2: ["Monkeypox", "Others"] * 6}
    scores = {f: [0.9, 0.1] * 6 for f in (1, 2)}
    found = _assess(_predictions(scores, labels))["models"]["m"]["assessment"]
    accuracy = found["headline"]["accuracy"]
    # 24 of 24: the metrics' Wilson interval (about 0.86-1), never [1, 1]
    assert accuracy["estimate"] == 1.0 and accuracy["method"].startswith("Wilson")
    assert 0.8 < accuracy["low"] < 0.9 and accuracy["high"] == pytest.approx(1.0)
    # with no width in the metrics' interval, the exact binomial one steps in
    exact = A.proportion_interval({"low": 1.0, "high": 1.0, "method": "x"}, 24, 24)
    assert exact["low"] == pytest.approx(A.exact_interval(24, 24)["low"]) and exact["low"] < 1
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
    ci = A.t_interval([0.9, 1.0, None, 0.95])
    assert ci["k"] == 3 and ci["mean"] == pytest.approx(0.95)
    half = 4.302653 * 0.05 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(k)
    assert ci["low"] == pytest.approx(0.95 - half, abs=1e-5)
    assert ci["high"] == 1.0  # clipped: these metrics lie between 0 and 1
    assert A.t_interval([0.9]) is None


def test_primary_result_favours_a_model_only_below_alpha():
    comparison = {"a": "t3", "b": "t4", "mean_difference": -0.04, "corrected_t": {"p": 0.01}}
    assert A.primary_result(comparison) == {
        "test": "corrected_t",
        "p": 0.01,
        "significant": True,
        "favours": "t4",
    }
    comparison["corrected_t"]["p"] = 0.2
    assert A.primary_result(comparison)["favours"] is None
    comparison["corrected_t"] = None
    assert A.primary_result(comparison)["p"] is None


def _flat(cfg: RunConfig) -> dict:
    return config_from_toml_text(dump_toml(cfg))


def test_the_blogs_settings_have_no_departure_and_quick_toml_has_three():
    assert A.departures(_flat(RunConfig()), ["t3", "t4"]) == []
    quick = resolve(config_file="configs/quick.toml")
    found = {d["setting"]: d["used"] for d in A.departures(_flat(quick), ["t3", "t4"])}
    assert found == {"folds": 3, "epochs": 10, "image_size": "96 px"}
    short = A.departures(_flat(RunConfig(epochs=5, learning_rate=1e-3)), ["t4"])
    assert [(d["setting"], d["used"], d["blog"]) for d in short] == [
        ("epochs", 5, "50"),
        ("learning_rate", 0.001, "0.0001"),
    ]
    # T4 at its own 224 px is no departure; T3 forced to 224 px is one
    assert A.departures(_flat(RunConfig(image_size=224, models=("t4",))), ["t4"]) == []
    assert A.departures(_flat(RunConfig(image_size=224)), ["t3", "t4"])[0]["blog"] == (
        "t3 180 px, t4 224 px"
    )


def test_the_demo_config_does_not_name_a_data_folder_and_reads_back():
    cfg = resolve(overrides={"demo": True})
    text = dump_toml(cfg)
    assert "data_dir =" not in text and "--demo draws its images" in text
    values = {
        k: tuple(v) if isinstance(v, list) else v for k, v in config_from_toml_text(text).items()
    }
    assert RunConfig(**values) == cfg
    assert "data_dir = 'elsewhere'" in dump_toml(cfg.replace(data_dir="elsewhere"))
