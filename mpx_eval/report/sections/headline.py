"""Section 2, "Detailed results": per model the pooled and fold-mean estimates on the test
folds beside the blog-style seed-split figure, in plain words, and the checkpoint-choice
figure."""

from __future__ import annotations

from ...assessment.intervals import usable
from .. import figures as F
from .. import text as T
from ..run import Run
from . import cells


def _rows(run: Run, name: str, metrics: list[str]) -> list[dict]:
    """The table's rows of one model: pooled and fold mean over the test folds, then the
    seed split the blog's way."""
    entry = run.entry(name)
    cv, seed = entry.cv, entry.seed_split
    assessment = entry.assessment
    counts = assessment.fold_counts if assessment is not None else {}
    rows = []
    if cv is not None:
        cv_rows = run.rows(name, "cv")
        rows.append(
            {
                "label": f"Pooled over the {cv.k} test folds ({cv.n} images)",
                "kind": "honest",
                "tag": "test images chose nothing",
                "cells": cells.pooled_cells(cv, cv_rows, metrics, run.positive),
            }
        )
        rows.append(
            {
                "label": f"Mean over the {cv.k} test folds, t interval over folds",
                "kind": "honest",
                "tag": "test images chose nothing",
                "cells": [cells.fold_mean_cell(cv, m, counts) for m in metrics],
            }
        )
    if seed is not None:
        seed_rows = run.rows(name, "seed")
        rows.append(
            {
                "label": f"Seed split, the blog's procedure ({seed.n_val} validation images)",
                "kind": "optimistic",
                "tag": "checkpoint chosen on these images",
                "cells": cells.pooled_cells(seed, seed_rows, metrics, run.positive),
            }
        )
    return rows


def _sentences(run: Run, name: str) -> list[str]:
    entry = run.entry(name)
    cv, seed = entry.cv, entry.seed_split
    sentences = []
    if seed is not None:
        assessment = entry.assessment
        honest = assessment.headline.accuracy if cv is not None and assessment else None
        sentences.append(
            T.seed_sentence(
                seed,
                cv,
                run.config.seed,
                run.config.epochs,
                honest=honest,
                n_classes=len(run.classes),
            )
        )
    if entry.optimism is not None:
        assessment = entry.assessment
        honest = assessment.headline.accuracy if assessment and cv is not None else None
        sentences.append(T.checkpoint_sentence(entry.optimism, honest))
    if cv is None and seed is None:
        sentences.append("No unit of this model has finished yet.")
    return [s for s in sentences if s]


def _bars(run: Run, name: str) -> list[tuple[str, float | None, str]]:
    """The checkpoint figure's bars of one model: (label, accuracy, kind), kind being
    "optimistic" (the graded images chose the epoch), "primary" (the run's rule) or
    "honest" (another rule that reads the inner validation part only)."""
    entry = run.entry(name)
    seed, optimism = entry.seed_split, entry.optimism
    bars = [
        (
            "seed split, epoch chosen on the images it grades (the blog)",
            seed.best_val_accuracy if seed is not None else None,
            "optimistic",
        )
    ]
    if optimism is None:
        return bars
    bars.append(("cv, each test fold's own best epoch", optimism.best_epoch_on_test, "optimistic"))
    if not optimism.rules:  # written before the rules were compared: the run's rule alone
        return [*bars, (f"cv, {optimism.rule} (the run's rule)", optimism.chosen, "primary")]
    for outcome in optimism.rules:
        if outcome.honest:
            primary = outcome.rule == optimism.rule
            label = f"cv, {outcome.rule}" + (" (the run's rule)" if primary else "")
            bars.append((label, outcome.mean, "primary" if primary else "honest"))
    return bars


def _rate(estimate) -> dict:
    if estimate is None:
        return _plain(None)
    return cells.estimate_cell(estimate)


def _plain(value) -> dict:
    """A cell with a number and no interval (none is claimed for it)."""
    return {"value": T.num(value), "ci": "", "method": "", "note": ""}


def _ratio(estimate) -> str:
    if estimate is None or not T.finite(estimate.estimate):
        return "n/a"
    text = f"{estimate.estimate:.2f}"
    if usable(estimate):
        text += f" (95 % CI {estimate.low:.2f}–{estimate.high:.2f})"
    return text


def _readout_text(found) -> str:
    text = T.num(found.value)
    if usable(found):
        text += f" (95 % CI {T.num(found.low)}–{T.num(found.high)})"
    return text


