"""External data sets (``run --external DIR``): decoded like the training images, their
classes mapped onto the run's, and checked for contamination: an external image with a copy
(an image family member, found across both sets) among the training images would grade a
model partly on a photo it trained on.

Nothing here trains; the run predicts these images with every unit and the assessment
reads them (:mod:`mpx_eval.assessment.external`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import external_mapping
from ..errors import MpxEvalError
from .families import Families, find_families
from .grouping import DetectionProgress, split_groups
from .images import ImageSet, group_ids, load_image_set, require_utf8

#: External images listed one by one in the terminal (external.json has them all).
SHOWN = 10


@dataclass
class ExternalImages:
    """Every external image, in the order of the sets given and of each set's scan.

    ``paths`` are ``<set name>/<class folder>/<file>``; ``labels`` index the *run's*
    classes (after ``--external-map``); ``groups`` are the clusters its intervals resample:
    copies of one photo (families within the external images) joined with patient groups.
    """

    sources: list[dict]
    class_names: list[str]
    paths: list[str]
    labels: np.ndarray
    groups: np.ndarray
    sha256: list[str]
    arrays: dict[int, np.ndarray]
    thumbnails: np.ndarray
    copies: dict[int, list[dict]] = field(default_factory=dict)  # row -> training copies
    conflicts: list[dict] = field(default_factory=list)  # copies labelled differently
    detection_notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def contaminated(self) -> np.ndarray:
        """(m,) bool: the rows with a copy among the training images."""
        return np.array([i in self.copies for i in range(len(self))], dtype=bool)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over every external image's path, content hash and (mapped) label: what
        the units predicted, so a resumed run must see the same."""
        digest = hashlib.sha256()
        for path, file_hash, label in zip(self.paths, self.sha256, self.labels, strict=True):
            line = f"{path}\0{file_hash}\0{self.class_names[label]}\n"
            digest.update(line.encode("utf-8"))
        return digest.hexdigest()

    def describe(self) -> dict:
        """external.json: the sets, every image with its cluster and contamination, the
        label conflicts across the sets."""
        label_of = [self.class_names[k] for k in self.labels.tolist()]
        return {
            "fingerprint": self.fingerprint,
            "sources": self.sources,
            "n_images": len(self),
            "n_contaminated": len(self.copies),
            "images": [
                {
                    "path": path,
                    "source": path.split("/", 1)[0],
                    "label": label_of[i],
                    "group": str(self.groups[i]),
                    "contaminated": i in self.copies,
                    "copies_in_training": self.copies.get(i, []),
                }
                for i, path in enumerate(self.paths)
            ],
            "label_conflicts": self.conflicts,
            "detection_notes": self.detection_notes,
        }


def _set_names(roots: Sequence[Path]) -> list[str]:
    """A short, unique name per external set: its folder's name (``name-2`` on a clash)."""
    names: list[str] = []
    for root in roots:
        base = root.resolve().name or "external"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def _mapped_labels(loaded: ImageSet, root: Path, classes: list[str], mapping: dict) -> np.ndarray:
    """The run's class index of every image of one external set; a folder that is no
    training class (and not mapped onto one), or a class with no images, is an error."""
    targets = [mapping.get(name, name) for name in loaded.class_names]
    for folder, target in zip(loaded.class_names, targets, strict=True):
        if target not in classes:
            via = f" (mapped by --external-map {folder}={target})" if folder in mapping else ""
            raise MpxEvalError(
                f"external set {root}: class folder {folder!r}{via} is not a training class "
                f"({', '.join(classes)}); map it with --external-map {folder}=CLASS"
            )
    missing = [c for c in classes if c not in targets]
    if missing:
        raise MpxEvalError(
            f"external set {root} has no {' or '.join(missing)} images (its folders: "
            f"{', '.join(loaded.class_names)}); an external set needs every training class: "
            "add the folder, or map one onto it with --external-map FOLDER=CLASS"
        )
    index = np.array([classes.index(t) for t in targets], dtype=np.int64)
    return index[loaded.labels]


