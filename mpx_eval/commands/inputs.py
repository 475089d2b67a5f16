"""A command's inputs: the images a config names, decoded, and their split plan with its
leakage audit. ``run`` and ``splits`` both start here; no Keras import.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from ..config import PATIENT_PATTERN, RunConfig
from ..data.audit import audit
from ..data.demo import demo_dataset
from ..data.grouping import apply_families, family_audit
from ..data.images import ImageSet, describe_unread, load_image_set
from ..data.splits import Split, make_plan
from ..errors import MpxEvalError


def locate_data(cfg: RunConfig) -> Path:
    if cfg.demo:
        return demo_dataset()
    root = Path(cfg.data_dir)
    if not root.exists():
        raise MpxEvalError(
            f"data folder {root} does not exist: pass --data-dir DIR (one sub-folder of images "
            "per class), or try --demo for a synthetic set"
        )
    return root


def load_for(cfg: RunConfig, sizes: Iterable[int]) -> tuple[ImageSet, list[str]]:
    """Decode the run's images; also return what to tell the user about them, to be printed
    once every check has passed (an error stays one line)."""
    root = locate_data(cfg)
    sizes = sorted(set(sizes))
    started = time.perf_counter()
    images = load_image_set(
        root,
        sizes=sizes,
        group_pattern=cfg.group_pattern,
        skip_bad_images=cfg.skip_bad_images,
        demo=cfg.demo,
    )
    what = "synthetic demo images" if cfg.demo else "images"
    at = f" at {', '.join(f'{s}x{s}' for s in sizes)}" if sizes else ""
    counts = ", ".join(f"{k} {v}" for k, v in images.counts.items())
    notes = [
        f"Decoded {len(images)} {what} ({counts}) from {root}{at} in "
        f"{time.perf_counter() - started:.1f} s"
    ]
    notes += [f"  skipped {path}: {reason}" for path, reason in images.skipped]
    unread = describe_unread(images.unread)
    if unread:
        notes.append(f"  {unread}")
    if cfg.group_pattern is None and _looks_grouped(images.paths):
        notes.append(
            f"  hint: file names look like patient ids with several photos each; without "
            f"--group-pattern '{PATIENT_PATTERN}' one patient can sit on both sides of a split"
        )
    return images, notes


def _looks_grouped(paths: list[str]) -> bool:
    """True when 'patient_shot' file names repeat patients (at least a tenth of the set)."""
    from ..data.images import group_ids

    try:
        groups = group_ids(paths, PATIENT_PATTERN)
    except MpxEvalError:
        return False
    return len(paths) - len(set(groups.tolist())) >= max(2, len(paths) // 10)


def plan_and_audit(
    cfg: RunConfig, images: ImageSet, *, quiet: bool = False
) -> tuple[list[Split], dict]:
    """The split plan of ``cfg`` and its leakage audit.

    With family detection on, ``images.groups`` becomes the group each image is split by
    (its family joined with its patient group) before the plan is made.
    """
    families = apply_families(images, enabled=cfg.families, quiet=quiet)
    try:
        plan = make_plan(
            images,
            folds=cfg.folds,
            seed=cfg.seed,
            validation_split=cfg.validation_split,
            inner_fraction=cfg.inner_fraction,
            repeats=cfg.repeats,
        )
    except MpxEvalError as exc:
        if families is None or not families.members() or "groups" not in str(exc):
            raise
        raise MpxEvalError(
            f"{exc} (a group here is a family of copies of one photo, joined with its "
            "patient group)"
        ) from None
    found = audit(images, plan)
    found.update(family_audit(images, plan, families, enabled=cfg.families))
    return plan, found
