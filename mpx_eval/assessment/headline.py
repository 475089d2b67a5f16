"""What a run's numbers mean: the trivial baseline, alarms, counted folds, the one primary
test, the intervals the headline shows, and the departures from the blog's settings.

Plain functions over a run's summary (``metrics.json``) and its prediction table; numpy,
scipy and pandas only, so the report and the terminal summary can share them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..config import BUILTIN_MODELS, RunConfig

#: The paired test declared in advance: its p-value alone decides whether the report speaks
#: of evidence for a difference between two models. The others are shown as secondary.
PRIMARY_TEST = "corrected_t"
ALPHA = 0.05
#: Standard deviation of the scores (the positive class's probability, or the top
#: probability for more classes) under which a model's scores count as nearly constant:
#: a model that scores every image within about ±0.01 ranks them by noise.
CONSTANT_SCORE_SD = 0.01
#: An interval narrower than this is shown as none: it is a bootstrap that could not move.
ZERO_WIDTH = 1e-9
#: The key of a cv or seed-split summary in metrics.json whose per-metric intervals
#: (``{"low", "high", "method"}``) the headline shows beside the pooled values. Where that
#: interval has no width, a proportion gets :func:`exact_interval` instead.
METRICS_INTERVAL_KEY = "ci"

_PROPORTIONS = (
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- intervals


def exact_interval(successes: int, n: int, *, confidence_level: float = 0.95) -> dict | None:
    """Clopper–Pearson interval of ``successes`` out of ``n``; None when ``n`` is 0.

    Unlike a bootstrap it is never zero-width: 24 of 24 gives about 0.86–1.00.

    Examples
    --------
    >>> ci = exact_interval(24, 24)
    >>> round(ci["low"], 3), ci["high"]
    (0.858, 1.0)
    """
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level}")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    if n == 0:
        return None
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence_level, method="exact"
    )
    return {"low": float(ci.low), "high": float(ci.high), "method": "exact binomial"}


def usable(ci: dict | None) -> bool:
    """An interval with both ends and a width: a zero-width interval is never shown."""
    return bool(
        ci
        and _finite(ci.get("low"))
        and _finite(ci.get("high"))
        and ci["high"] - ci["low"] > ZERO_WIDTH
    )


def proportion_interval(
    from_metrics: dict | None, successes: int, n: int, *, confidence_level: float = 0.95
) -> dict | None:
    """The interval of a proportion the headline shows.

    The metrics' own interval (``from_metrics``: a cluster bootstrap when patients have
    several images, or an exact interval) when it has a width; otherwise the exact binomial
    interval, which never collapses to a point.
    """
    if usable(from_metrics):
        return {k: from_metrics[k] for k in ("low", "high", "method") if k in from_metrics}
    return exact_interval(successes, n, confidence_level=confidence_level)


def proportion_counts(labels, predicted, metric: str, positive, classes) -> tuple[int, int] | None:
    """(successes, trials) of a metric that is a plain proportion of images; None for the
    others (AUC, F1, ...), which have no exact binomial interval."""
    labels = np.asarray(labels, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    if metric == "accuracy":
        return int((labels == predicted).sum()), int(labels.size)
    if positive is None or metric not in _PROPORTIONS:
        return None
    negative = [c for c in classes if c != positive]
    is_pos, said_pos = labels == positive, predicted == positive
    is_neg, said_neg = np.isin(labels, negative), np.isin(predicted, negative)
    base, hit = {
        "sensitivity": (is_pos, said_pos),
        "specificity": (is_neg, said_neg),
        "ppv": (said_pos, is_pos),
        "npv": (said_neg, is_neg),
    }[metric]
    return int((base & hit).sum()), int(base.sum())


def t_interval(values, *, confidence_level: float = 0.95) -> dict | None:
    """Mean over folds with a Student t interval (k - 1 degrees of freedom); None under two
    defined values. Undefined (None/NaN) folds are left out and counted in ``k``."""
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    array = array[np.isfinite(array)]
    k = int(array.size)
    if k < 2:
        return None
    mean, sd = float(array.mean()), float(array.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence_level / 2, k - 1)) * sd / math.sqrt(k)
    # the metrics shown this way are bounded by 0 and 1; an end beyond them means nothing
    low, high = max(mean - half, 0.0), min(mean + half, 1.0)
    return {"mean": mean, "low": low, "high": high, "sd": sd, "k": k}


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
    # the most probable class, the first one on ties (as the metrics library decides)
    return np.asarray(classes, dtype=object)[np.argmax(probs, axis=1)]


def _scores(rows: pd.DataFrame, classes: list[str], positive: str | None) -> np.ndarray:
    if positive is not None:
        return rows[f"prob_{positive}"].to_numpy(dtype=float)
    return rows[[f"prob_{c}" for c in classes]].to_numpy(dtype=float).max(axis=1)


def baseline(labels, classes: list[str]) -> dict:
    """The majority-class rule: always answer the most frequent class (the first on ties).

    Its accuracy is that class's share; its AUC is 0.5 (it ranks nothing).
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


