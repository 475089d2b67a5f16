"""A run's metrics.json, summary and run-level keys alike, is laid out exactly as its typed
layout declares, and the one reader reads it into that layout."""

from __future__ import annotations

import json

import pytest

from mpx_eval.assessment.layout import RunMetrics, read_metrics
from mpx_eval.errors import MpxEvalError

from ..helpers.layout import check


@pytest.mark.parametrize(
    "fixture", ["binary_run", "three_class_run", "alarm_run", "partial_run", "seed_only_run"]
)
def test_metrics_json_fits_the_run_layout(fixture, request):
    out = request.getfixturevalue(fixture).out
    data = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    # the run-level keys follow the summary's, so only the keys and types are checked here
    check(data, RunMetrics, "metrics", ordered=False)
    typed = read_metrics(out / "metrics.json")
    assert list(typed.models) == list(data["models"])
    assert typed.units_finished == data["units_finished"]


def test_the_reader_names_the_key_that_does_not_fit(binary_run, tmp_path):
    data = json.loads((binary_run.out / "metrics.json").read_text(encoding="utf-8"))
    data["models"]["t4"]["assessment"]["headline"]["accuracy"]["n"] = "many"
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(MpxEvalError, match=r"models\.t4\.assessment\.headline\.accuracy\.n is str"):
        read_metrics(path)
