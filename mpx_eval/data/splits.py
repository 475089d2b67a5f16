"""The split plan: the blog's seed-123 split, stratified (grouped) k folds and their inner parts.

Indices refer to rows of an :class:`~mpx_eval.data.images.ImageSet`. No Keras import here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from ..config import check_folds
from ..errors import MpxEvalError
from .images import ImageSet


@dataclass(frozen=True)
class Split:
    """One split: indices of the training, validation (checkpoint choice) and test parts.

    For the seed scheme ``test`` is empty: the blog chooses its checkpoint on ``val`` and
    reports on the same images.
    """

    scheme: str
    fold: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.scheme}-{self.fold}"

    def roles(self, n: int) -> np.ndarray:
        """The part each of ``n`` images plays: "train", "val", "test", or "" (unused)."""
        role = np.full(n, "", dtype=object)
        role[self.train] = "train"
        role[self.val] = "val"
        role[self.test] = "test"
        return role


def keras_validation_mask(
    n_scanned: int, scan_index: np.ndarray, *, validation_split: float = 0.2, seed: int = 123
) -> np.ndarray:
    """Which files ``image_dataset_from_directory(validation_split=..., seed=...)`` puts in
    its validation subset: Keras shuffles the scanned file list with
    ``np.random.RandomState(seed)`` and keeps the last ``int(validation_split * n)`` files.

    ``scan_index`` maps each kept image to its position in the scan, so files left out as
    unreadable do not shift the others.
    """
    n_val = int(validation_split * n_scanned)
    if n_val < 1 or n_val >= n_scanned:
        raise MpxEvalError(
            f"validation_split {validation_split} of {n_scanned} images leaves an empty part"
        )
    order = np.arange(n_scanned)
    np.random.RandomState(seed).shuffle(order)
    return np.isin(scan_index, order[n_scanned - n_val :])


def _check_fold_counts(images: ImageSet, k: int, grouped: bool) -> None:
    for label, name in enumerate(images.class_names):
        members = images.labels == label
        n_images = int(members.sum())
        if grouped:
            n_groups = len(set(images.groups[members].tolist()))
            if n_groups < k:
                raise MpxEvalError(
                    f"class {name!r} has {n_groups} groups ({n_images} images), fewer than "
                    f"--folds {k}; lower --folds or add images"
                )
        elif n_images < k:
            raise MpxEvalError(
                f"class {name!r} has {n_images} images, fewer than --folds {k}; "
                "lower --folds or add images"
            )


def _folds_of(labels: np.ndarray, groups: np.ndarray | None, k: int, seed: int) -> np.ndarray:
    """Fold number 0..k-1 of every row, stratified by label and grouped when groups given."""
    x = np.zeros(len(labels))
    with warnings.catch_warnings():
        # sklearn warns when a class has fewer members than folds; the caller checked what
        # matters (every class reaches every outer fold) and small inner parts are fine.
        warnings.simplefilter("ignore", UserWarning)
        if groups is None:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            parts = splitter.split(x, labels)
        else:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            parts = splitter.split(x, labels, groups)
        fold = np.empty(len(labels), dtype=np.int64)
        for f, (_, test) in enumerate(parts):
            fold[test] = f
    return fold


def _inner_parts(labels: np.ndarray, groups: np.ndarray | None, fraction: float) -> int:
    """How many parts a training part is cut into, one of which is its inner validation
    part: ``1 / fraction``, but no more than sklearn allows (as many groups as parts, and a
    class with as many images as parts: StratifiedGroupKFold checks the images of each
    class too); 0 when not even two parts can be cut."""
    n_units = int(np.bincount(labels).max())
    if groups is not None:
        n_units = min(n_units, len(set(groups.tolist())))
    return max(2, min(round(1 / fraction), n_units)) if n_units >= 2 else 0


def inner_validation(
    train: np.ndarray, images: ImageSet, *, fraction: float, seed: int, grouped: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training part into (train, val): a stratified (grouped) ``fraction`` of it,
    or a larger one where the part is too small for that (``_inner_parts``)."""
    labels = images.labels[train]
    groups = images.groups[train] if grouped else None
    parts = _inner_parts(labels, groups, fraction)
    if not parts:
        held = [f"{name} {int(np.sum(labels == k))}" for k, name in enumerate(images.class_names)]
        needs = "two images of one class"
        if grouped:
            held.append(f"{len(set(groups.tolist()))} group(s)")
            needs += ", and two groups"
        raise MpxEvalError(
            f"a cv training part of {len(train)} images ({', '.join(held)}) is too small to set "
            f"an inner validation part aside (that takes {needs}); add images, or use fewer "
            "--folds (--folds 0: the seed split alone)"
        )
    fold = _folds_of(labels, groups, parts, seed)
    return np.sort(train[fold != 0]), np.sort(train[fold == 0])