def _clinical(run: Run, name: str) -> dict | None:
    """A model's clinical read-out: rates and likelihood ratios at the decision rule, the
    target's honest and optimistic operating points, and the ROC read-outs."""
    assessment = run.assessment(name)
    clinical = assessment.clinical if assessment else None
    if clinical is None:
        return None
    head, positive = assessment.headline, run.positive
    rows = [
        {
            "label": f"Decision rule: {positive} at a probability ≥ {clinical.rule_threshold:g}",
            "kind": "honest",
            "sensitivity": _rate(head.sensitivity),
            "specificity": _rate(head.specificity),
            "extra": f"LR+ {_ratio(clinical.lr_positive)}; LR− {_ratio(clinical.lr_negative)}",
        }
    ]
    target = clinical.target
    if target is not None:
        chosen = [f.threshold for f in target.folds if f.threshold is not None]
        if not chosen:
            spread = "no fold could choose a threshold"
        else:
            low, high = T.num(min(chosen)), T.num(max(chosen))
            spread = (
                f"threshold {low} in each of {len(chosen)} folds"
                if low == high
                else f"thresholds from {low} to {high} over {len(chosen)} folds"
            )
        if target.honest is not None:
            rows.append(
                {
                    "label": f"Target {target.kind} {target.value:g}, each fold's threshold "
                    "chosen on its inner validation part",
                    "kind": "honest",
                    "sensitivity": _rate(target.honest.sensitivity),
                    "specificity": _rate(target.honest.specificity),
                    "extra": spread,
                }
            )
        if target.optimistic is not None:
            point = target.optimistic
            rows.append(
                {
                    "label": "The same target, threshold chosen on these test images",
                    "kind": "optimistic",
                    "sensitivity": _plain(point.sensitivity),
                    "specificity": _plain(point.specificity),
                    "extra": f"threshold {T.num(point.threshold)}",
                }
            )
    at_spec, at_sens = clinical.sensitivity_at_specificity, clinical.specificity_at_sensitivity
    readouts = (
        f"Read off the pooled ROC curve (its threshold set by these test images, so a "
        f"description of the curve, not a validated operating point): sensitivity "
        f"{_readout_text(at_spec)} at specificity {at_spec.fixed:g}; specificity "
        f"{_readout_text(at_sens)} at sensitivity {at_sens.fixed:g}; whole patient groups "
        "resampled for the intervals."
    )
    curve = clinical.decision_curve
    return {
        "rows": rows,
        "readouts": readouts,
        "net_benefit": T.net_benefit_sentence(name, curve.thresholds, curve.model, curve.treat_all),
    }


def _decision_figure(run: Run, names: list[str], figures: F.Figures):
    curves, treat_all, thresholds = {}, None, None
    for name in names:
        assessment = run.assessment(name)
        clinical = assessment.clinical if assessment else None
        if clinical is not None:
            curve = clinical.decision_curve
            curves[name] = curve.model
            treat_all, thresholds = curve.treat_all, curve.thresholds
    if not curves:
        return None
    return figures.add(F.decision_curve_figure(curves, treat_all, thresholds, run.positive))


def headline(run: Run, sections: list[dict], figures: F.Figures) -> dict:
    """Everything section 2 shows (``sections``: the per-model sections, for their names
    and anchors)."""
    metrics = cells.headline_metrics(run)
    models, bars = [], []
    for section in sections:
        name = section["name"]
        assessment = run.assessment(name)
        models.append(
            {
                "name": name,
                "anchor": section["anchor"],
                "rows": _rows(run, name, metrics),
                "sentences": _sentences(run, name),
                "alarms": [a.message for a in assessment.alarms] if assessment else [],
                "flags": list(assessment.checkpoint_flags) if assessment else [],
                "clinical": _clinical(run, name),
            }
        )
        model_bars = _bars(run, name)
        if any(v is not None for _, v, _ in model_bars):
            bars.append((name, model_bars))
    figure = None
    if any(value is not None for _, model_bars in bars for _, value, _ in model_bars[1:]):
        figure = figures.add(F.optimism_figure(bars))
    decision = _decision_figure(run, [s["name"] for s in sections], figures)
    return {
        "decision_figure": decision,
        "columns": [T.metric_label(m, run.positive) for m in metrics],
        "models": models,
        "figure": figure,
        "positive": run.positive,
        "ci_note": "Pooled rows: the metric on all held-out images together, with its 95 % "
        "interval computed on those same images and named beside it: the Wilson score "
        "interval for a proportion (widened by the design effect where images share a "
        "patient or family), DeLong's for a two-class AUC, otherwise a percentile bootstrap "
        f"of {run.metrics.n_resamples or 'n/a'} resamples that draws whole patient groups; "
        "an exact binomial interval where none of these has a width. Mean rows: the mean "
        "over folds with a Student t interval over the folds (a fold where the metric is "
        "undefined is left out and counted). The seed-split row is scored on the images "
        "that chose its checkpoint.",
    }