def _patient_groups(paths: list[str], pattern: str | None, name: str) -> np.ndarray:
    """Patient groups of one external set, named within it (ids of two sets never meet);
    a pattern that fits none of its file names leaves every image its own group."""
    try:
        groups = group_ids(paths, pattern)
    except MpxEvalError:
        groups = np.array(list(paths), dtype=object)
    return np.array([f"{name}/{g}" for g in groups.tolist()], dtype=object)


def require_folders(roots: Sequence[str]) -> list[Path]:
    """The external data folders, each checked to be one (before anything is decoded)."""
    folders = [Path(r) for r in roots]
    for root in folders:
        require_utf8(str(root), root, "external data folder")
        if not root.is_dir():
            raise MpxEvalError(
                f"external data folder {root} does not exist or is not a folder: give "
                "--external DIR with one sub-folder of images per class"
            )
    return folders


def load_external(
    roots: Sequence[str],
    *,
    classes: list[str],
    sizes: Sequence[int],
    mapping: Sequence[str] = (),
    group_pattern: str | None = None,
    skip_bad_images: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ImageSet, list[ImageSet], list[str]]:
    """Decode every external set (as the training images, with grey working copies for
    family detection) and return them joined as one ImageSet whose labels are the run's
    classes, the sets as loaded, and their names."""
    folders = require_folders(roots)
    maps = external_mapping(tuple(mapping))
    names = _set_names(folders)
    loaded, parts = [], []
    for root, name in zip(folders, names, strict=True):
        one = load_image_set(root, sizes=sizes, skip_bad_images=skip_bad_images, progress=progress)
        labels = _mapped_labels(one, root, classes, maps)
        groups = _patient_groups(one.paths, group_pattern, name)
        loaded.append(one)
        parts.append((name, one, labels, groups))
    joined = _concatenated(
        loaded,
        paths=[f"{name}/{p}" for name, one, _, _ in parts for p in one.paths],
        labels=np.concatenate([labels for _, _, labels, _ in parts]),
        groups=np.concatenate([groups for _, _, _, groups in parts]),
        class_names=list(classes),
        sizes=sizes,
    )
    joined.skipped = [(f"{name}/{p}", why) for name, one, _, _ in parts for p, why in one.skipped]
    return joined, loaded, names


def _concatenated(
    sets: Sequence[ImageSet],
    *,
    paths: list[str],
    labels: np.ndarray,
    groups: np.ndarray,
    class_names: list[str],
    sizes: Sequence[int] = (),
) -> ImageSet:
    """``sets`` as one ImageSet, rows in order (the first set's root), under the given
    paths, labels (indices into ``class_names``) and groups; decoded arrays only at
    ``sizes``."""
    return ImageSet(
        root=sets[0].root,
        class_names=list(class_names),
        paths=paths,
        labels=labels,
        groups=groups,
        scan_index=np.arange(len(paths)),
        n_scanned=len(paths),
        original_sizes=[size for one in sets for size in one.original_sizes],
        sha256=[digest for one in sets for digest in one.sha256],
        phash=np.concatenate([one.phash for one in sets]),
        hash_texture=np.concatenate([one.hash_texture for one in sets]),
        arrays={size: np.concatenate([one.arrays[size] for one in sets]) for size in sizes},
        thumbnails=np.concatenate([one.thumbnails for one in sets]),
        family_view=np.concatenate([one.family_view for one in sets]),
    )


