"""A model's headline: the trivial baseline, the pooled accuracy and AUC with their own
intervals, the fold means with the folds they rest on, and the alarms that make its
numbers mean less than they seem. Plain functions over the summary and the prediction
table (numpy, scipy, pandas).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import predicted_labels, proportion_intervals
from ..summary.layout import CrossValidation, ModelSummary, SeedSplit
from .intervals import finite, proportion_counts, proportion_interval, t_interval, usable
from .layout import FoldMean

#: Standard deviation of the scores (the positive class's probability, or the top
#: probability for more classes) under which a model's scores count as nearly constant:
#: a model that scores every image within about ±0.01 ranks them by noise.
CONSTANT_SCORE_SD = 0.01

# --------------------------------------------------------------------------- evaluated rows


def _rows(predictions: pd.DataFrame, model: str, scheme: str) -> pd.DataFrame:
    if predictions.empty:
        return predictions
    mask = (
        (predictions["model"].astype(str) == model)
        & (predictions["scheme"].astype(str) == scheme)
        & (predictions["checkpoint"].astype(str) == "best")
    )
    return predictions.loc[mask]


def predicted_classes(rows: pd.DataFrame, classes: list[str]) -> np.ndarray:
    probs = rows[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    return predicted_labels(probs, labels=classes)


def _scores(rows: pd.DataFrame, classes: list[str], positive: str | None) -> np.ndarray:
    if positive is not None:
        return rows[f"prob_{positive}"].to_numpy(dtype=float)
    return rows[[f"prob_{c}" for c in classes]].to_numpy(dtype=float).max(axis=1)


def baseline(labels, classes: list[str]) -> dict:
    """The majority-class rule: always answer the most frequent class (the first on ties).

    Its accuracy is that class's share; its AUC is 0.5 by construction (one score for all).
    """
    labels = np.asarray(labels, dtype=object)
    counts = [int((labels == c).sum()) for c in classes]
    best = int(np.argmax(counts))
    n = int(labels.size)
    return {
        "class": classes[best],
        "accuracy": counts[best] / n if n else None,
        "roc_auc": 0.5,
        "n": n,
    }


# --------------------------------------------------------------------------- counted folds


#: Metrics that rank each class against the rest: with more than two classes, undefined
#: where a class has no image (its one-vs-rest curve has no positives).
_RANKED = ("roc_auc", "average_precision")


def _names(classes: list[str]) -> str:
    """``Clear``, ``Clear or Macular``, ``Clear, Macular or Pustular``."""
    if len(classes) <= 2:
        return " or ".join(classes)
    return f"{', '.join(classes[:-1])} or {classes[-1]}"


def why_undefined(
    metric: str, labels, predicted, positive, classes, *, where: str = "the test fold"
) -> str:
    """Why a metric has no value on some images (``where`` names them: ``the test fold``,
    ``its validation images``), in the reader's words."""
    labels, predicted = np.asarray(labels, dtype=object), np.asarray(predicted, dtype=object)
    present = set(labels.tolist())
    said = set(predicted.tolist())
    negative = next((c for c in classes if c != positive), None) if positive else None
    reasons = {
        "sensitivity": (positive not in present, f"no {positive} image in {where}"),
        "specificity": (negative not in present, f"no {negative} image in {where}"),
        "ppv": (positive not in said, f"the model predicted no {positive}"),
        "npv": (negative not in said, f"the model predicted no {negative}"),
    }
    if metric in reasons and reasons[metric][0]:
        return reasons[metric][1]
    if len(present) < 2:
        return f"{where} holds one class only"
    missing = [c for c in classes if c not in present]
    if metric in _RANKED and positive is None and missing:
        return f"no {_names(missing)} image in {where}"
    if len(said) < 2:
        return f"the model predicted {next(iter(said))} for every image"
    return f"a zero denominator on {where}"


def fold_counts(cv: CrossValidation, rows: pd.DataFrame, classes: list[str], positive) -> dict:
    """Per metric: on how many of the k folds it is defined, and why the others are left out.

    Fold means and SDs (``cv.mean``/``cv.std``) are over the defined folds only; this says
    how many those are.
    """
    folds = cv.folds
    by_fold = {int(f): part for f, part in rows.groupby("fold")} if not rows.empty else {}
    out = {}
    for metric in cv.mean:
        left_out = []
        for fold in folds:
            if finite(fold.metrics.get(metric)):
                continue
            part = by_fold.get(fold.fold)
            reason = (
                why_undefined(
                    metric,
                    part["label"].to_numpy(dtype=object),
                    predicted_classes(part, classes),
                    positive,
                    classes,
                )
                if part is not None
                else "no predictions for that fold"
            )
            left_out.append({"fold": fold.fold, "reason": reason})
        out[metric] = {"n": len(folds) - len(left_out), "of": len(folds), "left_out": left_out}
    return out