def inner_part_note(images: ImageSet, plan: list[Split], fraction: float) -> str | None:
    """A line when some cv training parts were too small to set ``fraction`` of them aside
    as inner validation part, so that a larger share was; None when none were."""
    asked = max(2, round(1 / fraction))
    grouped = images.grouped()
    cv = [split for split in plan if split.scheme == "cv"]
    adapted = []
    for split in cv:
        rows = np.concatenate([split.train, split.val])
        groups = images.groups[rows] if grouped else None
        parts = _inner_parts(images.labels[rows], groups, fraction)
        if parts < asked:
            adapted.append((parts, len(split.val)))
    if not adapted:
        return None
    fewest, most = min(p for p, _ in adapted), max(p for p, _ in adapted)
    held = sorted({n for _, n in adapted})
    share = f"1 in {fewest}" if fewest == most else f"1 in {fewest} to {most}"
    sizes = f"{held[0]}" if len(held) == 1 else f"{held[0]}–{held[-1]}"
    enough = min(1 / fewest, 0.49)  # --inner-fraction must stay under 0.5
    return (
        f"--inner-fraction {fraction:g} adapted: {len(adapted)} of {len(cv)} cv training "
        f"parts have too few images{' or groups' if grouped else ''} to set 1 in {asked} of "
        f"them aside, so their inner validation part is {share} of them ({sizes} images); "
        f"set --inner-fraction {enough:.2g} or more to choose it yourself"
    )


def make_plan(
    images: ImageSet,
    *,
    folds: int,
    seed: int = 123,
    validation_split: float = 0.2,
    inner_fraction: float = 0.125,
    repeats: int = 1,
) -> list[Split]:
    """The seed split, then ``folds`` cross-validation splits (none when ``folds`` is 0).

    Folds are grouped whenever some group holds several images, so no group (patient) sits
    on both sides of a cv split. The seed split copies the blog and ignores groups.

    With ``repeats`` R > 1 the k folds are drawn R times, repeat r (from 1) with split seed
    ``seed + r - 1``, and numbered on: repeat r holds folds ``(r - 1) k + 1`` to ``r k``.
    Repeat 1 is exactly the single-repeat plan, so its units keep their names.
    """
    check_folds(folds, "--folds")
    all_rows = np.arange(len(images))
    is_val = keras_validation_mask(
        images.n_scanned, images.scan_index, validation_split=validation_split, seed=seed
    )
    plan = [Split("seed", 0, all_rows[~is_val], all_rows[is_val], all_rows[:0])]
    if folds == 0:
        return plan
    grouped = images.grouped()
    _check_fold_counts(images, folds, grouped)
    for r in range(repeats):
        split_seed = seed + r
        fold_of = _folds_of(images.labels, images.groups if grouped else None, folds, split_seed)
        for f in range(folds):
            test = all_rows[fold_of == f]
            train, val = inner_validation(
                all_rows[fold_of != f],
                images,
                fraction=inner_fraction,
                seed=split_seed,
                grouped=grouped,
            )
            plan.append(Split("cv", r * folds + f + 1, train, val, test))
    return plan
