"""Image families in use: split groups by default, the seed split's measured leakage, label
conflicts, ``--families off`` and the union with ``--group-pattern``, end to end."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from mpx_eval.cli import main
from mpx_eval.grouping import split_groups

#: Copies per original photo, in turn: 1, 2, 3 or 4 images per family, so the seed split's
#: validation part holds images with and without a copy in training.
FAMILY_SIZES = (1, 2, 3, 4)
ORIGINALS_PER_CLASS = 12
TINY = ["--models", "tests.helpers.user_models:tiny", "--epochs", "1", "--image-size", "32"]


def _photo(seed: int, label: int) -> Image.Image:
    """Smooth shapes on a tinted gradient: distinct photos differ in many perceptual-hash bits."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:128, 0:128] / 128
    base = ((150, 110, 90), (90, 120, 160))[label]
    img = np.stack([base[0] + 60 * xx, base[1] + 50 * yy, base[2] + 30 * xx * yy], axis=-1)
    for _ in range(6):
        cx, cy, r = rng.uniform(16, 112), rng.uniform(16, 112), rng.uniform(8, 22)
        img[np.hypot(xx * 128 - cx, yy * 128 - cy) < r] = rng.uniform(30, 240, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


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


def test_run_measures_the_seed_leak_and_keeps_families_in_cv_folds(augmented, tmp_path, capsys):
    root, family_of = augmented
    out = tmp_path / "out"
    code = main(["run", "--data-dir", str(root), "--folds", "3", *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]

    plan = pd.read_csv(out / "splits.csv")
    straddling = _straddling(plan, family_of)
    # the blog's random split leaks copies; the default cv folds (and inner parts) do not
    assert straddling["seed-0"] > 0
    assert {k: v for k, v in straddling.items() if k.startswith("cv")} == {
        "cv-1": 0, "cv-2": 0, "cv-3": 0
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
            "exact", "near", "geometric"
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
        if entry["n"] > 1:
            assert entry["low"] <= entry["accuracy"] <= entry["high"]

    # the label conflict: in audit.json, on the terminal and in the report
    conflicts = found["label_conflicts"]
    assert len(conflicts) == 1
    paths = sorted(m["path"] for m in conflicts[0]["members"])
    assert "Others/relabelled.jpg" in paths
    assert conflicts[0]["labels"] == ["Monkeypox", "Others"]
    assert "label conflict" in captured.err and "Others/relabelled.jpg" in captured.err
    assert "seed split:" in captured.err and "validation images have a copy" in captured.err

    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Image families" in html and "Label conflicts (1)" in html
    assert "Others/relabelled.jpg" in html
    assert f"{len(expected)} of its {len(val)} validation images" in html
    assert "With a sibling in training (leaky)" in html
    assert "Image-family detection was off" not in html