def per_class_fold_counts(rows: pd.DataFrame, classes: list[str]) -> dict:
    """Per class, on how many folds precision (the class was predicted) and recall (the
    class was present) are defined."""
    out = {}
    parts = list(rows.groupby("fold")) if not rows.empty else []
    for cls in classes:
        entry = {}
        for metric, what in (("precision", "predicted"), ("recall", "present")):
            missing = []
            for fold, part in parts:
                values = (
                    predicted_classes(part, classes)
                    if what == "predicted"
                    else part["label"].to_numpy()
                )
                if not (values == cls).any():
                    missing.append(
                        {
                            "fold": int(fold),
                            "reason": f"the model predicted no {cls}"
                            if what == "predicted"
                            else f"no {cls} image in the test fold",
                        }
                    )
            entry[metric] = {"n": len(parts) - len(missing), "of": len(parts), "left_out": missing}
        out[cls] = entry
    return out


# --------------------------------------------------------------------------- one model


def _headline(
    summary: CrossValidation | SeedSplit,
    rows: pd.DataFrame,
    classes: list[str],
    confidence_level,
    positive: str | None = None,
) -> dict:
    """The pooled estimates with their own intervals: one estimator per number; with a
    positive class, its sensitivity and the specificity too."""
    labels = rows["label"].to_numpy(dtype=object)
    predicted = predicted_classes(rows, classes)
    correct = int((predicted == labels).sum())
    n = int(labels.size)
    ci = summary.ci
    # a cv summary keeps its pooled values under "pooled"; a seed split's are at its top
    pooled = summary.pooled if isinstance(summary, CrossValidation) else summary.metrics
    accuracy = {"estimate": pooled.get("accuracy"), "estimator": "pooled"}
    interval = proportion_interval(
        ci.get("accuracy"), correct, n, confidence_level=confidence_level
    )
    accuracy.update(interval.as_json() if interval else {"low": None, "high": None, "method": None})
    accuracy["successes"], accuracy["n"] = correct, n

    auc = {"estimate": pooled.get("roc_auc"), "estimator": "pooled", "n": n}
    delong = summary.auc_delong if isinstance(summary, CrossValidation) else None
    auc_ci = ci.get("roc_auc")
    if usable(delong):
        auc.update(low=delong.low, high=delong.high, method="DeLong")
    elif usable(auc_ci):
        auc.update(low=auc_ci.low, high=auc_ci.high, method=auc_ci.method)
    else:
        auc.update(low=None, high=None, method=None)
        if delong is not None and delong.reason:
            auc["no_interval"] = f"no interval: {delong.reason}"
        elif finite(auc["estimate"]):
            auc["no_interval"] = "no interval: every resample gives the same AUC"
    out = {"accuracy": accuracy, "roc_auc": auc}
    if positive is None and len(classes) > 2:
        out["recall"] = _recalls(rows, labels, predicted, classes, confidence_level)
    if positive is not None:
        for metric in ("sensitivity", "specificity"):
            out[metric] = _proportion_estimate(
                pooled.get(metric), ci.get(metric), labels, predicted, metric, positive,
                classes, confidence_level,
            )  # fmt: skip
    return out


def _recalls(rows, labels, predicted, classes, confidence_level) -> dict:
    """Each class's recall (the share of its images called that class), with the clustered
    interval the metrics library gives a sensitivity, and its counts."""
    groups = rows["group"].to_numpy(dtype=object)
    out = {}
    for cls in classes:
        is_cls, said = labels == cls, predicted == cls
        if not is_cls.any():
            continue
        found = proportion_intervals(
            is_cls.astype(int), said.astype(int), labels=[0, 1], positive_class=1,
            groups=groups, confidence_level=confidence_level,
        )["sensitivity"]  # fmt: skip
        interval = proportion_interval(
            found, int((is_cls & said).sum()), int(is_cls.sum()), confidence_level=confidence_level
        )
        entry = {"estimate": float(found.estimate), "estimator": "pooled"}
        entry.update(
            interval.as_json() if interval else {"low": None, "high": None, "method": None}
        )
        entry["successes"], entry["n"] = int((is_cls & said).sum()), int(is_cls.sum())
        out[str(cls)] = entry
    return out


def _proportion_estimate(
    estimate, from_metrics, labels, predicted, metric, positive, classes, confidence_level
) -> dict:
    """A pooled proportion (sensitivity, specificity) with its interval and its counts."""
    successes, trials = proportion_counts(labels, predicted, metric, positive, classes)
    entry = {"estimate": estimate, "estimator": "pooled"}
    interval = (
        proportion_interval(from_metrics, successes, trials, confidence_level=confidence_level)
        if trials
        else None
    )
    entry.update(interval.as_json() if interval else {"low": None, "high": None, "method": None})
    entry["successes"], entry["n"] = successes, trials
    if not trials:
        entry["no_interval"] = (
            f"no interval: no {'positive' if metric == 'sensitivity' else 'negative'} image"
        )
    return entry


