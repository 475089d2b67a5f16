"""A run of more than two classes reads as one: each metric once and named for what it
averages, the AUC's interval named as metrics.json records it, and a number that cannot be
computed on the seed split says why."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from mpx_eval.metrics import metric_names
from mpx_eval.report import render_run
from mpx_eval.report import text as T

from .conftest import Page
from .synthetic_run import make_run

CLASSES = ("Clear", "Macular", "Pustular", "Vesicular")


@pytest.fixture(scope="module")
def four_class_run(tmp_path_factory):
    """Four classes of six images: the seed split's four validation images cannot hold
    every class, so its one-vs-rest AUC is undefined."""
    out = make_run(tmp_path_factory.mktemp("four") / "run", classes=CLASSES, n_per_class=6)
    render_run(out)
    html = (out / "index.html").read_text(encoding="utf-8")
    return out, html, Page(html)


def _metrics(out) -> dict:
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def _row_headers(html: str) -> list[list[str]]:
    """Each table's row headers (``<th scope="row">``), table by table."""
    tables = []
    for table in re.findall(r"<table.*?</table>", html, flags=re.S):
        heads = re.findall(r'<th scope="row">(.*?)</th>', table, flags=re.S)
        if heads:
            tables.append([Page(head).text for head in heads])
    return tables


def test_each_metric_is_one_row_under_a_name_of_its_own(four_class_run):
    """f1 and f1_macro are one number with more than two classes: one row, named once."""
    _, html, _ = four_class_run
    tables = _row_headers(html)
    assert tables
    for heads in tables:
        assert len(heads) == len(set(heads)), heads
    all_metrics = [h for h in tables if "Matthews correlation" in h]
    assert len(all_metrics) >= 3  # each model's all-metrics table and the side-by-side one
    for heads in all_metrics:
        assert heads.count("F1 (macro average of the classes)") == 1
        assert "AUC (one-vs-rest, macro)" in heads
        assert "Average precision (one-vs-rest, macro)" in heads


@pytest.mark.parametrize("positive", [None, "Monkeypox"])
def test_metric_labels_are_distinct_for_the_metrics_a_table_lists(positive):
    n_classes = 2 if positive else 4
    names = T.reported_metrics(metric_names(n_classes), positive)
    labels = [T.metric_label(name, positive) for name in names]
    assert len(labels) == len(set(labels)), labels
    assert ("f1" in names) == (positive is not None)


def test_the_first_screen_says_the_auc_is_one_vs_rest_macro(four_class_run):
    _, html, _ = four_class_run
    verdict = Page(html.split('id="verdict"', 1)[1].split("</section>", 1)[0]).text
    assert "AUC (one-vs-rest, macro)" in verdict
    assert "each class against the rest, averaged over the 4 classes" in verdict


def test_the_auc_interval_is_named_as_metrics_json_records_it(four_class_run):
    """One truth: the caption names the interval the cells show, from metrics.json."""
    out, html, _ = four_class_run
    verdict = Page(html.split('id="verdict"', 1)[1].split("</section>", 1)[0]).text
    for name in ("t3", "t4"):
        method = _metrics(out)["models"][name]["assessment"]["headline"]["roc_auc"]["method"]
        assert "whole groups resampled" in method and "DeLong" not in method
    assert "(cluster bootstrap)" in verdict
    assert "DeLong" not in verdict
    assert "AUC (each class against the rest, averaged over the 4 classes) by a bootstrap" in (
        verdict
    )


def test_an_undefined_seed_split_auc_says_why(four_class_run):
    out, _, page = four_class_run
    splits = pd.read_csv(out / "splits.csv")
    validation = splits[(splits.scheme == "seed") & (splits.role == "val")]
    missing = [c for c in CLASSES if c not in set(validation.label)]
    assert missing  # the premise: the seed split's validation part lacks a class
    for name in ("t3", "t4"):
        assert _metrics(out)["models"][name]["seed_split"]["roc_auc"] is None
    reason = f"n/a no {' or '.join(missing[:2])}"
    assert page.text.count(reason) >= 4  # both models, detailed results and all metrics
    assert "image in its validation part" in page.text


def test_the_seed_split_gap_is_not_read_as_the_blogs_error(four_class_run):
    """The blog's figure is for two classes: a four-class seed split checks none of it."""
    _, _, page = four_class_run
    text = page.text
    assert "The blog reported two classes; here its procedure is applied to 4" in text
    assert "overstat" not in text and "blog's optimism" not in text
