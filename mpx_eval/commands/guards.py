"""Checks a run makes before it trains: one folder per unit, every class in every training
part, finished units whose files are intact and whose settings, data and precision are this
run's. No Keras import here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..config import BUILTIN_MODELS, LATER_DEFAULTS, RESULT_FIELDS, RunConfig, read_recorded
from ..data.images import ImageSet
from ..data.splits import Split
from ..errors import MpxEvalError
from ..rundir.layout import RunPaths, folder_stem
from ..rundir.units import Units, unit_is_damaged


def lesson_cnn_params(size: int, num_classes: int) -> int:
    """Parameters of the blog's CNN (T3 and T4 alike) at ``size`` px, computed without
    building it: three valid 3x3 convolutions of 16, 32 and 64 filters with 2x2 average
    pooling after the first two, then Dense(128) and the classes."""
    side = ((size - 2) // 2 - 2) // 2 - 2
    flat = 64 * max(side, 0) ** 2
    convs = (3 * 9 + 1) * 16 + (16 * 9 + 1) * 32 + (32 * 9 + 1) * 64
    return convs + (flat + 1) * 128 + (128 + 1) * num_classes


#: Bytes a parameter takes while it trains: the weight, its gradient and Adam's two moments.
TRAINING_BYTES_PER_PARAM = 16


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return None


def check_builtin_sizes(sizes: dict[str, int], num_classes: int = 2) -> None:
    """Refuse, before any image is decoded, a built-in model at a size it cannot take: under
    18 px its last convolution has nothing left to see, and its weights with Adam's state
    must fit this machine's memory (T4 at 2048 px has 2.1 billion parameters)."""
    memory = _memory_bytes()
    for name, size in sizes.items():
        if name not in BUILTIN_MODELS:
            continue
        if size < 18:
            raise MpxEvalError(f"{name} needs inputs of at least 18 px, got --image-size {size}")
        params = lesson_cnn_params(size, num_classes)
        need = params * TRAINING_BYTES_PER_PARAM
        if memory is not None and need > memory:
            raise MpxEvalError(
                f"{name} at {size} px has {params / 1e9:.1f} billion parameters: training "
                f"needs about {need / 1e9:.0f} GB for its weights and optimiser state, more "
                f"than this machine's {memory / 1e9:.0f} GB; choose a smaller --image-size"
            )


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


def damaged_units(units: Units, classes: list[str]) -> dict[str, tuple[str, str]]:
    """The finished units whose files do not pass the run folder's checks, as
    ``{unit: (folder name, what is wrong)}``; ``run`` moves them aside and trains them again."""
    found = {}
    for name, info in units.items():
        reason = unit_is_damaged(units, name, classes)
        if reason is not None:
            found[name] = (str(info["dirname"]), reason)
    return found


def refuse_mismatch(cfg: RunConfig, out: Path, done: dict[str, dict]) -> None:
    """Finished units of a run whose recorded settings differ from ``cfg`` stay theirs."""
    if not done or not RunPaths(out).config.is_file():
        return
    try:
        previous = read_recorded(RunPaths(out).config)
    except MpxEvalError:  # an unreadable old config: the unit markers still protect results
        return

    def value(recorded: RunConfig, key: str, unrecorded=frozenset()):
        if key in unrecorded:
            return LATER_DEFAULTS.get(key)
        found = getattr(recorded, key)
        return list(found) if isinstance(found, tuple) else found

    changed = [
        f"{key} {value(previous.config, key, previous.unrecorded)!r} -> {value(cfg, key)!r}"
        for key in RESULT_FIELDS
        if value(previous.config, key, previous.unrecorded) != value(cfg, key)
    ]
    if changed:
        raise MpxEvalError(
            f"{out} holds {len(done)} finished unit(s) of a run with other settings "
            f"({'; '.join(changed)}); use a new --out, or --overwrite to discard them"
        )


def refuse_stale(out: Path, done: dict, identity: str) -> None:
    """Finished units of other data or settings cannot be mixed into this run."""
    stale = [n for n, info in done.items() if info.get("identity") != identity]
    if stale:
        raise MpxEvalError(
            f"{out} holds finished unit(s) ({', '.join(stale[:3])}) trained on other data or "
            "settings; use a new --out, or --overwrite to discard them"
        )


def refuse_other_precision(cfg: RunConfig, out: Path, done: dict, policy: str) -> None:
    """Locally trained units of another precision cannot be mixed into this run."""
    used = {info.get("precision_policy") for info in done.values()} - {None}
    if used and used != {policy} and cfg.executor == "local":
        raise MpxEvalError(
            f"{out} holds units trained in {', '.join(sorted(used))}, but --precision "
            f"{cfg.precision} means {policy} on this machine; pass --precision explicitly, "
            "use a new --out, or --overwrite"
        )