def alarms(rows: pd.DataFrame, classes, positive, headline: dict, base: dict) -> list[dict]:
    """What makes a model's numbers mean less than they seem; empty when nothing does.

    Each alarm has a ``kind``, a ``short`` label and a ``message`` that reads after the
    model's name ("t4 predicts every image as Others (228 of 228)").
    """
    found = []
    predicted = predicted_classes(rows, classes)
    said = sorted(set(predicted.tolist()))
    if len(said) == 1:
        found.append(
            {
                "kind": "one_class",
                "short": f"predicts only {said[0]}",
                "message": f"predicts every image as {said[0]} ({len(predicted)} of "
                f"{len(predicted)})",
            }
        )
    scores = _scores(rows, classes, positive)
    if scores.size > 1 and float(np.std(scores)) < CONSTANT_SCORE_SD:
        which = f"probability of {positive}" if positive else "top probability"
        found.append(
            {
                "kind": "constant_scores",
                "short": "nearly constant scores",
                "message": f"gives nearly constant scores ({which} "
                + (
                    f"{float(scores.min()):.3f} for every image)"
                    if f"{scores.min():.3f}" == f"{scores.max():.3f}"
                    else f"from {float(scores.min()):.3f} to {float(scores.max()):.3f}, "
                    f"SD {float(np.std(scores)):.4f})"
                ),
            }
        )
    acc = headline["accuracy"]
    if finite(base.get("accuracy")) and finite(acc.get("estimate")):
        low, said = _lower_end(acc)
        if low <= base["accuracy"]:
            found.append(
                {
                    "kind": "not_above_baseline",
                    "short": "accuracy not above the baseline",
                    "message": f"has an accuracy of {said}, not above the majority-class "
                    f"baseline {base['accuracy']:.3f} (always answering {base['class']})",
                }
            )
    auc = headline["roc_auc"]
    if finite(auc.get("estimate")):
        low, said = _lower_end(auc)
        if low <= 0.5:
            found.append(
                {
                    "kind": "auc_not_above_chance",
                    "short": "AUC not above chance",
                    "message": f"has an AUC of {said}, not above chance (0.5)",
                }
            )
    return found


def _lower_end(found: dict) -> tuple[float, str]:
    """The lower end of an estimate's interval (the estimate itself without one), and the
    estimate in words."""
    if finite(found.get("low")):
        return found["low"], f"{found['estimate']:.3f} (95 % CI from {found['low']:.3f})"
    return found["estimate"], f"{found['estimate']:.3f}"


def assess_model(
    entry: ModelSummary,
    predictions: pd.DataFrame,
    model: str,
    classes,
    positive,
    *,
    confidence_level,
) -> dict | None:
    """Baseline, headline estimates, fold-mean estimates, counted folds and alarms of a model,
    judged on its cv test folds, else on the seed split's validation images."""
    cv, seed = entry.cv, entry.seed_split
    scheme, summary = ("cv", cv) if cv else ("seed", seed) if seed else (None, None)
    if summary is None:
        return None
    rows = _rows(predictions, model, scheme)
    if rows.empty:
        return None
    base = baseline(rows["label"].to_numpy(dtype=object), classes)
    headline = _headline(summary, rows, classes, confidence_level, positive)
    out: dict[str, Any] = {
        "evaluated_on": scheme,
        "n": int(rows.shape[0]),
        "n_images": int(rows["path"].nunique()),
        "n_groups": int(rows["group"].nunique()),
        "baseline": base,
        "headline": headline,
        "alarms": alarms(rows, classes, positive, headline, base),
    }
    if cv:
        out["fold_mean"] = {
            metric: _as_json(
                t_interval(
                    [f.metrics.get(metric) for f in cv.folds], confidence_level=confidence_level
                )
            )
            for metric in ("accuracy", "roc_auc")
        }
        out["fold_counts"] = fold_counts(cv, rows, classes, positive)
        out["per_class_fold_counts"] = per_class_fold_counts(rows, classes)
    if seed:
        seed_rows = _rows(predictions, model, "seed")
        if not seed_rows.empty:
            out["seed_split"] = {
                **_headline(seed, seed_rows, classes, confidence_level, positive),
                "baseline": baseline(seed_rows["label"].to_numpy(dtype=object), classes),
            }
    return out


def _as_json(found: FoldMean | None) -> dict | None:
    return dataclasses.asdict(found) if found is not None else None
