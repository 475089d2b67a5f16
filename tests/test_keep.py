"""What a run keeps of its chosen checkpoints: saved models that reproduce the run's
predictions, ``predict`` on new images (alone and as an ensemble), and Grad-CAM heatmaps
stored in the unit and shown in the report."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from mpx_eval.cli import main
from mpx_eval.data.demo import demo_dataset
from mpx_eval.rundir.kept import read_gradcam
from mpx_eval.training.keep import gradcam_rows, saves_model

USER = "tests.helpers.user_models:softmax_head"
TINY = ["--demo", "--folds", "2", "--epochs", "2", "--image-size", "48", "--quiet"]
PROBS = ["prob_Monkeypox", "prob_Others"]


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("kept") / "out"
    argv = ["run", *TINY, "--models", f"t4,{USER}", "--save-models", "all", "--out", str(out)]
    assert main(argv) == 0
    return out


def _unit_predictions(out, unit: str) -> pd.DataFrame:
    frame = pd.read_csv(out / "units" / unit / "predictions.csv")
    return frame[frame.checkpoint == "best"].reset_index(drop=True)


def test_every_unit_keeps_its_model_and_heatmaps(kept_run):
    for unit in ("t4-seed-0", "t4-cv-1", "t4-cv-2"):
        folder = kept_run / "units" / unit
        info = json.loads((folder / "unit.json").read_text())
        assert info["saved_model"]["bytes"] == (folder / "model.keras").stat().st_size
        record = json.loads((folder / "model.json").read_text())
        assert record["class_names"] == ["Monkeypox", "Others"]
        assert record["input_size"] == 48 and record["outputs"] == "logits"
        assert info["gradcam"]["layer"].startswith("conv2d")
        cams = read_gradcam(folder)
        assert cams["heatmaps"].shape == (info["gradcam"]["n"], 96, 96)
        assert cams["heatmaps"].dtype == np.uint8
        assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_saved_model_reloads_without_mpx_eval_and_reproduces_the_run(kept_run):
    import keras

    from mpx_eval.data.images import decode_file

    unit = "t4-cv-1"
    expected = _unit_predictions(kept_run, unit)
    model = keras.saving.load_model(kept_run / "units" / unit / "model.keras", compile=False)
    root = demo_dataset()
    x = np.stack([decode_file(root / p, [48]).arrays[48] for p in expected.path])
    logits = np.asarray(model.predict_on_batch(x), dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected[PROBS].to_numpy(), rtol=0, atol=1e-6)


def test_predict_on_a_folder_matches_the_run_exactly(kept_run, tmp_path, capsys):
    root = demo_dataset()
    out_csv = tmp_path / "predictions.csv"
    unit = kept_run / "units" / "t4-seed-0"
    assert main(["predict", "--model", str(unit), str(root), "--out", str(out_csv)]) == 0
    table = pd.read_csv(out_csv)
    assert len(table) == 120 and set(table.model) == {"t4-seed-0"}
    table["rel"] = [os.path.relpath(p, root).replace(os.sep, "/") for p in table.path]
    expected = _unit_predictions(kept_run, "t4-seed-0")
    got = table.set_index("rel").loc[expected.path]
    assert np.array_equal(got[PROBS].to_numpy(), expected[PROBS].to_numpy())
    assert "t4-seed-0" in capsys.readouterr().out


def test_predict_with_a_softmax_user_model(kept_run, tmp_path):
    expected = _unit_predictions(kept_run, f"{USER.replace(':', '_')}-cv-2")
    out_csv = tmp_path / "p.csv"
    folder = kept_run / "units" / f"{USER.replace(':', '_')}-cv-2"
    images = [str(demo_dataset() / p) for p in expected.path[:5]]
    assert main(["predict", "--model", str(folder), "--out", str(out_csv), *images]) == 0
    got = pd.read_csv(out_csv)
    assert np.array_equal(got[PROBS].to_numpy(), expected[PROBS].to_numpy()[:5])


def test_an_ensemble_of_two_units_is_their_mean(kept_run, tmp_path, capsys):
    root = demo_dataset()
    units = [str(kept_run / "units" / u) for u in ("t4-cv-1", "t4-cv-2")]
    images = [str(root / "Monkeypox"), str(root / "Others" / "O01_1.jpg")]
    out_csv = tmp_path / "ensemble.csv"
    assert main(["predict", "--model", *units, *images, "--out", str(out_csv)]) == 0
    table = pd.read_csv(out_csv)
    one, two, mean = (table[table.model == m] for m in ("t4-cv-1", "t4-cv-2", "mean of 2 models"))
    assert len(one) == len(two) == len(mean) == 61
    np.testing.assert_allclose(
        mean[PROBS].to_numpy(), (one[PROBS].to_numpy() + two[PROBS].to_numpy()) / 2, atol=1e-12
    )
    assert not np.array_equal(one[PROBS].to_numpy(), two[PROBS].to_numpy())
    assert "an ensemble" in capsys.readouterr().err


def test_predict_bad_inputs_are_one_line_and_write_nothing(kept_run, tmp_path, capsys):
    root = demo_dataset()
    unit = str(kept_run / "units" / "t4-seed-0")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    empty = tmp_path / "empty"
    empty.mkdir()
    no_model = tmp_path / "unit-without-model"
    no_model.mkdir()
    (no_model / "unit.json").write_text('{"saved_model": {"file": null, "note": "not saved: X"}}')
    out_csv = tmp_path / "out.csv"
    cases = [
        (["--model", unit, str(root / "Others"), str(bad)], "broken.jpg"),
        (["--model", unit, str(tmp_path / "missing.jpg")], "does not exist"),
        (["--model", unit, str(empty)], "holds no image files"),
        (["--model", str(no_model), str(root)], "not saved: X"),
        (["--model", str(tmp_path / "nowhere.keras"), str(root)], "does not exist"),
        (["--model", str(bad), "--", str(root)], "is not a .keras file"),
        (["--model", unit], "no images given"),
        (["--model", unit, str(root), "--out", str(tmp_path / "no" / "x.csv")], "not writable"),
    ]
    for args, message in cases:
        argv = ["predict", *args] if "--out" in args else ["predict", "--out", str(out_csv), *args]
        assert main(argv) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
        assert not out_csv.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_model_without_convolution_gets_a_note_not_a_crash(kept_run):
    info = json.loads(
        (kept_run / "units" / f"{USER.replace(':', '_')}-seed-0" / "unit.json").read_text()
    )
    assert info["gradcam"]["file"] is None
    assert "has no convolutional layer" in info["gradcam"]["note"]
    assert info["saved_model"]["file"] == "model.keras"  # saving does not need one


def test_the_report_shows_heatmaps_and_saved_models(kept_run):
    html = (kept_run / "index.html").read_text()
    assert "Where the models looked (Grad-CAM)" in html
    assert html.count('alt="Grad-CAM heatmap of') >= 4
    assert "units/t4-seed-0/model.keras" in html
    assert "has no convolutional layer" in html  # the user model's note


def test_resume_keeps_the_saved_models(kept_run, capsys):
    model = kept_run / "units" / "t4-cv-2" / "model.keras"
    before = model.stat().st_mtime_ns
    argv = ["run", *TINY, "--models", f"t4,{USER}", "--save-models", "none", "--out", str(kept_run)]
    assert main(argv) == 0
    assert model.stat().st_mtime_ns == before


def test_which_units_save_a_model():
    assert [saves_model(s, "seed") for s in ("seed", "cv")] == [True, False]
    assert [saves_model(s, "all") for s in ("seed", "cv")] == [True, True]
    assert [saves_model(s, "none") for s in ("seed", "cv")] == [False, False]
    with pytest.raises(ValueError, match="'some'"):
        saves_model("seed", "some")


def test_gradcam_rows_are_the_confident_mistakes_then_right_answers():
    labels = np.array([0, 0, 1, 1, 0])
    probs = np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])
    rows = gradcam_rows(labels, probs, ["a", "b", "c", "d", "e"])
    assert rows.tolist() == [0, 2, 4, 1, 3]


def test_a_bad_save_models_choice_is_refused(tmp_path, capsys):
    assert main(["run", *TINY, "--save-models", "some", "--out", str(tmp_path / "o")]) == 2
    assert "save_models must be one of none, seed, all, got 'some'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_predict_with_a_bare_keras_file_names_classes_by_position(kept_run, tmp_path):
    import shutil

    bare = tmp_path / "mine.keras"
    shutil.copy(kept_run / "units" / "t4-seed-0" / "model.keras", bare)
    image = demo_dataset() / "Others" / "O01_1.jpg"
    out_csv = tmp_path / "bare.csv"
    assert main(["predict", "--model", str(bare), str(image), "--out", str(out_csv)]) == 0
    got = pd.read_csv(out_csv)
    assert list(got.columns) == [
        "path", "model", "prob_class_0", "prob_class_1", "predicted", "threshold",
    ]  # fmt: skip
    assert got.threshold.isna().all()  # nothing says which class is positive: no threshold
    assert got.model.tolist() == ["mine"]
    unit = kept_run / "units" / "t4-seed-0"
    assert main(["predict", "--model", str(unit), str(image), "--out", str(out_csv)]) == 0
    named = pd.read_csv(out_csv)
    assert np.array_equal(got[["prob_class_0", "prob_class_1"]].to_numpy(), named[PROBS].to_numpy())


def test_predict_applies_the_threshold_its_run_chose_and_repeats_the_runs_warnings(
    kept_run, tmp_path, capsys
):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(kept_run, out)
    argv = ["run", *TINY, "--models", f"t4,{USER}", "--save-models", "all"]
    assert main([*argv, "--out", str(out), "--target-sensitivity", "0.9"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    t4 = metrics["models"]["t4"]["assessment"]
    chosen = {f["fold"]: f["threshold"] for f in t4["clinical"]["target"]["folds"]}
    images = [str(p) for p in sorted((demo_dataset() / "Monkeypox").glob("*.jpg"))[:6]]
    capsys.readouterr()
    cv_csv, seed_csv = tmp_path / "cv.csv", tmp_path / "seed.csv"
    assert (
        main(["predict", "--model", str(out / "units" / "t4-cv-1"), *images, "--out", str(cv_csv)])
        == 0
    )
    said = capsys.readouterr().err
    table = pd.read_csv(cv_csv)
    assert table.threshold.unique().tolist() == [pytest.approx(chosen[1])]
    called = np.where(table.prob_Monkeypox >= chosen[1], "Monkeypox", "Others")
    assert table.predicted.tolist() == called.tolist()
    assert "the threshold fold 1 chose on its inner validation part" in said
    assert "t4 in its run (cross-validated): accuracy" in said
    for alarm in t4["alarms"]:
        assert f"WARNING: in its run, t4 {alarm['message']}" in said
    assert (
        main(
            [
                "predict",
                "--model",
                str(out / "units" / "t4-seed-0"),
                *images,
                "--out",
                str(seed_csv),
            ]
        )
        == 0
    )
    said = capsys.readouterr().err
    assert pd.read_csv(seed_csv).threshold.unique().tolist() == [0.5]
    assert "for its cv fold models only; this model keeps the decision rule" in said
