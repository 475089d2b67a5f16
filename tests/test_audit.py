"""Leakage audit: exact and near duplicates, shared groups, where they straddle a split."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from mpx_eval.data.audit import audit, audit_lines, hamming_matrix
from mpx_eval.data.images import load_image_set
from mpx_eval.data.splits import make_plan


def _paths(entry):
    return sorted(item["path"] for item in entry)


def _photo_like(seed: int) -> Image.Image:
    """Smooth shapes on a gradient: structure at the scale a perceptual hash sees."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:160, 0:160] / 160
    img = np.stack([150 + 60 * xx, 110 + 50 * yy, 90 + 30 * xx * yy], axis=-1)
    for _ in range(6):
        cx, cy, r = rng.uniform(20, 140), rng.uniform(20, 140), rng.uniform(8, 25)
        img[np.hypot(xx * 160 - cx, yy * 160 - cy) < r] = rng.uniform(30, 240, 3)
    return Image.fromarray(img.astype(np.uint8))


def test_finds_exact_and_near_duplicates(make_tree):
    root = make_tree({"A": 12, "B": 12}, size=96)
    shutil.copy(root / "A" / "A000_0.jpg", root / "B" / "copy_0.jpg")
    original = _photo_like(3)
    original.save(root / "B" / "B003_0.jpg", quality=95)
    # a downsized, re-compressed copy: different bytes, same picture
    original.resize((100, 100), Image.Resampling.BILINEAR).save(
        root / "A" / "resaved_0.jpg", quality=60
    )
    images = load_image_set(root)
    found = audit(images, make_plan(images, folds=3))
    assert [_paths(s) for s in found["exact_duplicates"]] == [["A/A000_0.jpg", "B/copy_0.jpg"]]
    near = [sorted([p["a"]["path"], p["b"]["path"]]) for p in found["near_duplicates"]]
    assert near == [["A/resaved_0.jpg", "B/B003_0.jpg"]]
    assert all(p["distance"] <= found["near_duplicate_bits"] for p in found["near_duplicates"])
    # an exact pair in different cv folds is reported for that split
    for leak in found["leaks"]:
        assert len({item["role"] for item in leak["items"]}) > 1
    assert audit_lines(found)[0].startswith("Leakage audit: 1 exact-duplicate set(s), 1 near")


def test_distinct_images_are_not_near_duplicates(make_tree):
    images = load_image_set(make_tree({"A": 15, "B": 15}, size=64))
    found = audit(images, make_plan(images, folds=0))
    assert found["exact_duplicates"] == [] and found["near_duplicates"] == []


def test_shared_groups_straddling_the_seed_split(make_tree):
    images = load_image_set(make_tree({"A": 20, "B": 20}, patients=4), group_pattern="^(.+)_")
    found = audit(images, make_plan(images, folds=2))
    group_leaks = [leak for leak in found["leaks"] if leak["kind"] == "group"]
    assert group_leaks and {leak["split"] for leak in group_leaks} == {"seed-0"}


def test_hamming_matrix_counts_bits():
    hashes = np.array([[0b0000_0000, 0], [0b1010_0000, 0xFF]], dtype=np.uint8)
    assert hamming_matrix(hashes).tolist() == [[0, 10], [10, 0]]


def test_msld_duplicate_pair_is_found(msld_dir):
    images = load_image_set(msld_dir, group_pattern=r"^([^_]+)_")
    found = audit(images, make_plan(images, folds=5))
    pairs = [_paths(s) for s in found["exact_duplicates"]]
    assert ["Others/34_1.jpg", "Others/82_1.jpg"] in pairs
    groups = {item["group"] for s in found["exact_duplicates"] for item in s}
    assert {"34", "82"} <= groups
    assert any(leak["kind"] == "group" and leak["split"] == "seed-0" for leak in found["leaks"])
