"""Checks a run makes before it trains: one folder per unit, every class in every training
part, and finished units whose files are intact. No Keras import here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..data.images import ImageSet
from ..data.splits import Split
from ..errors import MpxEvalError
from ..rundir.folder import folder_stem


def check_unit_folders(models: Iterable[str]) -> None:
    """Two models whose unit folders would be one (``um_a:b_c`` and ``um_a_b:c``) would
    overwrite each other's units on every run; compared ignoring case, as some file systems
    do."""
    seen: dict[str, str] = {}
    for name in models:
        stem = folder_stem(name).lower()
        if stem in seen:
            raise MpxEvalError(
                f"models {seen[stem]!r} and {name!r} would share the unit folders "
                f"units/{folder_stem(name)}-*; give one of the builders another name"
            )
        seen[stem] = name


def check_training_classes(images: ImageSet, plan: list[Split]) -> None:
    """Every split's training part holds every class: a model that never saw a class
    cannot be evaluated on it."""
    for split in plan:
        present = set(np.unique(images.labels[split.train]).tolist())
        for label, name in enumerate(images.class_names):
            if label not in present:
                n = int(np.sum(images.labels == label))
                raise MpxEvalError(
                    f"class {name!r} ({n} image(s)) has no image in the training part of "
                    f"split {split.name}; add images of {name!r}"
                )


def damaged_units(
    out: Path, done: dict[str, dict], classes: list[str]
) -> dict[str, tuple[str, str]]:
    """The finished units whose files do not pass the report's checks, as
    ``{unit: (folder name, what is wrong)}``; ``run`` moves them aside and trains them again."""
    from ..report._artefacts import _check_unit

    found = {}
    for name, info in done.items():
        try:
            _check_unit(out, info, classes)
        except MpxEvalError as exc:
            found[name] = (str(info["dirname"]), str(exc))
    return found
