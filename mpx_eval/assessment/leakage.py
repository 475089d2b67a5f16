"""The seed split's leakage in numbers: accuracy on validation images with and without a copy
(or group member) in its training part.

Reads the prediction table and the audit only (numpy, pandas and :mod:`mpx_eval.metrics`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import predicted_labels, proportion_intervals

#: A part with fewer split groups than this gets no interval: the clustered Wilson interval
#: uses Student's t with (groups - 1) degrees of freedom, undefined for one group.
MIN_GROUPS_FOR_INTERVAL = 2


def _accuracy(frame: pd.DataFrame, classes: list[str]) -> dict:
    n = len(frame)
    if n == 0:
        return {"n": 0, "accuracy": None, "low": None, "high": None}
    probs = frame[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    predicted = predicted_labels(probs, labels=classes)
    truth = frame["label"].astype(str).to_numpy(dtype=object)
    groups = frame["group"].astype(str).to_numpy()
    accuracy = float(np.mean(truth == predicted))
    if len(set(groups.tolist())) < MIN_GROUPS_FOR_INTERVAL:
        return {"n": n, "accuracy": accuracy, "low": None, "high": None}
    # copies are not independent: the Wilson interval widened by the groups' design effect
    ci = proportion_intervals(
        truth, predicted, labels=list(classes), positive_class=classes[-1], groups=groups
    )["accuracy"]
    low, high = (None if not np.isfinite(v) else float(v) for v in (ci.low, ci.high))
    return {"n": n, "accuracy": accuracy, "low": low, "high": high}


def seed_leakage_metrics(predictions: pd.DataFrame, audit: dict, classes: list[str]) -> dict:
    """Per model, the seed unit's accuracy (checkpoint "best", the blog's figure) with a 95 %
    Wilson interval widened for split groups (copies and patients are not independent), on
    its validation images with a sibling in training (leaky), without one (leak-free) and on
    all of them. Parts with fewer than ``MIN_GROUPS_FOR_INTERVAL`` split groups get the
    accuracy without an interval.

    Empty when the audit has no seed leakage record or no seed unit has finished.
    """
    leakage = audit.get("seed_leakage")
    if not leakage or predictions.empty:
        return {}
    leaky = set(leakage.get("with_sibling_in_train") or [])
    seed = predictions[(predictions["scheme"] == "seed") & (predictions["checkpoint"] == "best")]
    out = {}
    for model, frame in seed.groupby("model", sort=False):
        is_leaky = frame["path"].isin(leaky).to_numpy()
        out[str(model)] = {
            "checkpoint": "best",
            "with_sibling": _accuracy(frame[is_leaky], classes),
            "without_sibling": _accuracy(frame[~is_leaky], classes),
            "all": _accuracy(frame, classes),
        }
    return out
