"""What a clinician reads off a two-class model: rates and likelihood ratios at the decision
rule, the sensitivity at a fixed specificity and the reverse, the decision curve, and an
operating point at a stated target whose threshold each fold chose on its inner validation
part (at the epoch its checkpoint rule kept), applied to its test fold; beside it the same
target chosen on the test images themselves, which is optimistic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import (
    decision_curve,
    proportion_intervals,
    rates_at_threshold,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    threshold_for_target,
)
from ..rundir.kept import read_epochs
from ..rundir.units import Units, is_diverged

#: The decision rule of every figure and table: the positive class when its probability is
#: at least this (the more probable class of two).
RULE_THRESHOLD = 0.5
#: The fixed rates the standard read-outs are taken at.
FIXED_RATE = 0.9


def estimate_entry(interval, successes: int | None = None, n: int | None = None) -> dict:
    finite = np.isfinite(interval.low) and np.isfinite(interval.high)
    return {
        "estimate": float(interval.estimate),
        "estimator": "pooled",
        "low": float(interval.low) if finite else None,
        "high": float(interval.high) if finite else None,
        "method": interval.method if finite else None,
        "n": int(n if n is not None else 0),
        "successes": successes,
    }


def _readout(found, fixed: float) -> dict:
    return {
        "fixed": fixed,
        "value": float(found.value),
        "low": float(found.low) if np.isfinite(found.low) else None,
        "high": float(found.high) if np.isfinite(found.high) else None,
        "threshold": float(found.threshold),
        "method": found.method,
    }


def clinical_readout(
    rows: pd.DataFrame,
    positive: str,
    *,
    target: tuple[str, float] | None,
    thresholds: dict[int, dict] | None,
    confidence_level: float = 0.95,
) -> dict:
    """A model's read-out from its pooled cv rows (``rows``: the "best" predictions, with
    ``prob_<positive>``), and, for ``target`` (("sensitivity" | "specificity", value)), the
    per-fold thresholds chosen on the inner parts (``thresholds``: fold -> record)."""
    y = rows["label"].to_numpy(dtype=object)
    score = rows[f"prob_{positive}"].to_numpy(dtype=float)
    groups = rows["group"].to_numpy(dtype=object)
    options = {"positive_class": positive, "groups": groups}
    at_rule = rates_at_threshold(
        y, score, threshold=RULE_THRESHOLD, confidence_level=confidence_level, **options
    )
    curve = decision_curve(y, score, positive_class=positive)
    out = {
        "rule_threshold": RULE_THRESHOLD,
        "lr_positive": estimate_entry(at_rule.lr_positive),
        "lr_negative": estimate_entry(at_rule.lr_negative),
        "sensitivity_at_specificity": _readout(
            sensitivity_at_specificity(y, score, specificity=FIXED_RATE, **options), FIXED_RATE
        ),
        "specificity_at_sensitivity": _readout(
            specificity_at_sensitivity(y, score, sensitivity=FIXED_RATE, **options), FIXED_RATE
        ),
        "decision_curve": {
            "thresholds": [float(t) for t in curve.thresholds],
            "model": [float(v) for v in curve.model],
            "treat_all": [float(v) for v in curve.treat_all],
        },
        "target": None,
    }
    if target is not None and thresholds is not None:
        out["target"] = _target(rows, y, score, positive, target, thresholds, confidence_level)
    return out


def _target(rows, y, score, positive, target, thresholds, confidence_level) -> dict:
    kind, value = target
    folds = rows["fold"].to_numpy(dtype=int)
    chosen = {f: r["threshold"] for f, r in thresholds.items() if r["threshold"] is not None}
    usable = np.isin(folds, list(chosen))
    called = np.array(
        [s >= chosen[f] if f in chosen else False for s, f in zip(score, folds, strict=True)]
    )
    result = {
        "kind": kind,
        "value": value,
        "folds": [thresholds[f] for f in sorted(thresholds)],
        "honest": None,
        "optimistic": None,
    }
    if usable.any():
        is_pos, said = (y == positive)[usable], called[usable]
        found = proportion_intervals(
            is_pos.astype(int), said.astype(int), labels=[0, 1], positive_class=1,
            groups=rows["group"].to_numpy(dtype=object)[usable],
            confidence_level=confidence_level,
        )  # fmt: skip
        result["honest"] = {
            "n_images": int(usable.sum()),
            "sensitivity": estimate_entry(
                found["sensitivity"], int((is_pos & said).sum()), int(is_pos.sum())
            ),
            "specificity": estimate_entry(
                found["specificity"], int((~is_pos & ~said).sum()), int((~is_pos).sum())
            ),
        }
    point = threshold_for_target(y, score, positive_class=positive, **{f"target_{kind}": value})
    result["optimistic"] = {
        "threshold": float(point.threshold),
        "sensitivity": float(point.sensitivity),
        "specificity": float(point.specificity),
    }
    return result


def inner_thresholds(
    units: Units,
    model: str,
    epochs: dict[int, int],
    labels: dict[str, str],
    classes: list[str],
    positive: str,
    target: tuple[str, float],
) -> dict[int, dict]:
    """Per cv fold of ``model``: the threshold reaching ``target`` on its inner validation
    part, read from the probabilities of the epoch its rule kept (``epochs``: fold ->
    epoch); ``labels`` maps an image path to its class, ``classes`` orders the columns.
    No test image is read here."""
    kind, value = target
    out: dict[int, dict] = {}
    for name in units.in_folder_order():
        info = units[name]
        if info["model"] != model or info["scheme"] != "cv" or is_diverged(info):
            continue
        fold = int(info["fold"])
        record = {"fold": fold, "threshold": None, "n_inner": int(info["n_val"]), "reason": None}
        out[fold] = record
        kept = read_epochs(units.folder(name))
        if kept is None or fold not in epochs:
            record["reason"] = "this unit kept no inner-validation probabilities"
            continue
        n_val = int(kept["n_val"])
        probs = kept["probabilities"][epochs[fold] - 1, :n_val]
        inner = [labels[str(p)] for p in kept["paths"][:n_val]]
        column = classes.index(positive)  # the probabilities' columns follow the classes
        truth = np.array(inner, dtype=object)
        if not ((truth == positive).any() and (truth != positive).any()):
            record["reason"] = "its inner validation part lacks one of the classes"
            continue
        point = threshold_for_target(
            truth, probs[:, column], positive_class=positive, **{f"target_{kind}": value}
        )
        record["threshold"] = float(point.threshold)
    return out
