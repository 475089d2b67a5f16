"""The rendered page: its sections, figures, numbers and self-containment, on several runs."""

from __future__ import annotations

import base64
import json
import shlex
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mpx_eval.atomic import write_json
from mpx_eval.cli import main
from mpx_eval.report import render_run
from tests.helpers.folders import snapshot

from .conftest import Page
from .synthetic_run import XSS, make_run

SECTIONS = {"overview", "headline", "models", "comparison", "audit", "mistakes", "reproduce"}
PER_MODEL_FIGURES = ("curves", "curves-mean", "confusion", "roc", "pr", "reliability")


def _metrics(run) -> dict:
    return json.loads((run.out / "metrics.json").read_text(encoding="utf-8"))


def _figure_names(run) -> set[str]:
    return {p.stem for p in (run.out / "figures").glob("*.png")}


# --------------------------------------------------------------------------- structure


def test_every_section_is_present_and_linked_from_the_contents(binary_run):
    ids = binary_run.page.ids
    assert SECTIONS | {"model-t3", "model-t4"} <= ids
    links = [a["href"] for tag, a in binary_run.page.tags if tag == "a" and "href" in a]
    contents = [h for h in links if h.startswith("#")]
    assert {f"#{s}" for s in SECTIONS} <= set(contents)
    assert all(h[1:] in ids for h in contents)


def test_every_figure_is_saved_as_png_and_inlined(binary_run):
    expected = {f"{m}-{f}" for m in ("t3", "t4") for f in PER_MODEL_FIGURES}
    expected |= {"optimism", "comparison-folds", "comparison-roc", "comparison-curves"}
    expected |= {"decision-curve"}
    assert _figure_names(binary_run) == expected
    inline = [i["src"] for i in binary_run.page.images() if i["src"].startswith("data:image/png")]
    assert len(inline) == len(expected)
    for name in expected:
        path = binary_run.out / "figures" / f"{name}.png"
        data = path.read_bytes()
        assert "data:image/png;base64," + base64.b64encode(data).decode() in inline
        with Image.open(path) as image:
            width, height = image.size
            assert 200 < width <= 1400 and 200 < height <= 2000
        assert f"figures/{name}.png" in binary_run.page.text


def test_no_resource_comes_from_outside_the_page(binary_run, three_class_run):
    for run in (binary_run, three_class_run):
        tags = run.page.tags
        assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
        for _tag, attrs in tags:
            for key in ("src", "href", "srcset", "poster", "data"):
                value = attrs.get(key)
                if value is not None:
                    assert value.startswith(("data:", "#")), (key, value[:80])
        assert "@import" not in run.html
        assert "url(" not in run.html.replace("url(data:", "")


def test_only_the_thumbnails_shown_are_embedded(binary_run):
    thumbs = [i for i in binary_run.page.images() if i["src"].startswith("data:image/jpeg")]
    assert thumbs
    with zipfile.ZipFile(binary_run.out / "thumbnails.zip") as zf:
        names = set(zf.namelist())
        for image in thumbs:
            assert image["alt"] in names
            expected = base64.b64encode(zf.read(image["alt"])).decode()
            assert image["src"] == "data:image/jpeg;base64," + expected
        assert len({i["alt"] for i in thumbs}) < len(names)
    assert binary_run.html.count("data:image/jpeg") == len(thumbs)


def test_render_returns_index_and_leaves_no_temporary_files(binary_run):
    assert binary_run.index == binary_run.out / "index.html"
    assert not [p for p in binary_run.out.iterdir() if p.name.endswith(".tmp")]


def test_rendering_again_gives_identical_output(binary_run):
    figures = {p.name: p.read_bytes() for p in (binary_run.out / "figures").glob("*.png")}
    render_run(binary_run.out)
    assert binary_run.index.read_text(encoding="utf-8") == binary_run.html
    assert {p.name: p.read_bytes() for p in (binary_run.out / "figures").glob("*.png")} == figures


