"""`python -m mpx_eval run` end to end on tiny settings: artefacts, protocol, resume."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest

from mpx_eval.cli import main
from mpx_eval.config import tomllib
from mpx_eval.rundir.layout import HISTORY_COLUMNS, PREDICTION_KEYS

TINY = ["--demo", "--folds", "2", "--epochs", "2", "--image-size", "48", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    return out


def test_every_artefact_is_written(tiny_run):
    for name in (
        "config.toml",
        "splits.csv",
        "runinfo.json",
        "history.csv",
        "predictions.csv",
        "metrics.json",
        "index.html",
        "models.json",
        "audit.json",
        "thumbnails.zip",
    ):
        assert (tiny_run / name).is_file(), name
    units = sorted(p.name for p in (tiny_run / "units").iterdir())
    assert units == sorted(f"{m}-{s}" for m in ("t3", "t4") for s in ("seed-0", "cv-1", "cv-2"))
    for unit in units:
        for name in ("history.csv", "predictions.csv", "unit.json"):
            assert (tiny_run / "units" / unit / name).is_file()


def test_report_after_run_rewrites_only_the_page_and_its_figures(tiny_run):
    """``run`` aggregated once; rendering again reads what it wrote (no second bootstrap)."""
    from tests.helpers.folders import snapshot

    before = snapshot(tiny_run)
    assert main(["report", "--out", str(tiny_run)]) == 0
    assert snapshot(tiny_run) == before


def test_by_default_the_seed_split_units_save_their_model(tiny_run):
    for unit in (tiny_run / "units").iterdir():
        saved = (unit / "model.keras").is_file()
        assert saved == unit.name.endswith("-seed-0"), unit.name
        assert (unit / "gradcam.npz").is_file()


def test_tables_have_the_documented_columns(tiny_run):
    history = pd.read_csv(tiny_run / "history.csv")
    assert tuple(history.columns) == HISTORY_COLUMNS
    assert len(history) == 6 * 2  # six units, two epochs
    assert history.loc[history.scheme == "seed", "test_accuracy"].isna().all()
    assert history.loc[history.scheme == "cv", "test_accuracy"].notna().all()
    predictions = pd.read_csv(tiny_run / "predictions.csv")
    assert tuple(predictions.columns) == (*PREDICTION_KEYS, "prob_Monkeypox", "prob_Others")
    assert set(predictions.checkpoint) == {"best", "last"}
    probs = predictions[["prob_Monkeypox", "prob_Others"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)
    cv = predictions[(predictions.scheme == "cv") & (predictions.checkpoint == "best")]
    for model in ("t3", "t4"):
        assert cv[cv.model == model].path.is_unique
        assert len(cv[cv.model == model]) == 120  # the folds' test parts cover the whole set
    splits = pd.read_csv(tiny_run / "splits.csv")
    assert tuple(splits.columns) == ("path", "label", "group", "scheme", "fold", "role")


def test_metrics_json_structure(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["dataset"]["classes"] == ["Monkeypox", "Others"]
    assert metrics["dataset"]["counts"] == {"Monkeypox": 60, "Others": 60}
    assert len(metrics["dataset"]["fingerprint"]) == 64
    for name in ("t3", "t4"):
        model = metrics["models"][name]
        assert model["input_shape"] == [48, 48, 3]
        assert isinstance(model["params"], int) and model["params"] > 0
        folds = model["cv"]["folds"]
        assert [f["fold"] for f in folds] == [1, 2]
        for fold in folds:
            assert {"fold", "n_test", "accuracy", "roc_auc", "best_epoch"} <= fold.keys()
        assert {"accuracy", "roc_auc"} <= model["cv"]["mean"].keys()
        assert {"accuracy", "best_val_accuracy", "last_val_accuracy"} <= model["seed_split"].keys()
    assert [(c["a"], c["b"]) for c in metrics["comparisons"]] == [("t3", "t4")]


def test_checkpoint_is_chosen_on_inner_validation_only(tiny_run):
    history = pd.read_csv(tiny_run / "history.csv")
    predictions = pd.read_csv(tiny_run / "predictions.csv")
    for (model, scheme, fold), h in history.groupby(["model", "scheme", "fold"]):
        unit = json.loads(
            (tiny_run / "units" / f"{model}-{scheme}-{fold}" / "unit.json").read_text()
        )
        val = h.val_accuracy.to_numpy()
        # cv: the default rule, the last epoch of the best inner accuracy; the seed split:
        # the blog's, the first
        best = np.flatnonzero(val == val.max())
        chosen = int(h.epoch.iloc[best[-1] if scheme == "cv" else best[0]])
        assert unit["best_epoch"] == chosen
        rows = predictions[
            (predictions.model == model)
            & (predictions.scheme == scheme)
            & (predictions.fold == fold)
        ]
        for checkpoint, epoch in (("best", chosen), ("last", int(h.epoch.max()))):
            part = rows[rows.checkpoint == checkpoint]
            predicted = np.where(part.prob_Monkeypox >= part.prob_Others, "Monkeypox", "Others")
            accuracy = float(np.mean(predicted == part.label.to_numpy()))
            column = "test_accuracy" if scheme == "cv" else "val_accuracy"
            assert accuracy == pytest.approx(float(h.loc[h.epoch == epoch, column].iloc[0]))


def test_config_and_runinfo(tiny_run):
    config = tomllib.loads((tiny_run / "config.toml").read_text())
    assert config["training"]["epochs"] == 2 and config["protocol"]["folds"] == 2
    runinfo = json.loads((tiny_run / "runinfo.json").read_text())
    assert runinfo["backend"] in {"tensorflow", "jax"}
    assert runinfo["device"]["kind"] == "cpu"
    assert runinfo["dataset"]["demo"] is True and runinfo["demo"]["label"]
    assert set(runinfo["units"]) == set(runinfo["units_planned"])
    assert runinfo["wall_seconds"] > 0
    assert "keras" in runinfo["versions"]


def test_same_command_again_trains_nothing(tiny_run, monkeypatch, capsys):
    from mpx_eval.training import train

    before = {p: p.read_bytes() for p in (tiny_run / "units").rglob("*") if p.is_file()}

    def refuse(*args, **kwargs):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr(train, "train_unit", refuse)
    assert main(["run", *TINY, "--out", str(tiny_run)]) == 0
    after = {p: p.read_bytes() for p in (tiny_run / "units").rglob("*") if p.is_file()}
    assert after == before
    # --quiet silences progress and notes, not the result
    out, err = capsys.readouterr()
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    accuracy = metrics["models"]["t4"]["assessment"]["headline"]["accuracy"]
    assert out.startswith("Results (pooled over the held-out test images")
    assert f"t4  accuracy {accuracy['estimate']:.3f}" in out and "vs baseline" in out
    assert "Departs from the blog's settings: epochs 2 (blog 50); batch size 8 (blog 32)" in out
    assert out.rstrip().endswith("index.html")
    assert "ETA" not in err and "Decoded" not in err


def test_other_settings_over_finished_units_are_refused(tiny_run, capsys):
    assert main(["run", *TINY, "--epochs", "3", "--out", str(tiny_run)]) == 2
    err = capsys.readouterr().err
    assert "epochs 2 -> 3" in err and "--overwrite" in err
    assert err.count("\n") == 1


def test_same_seed_same_predictions(tiny_run, tmp_path):
    again = tmp_path / "again"
    assert main(["run", *TINY, "--out", str(again)]) == 0
    for name in ("predictions.csv", "history.csv", "metrics.json", "splits.csv"):
        assert (again / name).read_bytes() == (tiny_run / name).read_bytes(), name


def test_folds_zero_runs_the_blog_protocol_alone(tmp_path):
    out = tmp_path / "seed"
    args = [
        "run",
        "--demo",
        "--folds",
        "0",
        "--epochs",
        "2",
        "--image-size",
        "48",
        "--models",
        "t4",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert sorted(p.name for p in (out / "units").iterdir()) == ["t4-seed-0"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["t4"]["cv"] is None
    assert metrics["models"]["t4"]["seed_split"]["best_val_accuracy"] is not None


def test_overwrite_starts_afresh(tmp_path):
    out = tmp_path / "o"
    base = [
        "run",
        "--demo",
        "--folds",
        "0",
        "--image-size",
        "48",
        "--models",
        "t4",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main([*base, "--epochs", "1"]) == 0
    assert main([*base, "--epochs", "2", "--overwrite"]) == 0
    assert len(pd.read_csv(out / "history.csv")) == 2


def test_missing_data_folder_points_at_demo(tmp_path, capsys):
    assert main(["run", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--demo" in err
    assert not (tmp_path / "o").exists()


def test_metrics_json_agrees_with_an_independent_recomputation(tiny_run):
    """McNemar and DeLong p-values recomputed from predictions.csv with other code.

    The demo's images come in patients, so both tests are the clustered ones (the
    cluster-count McNemar test and Obuchowski's DeLong); with one image per patient they
    would be the exact McNemar test and DeLong's.
    """
    import scipy.stats
    from statsmodels.stats.contingency_tables import mcnemar

    from .metrics.reference import slow_delong, slow_obuchowski

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    (comparison,) = metrics["comparisons"]
    predictions = pd.read_csv(tiny_run / "predictions.csv")
    best = predictions[(predictions.scheme == "cv") & (predictions.checkpoint == "best")]
    a = best[best.model == "t3"].set_index(["fold", "path"]).sort_index()
    b = best[best.model == "t4"].set_index(["fold", "path"]).sort_index()
    truth = a.label.to_numpy()
    right_a = np.where(a.prob_Monkeypox >= 0.5, "Monkeypox", "Others") == truth
    right_b = np.where(b.prob_Monkeypox >= 0.5, "Monkeypox", "Others") == truth
    table = [
        [np.sum(right_a & right_b), np.sum(right_a & ~right_b)],
        [np.sum(~right_a & right_b), np.sum(~right_a & ~right_b)],
    ]
    groups = a.group.to_numpy()
    scores = [a.prob_Monkeypox.to_numpy(), b.prob_Monkeypox.to_numpy()]
    if pd.Series(groups).is_unique:
        p_mcnemar = mcnemar(table, exact=True).pvalue
        aucs, cov = slow_delong(truth == "Monkeypox", scores)
    else:
        d = pd.Series((right_a & ~right_b).astype(int) - (right_b & ~right_a)).groupby(groups).sum()
        p_mcnemar = scipy.stats.chi2.sf(d.sum() ** 2 / (d**2).sum(), 1)
        aucs, cov = slow_obuchowski(truth == "Monkeypox", scores, groups)
    assert comparison["mcnemar"]["p"] == pytest.approx(p_mcnemar, abs=1e-6)
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert comparison["delong"]["p"] == pytest.approx(2 * scipy.stats.norm.sf(abs(z)), abs=1e-6)
    assert comparison["delong"]["auc_a"] == pytest.approx(aucs[0], abs=1e-12)


def test_decoded_images_are_given_back_before_the_report(tmp_path, monkeypatch):
    """Thumbnails once in thumbnails.zip, the arrays once training is over: the report (and
    its figures) should not draw on top of 0.5 GB of images nobody reads any more."""
    from mpx_eval import report
    from mpx_eval.rundir import records

    seen = {}
    write_thumbnails, render_run = records.write_thumbnails, report.render_run

    def keep_images(out, images):
        seen["images"] = images
        write_thumbnails(out, images)

    def check_then_render(out, **read):
        images = seen["images"]
        seen["thumbnails"] = (images.thumbnails.nbytes, images.thumbnails.base)
        seen["arrays"] = dict(images.arrays)
        return render_run(out, **read)

    monkeypatch.setattr(records, "write_thumbnails", keep_images)
    monkeypatch.setattr(report, "render_run", check_then_render)
    args = ["--demo", "--folds", "0", "--epochs", "1", "--image-size", "48", "--models", "t4"]
    assert main(["run", *args, "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert seen["thumbnails"] == (0, None)  # not a view that keeps the old buffer alive
    assert seen["arrays"] == {}


def test_metrics_json_satisfies_the_shipped_schema(tiny_run):
    jsonschema = pytest.importorskip("jsonschema")
    from mpx_eval.summary import metrics_json_schema

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    jsonschema.Draft202012Validator(metrics_json_schema()).validate(metrics)
    assert metrics["positive_class"] == "Monkeypox"


def test_a_single_repeat_writes_no_repeats_setting(tiny_run):
    assert "repeats" not in (tiny_run / "config.toml").read_text()
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["models"]["t3"]["cv"]["repeats"] == 1


def test_repeats_run_the_folds_again_and_report_over_all_of_them(tmp_path):
    out = tmp_path / "out"
    options = ["--demo", "--folds", "2", "--repeats", "2", "--epochs", "1", "--image-size", "48"]
    assert main(["run", *options, "--quiet", "--out", str(out)]) == 0
    units = sorted(p.name for p in (out / "units").iterdir())
    splits = ("seed-0", "cv-1", "cv-2", "cv-3", "cv-4")
    assert units == sorted(f"{m}-{s}" for m in ("t3", "t4") for s in splits)
    assert "repeats = 2" in (out / "config.toml").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    cv = metrics["models"]["t3"]["cv"]
    assert (cv["k"], cv["repeats"], cv["n"]) == (4, 2, 120)
    (comparison,) = metrics["comparisons"]
    assert (comparison["repeats"], comparison["corrected_t"]["df"]) == (2, 3)
    html = (out / "index.html").read_text()
    assert "Bouckaert" in html and "repeated 2 times" in html
    # Resuming the same command trains nothing.
    assert main(["run", *options, "--quiet", "--out", str(out)]) == 0


def test_a_rule_pooling_the_folds_takes_one_epoch_per_repeat_from_the_mean_inner_curve(
    tmp_path,
):
    out = tmp_path / "out"
    options = ["--demo", "--folds", "2", "--repeats", "2", "--epochs", "3", "--image-size", "32"]
    options += ["--models", "t4", "--checkpoint", "mean-val-loss", "--save-models", "none"]
    assert main(["run", *options, "--quiet", "--out", str(out)]) == 0
    assert "checkpoint = 'mean-val-loss'" in (out / "config.toml").read_text()
    history = pd.read_csv(out / "history.csv")
    predictions = pd.read_csv(out / "predictions.csv")
    cv = history[history.scheme == "cv"]
    for folds in ((1, 2), (3, 4)):  # one repeat each
        part = cv[cv.fold.isin(folds)]
        epoch = int(part.groupby("epoch").val_loss.mean().idxmin())
        for fold in folds:
            kept = np.load(out / "units" / f"t4-cv-{fold}" / "epochs.npz")
            n_val = int(kept["n_val"])
            rows = predictions[
                (predictions.scheme == "cv")
                & (predictions.fold == fold)
                & (predictions.checkpoint == "best")
            ]
            assert list(rows.path) == list(kept["paths"][n_val:])
            expected = kept["probabilities"][epoch - 1, n_val:, 0]
            assert np.allclose(rows.prob_Monkeypox, expected, atol=1e-6)
            test = part[(part.fold == fold) & (part.epoch == epoch)].test_accuracy.iloc[0]
            predicted = np.where(rows.prob_Monkeypox >= rows.prob_Others, "Monkeypox", "Others")
            assert np.mean(predicted == rows.label.to_numpy()) == pytest.approx(test)
    metrics = json.loads((out / "metrics.json").read_text())
    optimism = metrics["models"]["t4"]["optimism"]
    assert optimism["rule"] == "mean-val-loss"
    chosen = [f["best_epoch"] for f in metrics["models"]["t4"]["cv"]["folds"]]
    assert chosen[0] == chosen[1] and chosen[2] == chosen[3]
    assert "mean-val-loss (one epoch for all folds" in (out / "index.html").read_text()


def test_thresholds_are_chosen_on_inner_parts_and_no_test_label_moves_them(tiny_run):
    from mpx_eval.assessment.operating import inner_thresholds
    from mpx_eval.rundir.units import Units

    units = Units.scan(tiny_run)
    splits = pd.read_csv(tiny_run / "splits.csv")
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    labels = dict(zip(splits.path, splits.label, strict=False))
    epochs = {f["fold"]: f["best_epoch"] for f in metrics["models"]["t4"]["cv"]["folds"]}
    target = ("sensitivity", 0.9)

    def thresholds(changed: dict) -> dict:
        found = inner_thresholds(
            units, "t4", epochs, {**labels, **changed}, metrics["classes"], "Monkeypox", target
        )
        return {fold: record["threshold"] for fold, record in found.items()}

    base = thresholds({})
    assert set(base) == {1, 2} and all(t is not None for t in base.values())
    other = {"Monkeypox": "Others", "Others": "Monkeypox"}
    moved = []
    for fold in (1, 2):
        part = splits[(splits.scheme == "cv") & (splits.fold == fold)]
        test = {p: other[labels[p]] for p in part.path[part.role == "test"]}
        assert thresholds(test)[fold] == base[fold]  # the fold's test labels choose nothing
        inner = {p: other[labels[p]] for p in part.path[part.role == "val"]}
        moved.append(thresholds(inner)[fold] != base[fold])
    assert any(moved)  # while its inner part's labels do


def test_a_target_gives_the_honest_and_the_optimistic_operating_point(tiny_run, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(tiny_run, out)
    assert main(["run", *TINY, "--out", str(out), "--target-sensitivity", "0.9"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    clinical = metrics["models"]["t4"]["assessment"]["clinical"]
    target = clinical["target"]
    assert (target["kind"], target["value"]) == ("sensitivity", 0.9)
    rows = predictions[
        (predictions.model == "t4")
        & (predictions.scheme == "cv")
        & (predictions.checkpoint == "best")
    ]
    by_fold = {f["fold"]: f["threshold"] for f in target["folds"]}
    called = rows.prob_Monkeypox >= rows.fold.map(by_fold)
    sick = rows.label == "Monkeypox"
    honest = target["honest"]["sensitivity"]
    assert (honest["successes"], honest["n"]) == (int((called & sick).sum()), int(sick.sum()))
    assert target["optimistic"]["sensitivity"] >= 0.9
    # net benefit at a threshold probability of 0.3, counted directly
    curve = clinical["decision_curve"]
    i = curve["thresholds"].index(0.3)
    treated = rows.prob_Monkeypox >= 0.3
    n = len(rows)
    expected = (treated & sick).sum() / n - (treated & ~sick).sum() / n * 0.3 / 0.7
    assert curve["model"][i] == pytest.approx(expected)
    page = html.unescape((out / "index.html").read_text())
    assert "Target sensitivity 0.9, each fold's threshold chosen on its inner validation" in page
    assert "The same target, threshold chosen on these test images" in page
    assert "figures/decision-curve.png" in page
    assert "a diamond, the target's operating point" in page  # marked on the ROC curve
