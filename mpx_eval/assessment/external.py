"""External validation: every finished unit's predictions of the external images at the
epoch its checkpoint rule kept, and the figures read from them beside the internal ones.

Per model: the fold models pooled (each external image once per fold model, its copies of
one photo and its patient's photos one cluster), the mean of the fold models (an ensemble),
the seed split's model, every fold model alone, and the contaminated external images (those
with a copy among the training images) as a row of their own, left out of every other
figure unless the run keeps them. The gap is the internal cross-validated figure less the
fold models' external one, with an interval that combines the two (MOVER).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import MpxEvalError
from ..metrics import delong_auc_ci, predicted_labels, proportion_intervals
from ..rundir.units import Units, is_diverged
from .checkpoints import pooled_epochs
from .operating import RULE_THRESHOLD, estimate_entry

#: Columns of external_predictions.csv before its ``prob_<class>`` columns.
EXTERNAL_KEYS = (
    "model", "scheme", "fold", "checkpoint", "epoch", "source", "path", "label", "group",
    "contaminated",
)  # fmt: skip


def _unit_epochs(units: Units, history: pd.DataFrame, rule_name: str, repeat_k) -> dict:
    """Unit name -> the epoch its "best" rows are read at: the pooled rule's choice for cv
    units when the rule pools the folds, else the epoch recorded in unit.json."""
    epochs = {n: int(units[n]["best_epoch"] or 0) for n in units if not is_diverged(units[n])}
    return {**epochs, **pooled_epochs(history, units, rule_name, repeat_k)}


def external_table(
    units: Units,
    history: pd.DataFrame,
    external: dict,
    classes: list[str],
    *,
    rule_name: str,
    folds_per_repeat: int | None,
) -> pd.DataFrame:
    """external_predictions.csv: per finished unit and external image, the probabilities
    at its chosen ("best") and at its last epoch. Units without external probabilities
    (none were asked for) are skipped; ones that do not match external.json are named."""
    images = external["images"]
    paths = [image["path"] for image in images]
    epochs = _unit_epochs(units, history, rule_name, folds_per_repeat)
    blocks = []
    for name in units.in_folder_order():
        if name not in epochs:
            continue
        folder = units.folder(name)
        kept = units.external(name)
        if kept is None:
            continue
        probs = kept["probabilities"]
        if list(kept["paths"]) != paths:
            raise MpxEvalError(
                f"{folder} predicted other external images than the run's external.json "
                "lists; run again with the same --external to train it again"
            )
        info = units[name]
        last = probs.shape[0]
        chosen = min(max(epochs[name], 1), last)
        for checkpoint, epoch in (("best", chosen), ("last", last)):
            p = probs[epoch - 1].astype(np.float64)
            block = pd.DataFrame(
                {
                    "model": info["model"],
                    "scheme": info["scheme"],
                    "fold": int(info["fold"]),
                    "checkpoint": checkpoint,
                    "epoch": epoch,
                    "source": [image["source"] for image in images],
                    "path": paths,
                    "label": [image["label"] for image in images],
                    "group": [image["group"] for image in images],
                    "contaminated": [image["contaminated"] for image in images],
                }
            )
            p = p / p.sum(axis=1, keepdims=True)  # float32 on disk: sums to 1 again
            for c, cls in enumerate(classes):
                block[f"prob_{cls}"] = p[:, c]
            blocks.append(block)
    if not blocks:
        return pd.DataFrame(columns=[*EXTERNAL_KEYS, *(f"prob_{c}" for c in classes)])
    return pd.concat(blocks, ignore_index=True)


# --------------------------------------------------------------------------- figures


def figures(rows: pd.DataFrame, classes: list[str], positive: str | None, level: float) -> dict:
    """Accuracy, and with a positive class the ROC AUC, sensitivity and specificity (at
    the decision rule: the more probable class), each with its interval over the rows'
    clusters (``group``: an image predicted by several models is one cluster with its
    copies and its patient's photos)."""
    labels = rows["label"].to_numpy(dtype=object)
    probs = rows[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    said = predicted_labels(probs, labels=classes)
    groups = rows["group"].astype(str).to_numpy(dtype=object)
    out: dict = {
        "n_images": int(rows["path"].nunique()),
        "n_rows": int(rows.shape[0]),
        "n_clusters": len(set(groups.tolist())),
    }
    found = proportion_intervals(
        labels, said, labels=classes, positive_class=positive, groups=groups,
        confidence_level=level,
    )  # fmt: skip
    out["accuracy"] = estimate_entry(found["accuracy"], int((said == labels).sum()), len(labels))
    if positive is None:
        return out
    is_pos, called = labels == positive, said == positive
    out["sensitivity"] = estimate_entry(
        found["sensitivity"], int((is_pos & called).sum()), int(is_pos.sum())
    )
    out["specificity"] = estimate_entry(
        found["specificity"], int((~is_pos & ~called).sum()), int((~is_pos).sum())
    )
    out["roc_auc"] = _auc(labels, rows[f"prob_{positive}"].to_numpy(float), positive, groups, level)
    return out


def _auc(labels, score, positive: str, groups, level: float) -> dict:
    n = int(labels.shape[0])
    if len(set(labels.tolist())) < 2:
        return {
            "estimate": None, "estimator": "pooled", "low": None, "high": None, "method": None,
            "n": n, "no_interval": "the images hold one class only",
        }  # fmt: skip
    found = delong_auc_ci(labels, score, positive_class=positive, groups=groups,
                          confidence_level=level)  # fmt: skip
    bounded = math.isfinite(found.low) and math.isfinite(found.high)
    entry = {
        "estimate": float(found.auc),
        "estimator": "pooled",
        "low": float(found.low) if bounded else None,
        "high": float(found.high) if bounded else None,
        "method": "DeLong, clustered" if bounded else None,
        "n": n,
    }
    if not bounded and found.reason:
        entry["no_interval"] = f"no interval: {found.reason}"
    return entry


def mover_gap(internal: dict | None, external: dict | None) -> dict | None:
    """Internal less external, with the MOVER interval (Zou & Donner 2008; Newcombe's
    hybrid score interval for two proportions) built from each estimate's own interval:
    the two rest on different images, so their sampling errors are independent."""
    if not internal or not external:
        return None
    values = [internal.get(k) for k in ("estimate", "low", "high")]
    values += [external.get(k) for k in ("estimate", "low", "high")]
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    p1, l1, u1, p2, l2, u2 = values
    d = p1 - p2
    return {
        "internal": p1,
        "external": p2,
        "difference": d,
        "low": d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        "high": d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
        "method": "MOVER from the two intervals",
    }


def _ensemble(cv: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """The mean of the fold models' probabilities per external image (over every fold of
    every repeat)."""
    columns = [f"prob_{c}" for c in classes]
    keys = ["path", "source", "label", "group", "contaminated"]
    mean = cv.groupby(keys, sort=False)[columns].mean().reset_index()
    return mean


def model_external(
    table: pd.DataFrame,
    model: str,
    classes: list[str],
    positive: str | None,
    *,
    keep_contaminated: bool,
    internal: dict | None,
    level: float = 0.95,
) -> dict:
    """One model's external figures (see the module docstring); ``internal``: its
    headline (pooled cv figures with intervals) for the gap."""
    best = table.loc[(table["model"] == model) & (table["checkpoint"] == "best")]
    tainted = best["contaminated"].astype(bool)
    counted = best if keep_contaminated else best.loc[~tainted]
    cv, seed = counted.loc[counted["scheme"] == "cv"], counted.loc[counted["scheme"] == "seed"]
    out: dict = {"fold_models": None, "ensemble": None, "seed_split": None,
                 "contaminated": None, "folds": [], "gap": {}}  # fmt: skip
    if not cv.empty:
        out["fold_models"] = figures(cv, classes, positive, level)
        out["ensemble"] = figures(_ensemble(cv, classes), classes, positive, level)
        for fold, rows in cv.groupby("fold"):
            out["folds"].append({"fold": int(fold), **figures(rows, classes, positive, level)})
    if not seed.empty:
        out["seed_split"] = figures(seed, classes, positive, level)
    dirty = best.loc[tainted & (best["scheme"] == "cv")]
    if not dirty.empty:
        out["contaminated"] = figures(_ensemble(dirty, classes), classes, positive, level)
    if out["fold_models"] is not None and internal:
        for metric in ("accuracy", "roc_auc", "sensitivity", "specificity"):
            gap = mover_gap(internal.get(metric), out["fold_models"].get(metric))
            if gap is not None:
                out["gap"][metric] = gap
    return out


def external_summary(
    table: pd.DataFrame,
    external: dict,
    classes: list[str],
    positive: str | None,
    headlines: dict[str, dict | None],
    *,
    keep_contaminated: bool,
    level: float = 0.95,
) -> dict:
    """metrics.json's ``external``: the sets, the contamination, and each model's figures
    (``headlines``: model -> its internal headline, for the gap)."""
    images = external["images"]
    models = sorted(set(table["model"].astype(str))) if not table.empty else []

    def _one(model: str) -> dict:
        return model_external(
            table, model, classes, positive, keep_contaminated=keep_contaminated,
            internal=headlines.get(model), level=level,
        )  # fmt: skip

    return {
        "sources": [
            {"name": s["name"], "n_images": int(s["n_images"]), "counts": s["counts"]}
            for s in external["sources"]
        ],
        "n_images": len(images),
        "n_contaminated": sum(1 for image in images if image["contaminated"]),
        "contaminated_included": bool(keep_contaminated),
        "n_label_conflicts": len(external["label_conflicts"]),
        "rule_threshold": RULE_THRESHOLD,
        "models": {m: _one(m) for m in models},
    }