def _why_undefined(metric: str, labels, predicted, positive, classes) -> str:
    """Why a metric has no value on one fold, in the reader's words."""
    present = set(labels.tolist())
    said = set(predicted.tolist())
    negative = next((c for c in classes if c != positive), None) if positive else None
    reasons = {
        "sensitivity": (positive not in present, f"no {positive} image in the test fold"),
        "specificity": (negative not in present, f"no {negative} image in the test fold"),
        "ppv": (positive not in said, f"the model predicted no {positive}"),
        "npv": (negative not in said, f"the model predicted no {negative}"),
    }
    if metric in reasons and reasons[metric][0]:
        return reasons[metric][1]
    if len(present) < 2:
        return "the test fold holds one class only"
    if len(said) < 2:
        return f"the model predicted {next(iter(said))} for every image"
    return "a zero denominator on that fold"


def fold_counts(cv: dict, rows: pd.DataFrame, classes: list[str], positive) -> dict:
    """Per metric: on how many of the k folds it is defined, and why the others are left out.

    Fold means and SDs (``cv.mean``/``cv.std``) are over the defined folds only; this says
    how many those are.
    """
    folds = cv.get("folds") or []
    by_fold = {int(f): part for f, part in rows.groupby("fold")} if not rows.empty else {}
    out = {}
    for metric in cv.get("mean") or {}:
        left_out = []
        for fold in folds:
            if _finite(fold.get(metric)):
                continue
            part = by_fold.get(int(fold["fold"]))
            reason = (
                _why_undefined(
                    metric,
                    part["label"].to_numpy(dtype=object),
                    predicted_classes(part, classes),
                    positive,
                    classes,
                )
                if part is not None
                else "no predictions for that fold"
            )
            left_out.append({"fold": int(fold["fold"]), "reason": reason})
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


def _headline(summary: dict, rows: pd.DataFrame, classes: list[str], confidence_level) -> dict:
    """The pooled estimates with their own intervals: one estimator per number."""
    labels = rows["label"].to_numpy(dtype=object)
    correct = int((predicted_classes(rows, classes) == labels).sum())
    n = int(labels.size)
    ci = summary.get(METRICS_INTERVAL_KEY) or {}
    # a cv summary keeps its pooled values under "pooled"; a seed split's are at its top
    pooled = summary.get("pooled") or summary
    accuracy = {"estimate": pooled.get("accuracy"), "estimator": "pooled"}
    interval = proportion_interval(
        ci.get("accuracy"), correct, n, confidence_level=confidence_level
    )
    accuracy.update(interval or {"low": None, "high": None, "method": None})
    accuracy["successes"], accuracy["n"] = correct, n

    auc = {"estimate": pooled.get("roc_auc"), "estimator": "pooled", "n": n}
    delong = summary.get("auc_delong")
    if usable(delong):
        auc.update(low=delong["low"], high=delong["high"], method="DeLong")
    elif usable(ci.get("roc_auc")):
        auc.update(
            low=ci["roc_auc"]["low"], high=ci["roc_auc"]["high"], method=ci["roc_auc"].get("method")
        )
    else:
        auc.update(low=None, high=None, method=None)
        if _finite(auc["estimate"]):
            auc["no_interval"] = "no interval: every resample gives the same AUC"
    return {"accuracy": accuracy, "roc_auc": auc}


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
    if _finite(base.get("accuracy")) and _finite(acc.get("estimate")):
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
    if _finite(auc.get("estimate")):
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
    if _finite(found.get("low")):
        return found["low"], f"{found['estimate']:.3f} (95 % CI from {found['low']:.3f})"
    return found["estimate"], f"{found['estimate']:.3f}"


