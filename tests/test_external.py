"""External validation: external sets read and mapped onto the training classes, copies of
training images among them found, left out by default and listed; every unit predicts them,
and the run reports them beside the internal figures, resumes, and renders the section."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mpx_eval.assessment.external import figures, mover_gap
from mpx_eval.cli import main
from mpx_eval.config import RunConfig
from mpx_eval.data.external import check_contamination, describe_sources, load_external
from mpx_eval.data.images import load_image_set
from mpx_eval.errors import MpxEvalError
from mpx_eval.rundir.kept import read_external
from tests.test_families import TRANSFORMS, _photo, _tree

#: The external images that are copies of training images, and the transform that made each.
COPIES = {
    "Monkeypox/turned.png": ("Monkeypox/m0.png", "turn-90"),
    "Monkeypox/same.png": ("Monkeypox/m1.png", None),
    "Others/mixed.png": ("Others/o0.png", "mix"),
}


def _training(root: Path) -> Path:
    images = {f"Monkeypox/m{i}.png": _photo(i) for i in range(6)}
    images |= {f"Others/o{i}.png": _photo(10 + i) for i in range(6)}
    return _tree(root, images)


def _external(root: Path, training: Path, *, others: str = "Others") -> Path:
    images = {f"Monkeypox/new{i}.png": _photo(20 + i) for i in range(3)}
    images |= {f"{others}/new{i}.png": _photo(30 + i) for i in range(3)}
    for rel, (source, transform) in COPIES.items():
        img = Image.open(training / source).convert("RGB")
        rel = rel.replace("Others/", f"{others}/")
        images[rel] = TRANSFORMS[transform](img) if transform else img
    return _tree(root, images)


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    training = _training(tmp_path / "train")
    return training, _external(tmp_path / "clinic", training)


def _checked(training: Path, external: Path, **options):
    images = load_image_set(training, sizes=[32])
    joined, loaded, names = load_external(
        [str(external)], classes=images.class_names, sizes=[32], **options
    )
    sources = describe_sources(loaded, names, [str(external)])
    return check_contamination(images, joined, sources, quiet=True)


def test_copies_of_training_images_are_found_and_listed(sets):
    training, external = sets
    found = _checked(training, external)
    contaminated = {p for p, bad in zip(found.paths, found.contaminated, strict=True) if bad}
    assert contaminated == {f"clinic/{rel}" for rel in COPIES}
    for i, path in enumerate(found.paths):
        if path in contaminated:
            sources = [c["path"] for c in found.copies[i]]
            assert COPIES[path.split("/", 1)[1]][0] in sources
    described = found.describe()
    assert described["n_images"] == 9 and described["n_contaminated"] == 3
    assert described["label_conflicts"] == []
    # the external images' own clusters: every image alone (no copies among them)
    assert len(set(found.groups.tolist())) == 9


def test_a_copy_filed_under_another_class_is_a_label_conflict(tmp_path):
    training = _training(tmp_path / "train")
    external = _external(tmp_path / "clinic", training)
    shutil.move(external / "Others" / "mixed.png", external / "Monkeypox" / "mixed.png")
    found = _checked(training, external)
    [conflict] = found.conflicts
    assert conflict["path"] == "clinic/Monkeypox/mixed.png"
    assert conflict["external_label"] == "Monkeypox"
    assert conflict["training_labels"] == ["Others"]


def test_external_classes_are_mapped_by_name_or_refused(tmp_path):
    training = _training(tmp_path / "train")
    external = _external(tmp_path / "clinic", training, others="Measles")
    with pytest.raises(MpxEvalError, match=r"'Measles' is not a training class.*--external-map"):
        _checked(training, external)
    found = _checked(training, external, mapping=("Measles=Others",))
    assert sorted({found.class_names[k] for k in found.labels.tolist()}) == ["Monkeypox", "Others"]
    with pytest.raises(MpxEvalError, match="is not a training class"):
        _checked(training, external, mapping=("Measles=Chickenpox",))
    with pytest.raises(MpxEvalError, match="has no Others images"):
        _checked(training, external, mapping=("Measles=Monkeypox",))
    with pytest.raises(MpxEvalError, match="must be FOLDER=CLASS"):
        RunConfig(external_map=("Measles",))
    with pytest.raises(MpxEvalError, match="does not exist"):
        load_external([str(tmp_path / "nowhere")], classes=["Monkeypox", "Others"], sizes=[32])


def test_a_run_never_writes_into_an_external_set(sets, tmp_path, capsys):
    training, external = sets
    before = sorted(p.relative_to(external) for p in external.rglob("*"))
    command = ["run", "--data-dir", str(training), "--external", str(external)]
    assert main([*command, "--out", str(external / "reports")]) == 2
    assert "inside the data folder" in capsys.readouterr().err
    missing = ["--external", str(training / "nowhere"), "--out", str(tmp_path / "o")]
    assert main([*command, *missing]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert sorted(p.relative_to(external) for p in external.rglob("*")) == before


def test_gap_interval_combines_both_intervals_by_mover():
    internal = {"estimate": 0.9, "low": 0.85, "high": 0.94}
    external = {"estimate": 0.7, "low": 0.6, "high": 0.78}
    gap = mover_gap(internal, external)
    assert gap["difference"] == pytest.approx(0.2)
    assert gap["low"] == pytest.approx(0.2 - math.hypot(0.05, 0.08))
    assert gap["high"] == pytest.approx(0.2 + math.hypot(0.04, 0.1))
    assert mover_gap(internal, {"estimate": 0.7, "low": None, "high": None}) is None


def test_repeated_predictions_of_one_image_are_one_cluster():
    """Five fold models that largely agree on each of 20 images: their 100 predictions are
    worth about 20 images, and the interval is as wide as that says."""
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b"] * 10, dtype=object)
    rows = pd.DataFrame(
        {
            "path": np.tile(np.arange(20), 5).astype(str),
            "label": np.tile(labels, 5),
            "group": np.tile(np.arange(20), 5).astype(str),
        }
    )
    per_image = rng.uniform(size=20)
    rows["prob_a"] = np.clip(np.tile(per_image, 5) + rng.normal(0, 0.05, 100), 0, 1)
    rows["prob_b"] = 1 - rows["prob_a"]
    pooled = figures(rows, ["a", "b"], "a", 0.95)
    alone = rows.assign(group=np.arange(100).astype(str), path=np.arange(100).astype(str))
    naive = figures(alone, ["a", "b"], "a", 0.95)
    assert pooled["n_images"] == 20 and pooled["n_clusters"] == 20 and pooled["n_rows"] == 100
    width = pooled["accuracy"]["high"] - pooled["accuracy"]["low"]
    naive_width = naive["accuracy"]["high"] - naive["accuracy"]["low"]
    assert width > 1.5 * naive_width


def test_a_run_with_an_external_set(sets, tmp_path, capsys):
    """End to end: every unit predicts the external images, the copies are left out by
    default and listed, the report shows the section; the same command resumes without
    training, --keep-contaminated counts them, another external set is refused."""
    training, external = sets
    out = tmp_path / "run"
    command = [
        "run", "--data-dir", str(training), "--external", str(external), "--models", "t4",
        "--folds", "2", "--epochs", "1", "--image-size", "32", "--batch-size", "4",
        "--out", str(out), "--quiet",
    ]  # fmt: skip
    assert main(command) == 0
    units = sorted(p.name for p in (out / "units").iterdir())
    assert units == ["t4-cv-1", "t4-cv-2", "t4-seed-0"]
    for unit in units:
        kept = read_external(out / "units" / unit)
        assert kept["probabilities"].shape[1:] == (9, 2)
    info = json.loads((out / "external.json").read_text())
    assert info["n_contaminated"] == 3
    listed = {i["path"] for i in info["images"] if i["contaminated"]}
    assert listed == {f"clinic/{rel}" for rel in COPIES}
    table = pd.read_csv(out / "external_predictions.csv")
    assert set(table["checkpoint"]) == {"best", "last"} and table.shape[0] == 3 * 2 * 9
    metrics = json.loads((out / "metrics.json").read_text())["external"]
    t4 = metrics["models"]["t4"]
    assert metrics["contaminated_included"] is False
    assert t4["fold_models"]["n_images"] == 6 and t4["fold_models"]["n_rows"] == 12
    assert t4["ensemble"]["n_images"] == 6 and t4["contaminated"]["n_images"] == 3
    assert {f["fold"] for f in t4["folds"]} == {1, 2}
    assert set(t4["gap"]) >= {"accuracy", "roc_auc"}
    page = (out / "index.html").read_text()
    assert "External validation" in page and "3 of the 9 external" in page
    assert "photos from the data set and the external sets" in page
    assert main(["report", "--out", str(out), "--images", "none"]) == 0
    assert "data:image/jpeg" not in (out / "index.html").read_text()  # external ones too

    capsys.readouterr()
    started = (out / "units" / "t4-cv-1" / "unit.json").stat().st_mtime_ns
    assert main([*command, "--keep-contaminated"]) == 0
    assert (out / "units" / "t4-cv-1" / "unit.json").stat().st_mtime_ns == started
    metrics = json.loads((out / "metrics.json").read_text())["external"]
    assert metrics["contaminated_included"] is True
    assert metrics["models"]["t4"]["fold_models"]["n_images"] == 9

    # a damaged external.npz makes its unit damaged: moved aside and trained again
    npz = out / "units" / "t4-cv-2" / "external.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    capsys.readouterr()
    assert main(command) == 0
    assert "t4-cv-2 was damaged" in capsys.readouterr().err
    assert read_external(out / "units" / "t4-cv-2")["probabilities"].shape[1:] == (9, 2)

    (external / "Others" / "new0.png").unlink()
    capsys.readouterr()
    assert main(command) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["external.npz", "epochs.npz", "gradcam.npz"])
def test_a_truncated_unit_array_file_is_named_not_an_internal_error(tmp_path, name):
    """np.load raises zipfile.BadZipFile for a truncated .npz, which is no OSError."""
    from mpx_eval.rundir.kept import read_epochs, read_gradcam, write_external

    write_external(tmp_path, np.full((2, 3, 2), 0.5), paths=["a", "b", "c"])
    (tmp_path / name).write_bytes((tmp_path / "external.npz").read_bytes()[:60])
    reader = {"external.npz": read_external, "epochs.npz": read_epochs,
              "gradcam.npz": read_gradcam}[name]  # fmt: skip
    with pytest.raises(MpxEvalError, match=f"{name} cannot be read"):
        reader(tmp_path)
