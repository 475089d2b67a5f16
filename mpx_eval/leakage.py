"""The seed split's leakage in numbers: accuracy on validation images with and without a copy
(or group member) in its training part.

Reads the prediction table and the audit only (numpy, pandas and :mod:`mpx_eval.metrics`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import bootstrap_ci

#: Resamples of each bootstrap interval; fixed seed, so a re-rendered report repeats its numbers.
N_RESAMPLES = 2000
RANDOM_STATE = 0
#: Fewer split groups than this get no interval: resampling 4 images that were all right
#: gives "1.000 to 1.000", a certainty the data do not have.
MIN_GROUPS_FOR_INTERVAL = 10


def _share_equal(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(truth == predicted))


def _accuracy(frame: pd.DataFrame, classes: list[str]) -> dict:
    n = len(frame)
    if n == 0:
        return {"n": 0, "accuracy": None, "low": None, "high": None}
    probs = frame[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    predicted = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
    truth = frame["label"].astype(str).to_numpy(dtype=object)
    groups = frame["group"].astype(str).to_numpy()
    if len(set(groups.tolist())) < MIN_GROUPS_FOR_INTERVAL:
        return {"n": n, "accuracy": _share_equal(truth, predicted), "low": None, "high": None}
    # copies are not independent: whole split groups are resampled together
    ci = bootstrap_ci(
        _share_equal,
        truth,
        predicted,
        groups=groups,
        n_resamples=N_RESAMPLES,
        random_state=RANDOM_STATE,
    )
    return {"n": n, "accuracy": ci.estimate, "low": ci.low, "high": ci.high}


def seed_leakage_metrics(predictions: pd.DataFrame, audit: dict, classes: list[str]) -> dict:
    """Per model, the seed unit's accuracy (checkpoint "best", the blog's figure) with a 95 %
    bootstrap CI over split groups, on its validation images with a sibling in training
    (leaky), without one (leak-free) and on all of them. Parts with fewer than
    ``MIN_GROUPS_FOR_INTERVAL`` split groups get the accuracy without an interval.

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