def assess_model(
    entry: dict, predictions: pd.DataFrame, model: str, classes, positive, *, confidence_level
) -> dict | None:
    """Baseline, headline estimates, fold-mean estimates, counted folds and alarms of a model,
    judged on its cv test folds, else on the seed split's validation images."""
    cv, seed = entry.get("cv"), entry.get("seed_split")
    scheme, summary = ("cv", cv) if cv else ("seed", seed) if seed else (None, None)
    if summary is None:
        return None
    rows = _rows(predictions, model, scheme)
    if rows.empty:
        return None
    base = baseline(rows["label"].to_numpy(dtype=object), classes)
    headline = _headline(summary, rows, classes, confidence_level)
    out: dict[str, Any] = {
        "evaluated_on": scheme,
        "n": int(rows.shape[0]),
        "baseline": base,
        "headline": headline,
        "alarms": alarms(rows, classes, positive, headline, base),
    }
    if cv:
        out["fold_mean"] = {
            metric: t_interval(
                [f.get(metric) for f in cv["folds"]], confidence_level=confidence_level
            )
            for metric in ("accuracy", "roc_auc")
        }
        out["fold_counts"] = fold_counts(cv, rows, classes, positive)
        out["per_class_fold_counts"] = per_class_fold_counts(rows, classes)
    if seed:
        seed_rows = _rows(predictions, model, "seed")
        if not seed_rows.empty:
            out["seed_split"] = {
                **_headline(seed, seed_rows, classes, confidence_level),
                "baseline": baseline(seed_rows["label"].to_numpy(dtype=object), classes),
            }
    return out


# --------------------------------------------------------------------------- comparisons


def primary_result(comparison: dict) -> dict:
    """The primary test's outcome for one pair: its p-value, and the model it favours when
    p < ALPHA (None otherwise, or when the test could not run)."""
    test = comparison.get(PRIMARY_TEST) or {}
    p = test.get("p")
    significant = _finite(p) and p < ALPHA
    diff = comparison.get("mean_difference")
    favours = None
    if significant and _finite(diff) and diff != 0:
        favours = comparison["a"] if diff > 0 else comparison["b"]
    return {"test": PRIMARY_TEST, "p": p, "significant": bool(significant), "favours": favours}


def primary_test_declaration() -> dict:
    return {
        "test": PRIMARY_TEST,
        "name": "corrected resampled t-test (Nadeau–Bengio) on per-fold accuracy",
        "alpha": ALPHA,
        "secondary": ["mcnemar", "delong"],
    }


# --------------------------------------------------------------------------- settings


_SETTING_NAMES = {
    "epochs": "epochs",
    "batch_size": "batch size",
    "image_size": "image size",
    "learning_rate": "learning rate",
    "folds": "folds",
    "validation_split": "seed-split validation fraction",
    "group_pattern": "patient/group grouping",
}


def departures(config: dict, models: list[str]) -> list[dict]:
    """Every setting of a run that differs from the blog's (the defaults in code).

    ``config`` is the flat resolved configuration (``{field: value}``).
    """
    blog = RunConfig()
    out = []
    for key in ("epochs", "batch_size", "learning_rate", "validation_split", "folds"):
        used = config.get(key, getattr(blog, key))
        if used != getattr(blog, key):
            default = getattr(blog, key)
            if key == "folds":
                blog_text = f"the seed split alone; mpx_eval's default adds {default} folds"
            else:
                blog_text = f"{default:g}" if isinstance(default, float) else str(default)
            out.append(
                {"setting": key, "name": _SETTING_NAMES[key], "used": used, "blog": blog_text}
            )
    size = config.get("image_size")
    if size is not None:
        own = {m: BUILTIN_MODELS[m] for m in models if m in BUILTIN_MODELS}
        if any(s != size for s in own.values()) or not own:
            blog_text = ", ".join(f"{m} {s} px" for m, s in own.items()) or "each model's own"
            out.append(
                {
                    "setting": "image_size",
                    "name": _SETTING_NAMES["image_size"],
                    "used": f"{size} px",
                    "blog": blog_text,
                }
            )
    pattern = config.get("group_pattern")
    if pattern:
        out.append(
            {
                "setting": "group_pattern",
                "name": _SETTING_NAMES["group_pattern"],
                "used": f"by the pattern {pattern}",
                "blog": "none: photos of one patient could fall on both sides",
            }
        )
    repeats = int(config.get("repeats", 1) or 1)
    if repeats > 1:
        out.append(
            {
                "setting": "repeats",
                "name": "repeats of the folds",
                "used": repeats,
                "blog": "none: one seed split",
            }
        )
    return out


