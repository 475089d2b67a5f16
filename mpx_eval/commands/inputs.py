"""A command's inputs: the images a config names, decoded, and their split plan with its
leakage audit. ``run`` and ``splits`` both start here; no Keras import.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..config import PATIENT_PATTERN, RunConfig
from ..data.audit import audit
from ..data.demo import demo_dataset, demo_external_dataset
from ..data.external import ExternalImages, check_contamination, describe_sources, load_external
from ..data.grouping import DetectionProgress, apply_families, family_audit
from ..data.images import ImageSet, describe_unread, load_image_set, require_utf8
from ..data.shortcuts import image_traits, shortcut_audit
from ..data.splits import Split, inner_part_note, make_plan
from ..errors import MpxEvalError

#: Unreadable files named one per line; the rest are counted.
SKIPPED_SHOWN = 10


def locate_data(cfg: RunConfig) -> Path:
    if cfg.demo:
        return demo_dataset()
    root = Path(cfg.data_dir)
    require_utf8(str(root), root, "data folder")
    if not root.exists():
        raise MpxEvalError(
            f"data folder {root} does not exist: pass --data-dir DIR (one sub-folder of images "
            "per class), or try --demo for a synthetic set"
        )
    return root


def load_for(
    cfg: RunConfig, sizes: Iterable[int], *, show_progress: bool = False
) -> tuple[ImageSet, list[str]]:
    """Decode the run's images (with a progress line when ``show_progress``); also return
    what to tell the user about them, to be printed once every check has passed (an error
    stays one line)."""
    root = locate_data(cfg)
    sizes = sorted(set(sizes))
    started = time.perf_counter()
    images = load_image_set(
        root,
        sizes=sizes,
        group_pattern=cfg.group_pattern,
        skip_bad_images=cfg.skip_bad_images,
        demo=cfg.demo,
        progress=_DecodingProgress() if show_progress else None,
    )
    what = "synthetic demo images" if cfg.demo else "images"
    at = f" at {', '.join(f'{s}x{s}' for s in sizes)}" if sizes else ""
    counts = ", ".join(f"{k} {v}" for k, v in images.counts.items())
    notes = [
        f"Decoded {len(images)} {what} ({counts}) from {root}{at} in "
        f"{time.perf_counter() - started:.1f} s"
    ]
    notes += [f"  skipped {path}: {reason}" for path, reason in images.skipped[:SKIPPED_SHOWN]]
    if len(images.skipped) > SKIPPED_SHOWN:
        notes.append(
            f"  ... and {len(images.skipped) - SKIPPED_SHOWN} more skipped files (a run lists "
            "them all in runinfo.json, under dataset.skipped)"
        )
    unread = describe_unread(images.unread)
    if unread:
        notes.append(f"  {unread}")
    examples = _repeated_prefixes(images.paths) if cfg.group_pattern is None else []
    if examples:
        notes.append(
            f"  hint: file names such as {', '.join(examples)} look like patient ids with "
            f"several photos each; if they are, --group-pattern '{PATIENT_PATTERN}' keeps each "
            "patient on one side of a split (camera or download names are not patients)"
        )
    return images, notes


class _DecodingProgress:
    """The decoding progress line, shown once decoding has taken ``after`` seconds (a set
    decoded in a moment prints nothing)."""

    def __init__(self, after: float = 2.0) -> None:
        self.line: DetectionProgress | None = None
        self.started = time.perf_counter()
        self.after = after

    def __call__(self, done: int, total: int) -> None:
        if self.line is None:
            if time.perf_counter() - self.started < self.after:
                return
            self.line = DetectionProgress(total, label=f"Decoding {total} images")
        self.line(done, total)


def _repeated_prefixes(paths: list[str], *, shown: int = 3) -> list[str]:
    """Up to ``shown`` file names whose 'patient_shot' prefix repeats, when such repeats
    make at least a tenth of the set; a prefix holding more than a quarter of all images
    (``IMG_``, ``DSC_``: a camera's, not a patient's) counts for nothing. Empty otherwise."""
    from collections import Counter

    from ..data.images import group_ids

    try:
        groups = group_ids(paths, PATIENT_PATTERN).tolist()
    except MpxEvalError:
        return []
    sizes = Counter(groups)
    patients = {g for g, n in sizes.items() if 1 < n <= len(paths) / 4}
    if sum(sizes[g] - 1 for g in patients) < max(2, len(paths) // 10):
        return []
    names = [Path(p).name for p, g in zip(paths, groups, strict=True) if g in patients]
    return names[:shown]


def load_external_for(
    cfg: RunConfig, images: ImageSet, sizes: Iterable[int], *, quiet: bool = False
) -> ExternalImages | None:
    """The run's external sets (``cfg.external``; with ``--demo`` and none given, the demo's
    own), decoded at ``sizes`` and checked for copies among ``images`` (whose grey working
    copies must still be there); None without."""
    roots = cfg.external or ((str(demo_external_dataset()),) if cfg.demo else ())
    if not roots:
        return None
    joined, loaded, names = load_external(
        roots,
        classes=images.class_names,
        sizes=sorted(set(sizes)),
        mapping=cfg.external_map,
        group_pattern=cfg.group_pattern,
        skip_bad_images=cfg.skip_bad_images,
    )
    sources = describe_sources(loaded, names, roots)
    return check_contamination(images, joined, sources, quiet=quiet)


def join_external_rows(images: ImageSet, external: ExternalImages) -> None:
    """Append the external images to ``images``' decoded arrays, after its own rows: the
    rows beyond the image set are what every unit predicts besides its split (see
    ``training.executors.training_arguments``). The external arrays are then freed."""
    for size in list(images.arrays):
        images.arrays[size] = np.concatenate([images.arrays[size], external.arrays.pop(size)])
    external.arrays.clear()
    external.thumbnails = np.empty((0, *external.thumbnails.shape[1:]), dtype=np.uint8)


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
    traits = image_traits(images.root, images.paths, images.original_sizes, images.thumbnails)
    found["shortcuts"] = shortcut_audit(traits, images.labels, images.groups, images.class_names)
    note = inner_part_note(images, plan, cfg.inner_fraction)
    found["plan_notes"] = [note] if note else []
    return plan, found
