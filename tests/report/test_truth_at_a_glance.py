"""The report tells the truth at a glance (issue 15): one test group per point of the issue,
on the rendered page and in metrics.json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpx_eval.assessment.layout import metrics_from_json
from mpx_eval.commands.terminal import summary_lines
from mpx_eval.report import curves as C
from mpx_eval.report import figures as F

from .conftest import Page

README = Path(__file__).resolve().parents[2] / "README.md"


def _metrics(run) -> dict:
    return json.loads((run.out / "metrics.json").read_text(encoding="utf-8"))


def _block(run, start: str, end: str) -> Page:
    html = run.html.split(start, 1)[1].split(end, 1)[0]
    return Page(html)


def _verdict(run) -> Page:
    return _block(run, 'id="verdict"', "</section>")


# --------------------------------------------------------------------------- 1 estimators


def test_1_each_headline_number_comes_with_its_own_interval(binary_run):
    metrics = _metrics(binary_run)
    text = _verdict(binary_run).text
    for name in ("t3", "t4"):
        cv = metrics["models"][name]["cv"]
        head = metrics["models"][name]["assessment"]["headline"]
        accuracy, auc = head["accuracy"], head["roc_auc"]
        # the estimate is the pooled one, and its interval contains it
        assert accuracy["estimate"] == pytest.approx(cv["pooled"]["accuracy"])
        assert accuracy["low"] <= accuracy["estimate"] <= accuracy["high"]
        assert auc["estimate"] == pytest.approx(cv["pooled"]["roc_auc"])
        assert (auc["low"], auc["high"]) == (cv["auc_delong"]["low"], cv["auc_delong"]["high"])
        assert (
            f"{accuracy['estimate']:.3f} 95 % CI {accuracy['low']:.3f}–{accuracy['high']:.3f}"
        ) in text
        assert f"{auc['estimate']:.3f} 95 % CI {auc['low']:.3f}–{auc['high']:.3f} (DeLong)" in text
    caption = _verdict(binary_run).text
    assert "pooled estimate over every held-out test image" in caption
    assert "Wilson score interval" in caption and "DeLong" in caption
    # the mean over folds is shown with a t interval over folds, never with the pooled CI
    detailed = binary_run.page.text
    for name in ("t3", "t4"):
        mean = _metrics(binary_run)["models"][name]["assessment"]["fold_mean"]["accuracy"]
        assert (
            f"{mean['mean']:.3f} 95 % CI {mean['low']:.3f}–{mean['high']:.3f} (t over 3" in detailed
        )


# --------------------------------------------------------------------------- 2 baselines, alarms


def test_2_baseline_beside_every_model(binary_run):
    metrics = _metrics(binary_run)
    assert metrics["baseline"] == {
        "class": "Monkeypox",
        "accuracy": 0.5,
        "roc_auc": 0.5,
        "n": 36,
    }
    rows = [a for t, a in _verdict(binary_run).tags if t == "tr" and a.get("class") == "clear"]
    assert len(rows) == 2  # both models, no warning
    text = _verdict(binary_run).text
    assert text.count("0.500 always Monkeypox") == 2 and text.count("0.500 by construction") == 2
    assert "ranks nothing" not in text


def test_2_a_model_that_learnt_nothing_is_flagged_everywhere(alarm_run):
    metrics = _metrics(alarm_run)
    kinds = {a["kind"] for a in metrics["models"]["t4"]["assessment"]["alarms"]}
    assert kinds == {"one_class", "constant_scores", "not_above_baseline", "auc_not_above_chance"}
    verdict = _verdict(alarm_run).text
    assert "predicts only Others" in verdict and "nearly constant scores" in verdict
    assert "not a comparison of designs" in verdict
    text = alarm_run.page.text
    assert "t4 predicts every image as Others (36 of 36)." in text
    assert "No evidence of a difference" not in text
    assert "Not a comparison of designs" in text
    lines = "\n".join(summary_lines(metrics_from_json(metrics)))
    assert "WARNING: t4 predicts every image as Others (36 of 36)" in lines
    assert "not a comparison of designs" in lines


# --------------------------------------------------------------------------- 3 zero width


def test_3_no_zero_width_interval_is_shown(alarm_run, binary_run):
    for run in (alarm_run, binary_run):
        widths = re.findall(r"(\d\.\d{3})–(\d\.\d{3})", run.page.text)
        assert widths and all(low != high for low, high in widths)
    head = _metrics(alarm_run)["models"]["t4"]["assessment"]["headline"]
    # every bootstrap resample of a constant model gives 0.500: a Wilson (or exact) interval
    assert head["accuracy"]["method"].startswith(("exact binomial", "Wilson"))
    assert head["accuracy"]["low"] < 0.5 < head["accuracy"]["high"]
    assert head["roc_auc"]["low"] is None and "no interval" in head["roc_auc"]["no_interval"]
    reason = "no interval: every score is tied, so the AUC has no variance"
    assert reason in _verdict(alarm_run).text


def test_3_a_missing_interval_gives_its_real_reason(alarm_run):
    """t4 calls all 36 images Others: its bootstrap cannot move, and that is the reason,
    not the number of images."""
    text = alarm_run.page.text
    assert "n too small" not in text
    detailed = alarm_run.html.split('<section id="headline"', 1)[1]
    t4 = detailed.split('<a href="#model-t4">t4</a>', 1)[1].split("</tbody>", 1)[0]
    assert "0.500 no interval: the model predicted Others for every image" in Page(t4).text
    section = alarm_run.html.split('<section id="model-t4"', 1)[1].split("</section>", 1)[0]
    table = Page(section.split("All metrics", 1)[1]).text
    assert "Balanced accuracy 0.500 ± 0.000 0.500 on every fold 0.500 no interval: the model " \
        "predicted Others for every image" in table  # fmt: skip


# --------------------------------------------------------------------------- 4 counted folds


def test_4_fold_means_say_how_many_folds_they_rest_on_and_why(alarm_run):
    counts = _metrics(alarm_run)["models"]["t3"]["assessment"]["fold_counts"]
    assert counts["ppv"] == {
        "n": 1,
        "of": 3,
        "left_out": [
            {"fold": 1, "reason": "the model predicted no Monkeypox"},
            {"fold": 2, "reason": "the model predicted no Monkeypox"},
        ],
    }
    assert counts["accuracy"] == {"n": 3, "of": 3, "left_out": []}
    text = alarm_run.page.text
    assert "mean of 1 of 3 folds (folds 1, 2: the model predicted no Monkeypox)" in text
    per_class = _metrics(alarm_run)["models"]["t3"]["assessment"]["per_class_fold_counts"]
    assert per_class["Monkeypox"]["precision"]["n"] == 1
    assert "Precision of Monkeypox: mean of 1 of 3 folds" in text


# --------------------------------------------------------------------------- 5 verdict first


def test_5_the_verdict_comes_before_metadata_timings_and_thumbnails(binary_run):
    html = binary_run.html
    verdict = html.index('id="verdict"')
    for later in ('id="overview"', "Units and time", "Sample images", 'class="thumb"'):
        assert verdict < html.index(later), later
    # run metadata, timings and thumbnails are folded away
    for summary in ("Backend and device", "Units and time", "Sample images"):
        assert re.search(r"<details[^>]*>\s*<summary>" + summary, html), summary


# --------------------------------------------------------------------------- 6 words


def test_6_labels_describe_the_procedure_not_the_number(binary_run):
    text = binary_run.page.text
    assert "checkpoint chosen on these images" in text
    assert "OPTIMISTIC" not in binary_run.html and "optimistic" not in _verdict(binary_run).text
    for name in ("t3", "t4"):
        seed = _metrics(binary_run)["models"][name]["seed_split"]
        assert f"this model scores {seed['best_val_accuracy']:.3f}" in text
    assert "In this run the seed-split figure" in text or "the two figures agree" in text


# --------------------------------------------------------------------------- 7 fair comparison


def test_7_different_input_sizes_are_called_a_mix_with_the_command_at_one_size(mixed_size_run):
    text = mixed_size_run.page.text
    assert (
        "differ in input size (t3 180 px, t4 224 px), so this comparison mixes size and design"
        in text
    )
    assert "the designs differ in row 6: Dropout only in t4" in text
    command = _block(mixed_size_run, "train them at one size:", "</pre>").text
    assert "--image-size 180" in command and "--out" in command and command.startswith("python")
    rows = [a for t, a in mixed_size_run.page.tags if t == "tr" and a.get("class") == "differs"]
    assert len(rows) == 1  # only the design difference is highlighted, not the size's
    assert "mixes size and design" in _verdict(mixed_size_run).text


def test_7_one_primary_test_and_overlay_figures(binary_run):
    metrics = _metrics(binary_run)
    assert metrics["primary_test"]["test"] == "corrected_t"
    (pair,) = metrics["comparisons"]
    assert pair["primary"]["p"] == pair["corrected_t"]["p"]
    text = binary_run.page.text
    assert "The primary test, declared before any run: the corrected resampled t-test" in text
    assert re.search(r"Corrected resampled t-test \(Nadeau–Bengio\) primary", text)
    assert re.search(
        r"McNemar's (exact test|test for grouped images \(Obuchowski, cluster counts\)) secondary",
        text,
    )
    architecture = _block(binary_run, 'class="architecture"', "</p>").text
    assert "primary test, corrected t over 3 folds" in architecture
    figures = {p.stem for p in (binary_run.out / "figures").glob("*.png")}
    assert {"comparison-roc", "comparison-folds", "comparison-curves"} <= figures


# --------------------------------------------------------------------------- 8 departures


def test_8_every_departure_is_listed_for_any_run(alarm_run, binary_run):
    departures = {d["setting"]: d for d in _metrics(alarm_run)["departures"]}
    assert set(departures) == {"epochs", "batch_size", "folds", "image_size", "group_pattern"}
    assert departures["epochs"]["used"] == 6 and departures["epochs"]["blog"] == "50"
    banner = _block(alarm_run, 'id="departures"', "</div>").text
    assert "Settings that depart from the blog's" in banner
    assert "epochs: 6 (the blog: 50)" in banner and "batch size: 8 (the blog: 32)" in banner
    assert "not medical images" not in banner  # not a demo, still a banner
    demo = _block(binary_run, 'id="departures"', "</div>").text
    assert "synthetic demo data" in demo and "epochs: 6 (the blog: 50)" in demo
    assert "batch size: 8 (the blog: 32)" in demo


# --------------------------------------------------------------------------- 9 terminal


def test_9_the_summary_states_the_result_with_intervals_and_baseline(binary_run):
    metrics = _metrics(binary_run)
    lines = summary_lines(metrics_from_json(metrics))
    head = metrics["models"]["t4"]["assessment"]["headline"]["accuracy"]
    t4 = next(line for line in lines if line.strip().startswith("t4"))
    assert f"accuracy {head['estimate']:.3f} (95 % CI {head['low']:.3f}–{head['high']:.3f})" in t4
    assert "vs baseline 0.500 (always Monkeypox)" in t4
    assert any("corrected t over folds (primary test)" in line for line in lines)
    assert any(line.startswith("Departs from the blog's settings") for line in lines)


# --------------------------------------------------------------------------- 10 polish


def test_10_hash_bits_agree_between_report_and_readme(binary_run):
    readme = README.read_text(encoding="utf-8")
    assert "63-bit perceptual hash" in readme and "64-bit perceptual" not in readme
    assert (
        "of the 63 bits of a perceptual hash differ: a 64-bit pHash without its constant term"
        in (binary_run.page.text)
    )


def test_10_the_demo_cache_folder_is_documented():
    readme = README.read_text(encoding="utf-8")
    assert "MPX_EVAL_CACHE_DIR" in readme and "demo-v1-seed0" in readme


def test_10_mistakes_name_the_class_their_probability_is_for(binary_run):
    block = _block(binary_run, 'id="confident-mistakes"', "</section>").text
    assert re.search(r"predicted (Monkeypox|Others) \(p\((Monkeypox|Others)\) = 0\.\d{3}\)", block)
    for predicted, of in re.findall(r"predicted (\w+) \(p\((\w+)\)", block):
        assert predicted == of
    assert "(p = " not in block


def test_10_thumbnail_names_do_not_wrap_inside_a_name(binary_run):
    css = binary_run.html.split("<style>", 1)[1].split("</style>", 1)[0]
    rule = re.search(r"figure\.thumb \.path \{([^}]*)\}", css).group(1)
    assert "overflow-wrap: normal" in rule and "anywhere" not in rule
    assert 'class="path" title="' in binary_run.html


def test_10_epoch_ticks_are_whole_numbers(binary_run):
    import pandas as pd

    history = pd.read_csv(binary_run.out / "history.csv")
    runs = C.training_runs(history, "t4", {})
    with F.style():
        fig = F.plot_training_curves(runs[:1])
        fig.canvas.draw()
        ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 6]
    assert ticks and all(float(t).is_integer() for t in ticks)


def _rows(scores, labels) -> C.EvalRows:
    import pandas as pd

    scores = np.asarray(scores, dtype=float)
    frame = pd.DataFrame(
        {
            "fold": np.repeat([1, 2], len(scores) // 2),
            "path": [f"{i}.jpg" for i in range(len(scores))],
            "label": labels,
            "prob_Monkeypox": scores,
            "prob_Others": 1 - scores,
        }
    )
    return C.EvalRows("cv", frame, ["Monkeypox", "Others"])


def test_10_a_constant_score_fold_is_not_drawn_as_a_precision_recall_curve():
    labels = ["Monkeypox", "Others"] * 4
    scores = [0.4] * 4 + [0.9, 0.2, 0.8, 0.3]
    panel = C.pr_panel(_rows(scores, labels), "Monkeypox")
    assert [line.label.split(" ")[1] for line in panel.folds] == ["2"]
    assert panel.notes == ["fold 1: constant scores, no curve"]
    with F.style():
        ax = F.plot_precision_recall(panel)
        assert "fold 1: constant scores, no curve" in ax.get_legend_handles_labels()[1]


def test_10_the_roc_corner_is_enlarged_near_auc_one():
    labels = ["Monkeypox", "Others"] * 6
    good = [0.9, 0.1, 0.8, 0.2, 0.85, 0.3, 0.95, 0.15, 0.7, 0.25, 0.75, 0.05]
    poor = [0.6, 0.4, 0.3, 0.7, 0.55, 0.5, 0.45, 0.35, 0.7, 0.6, 0.4, 0.5]
    assert C.roc_panel(_rows(good, labels), "Monkeypox", None).zoom
    assert not C.roc_panel(_rows(poor, labels), "Monkeypox", None).zoom
    with F.style():
        ax = F.plot_roc(C.roc_panel(_rows(good, labels), "Monkeypox", None))
        assert len(ax.child_axes) == 1 and ax.child_axes[0].get_xlim()[1] <= 0.3


# --------------------------------------------------------------------------- first screen


_MEASURE = """
<script>
window.addEventListener("load", () => {
  const bottom = (selector) => document.querySelector(selector).getBoundingClientRect().bottom;
  document.body.setAttribute("data-measured", JSON.stringify({
    table: bottom("#verdict table"),
    architecture: bottom("#verdict .architecture"),
    overview: document.querySelector("#overview").getBoundingClientRect().top,
    width: document.documentElement.scrollWidth,
  }));
});
</script>
"""


@pytest.mark.chromium
@pytest.mark.parametrize("fixture", ["binary_run", "alarm_run", "mixed_size_run"])
def test_5_chromium_shows_the_verdict_on_the_first_screen(fixture, request, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    run = request.getfixturevalue(fixture)
    page = tmp_path / "measured.html"
    page.write_text(run.html.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,800",
    ]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    found = re.search(r'data-measured="([^"]+)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert measured["architecture"] <= 800, measured
    assert measured["table"] < measured["architecture"] <= measured["overview"]
    assert measured["width"] <= 1280  # nothing sticks out sideways
    shot = tmp_path / "first-screen.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", run.index.resolve().as_uri()],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 800)
        assert np.asarray(image.convert("L"), dtype=float).std() > 20


# --------------------------------------------------------------------------- clinical read-out


def test_the_first_screen_states_the_decision_rule_and_counts_the_sick_found(binary_run):
    metrics = _metrics(binary_run)
    predictions = pd.read_csv(binary_run.out / "predictions.csv")
    text = _verdict(binary_run).text
    assert "Decision rule: an image is called Monkeypox when its probability of Monkeypox" in text
    assert "Sensitivity (Monkeypox)" in text and "pooled values with 95 % intervals" in text
    lines = summary_lines(metrics_from_json(metrics))
    for name in ("t3", "t4"):
        assessment = metrics["models"][name]["assessment"]
        head = assessment["headline"]
        rows = predictions[
            (predictions.model == name)
            & (predictions.scheme == "cv")
            & (predictions.checkpoint == "best")
        ]
        said = rows.prob_Monkeypox >= rows.prob_Others
        sick = rows.label == "Monkeypox"
        sens, spec = head["sensitivity"], head["specificity"]
        assert (sens["successes"], sens["n"]) == (int((said & sick).sum()), int(sick.sum()))
        assert (spec["successes"], spec["n"]) == (int((~said & ~sick).sum()), int((~sick).sum()))
        assert sens["estimate"] == pytest.approx(sens["successes"] / sens["n"])
        assert sens["low"] <= sens["estimate"] <= sens["high"]
        assert f"{sens['successes']} of {sens['n']} found" in text
        assert f"{spec['successes']} of {spec['n']} cleared" in text
        n_groups = rows.group.nunique()
        assert assessment["n_groups"] == n_groups and assessment["n_images"] == len(rows)
        assert f"{len(rows)} images of {n_groups} patient or photo groups" in text
        assert any(
            f"sensitivity {sens['estimate']:.3f}" in line and f"{sens['successes']} of" in line
            for line in lines
        )


def test_with_more_than_two_classes_the_first_screen_names_each_classs_recall(three_class_run):
    metrics = _metrics(three_class_run)
    predictions = pd.read_csv(three_class_run.out / "predictions.csv")
    text = _verdict(three_class_run).text
    assert "Recall per class" in text and "pooled values with 95 % intervals" in text
    assert "a class's recall is the share of its images called that class" in text
    classes = metrics["classes"]
    for name in ("t3", "t4"):
        recall = metrics["models"][name]["assessment"]["headline"]["recall"]
        rows = predictions[
            (predictions.model == name)
            & (predictions.scheme == "cv")
            & (predictions.checkpoint == "best")
        ]
        probs = rows[[f"prob_{c}" for c in classes]].to_numpy()
        said = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
        assert list(recall) == classes
        for cls, found in recall.items():
            mine = rows.label.to_numpy() == cls
            assert (found["successes"], found["n"]) == (
                int((said[mine] == cls).sum()),
                int(mine.sum()),
            )
            assert f"{found['successes']} of {found['n']} found" in text