# --------------------------------------------------------------------------- the whole run


def assess(metrics: dict, predictions: pd.DataFrame, config: dict) -> dict:
    """The additions to ``metrics.json``: ``baseline``, ``primary_test``, ``departures``,
    and, per model, ``assessment``; per comparison, ``primary``. Mutates and returns
    ``metrics``."""
    classes = list(metrics["classes"])
    positive = metrics.get("positive_class")
    level = metrics.get("confidence_level", 0.95)
    counts = (metrics.get("dataset") or {}).get("counts") or {}
    if counts:
        labels = np.repeat(np.asarray(classes, dtype=object), [counts.get(c, 0) for c in classes])
        metrics["baseline"] = baseline(labels, classes)
    for name, entry in metrics["models"].items():
        entry["assessment"] = assess_model(
            entry, predictions, name, classes, positive, confidence_level=level
        )
    metrics["primary_test"] = primary_test_declaration()
    for comparison in metrics.get("comparisons") or []:
        comparison["primary"] = primary_result(comparison)
    metrics["departures"] = departures(config, list(metrics["models"]))
    return metrics


# --------------------------------------------------------------------------- terminal


def _num(value) -> str:
    return f"{value:.3f}" if _finite(value) else "n/a"


def _with_interval(found: dict) -> str:
    text = _num(found.get("estimate"))
    if _finite(found.get("low")) and _finite(found.get("high")):
        return f"{text} (95 % CI {found['low']:.3f}–{found['high']:.3f})"
    return text + (" (no interval: n too small)" if _finite(found.get("estimate")) else "")


def summary_lines(metrics: dict) -> list[str]:
    """The result a user reads first in the terminal: per model the pooled accuracy and AUC
    with their intervals beside the majority-class baseline, the warnings, the primary test,
    and the departures from the blog's settings."""
    lines = [
        "Results (pooled over the held-out test images; checkpoints chosen on inner validation):"
    ]
    width = max((len(name) for name in metrics["models"]), default=4)
    for name, entry in metrics["models"].items():
        found = entry.get("assessment")
        if not found:
            lines.append(f"  {name:<{width}}  no finished unit")
            continue
        head, base = found["headline"], found["baseline"]
        where = (
            f"{entry['cv']['k']} test folds"
            if found["evaluated_on"] == "cv"
            else "seed split only, whose images chose the checkpoint"
        )
        lines.append(
            f"  {name:<{width}}  accuracy {_with_interval(head['accuracy'])} vs baseline "
            f"{_num(base['accuracy'])} (always {base['class']}); AUC "
            f"{_with_interval(head['roc_auc'])} vs 0.500; {where}"
        )
        for alarm in found.get("alarms") or []:
            lines.append(f"  {'':<{width}}  WARNING: {name} {alarm['message']}")
        seed = entry.get("seed_split")
        if seed and _finite(seed.get("best_val_accuracy")):
            lines.append(
                f"  {'':<{width}}  blog-style seed split: best validation accuracy "
                f"{seed['best_val_accuracy']:.3f} on {seed.get('n_val')} images that also "
                "chose the epoch"
            )
    for comparison in metrics.get("comparisons") or []:
        primary = comparison.get("primary") or primary_result(comparison)
        a, b = comparison["a"], comparison["b"]
        alarmed = [n for n in (a, b) if alarm_messages(metrics, n)]
        if alarmed:
            have = "has" if len(alarmed) == 1 else "have"
            verdict = f"not a comparison of designs ({' and '.join(alarmed)} {have} warnings)"
        elif not _finite(primary.get("p")):
            verdict = "no primary test (fewer than two common folds)"
        elif primary["favours"]:
            verdict = (
                f"evidence that {primary['favours']} is more accurate (p = {primary['p']:.3f})"
            )
        else:
            verdict = f"no evidence of a difference in accuracy (p = {primary['p']:.3f})"
        lines.append(f"{a} vs {b}, corrected t over folds (primary test): {verdict}")
    departures = metrics.get("departures") or []
    if departures:
        listed = "; ".join(f"{d['name']} {d['used']} (blog {d['blog']})" for d in departures)
        lines.append(f"Departs from the blog's settings: {listed}")
    return lines


def alarm_messages(metrics: dict, model: str) -> list[str]:
    assessment = (metrics["models"].get(model) or {}).get("assessment") or {}
    return [a["message"] for a in assessment.get("alarms") or []]
