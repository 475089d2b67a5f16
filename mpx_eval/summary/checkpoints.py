"""Checkpoint rules: which epoch of a unit is kept, read from its inner-validation curve only.

Every rule here is honest in cross-validation: it reads the inner validation part (held out
of the training fold), never the test fold. A per-fold rule decides each fold on its own
curve; a pooled rule takes one epoch for all folds of a model (per repeat) from the mean
of their inner curves, which averages away the noise of a small inner part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckpointRule:
    """How one rule reads the inner-validation curve."""

    name: str
    column: str | None  # history column it reads (None: no curve, the last epoch)
    lower_is_better: bool
    latest_tie: bool  # among equal values, the later epoch
    pooled: bool  # one epoch for all folds, from the mean curve
    description: str

    @property
    def during_training(self) -> str:
        """The per-fold rule that picks the checkpoint a unit keeps while training (its saved
        model and Grad-CAM): the rule itself, or for a pooled rule, which can only choose
        once every fold is trained, its per-fold form."""
        return self.name.removeprefix("mean-") if self.pooled else self.name


RULES: dict[str, CheckpointRule] = {
    rule.name: rule
    for rule in (
        CheckpointRule(
            "val-loss", "val_loss", True, False, False,
            "per fold, the epoch of the lowest inner-validation loss",
        ),
        CheckpointRule(
            "val-accuracy", "val_accuracy", False, False, False,
            "per fold, the first epoch of the highest inner-validation accuracy",
        ),
        CheckpointRule(
            "val-accuracy-latest", "val_accuracy", False, True, False,
            "per fold, the last epoch of the highest inner-validation accuracy",
        ),
        CheckpointRule(
            "mean-val-loss", "val_loss", True, False, True,
            "one epoch for all folds: the lowest mean inner-validation loss",
        ),
        CheckpointRule(
            "mean-val-accuracy", "val_accuracy", False, False, True,
            "one epoch for all folds: the first highest mean inner-validation accuracy",
        ),
        CheckpointRule("last", None, False, True, False, "the last epoch trained, in every fold"),
    )
}  # fmt: skip

#: The rule a run uses unless told otherwise (docs/checkpoints.md: how it was chosen).
DEFAULT_RULE = "val-accuracy-latest"
#: Not a rule: each test fold's own best epoch, an optimistic figure no honest protocol reaches.
BEST_ON_TEST = "best-on-test"

#: The rule of the blog's seed split: the best validation accuracy, the earlier epoch on ties.
SEED_SPLIT_RULE = "val-accuracy"


def rule(name: str) -> CheckpointRule:
    """The rule called ``name``; ValueError naming the choices otherwise."""
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(
            f"checkpoint rule must be one of {', '.join(RULES)}, got {name!r}"
        ) from None


def choose_epoch(values, rule_name: str) -> int | None:
    """The epoch (1-based) ``rule_name`` keeps from one inner-validation curve ``values``
    (one value per epoch; NaN for an epoch it cannot judge), or None when no value is
    finite. A pooled rule applied to one curve reads it as its own mean curve.

    >>> choose_epoch([0.5, 0.75, 0.75, 0.5], "val-accuracy")
    2
    >>> choose_epoch([0.5, 0.75, 0.75, 0.5], "val-accuracy-latest")
    3
    >>> choose_epoch([0.69, 0.52, 0.55], "val-loss")
    2
    """
    chosen = rule(rule_name)
    values = np.asarray(values, dtype=float)
    if values.shape[0] == 0:
        return None
    if chosen.column is None:
        return int(values.shape[0])
    finite = np.isfinite(values)
    if not finite.any():
        return None
    score = np.where(finite, -values if chosen.lower_is_better else values, -np.inf)
    best = np.flatnonzero(score == score.max())
    return int((best[-1] if chosen.latest_tie else best[0]) + 1)


def is_better(rule_name: str, value: float, best: float | None) -> bool:
    """Whether an epoch whose inner value is ``value`` replaces the best so far (``best``,
    None before the first epoch) under a per-fold rule, as training decides it epoch by
    epoch; the same choice as :func:`choose_epoch` on the whole curve."""
    chosen = rule(rule_name)
    if chosen.pooled:
        raise ValueError(f"rule {rule_name!r} pools the folds; it cannot decide during training")
    if best is None or chosen.column is None:
        return True
    if not np.isfinite(value):
        return False
    if not np.isfinite(best):
        return True
    if chosen.lower_is_better:
        value, best = -value, -best
    return value >= best if chosen.latest_tie else value > best


def chosen_epochs(history, rule_name: str, folds_per_repeat: int | None = None) -> dict[int, int]:
    """Fold -> epoch that ``rule_name`` keeps, from one model's cv ``history`` (columns
    ``fold``, ``epoch`` and the rule's column). ``folds_per_repeat`` (k of repeated cv)
    groups the folds of one repeat for a pooled rule (default: all folds together). Folds
    without a judgeable curve are left out."""
    import pandas as pd  # here, so that the config can name the rules without pandas

    chosen = rule(rule_name)
    history = history.sort_values(["fold", "epoch"])
    curves = {
        int(fold): pd.Series(
            rows[chosen.column].to_numpy(float) if chosen.column else np.zeros(rows.shape[0]),
            index=rows["epoch"].to_numpy(int),
        )
        for fold, rows in history.groupby("fold")
    }
    if not chosen.pooled:
        out = {}
        for fold, curve in curves.items():
            epoch = choose_epoch(curve.to_numpy(), rule_name)
            if epoch is not None:
                out[fold] = int(curve.index[epoch - 1])
        return out
    by_repeat: dict[int, list[int]] = {}
    for fold in curves:
        repeat = (fold - 1) // folds_per_repeat if folds_per_repeat else 0
        by_repeat.setdefault(repeat, []).append(fold)
    out = {}
    for folds in by_repeat.values():
        # epochs every fold of the repeat reached (a diverged fold stops early)
        mean = pd.concat([curves[f] for f in folds], axis=1, join="inner").mean(axis=1)
        epoch = choose_epoch(mean.to_numpy(), rule_name)
        if epoch is not None:
            out.update({f: int(mean.index[epoch - 1]) for f in folds})
    return out
