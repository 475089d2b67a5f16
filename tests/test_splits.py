"""The split plan: the blog's seed split, stratified (grouped) folds, inner parts, CSV."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mpx_eval.data.images import load_image_set
from mpx_eval.data.splits import make_plan
from mpx_eval.errors import MpxEvalError
from mpx_eval.rundir.records import splits_table


def keras_validation_files(root, seed: int = 123) -> set[str]:
    """What keras.utils.image_dataset_from_directory itself puts in its validation subset."""
    keras = pytest.importorskip("keras")
    ds = keras.utils.image_dataset_from_directory(
        str(root),
        validation_split=0.2,
        subset="validation",
        seed=seed,
        image_size=(8, 8),
        batch_size=64,
        verbose=False,
    )
    return {os.path.relpath(p, root) for p in ds.file_paths}


def seed_validation_files(images, plan) -> set[str]:
    return {images.paths[i] for i in plan[0].val}


@pytest.mark.parametrize("seed", [123, 7])
def test_seed_split_equals_keras(make_tree, seed):
    root = make_tree({"Monkeypox": 23, "Others": 31})
    images = load_image_set(root)
    plan = make_plan(images, folds=0, seed=seed)
    assert len(plan) == 1
    assert seed_validation_files(images, plan) == keras_validation_files(root, seed)
    assert len(plan[0].train) + len(plan[0].val) == len(images)


def test_seed_split_equals_keras_on_msld(msld_dir):
    images = load_image_set(msld_dir)
    plan = make_plan(images, folds=5, seed=123)
    assert seed_validation_files(images, plan) == keras_validation_files(msld_dir)
    assert len(plan[0].val) == 45


def test_seed_split_survives_skipped_files(make_tree):
    root = make_tree({"A": 12, "B": 12})
    expected = keras_validation_files(root)
    (root / "A" / "A000_0.jpg").write_bytes(b"broken")
    images = load_image_set(root, skip_bad_images=True)
    plan = make_plan(images, folds=0)
    assert seed_validation_files(images, plan) == expected - {"A/A000_0.jpg"}


def test_cv_folds_are_stratified_and_cover_everything(make_tree):
    images = load_image_set(make_tree({"A": 23, "B": 17}))
    plan = make_plan(images, folds=5)
    tests = [s.test for s in plan[1:]]
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(images)))
    for label in (0, 1):
        per_fold = [int((images.labels[t] == label).sum()) for t in tests]
        assert max(per_fold) - min(per_fold) <= 1
    for split in plan[1:]:
        parts = [set(split.train), set(split.val), set(split.test)]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert len(split.train) + len(split.val) + len(split.test) == len(images)
        # the inner part is about 1/8 of the training fold
        assert abs(len(split.val) - (len(split.train) + len(split.val)) / 8) <= 2


def test_grouped_folds_keep_each_group_on_one_side(make_tree):
    images = load_image_set(make_tree({"A": 30, "B": 30}, patients=3), group_pattern=r"^([^_]+)_")
    assert images.grouped()
    plan = make_plan(images, folds=4)
    for split in plan[1:]:
        sides = [set(images.groups[idx]) for idx in (split.train, split.val, split.test)]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]


def test_grouped_folds_on_msld(msld_dir):
    images = load_image_set(msld_dir, group_pattern=r"^([^_]+)_")
    assert images.groups[images.paths.index("Monkeypox/P13_2.jpg")] == "P13"
    plan = make_plan(images, folds=5)
    for split in plan[1:]:
        assert not set(images.groups[split.test]) & set(images.groups[split.train])
        assert not set(images.groups[split.val]) & set(images.groups[split.train])


def test_plan_is_deterministic_and_seeded(make_tree, tmp_path):
    from mpx_eval.atomic import write_csv

    images = load_image_set(make_tree({"A": 15, "B": 15}, patients=2), group_pattern="^(.+)_")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv(splits_table(images, make_plan(images, folds=3)), first)
    write_csv(splits_table(images, make_plan(images, folds=3)), second)
    assert first.read_bytes() == second.read_bytes()
    other = splits_table(images, make_plan(images, folds=3, seed=5))
    assert not other.equals(splits_table(images, make_plan(images, folds=3)))


def test_plan_frame_long_form(make_tree):
    images = load_image_set(make_tree({"A": 10, "B": 10}))
    frame = splits_table(images, make_plan(images, folds=2))
    assert list(frame.columns) == ["path", "label", "group", "scheme", "fold", "role"]
    assert len(frame) == 3 * len(images)
    seed = frame[frame.scheme == "seed"]
    assert set(seed.fold) == {0} and set(seed.role) == {"train", "val"}
    cv = frame[frame.scheme == "cv"]
    assert set(cv.fold) == {1, 2} and set(cv.role) == {"train", "val", "test"}
    assert set(frame.label) == {"A", "B"}


@pytest.mark.parametrize(("folds", "message"), [(1, "at least 2"), (-2, "at least 2")])
def test_bad_fold_counts(make_tree, folds, message):
    images = load_image_set(make_tree({"A": 4, "B": 4}))
    with pytest.raises(MpxEvalError, match=message):
        make_plan(images, folds=folds)


def test_fewer_images_than_folds_names_class_and_numbers(make_tree):
    images = load_image_set(make_tree({"A": 10, "Rare": 3}))
    with pytest.raises(MpxEvalError, match=r"class 'Rare' has 3 images, fewer than --folds 5"):
        make_plan(images, folds=5)


def test_fewer_groups_than_folds(make_tree):
    images = load_image_set(make_tree({"A": 12, "B": 6}, patients=3), group_pattern="^(.+)_")
    with pytest.raises(MpxEvalError, match=r"class 'B' has 2 groups \(6 images\)"):
        make_plan(images, folds=3)


def test_repeated_folds_keep_repeat_one_and_number_on(make_tree):
    root = make_tree({"Monkeypox": 20, "Others": 25})
    images = load_image_set(root)
    single = make_plan(images, folds=3, seed=5)
    repeated = make_plan(images, folds=3, seed=5, repeats=3)
    assert [s.name for s in repeated] == ["seed-0"] + [f"cv-{f}" for f in range(1, 10)]
    for a, b in zip(single, repeated[: len(single)], strict=True):
        assert a.name == b.name
        for part in ("train", "val", "test"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    cv = repeated[1:]
    tests = []
    for r in range(3):
        folds = cv[3 * r : 3 * r + 3]
        test = np.sort(np.concatenate([s.test for s in folds]))
        np.testing.assert_array_equal(test, np.arange(len(images)))  # each repeat partitions
        tests.append(tuple(tuple(s.test) for s in folds))
    assert len(set(tests)) == 3  # other split seeds, other folds
    # Repeat r is the single plan of split seed seed + r - 1, renumbered.
    third = make_plan(images, folds=3, seed=7)
    for a, b in zip(third[1:], cv[6:], strict=True):
        np.testing.assert_array_equal(a.test, b.test)
        np.testing.assert_array_equal(a.train, b.train)


@pytest.mark.parametrize(("per_class", "fraction"), [(10, 0.125), (16, 0.001)])
def test_small_grouped_sets_get_inner_parts_instead_of_a_crash(make_tree, per_class, fraction):
    # one pair of photos makes the set grouped, every other image its own group: 10 images
    # of training fold once asked for 8 inner parts, a tiny fraction for more parts than a
    # class has images ("n_splits=8 cannot be greater than the number of members")
    images = load_image_set(
        make_tree({"A": per_class, "B": per_class}), group_pattern=r"^(A00(?=[01]_)|[^_]+)"
    )
    assert images.grouped()
    plan = make_plan(images, folds=2, inner_fraction=fraction)
    for split in plan[1:]:
        assert len(split.val) and len(split.train)
        sides = [set(images.groups[idx]) for idx in (split.train, split.val, split.test)]
        assert not sides[0] & sides[1] and not sides[1] & sides[2]