def check_contamination(
    training: ImageSet,
    external: ImageSet,
    sources: list[dict],
    *,
    quiet: bool = False,
) -> ExternalImages:
    """Find families across the training and external images; an external image in a
    family with a training image is contaminated (every training image trains some unit).

    Needs both sets' grey working copies (``family_view``): call before the training set's
    own detection frees them. The external clusters are the families within the external
    images joined with their patient groups.
    """
    if training.family_view is None or external.family_view is None:
        raise ValueError("check_contamination needs both sets' family_view")
    both = _concatenated(
        [training, external],
        paths=[f"training/{p}" for p in training.paths] + list(external.paths),
        labels=np.concatenate([training.labels, external.labels]),
        groups=np.concatenate([training.groups, external.groups]),
        class_names=training.class_names,
    )
    label = f"Checking {len(external)} external images for copies among {len(training)}"
    progress = None if quiet else DetectionProgress(len(both), label=label)
    families = find_families(both, progress=progress)
    n = len(training)
    ext_family = families.family[n:]
    copies, conflicts = _copies(training, external, families, n)
    external.family_view = None
    return ExternalImages(
        sources=sources,
        class_names=list(external.class_names),
        paths=list(external.paths),
        labels=external.labels,
        groups=split_groups(external.groups, ext_family),
        sha256=list(external.sha256),
        arrays=external.arrays,
        thumbnails=external.thumbnails,
        copies=copies,
        conflicts=conflicts,
        detection_notes=list(families.notes),
    )


def _copies(
    training: ImageSet, external: ImageSet, families: Families, n: int
) -> tuple[dict[int, list[dict]], list[dict]]:
    """Per external row, the training images in its family (path, label, how linked);
    and the external images whose training copies carry another label."""
    classes = training.class_names
    by_family: dict[int, list[int]] = {}
    for row in range(n):
        by_family.setdefault(int(families.family[row]), []).append(row)
    copies: dict[int, list[dict]] = {}
    conflicts: list[dict] = []
    for j in range(len(external)):
        rows = by_family.get(int(families.family[n + j]), [])
        if not rows:
            continue
        copies[j] = [
            {"path": training.paths[r], "label": classes[training.labels[r]]} for r in rows
        ]
        other = sorted({c["label"] for c in copies[j]} - {classes[external.labels[j]]})
        if other:
            conflicts.append(
                {
                    "path": external.paths[j],
                    "external_label": classes[external.labels[j]],
                    "training_labels": other,
                    "copies_in_training": copies[j],
                }
            )
    return copies, conflicts


def describe_sources(loaded: list[ImageSet], names: list[str], roots: Sequence[str]) -> list[dict]:
    """One entry per external set: its name, folder, classes and counts, skipped files."""
    return [
        {
            "name": name,
            "root": str(root),
            "folders": list(one.class_names),
            "counts": one.counts,
            "n_images": len(one),
            "skipped": [{"path": p, "reason": r} for p, r in one.skipped],
        }
        for one, name, root in zip(loaded, names, roots, strict=True)
    ]


def external_lines(ext: ExternalImages, *, keep_contaminated: bool) -> list[str]:
    """What the terminal says about the external sets before training."""
    counts = {c: int((ext.labels == k).sum()) for k, c in enumerate(ext.class_names)}
    sets = ", ".join(s["name"] for s in ext.sources)
    lines = [
        f"External validation: {len(ext)} images from {sets} "
        f"({', '.join(f'{c} {n}' for c, n in counts.items())}), "
        f"{len(set(ext.groups.tolist()))} clusters"
    ]
    n_bad = len(ext.copies)
    if n_bad:
        fate = "kept in (--keep-contaminated)" if keep_contaminated else "left out of"
        lines.append(
            f"  ! {n_bad} of {len(ext)} external images have a copy among the training images; "
            f"{fate} the external figures and listed in external.json"
        )
        for i in sorted(ext.copies)[:SHOWN]:
            first = ext.copies[i][0]["path"]
            more = len(ext.copies[i]) - 1
            lines.append(f"    {ext.paths[i]} ~ {first}" + (f" (+{more})" if more else ""))
        if n_bad > SHOWN:
            lines.append(f"    ... and {n_bad - SHOWN} more")
    else:
        lines.append("  no external image has a copy among the training images")
    for c in ext.conflicts[:SHOWN]:
        lines.append(
            f"  ! label conflict across sets: {c['path']} ({c['external_label']}) is a copy of "
            f"training images labelled {' and '.join(c['training_labels'])}"
        )
    return lines
