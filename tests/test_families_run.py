"""Image families in use: split groups by default, the seed split's measured leakage, label
conflicts, ``--families off`` and the union with ``--group-pattern``, end to end."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from mpx_eval.cli import main
from mpx_eval.config import tomllib
from mpx_eval.data.grouping import DetectionProgress, split_groups
from tests.helpers.photos import photo_like as _photo

#: Copies per original photo, in turn: 1, 2, 3 or 4 images per family, so the seed split's
#: validation part holds images with and without a copy in training.
FAMILY_SIZES = (1, 2, 3, 4)
ORIGINALS_PER_CLASS = 12
TINY = ["--models", "tests.helpers.user_models:tiny", "--epochs", "1", "--image-size", "32"]


def _copies(img: Image.Image, n: int) -> list[tuple[Image.Image, int]]:
    """The original and n - 1 copies any family detector must find: downsized, slightly
    brightened, re-compressed at low quality (image, JPEG quality)."""
    made = [
        (img, 92),
        (img.resize((96, 96), Image.Resampling.BILINEAR), 92),
        (ImageEnhance.Brightness(img).enhance(1.08), 92),
        (img, 55),
    ]
    return made[:n]


def augmented_tree(root, *, conflict: bool = False) -> dict[str, str]:
    """Write an augmented class-per-folder set with file names that carry no family; return
    the true family (original) of every relative path. With ``conflict``, one more copy of a
    Monkeypox original is filed under Others."""
    family_of = {}
    for label, name in enumerate(("Monkeypox", "Others")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(ORIGINALS_PER_CLASS):
            img = _photo(1000 * label + k, label)
            n = FAMILY_SIZES[k % len(FAMILY_SIZES)]
            for c, (copy, quality) in enumerate(_copies(img, n)):
                # names shuffled so that a family's copies are not neighbours in the scan
                rel = f"{name}/x{(k * 7 + c * 31) % 97:02d}_{c}.jpg"
                copy.save(root / rel, quality=quality)
                family_of[rel] = f"{name}-{k}"
    if conflict:
        img = _photo(1000 * 0 + 1, 0)
        rel = "Others/relabelled.jpg"
        img.resize((100, 100), Image.Resampling.BILINEAR).save(root / rel, quality=80)
        family_of[rel] = "Monkeypox-1"
    return family_of


def _straddling(plan: pd.DataFrame, family_of: dict[str, str]) -> dict[str, int]:
    """Per split, how many true families have images in more than one of its parts."""
    plan = plan.assign(family=plan.path.map(family_of))
    out = {}
    for (scheme, fold), split in plan.groupby(["scheme", "fold"]):
        roles = split.groupby("family").role.nunique()
        out[f"{scheme}-{fold}"] = int((roles > 1).sum())
    return out


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    root = tmp_path_factory.mktemp("augmented") / "data"
    family_of = augmented_tree(root, conflict=True)
    return root, family_of


def test_split_groups_join_families_and_patients():
    patients = np.array(["P1", "P1", "P2", "P3", "P4", "P5"], dtype=object)
    family = np.array([0, 1, 1, 2, 3, 3])
    groups = split_groups(patients, family)
    # P1 and P2 are joined by family 1, P4 and P5 by family 3; P3 stays alone
    assert groups.tolist() == ["P1+1", "P1+1", "P1+1", "P3", "P4+1", "P4+1"]


@pytest.fixture(scope="module")
def family_run(augmented, tmp_path_factory) -> tuple[Path, str]:
    """The default run (families on, 3 folds) on the augmented set: its folder and stderr."""
    root, _ = augmented
    out = tmp_path_factory.mktemp("family-run") / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", "--data-dir", str(root), "--folds", "3", *TINY, "--out", str(out)])
    assert code == 0, err.getvalue()[-2000:]
    return out, err.getvalue()


def test_run_measures_the_seed_leak_and_keeps_families_in_cv_folds(augmented, family_run):
    _, family_of = augmented
    out, err = family_run

    plan = pd.read_csv(out / "splits.csv")
    straddling = _straddling(plan, family_of)
    # the blog's random split leaks copies; the default cv folds (and inner parts) do not
    assert straddling["seed-0"] > 0
    assert {k: v for k, v in straddling.items() if k.startswith("cv")} == {
        "cv-1": 0,
        "cv-2": 0,
        "cv-3": 0,
    }
    # the group column is the group each image was split by: one per true family here
    seed = plan[plan.scheme == "seed"]
    assert seed.groupby(seed.path.map(family_of)).group.nunique().eq(1).all()
    assert seed.group.nunique() == len(set(family_of.values()))

    found = json.loads((out / "audit.json").read_text())
    assert found["family_detection"] == "on"
    true_sizes = Counter(family_of.values())
    assert sorted(f["size"] for f in found["families"]) == sorted(
        n for n in true_sizes.values() if n > 1
    )
    for family in found["families"]:
        assert len({family_of[m["path"]] for m in family["members"]}) == 1
        assert family["links"] and {link["kind"] for link in family["links"]} <= {
            "exact",
            "near",
            "geometric",
        }
    # seed leakage: exactly the validation images whose true family has a training image
    train = set(seed[seed.role == "train"].path.map(family_of))
    val = seed[seed.role == "val"]
    expected = sorted(val.path[val.path.map(family_of).isin(train)])
    leakage = found["seed_leakage"]
    assert sorted(leakage["with_sibling_in_train"]) == expected
    assert leakage["n_val"] == len(val) and 0 < len(expected) < len(val)

    metrics = json.loads((out / "metrics.json").read_text())
    leak = metrics["seed_leakage"]["tests.helpers.user_models:tiny"]
    assert leak["with_sibling"]["n"] == len(expected)
    assert leak["without_sibling"]["n"] == len(val) - len(expected)
    assert leak["all"]["n"] == len(val)
    for part in ("with_sibling", "without_sibling", "all"):
        entry = leak[part]
        assert 0 <= entry["accuracy"] <= 1
        if entry["low"] is not None:
            assert entry["low"] <= entry["accuracy"] <= entry["high"]

    # the label conflict: in audit.json, on the terminal and in the report
    conflicts = found["label_conflicts"]
    assert len(conflicts) == 1
    paths = sorted(m["path"] for m in conflicts[0]["members"])
    assert "Others/relabelled.jpg" in paths
    assert conflicts[0]["labels"] == ["Monkeypox", "Others"]
    assert "label conflict" in err and "Others/relabelled.jpg" in err
    assert "seed split:" in err and "validation images have a copy" in err

    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Image families" in html and "Label conflicts (1)" in html
    assert "Others/relabelled.jpg" in html
    assert f"{len(expected)} of its {len(val)} validation images" in html
    assert "With a sibling in training (leaky)" in html
    assert "Image-family detection was off" not in html


def test_families_off_lets_cv_folds_split_copies_and_says_so(augmented, tmp_path, capsys):
    root, family_of = augmented
    plan_csv = tmp_path / "plan.csv"
    args = ["splits", "--data-dir", str(root), "--folds", "3", "--out", str(plan_csv)]
    assert main([*args, "--families", "off"]) == 0
    captured = capsys.readouterr()
    assert "Family detection off" in captured.out
    found = json.loads((tmp_path / "plan.audit.json").read_text())
    assert found["family_detection"] == "off"
    assert found["families"] == [] and found["label_conflicts"] == []
    plan = pd.read_csv(plan_csv)
    assert (plan.group == plan.path).all()  # no grouping at all: every image its own group
    off = _straddling(plan, family_of)
    assert sum(v for k, v in off.items() if k.startswith("cv")) > 0

    assert main(args) == 0  # the default, on the same data
    on = _straddling(pd.read_csv(plan_csv), family_of)
    assert sum(v for k, v in on.items() if k.startswith("cv")) == 0


def _patient_tree(root: Path) -> dict[str, str]:
    """Two originals per patient (``p<j>_<k>.jpg``) and one copy of each original under a
    name of its own (``c<i>_0.jpg``): patients and families each join pairs, their union
    joins four images. Returns the expected union key of every path."""
    union = {}
    for label, name in enumerate(("Monkeypox", "Others")):
        (root / name).mkdir(parents=True)
        for i in range(8):
            img = _photo(500 + 100 * label + i, label)
            patient = f"p{label}{i // 2}"
            img.save(root / name / f"{patient}_{i % 2}.jpg", quality=92)
            img.resize((100, 100), Image.Resampling.BILINEAR).save(
                root / name / f"c{label}{i}_0.jpg", quality=70
            )
            union[f"{name}/{patient}_{i % 2}.jpg"] = union[f"{name}/c{label}{i}_0.jpg"] = patient
    return union


def test_split_groups_are_the_union_of_families_and_group_pattern(tmp_path, capsys):
    union = _patient_tree(tmp_path / "data")
    plan_csv = tmp_path / "plan.csv"
    args = ["splits", "--data-dir", str(tmp_path / "data"), "--folds", "2", "--out", str(plan_csv)]
    assert main([*args, "--group-pattern", "^([^_]+)_"]) == 0
    assert "grouped by image families and '^([^_]+)_'" in capsys.readouterr().out
    plan = pd.read_csv(plan_csv)
    seed = plan[plan.scheme == "seed"]
    by_union = seed.groupby(seed.path.map(union)).group
    assert by_union.nunique().eq(1).all() and by_union.size().eq(4).all()
    assert seed.group.nunique() == 8
    # a group joining several patient groups is named after its first one, "+n" the others
    assert set(seed.group) == {f"c{label}{i}+2" for label in (0, 1) for i in (0, 2, 4, 6)}
    assert _straddling(plan, union)["cv-1"] == 0
    # each relation alone joins pairs at most
    for extra in (["--families", "off", "--group-pattern", "^([^_]+)_"], []):
        assert main([*args, *extra]) == 0
        alone = pd.read_csv(plan_csv)
        assert alone[alone.scheme == "seed"].groupby("group").size().max() == 2


def test_families_off_run_shows_a_banner_and_refuses_a_mixed_resume(augmented, tmp_path, capsys):
    root, _ = augmented
    out = tmp_path / "out"
    args = ["run", "--data-dir", str(root), "--folds", "0", *TINY, "--quiet", "--out", str(out)]
    assert main([*args, "--families", "off"]) == 0
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["data"]["families"] is False
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Image-family detection was off (--families off)" in html
    assert "Family detection was off for this run" in html
    assert "Not measured: family detection was off and no patient group holds" in html
    found = json.loads((out / "audit.json").read_text())
    assert found["seed_leakage"] is None
    assert json.loads((out / "metrics.json").read_text())["seed_leakage"] == {}
    capsys.readouterr()
    # families change the split groups, so a run with them on cannot resume this one
    assert main(args) == 2
    assert "families False -> True" in capsys.readouterr().err


@pytest.mark.chromium
def test_family_section_loads_in_chromium_without_console_errors(family_run, tmp_path):
    from tests.report.test_browser import _chromium, _console_lines

    out, _ = family_run
    dom = _chromium(out / "index.html", tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0
    assert _console_lines(dom) == []
    assert 'id="families"' in dom.stdout and 'id="seed-leakage"' in dom.stdout
    assert "Others/relabelled.jpg" in dom.stdout


def test_a_class_of_copies_of_one_photo_is_one_group(tmp_path, capsys):
    root = tmp_path / "data"
    for label, name in enumerate(("Monkeypox", "Others")):
        (root / name).mkdir(parents=True)
        for c, (copy, quality) in enumerate(_copies(_photo(label, label), 4)):
            copy.save(root / name / f"img{c}.jpg", quality=quality)
    assert main(["splits", "--data-dir", str(root), "--out", str(tmp_path / "p.csv")]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(error) == 1  # one line that says what and why
    assert "class 'Monkeypox' has 1 groups (4 images), fewer than --folds 5" in error[0]
    assert "family of copies of one photo" in error[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_detection_progress_redraws_on_a_terminal_and_logs_one_line():
    terminal = _Terminal()
    progress = DetectionProgress(100, stream=terminal)
    progress(0, 300)
    progress._last = -1.0  # as if the redraw interval had passed
    progress(100, 300)
    progress(300, 300)
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 3 and drawn.endswith("\n")
    assert "Finding image families among 100 images: 33% | elapsed" in drawn and "ETA" in drawn
    assert "100 images: 100% | elapsed" in drawn

    log = io.StringIO()
    progress = DetectionProgress(100, stream=log)
    for done in (0, 100, 300):
        progress(done, 300)
    assert log.getvalue().startswith("Finding image families among 100 images: 100%")
    assert log.getvalue().count("\n") == 1
