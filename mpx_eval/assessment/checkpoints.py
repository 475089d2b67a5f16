"""The checkpoint rule's side of a run: a rule that pools the folds (one epoch for all folds
of a model, from their mean inner curve) can only choose once every fold is trained, so its
predictions are taken here from each unit's every-epoch probabilities; and the flags that
say when a choice rests on too little (a small inner part, an early epoch, a flat curve)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import MpxEvalError
from ..rundir.kept import read_epochs
from ..rundir.units import Units, is_diverged
from ..summary.checkpoints import chosen_epochs, rule

#: Below this many inner-validation images, one image moves the inner accuracy by more than
#: 3 points: the chosen epoch is mostly noise.
SMALL_INNER_PART = 30
#: A chosen epoch in this first share of training is flagged as early.
EARLY_SHARE = 0.1
#: A curve is flat when at least this share of its epochs is within one inner image (accuracy)
#: or 1 % (loss) of its best value.
FLAT_SHARE = 0.5


def pooled_epochs(
    history: pd.DataFrame, units: Units, rule_name: str, folds_per_repeat: int | None
) -> dict[str, int]:
    """Unit name -> the epoch a rule pooling the folds keeps for each finished cv unit (per
    model and repeat, from the inner-validation curves only); empty for a per-fold rule,
    whose epoch training recorded itself (unit.json's ``best_epoch``)."""
    if not rule(rule_name).pooled:
        return {}
    out: dict[str, int] = {}
    cv = history.loc[history["scheme"] == "cv"]
    for model, h in cv.groupby("model"):
        epochs = chosen_epochs(h, rule_name, folds_per_repeat)
        for name in units.in_folder_order():
            info = units[name]
            if info["model"] != model or info["scheme"] != "cv" or is_diverged(info):
                continue
            epoch = epochs.get(int(info["fold"]))
            if epoch is not None:
                out[name] = epoch
    return out


def pooled_rule_predictions(
    history: pd.DataFrame,
    predictions: pd.DataFrame,
    units: Units,
    *,
    rule_name: str,
    folds_per_repeat: int | None,
    classes: list[str],
) -> pd.DataFrame:
    """``predictions`` with every cv unit's "best" probabilities taken at the epoch the
    pooled rule ``rule_name`` chooses for its model (per repeat, :func:`pooled_epochs`);
    unchanged for a per-fold rule, which training applied itself."""
    if not rule(rule_name).pooled or predictions.empty:
        return predictions
    out = predictions.copy()
    columns = [f"prob_{c}" for c in classes]
    for name, epoch in pooled_epochs(history, units, rule_name, folds_per_repeat).items():
        info = units[name]
        rows = (
            (out["model"] == info["model"])
            & (out["scheme"] == "cv")
            & (out["fold"] == int(info["fold"]))
            & (out["checkpoint"] == "best")
        )
        out.loc[rows, columns] = _probabilities(units, name, epoch, out.loc[rows, "path"])
    return out


def _probabilities(units: Units, name: str, epoch: int, paths: pd.Series) -> np.ndarray:
    folder = units.folder(name)
    kept = read_epochs(folder)
    if kept is None:
        raise MpxEvalError(
            f"unit {name} kept no probabilities per epoch (trained by an earlier version), "
            "which a rule pooling the folds needs: choose a per-fold --checkpoint rule, or "
            "train the run again with --overwrite"
        )
    n_val = int(kept["n_val"])
    test_paths = kept["paths"][n_val:]
    if epoch > kept["probabilities"].shape[0] or list(test_paths) != list(paths):
        raise MpxEvalError(
            f"{folder} has per-epoch probabilities that do not match its predictions; "
            "it may be damaged: move that folder aside and run again with the same options "
            "to train it again"
        )
    probs = kept["probabilities"][epoch - 1, n_val:].astype(np.float64)
    return probs / probs.sum(axis=1, keepdims=True)  # float32 on disk: sums to 1 again


def checkpoint_flags(
    history: pd.DataFrame, units: Units, model: str, rule_name: str, epochs: dict[int, int]
) -> list[str]:
    """Plain-language flags on a model's chosen cv epochs (``epochs``: fold -> epoch): an
    inner part under ``SMALL_INNER_PART`` images, epochs chosen in the first tenth of the
    run, inner curves flat across half the epochs or more."""
    infos = [
        info
        for info in units.values()
        if info["model"] == model and info["scheme"] == "cv" and not is_diverged(info)
    ]
    if not infos or not epochs:
        return []
    flags = []
    small = small_inner_part([int(info["n_val"]) for info in infos])
    if small:
        flags.append(f"{small}, so the choice is noisy")
    total = int(max(int(info["epochs"]) for info in infos))
    early = {f: e for f, e in sorted(epochs.items()) if e <= max(1, int(EARLY_SHARE * total))}
    if early and rule_name != "last":
        flags.append(
            f"{_folds(early)} kept an epoch in the first tenth of training "
            f"({', '.join(map(str, early.values()))} of {total}): the model had barely trained"
        )
    flat = _flat_folds(history, model, rule(rule_name).column or "val_accuracy", infos)
    if flat:
        flags.append(
            f"the inner curve of {_folds(flat)} is flat (half the epochs or more within "
            "one image, or 1 % of the loss, of the best): the chosen epoch is close to arbitrary"
        )
    return flags


def small_inner_part(sizes: list[int]) -> str | None:
    """What to say when the inner validation parts (``sizes``, one per cv fold) are under
    ``SMALL_INNER_PART`` images; None when they are not."""
    if not sizes or min(sizes) >= SMALL_INNER_PART:
        return None
    low, high = min(sizes), max(sizes)
    held = f"{low}" if low == high else f"{low}–{high}"
    return (
        f"the inner validation part that chooses each fold's epoch holds only {held} images: "
        f"one image moves its accuracy by {100 / low:.0f} points"
    )


def _folds(folds) -> str:
    folds = sorted(folds)
    return f"fold {folds[0]}" if len(folds) == 1 else f"folds {', '.join(map(str, folds))}"


def _flat_folds(history: pd.DataFrame, model: str, column: str, infos: list[dict]) -> list[int]:
    n_val = {int(info["fold"]): int(info["n_val"]) for info in infos}
    cv = history.loc[(history["model"] == model) & (history["scheme"] == "cv")]
    flat = []
    for fold, rows in cv.groupby("fold"):
        values = rows[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.shape[0] < 5 or int(fold) not in n_val:
            continue
        if column == "val_loss":
            near = values <= values.min() * 1.01
        else:
            near = values >= values.max() - 1.0 / max(n_val[int(fold)], 1) + 1e-12
        if near.mean() >= FLAT_SHARE:
            flat.append(int(fold))
    return flat
