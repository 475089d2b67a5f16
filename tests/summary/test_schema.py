"""The metrics.json schema shipped in the package describes what summarize_predictions writes."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from mpx_eval.summary import metrics_json_schema, summarize_predictions

from ..metrics.synthetic import make_run

BINARY = ["Monkeypox", "Others"]


@pytest.fixture(scope="module")
def validator():
    schema = metrics_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("labels", "run_options", "positive"),
    [
        (BINARY, {"seed": 1}, "Monkeypox"),
        (BINARY, {"seed": 2, "patients": 20, "with_last": False}, "Others"),
        (["Chickenpox", "Monkeypox", "Others"], {"seed": 3, "n": 150}, None),
    ],
    ids=["binary", "grouped", "three classes"],
)
def test_summaries_satisfy_the_schema(validator, labels, run_options, positive):
    predictions, history = make_run(classes=labels, **run_options)
    summary = summarize_predictions(
        predictions, labels=labels, positive_class=positive, history=history, n_resamples=50
    )
    validator.validate(json.loads(json.dumps(summary, allow_nan=False)))


def test_the_schema_rejects_a_broken_summary(validator):
    predictions, history = make_run(seed=4, n=80)
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=20
    )
    for path, value in (
        (("models", "cnn", "cv", "ci", "accuracy", "n_dropped"), -1),
        (("comparisons", 0, "mcnemar", "p"), 1.5),
        (("models", "cnn", "cv", "k"), "5"),
    ):
        broken = copy.deepcopy(summary)
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert not validator.is_valid(broken), path
    missing = copy.deepcopy(summary)
    del missing["models"]["cnn"]["cv"]["ci"]
    assert not validator.is_valid(missing)


def test_the_shipped_schema_is_the_one_the_typed_layout_makes():
    """The dataclasses of the layout are the one description of metrics.json; the schema
    file is generated from them (``python -m mpx_eval.assessment.layout``)."""
    from mpx_eval.assessment.layout import schema_text

    assert json.loads(schema_text()) == metrics_json_schema()


def test_the_schema_checks_the_run_level_keys_too(validator):
    predictions, history = make_run(seed=5, n=60)
    summary = summarize_predictions(
        predictions, labels=BINARY, positive_class="Monkeypox", history=history, n_resamples=20
    )
    for value in (-1, 1.5):
        broken = copy.deepcopy(summary)
        broken["units_finished"] = 3
        broken["dataset"] = {"classes": BINARY, "counts": {"Monkeypox": value}, "n_images": 3}
        broken["dataset"]["fingerprint"] = "f"
        assert not validator.is_valid(broken), value
    broken = copy.deepcopy(summary)
    broken["departures"] = [{"setting": "epochs", "name": "epochs", "used": [5], "blog": "50"}]
    assert not validator.is_valid(broken)