def test_the_report_command_on_a_finished_run_touches_only_its_page_and_figures(tmp_path):
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=3)
    render_run(out)  # as `run` does once it has aggregated
    before = snapshot(out)
    assert {"metrics.json", "history.csv", "predictions.csv", ".mpx_eval"} <= set(before)
    assert main(["report", "--out", str(out)]) == 0
    assert snapshot(out) == before


def test_a_run_level_table_behind_its_units_is_rebuilt_from_them(tmp_path):
    """An interrupted run leaves the tables of its last aggregation: the report gathers the
    units again rather than show the older numbers."""
    out = make_run(tmp_path / "run", folds=2, n_per_class=10, epochs=3)
    good = {name: (out / name).read_bytes() for name in ("history.csv", "predictions.csv")}
    (out / "predictions.csv").write_bytes(b"".join(good["predictions.csv"].splitlines(True)[:-4]))
    render_run(out)
    assert {name: (out / name).read_bytes() for name in good} == good


def test_a_run_rendered_again_shows_what_it_recorded_not_todays_defaults(tmp_path):
    """The level of the primary test is in metrics.json and the --save-models choice in
    config.toml (absent: a run from before the option); a later rendering shows those,
    whatever the code's defaults are now."""
    out = make_run(tmp_path / "run", folds=3, n_per_class=10, epochs=3)
    page = Page(render_run(out).read_text(encoding="utf-8")).text
    assert "at p < 0.05" in page and "--save-models seed" in page  # today's defaults
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    metrics["primary_test"]["alpha"] = 0.01
    metrics["comparisons"][0]["corrected_t"]["p"] = 0.03
    (out / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    config = (out / "config.toml").read_text(encoding="utf-8").splitlines(True)
    config = [line for line in config if not line.startswith("save_models")]
    (out / "config.toml").write_text("".join(config), encoding="utf-8")
    html = render_run(out).read_text(encoding="utf-8")
    page = Page(html).text
    assert "at p < 0.01" in page and "at p < 0.05" not in page
    assert '<td class="p">p = 0.030</td>' in html  # not significant at the recorded level
    assert "--save-models" not in page.split("Saved models")[1].split("Reproduce")[0]


# --------------------------------------------------------------------------- content


def test_header_describes_data_protocol_and_time(binary_run):
    text = binary_run.page.text
    runinfo = json.loads((binary_run.out / "runinfo.json").read_text())
    assert runinfo["dataset"]["fingerprint"] in text
    assert "Monkeypox: 18, Others: 18" in text
    assert "224x224: 35, 160x160: 1" in text
    assert "Others/broken.jpg" in text and "cannot be decoded" in text
    assert "3 stratified folds" in text and "seed 123" in text
    assert "12.5 % of each training fold" in text
    assert "highest accuracy on the inner validation part" in text
    assert "5 min 21 s" in text  # wall_seconds 321
    for unit in runinfo["units_planned"]:
        assert unit in text
    assert "CPU (CPU, 2 threads)" in text and "float32" in text and "tensorflow 2.16.1" in text


def test_demo_runs_carry_the_banner_and_the_departures_from_the_blog(binary_run, three_class_run):
    text = binary_run.page.text
    assert "synthetic demo data — not medical images" in text
    assert "image size: 64 px (the blog: t3 180 px, t4 224 px)" in text
    assert "batch size: 8 (the blog: 32)" in text
    assert "not medical images" not in three_class_run.page.text


def test_headline_shows_each_estimate_with_its_own_interval_beside_the_seed_number(binary_run):
    text = binary_run.page.text
    metrics = _metrics(binary_run)
    for name in ("t3", "t4"):
        entry = metrics["models"][name]
        cv, seed, optimism = entry["cv"], entry["seed_split"], entry["optimism"]
        pooled, ci = cv["pooled"]["roc_auc"], cv["ci"]["roc_auc"]
        assert f"{pooled:.3f} 95 % CI {ci['low']:.3f}–{ci['high']:.3f}" in text
        folds = [f["accuracy"] for f in cv["folds"]]
        mean = entry["assessment"]["fold_mean"]["accuracy"]
        assert mean["mean"] == pytest.approx(np.mean(folds))
        assert (
            f"{mean['mean']:.3f} 95 % CI {mean['low']:.3f}–{mean['high']:.3f} (t over 3 folds)"
            in text
        )
        blog = seed["best_val_accuracy"]
        assert f"this model scores {blog:.3f}. The same images chose the checkpoint" in text
        assert f"rule fixed before the run, {optimism['rule']} (" in text
        assert f"the test folds score {optimism['chosen']:.3f} on average" in text
    for label in (
        "Accuracy",
        "Balanced accuracy",
        "Sensitivity (Monkeypox)",
        "Specificity",
        "AUC (ROC)",
        "F1 (Monkeypox)",
    ):
        assert label in text
    assert "checkpoint chosen on these images" in text and "test images chose nothing" in text


def test_per_fold_and_per_class_tables_follow_metrics_json(binary_run):
    text = binary_run.page.text
    cv = _metrics(binary_run)["models"]["t4"]["cv"]
    for fold in cv["folds"]:
        assert f"{fold['accuracy']:.3f}" in text
    others = cv["per_class"]["Others"]["recall"]
    assert f"{others['mean']:.3f} ± {others['std']:.3f}" in text


def test_comparison_verdict_claims_a_difference_only_below_five_percent(binary_run):
    text = binary_run.page.text
    (pair,) = _metrics(binary_run)["comparisons"]
    assert "t3 vs t4" in text
    p_values = [pair["corrected_t"]["p"], pair["mcnemar"]["p"], pair["delong"]["p"]]
    if pair["corrected_t"]["p"] >= 0.05:
        assert "No evidence of a difference in accuracy between t3 and t4" in text
        assert "Evidence that" not in text
    else:
        assert "Evidence that" in text
    assert pair["primary"]["test"] == "corrected_t"
    assert len(p_values) == 3
    assert "Corrected resampled t-test" in text and "McNemar" in text and "DeLong" in text


def test_layer_tables_are_aligned_and_the_difference_highlighted(binary_run):
    rows = [a for t, a in binary_run.page.tags if t == "tr" and a.get("class") == "differs"]
    assert len(rows) == 1  # T4's extra Dropout; the other layers line up
    assert "Seconds per epoch" in binary_run.page.text


def test_audit_names_duplicates_groups_and_where_they_straddle(binary_run):
    text = binary_run.page.text
    audit = json.loads((binary_run.out / "audit.json").read_text())
    for item in audit["exact_duplicates"][0]:
        assert item["path"] in text
    assert f"{audit['near_duplicates'][0]['distance']} of 63 bits differ" in text
    group_leaks = [leak for leak in audit["leaks"] if leak["kind"] == "group"]
    assert group_leaks
    assert f"Group {group_leaks[0]['group']}" in text
    assert "seed-0: val" in text or "seed-0: train" in text


def test_most_confident_mistakes_are_listed_first(binary_run):
    predictions = pd.read_csv(binary_run.out / "predictions.csv")
    rows = predictions[
        (predictions.model == "t4")
        & (predictions.scheme == "cv")
        & (predictions.checkpoint == "best")
    ]
    probs = rows[["prob_Monkeypox", "prob_Others"]].to_numpy()
    predicted = np.array(["Monkeypox", "Others"])[probs.argmax(axis=1)]
    wrong = rows.assign(conf=probs.max(axis=1))[predicted != rows.label.to_numpy()]
    ranked = wrong.sort_values(["conf", "path"], ascending=[False, True])
    block = binary_run.html.split('id="confident-mistakes"')[1].split("<h4>t4:")[1]
    block = block.split("<h4>")[0].split("</section>")[0]
    shown = Page(block)
    assert f"{len(wrong)} of {len(rows)} test-fold images misclassified" in shown.text
    assert [i["alt"] for i in shown.images()] == ranked.path.tolist()[:8]
    top = ranked.iloc[0]
    other = "Others" if top.label == "Monkeypox" else "Monkeypox"
    assert f"predicted {other} (p({other}) = {top.conf:.3f})" in shown.text


def test_reproduce_section_shows_the_command_and_the_resolved_config(binary_run):
    text = binary_run.page.text
    runinfo = json.loads((binary_run.out / "runinfo.json").read_text())
    assert shlex.join(runinfo["command"]) in text
    assert "python -m mpx_eval report --out" in text
    config = (binary_run.out / "config.toml").read_text()
    assert " ".join(config.split()) in text


# --------------------------------------------------------------------------- other runs


def test_names_from_the_data_are_escaped(three_class_run):
    html = three_class_run.html
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not [a for _, a in three_class_run.page.tags if "onerror" in a]
    assert all(i["src"].startswith("data:") for i in three_class_run.page.images())
    assert f"{XSS}.jpg" in three_class_run.page.text  # the odd file, shown as text


def test_a_three_class_run_reports_one_vs_rest_without_positive_class_metrics(three_class_run):
    text = three_class_run.page.text
    assert "AUC (one-vs-rest, macro)" in text and "F1 (macro average of the classes)" in text
    assert "Sensitivity" not in text and "Specificity" not in text
    assert "each class against the rest" in text
    assert {f"t4-{f}" for f in PER_MODEL_FIGURES} <= _figure_names(three_class_run)


def test_a_one_model_run_says_there_is_nothing_to_compare(one_model_run):
    text = one_model_run.page.text
    assert "there is nothing to compare" in text
    assert "Paired tests" not in text
    assert "comparison-folds" not in _figure_names(one_model_run)
    assert "t4-roc" in _figure_names(one_model_run)


def test_a_seed_only_run_renders_and_says_it_has_no_honest_estimate(seed_only_run):
    text = seed_only_run.page.text
    assert "none (folds 0): only the seed split was run" in text
    assert "This run has no cross-validation, so no honest estimate is available." in text
    names = _figure_names(seed_only_run)
    assert {"t3-curves", "t3-confusion", "t3-roc", "t3-pr", "t3-reliability"} <= names
    assert "t3-curves-mean" not in names and "optimism" not in names
    assert "Paired tests need cross-validated predictions" in text


def test_a_partial_run_renders_what_is_finished_and_lists_the_rest(partial_run):
    text = partial_run.page.text
    assert "Partial run: 5 of 8 units finished" in text
    for unit in ("t3-cv-3", "t4-cv-3", "t4-seed-0"):
        assert unit in text
    assert text.count("not finished") >= 3
    assert _metrics(partial_run)["models"]["t4"]["cv"]["k"] == 2
    assert "From the start of the run to its last finished unit: 4 min 05 s" in text


def test_every_pair_of_several_models_is_compared(three_model_run):
    text = three_model_run.page.text
    for a, b in (("mypkg.nets:wide", "t3"), ("mypkg.nets:wide", "t4"), ("t3", "t4")):
        assert f"{a} vs {b}" in text
    assert "with several pairs, one p-value below 0.05 can occur by chance" in text
    assert {"mypkg.nets-wide-roc", "mypkg.nets-wide-curves"} <= _figure_names(three_model_run)


def test_a_two_thousand_image_run_stays_small(tmp_path):
    out = make_run(tmp_path / "big", n_per_class=1000, folds=5, epochs=50)
    html = render_run(out).read_text(encoding="utf-8")
    assert len(html.encode()) < 15 * 2**20
    assert html.count("data:image/jpeg") < 200  # only the thumbnails shown are embedded


def test_a_model_without_finished_units_and_a_missing_thumbnail_still_render(tmp_path):
    out = make_run(
        tmp_path / "sparse",
        folds=2,
        n_per_class=10,
        epochs=4,
        drop_units=("t3-seed-0", "t3-cv-1", "t3-cv-2"),
    )
    with zipfile.ZipFile(out / "thumbnails.zip") as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    missing = sorted(entries)[0]  # the first sample of the first class
    with zipfile.ZipFile(out / "thumbnails.zip", "w") as zf:
        for name, data in entries.items():
            if name != missing:
                zf.writestr(name, data)
    page = Page(render_run(out).read_text(encoding="utf-8"))
    assert "No unit of this model has finished yet." in page.text
    assert f"no thumbnail for {missing}" in [a.get("aria-label") for _, a in page.tags]
    assert "Partial run: 3 of 6 units finished" in page.text


def test_a_resumed_run_does_not_pass_its_last_invocation_off_as_the_whole_run(tmp_path):
    out = make_run(tmp_path / "resumed", folds=2, n_per_class=10, epochs=3)
    runinfo = json.loads((out / "runinfo.json").read_text())
    runinfo["resumed"] = "2026-01-02T03:04:05+00:00"
    (out / "runinfo.json").write_text(json.dumps(runinfo))
    text = Page(render_run(out).read_text(encoding="utf-8")).text
    assert "Wall time of the whole run" not in text
    assert "Wall time of the invocation that resumed the run" in text and "5 min 21 s" in text
    assert "Resumed" in text and "2026-01-02T03:04:05+00:00" in text


# --------------------------------------------------------------------------- wording


def test_mistakes_and_heatmaps_have_a_section_and_contents_entries(binary_run):
    """Not filed under the data audit: a section of their own, reachable from the contents."""
    html = binary_run.html
    nav = Page(html.split('<nav class="toc"', 1)[1].split("</nav>", 1)[0])
    links = {a["href"] for tag, a in nav.tags if tag == "a"}
    assert {"#mistakes", "#confident-mistakes", "#gradcam", "#saved-models"} <= links
    audit = html.split('<section id="audit"', 1)[1].split("</section>", 1)[0]
    assert "Most confident mistakes" not in audit and 'id="gradcam"' not in audit
    mistakes = html.split('<section id="mistakes"', 1)[1].split('<section id="reproduce"', 1)[0]
    assert 'id="confident-mistakes"' in mistakes and 'id="gradcam"' in mistakes


def test_no_parenthesis_is_closed_twice_and_no_count_is_left_unsaid(alarm_run, binary_run):
    """ "(folds 1, 2: the model predicted no Monkeypox))." and "16 straddling finding(s)"."""
    for run in (alarm_run, binary_run):
        per_model = run.html.split('<section id="models"', 1)[1].split('<section id="comparison"')[
            0
        ]
        assert "))" not in Page(per_model).text
        assert "finding(s)" not in run.page.text
    assert "Precision of Monkeypox: mean of 1 of 3 folds (folds 1, 2: the model predicted no " \
        "Monkeypox)." in alarm_run.page.text  # fmt: skip
    leaks = len(json.loads((binary_run.out / "audit.json").read_text())["leaks"])
    assert f"the audit found {leaks} duplicates or groups on both sides of a split" in (
        binary_run.page.text
    )


def test_family_detection_notes_are_folded_into_the_families_section(tmp_path):
    """A note of the image matcher (inliers, scores) is detail: in the families section,
    folded, never near the first screen."""
    out = make_run(tmp_path / "run", folds=2, n_per_class=8, epochs=3)
    audit = json.loads((out / "audit.json").read_text())
    members = [
        {"path": p, "label": "Monkeypox"} for p in ("Monkeypox/P000_1.jpg", "Monkeypox/P000_2.jpg")
    ]
    note = "not joined: two families share 1 checked link on fits under 16 inliers"
    audit.update(
        family_detection="on",
        families=[{"id": 1, "size": 2, "labels": ["Monkeypox"], "members": members, "links": []}],
        family_notes=[note],
    )
    write_json(out / "audit.json", audit)
    html = render_run(out).read_text(encoding="utf-8")
    assert html.count("16 inliers") == 1
    assert html.index('id="families"') < html.index("16 inliers")
    folded = html.split('<details class="notes">', 1)[1].split("</details>", 1)[0]
    assert "16 inliers" in folded and "1 note" in folded
