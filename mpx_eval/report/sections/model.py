"""Section 3, "Per model": each model's figures (training curves, confusion matrices, ROC,
precision-recall, reliability), its per-class and per-fold tables and every metric with its
interval."""

from __future__ import annotations

import re

from ...assessment.intervals import usable
from ...assessment.layout import FoldCount
from ...summary.layout import CrossValidation, Optimism, PerClass
from .. import curves as C
from .. import figures as F
from .. import text as T
from ..run import Run
from . import cells

#: Names a model's figures may not take: the report's own figures are called so.
_RESERVED = ("comparison", "optimism")


def slugify(name: str, taken: set[str]) -> str:
    """A file-name-safe, unique form of a model name (``pkg.nets:wide`` -> ``pkg.nets-wide``)."""
    base = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.") or "model"
    slug, n = base, 2
    while slug in taken or slug in _RESERVED:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _per_class_table(
    per_class: dict[str, PerClass],
    classes: list[str],
    counts: dict[str, dict[str, FoldCount]] | None = None,
) -> list[dict]:
    rows = []
    for cls in classes:
        entry = per_class.get(cls)
        if entry is None:
            continue
        row = {"class": cls}
        scores = (("precision", entry.precision), ("recall", entry.recall), ("f1", entry.f1))
        for metric, values in scores:
            row[metric] = (
                T.pm(values.mean, values.std) if values.mean is not None else T.num(values.pooled)
            )
            counted = ((counts or {}).get(cls) or {}).get(metric)
            if counted is not None and counted.partial and values.mean is not None:
                row[metric] += f" ({counted.n} of {counted.of} folds)"
            row[metric + "_pooled"] = T.num(values.pooled)
        row["support"] = T.integer(entry.support.pooled)
        rows.append(row)
    return rows


def _fold_table(cv: CrossValidation, optimism: Optimism | None, names: list[str]) -> list[dict]:
    by_fold = {f.fold: f for f in optimism.per_fold} if optimism is not None else {}
    rows = []
    for fold in cv.folds:
        extra = by_fold.get(fold.fold)
        rows.append(
            {
                "fold": fold.fold,
                "n_train": fold.n_train,
                "n_test": fold.n_test,
                "best_epoch": fold.best_epoch if fold.best_epoch is not None else "n/a",
                "values": [T.num(fold.metrics.get(m)) for m in names],
                "best_on_test": T.num(extra.best_epoch_on_test if extra else None),
                "best_test_epoch": extra.best_test_epoch if extra else "n/a",
                "last": T.num(extra.last if extra else None),
            }
        )
    return rows


def _range(cv: CrossValidation, name: str) -> str:
    low, high = cv.min.get(name), cv.max.get(name)
    if low is None:
        return "n/a"
    if T.num(low) == T.num(high):
        return f"{T.num(low)} on every fold"
    return f"{T.num(low)}–{T.num(high)}"


def _all_metrics_table(run: Run, model: str, names: list[str]) -> list[dict]:
    """One row per metric: the fold mean with its range and the folds it rests on, the
    pooled value with its interval, the last epoch's fold mean and the seed split."""
    entry = run.entry(model)
    cv, seed, positive = entry.cv, entry.seed_split, run.positive
    counts = entry.assessment.fold_counts if entry.assessment is not None else {}
    pooled = seeded = []
    if cv is not None:
        pooled = cells.pooled_cells(cv, run.rows(model, "cv"), names, positive)
    if seed is not None:
        seeded = cells.pooled_cells(seed, run.rows(model, "seed"), names, positive)
    rows = []
    for i, name in enumerate(names):
        row = {"label": T.metric_label(name, positive)}
        if cv is not None:
            last = cv.last
            row["cv"] = T.pm(cv.mean.get(name), cv.std.get(name))
            row["range"] = _range(cv, name)
            row["folds"] = cells.folds_note(counts.get(name))
            row["pooled"] = pooled[i]
            row["last"] = T.pm(last.mean.get(name), last.std.get(name)) if last else "n/a"
        if seed is not None:
            row["seed"] = seeded[i]
        rows.append(row)
    return rows


def _operating_points(run: Run, name: str) -> list[tuple[str, float, float, str]]:
    """The pooled ROC's marked points: the decision rule, and a target's honest point."""
    assessment = run.assessment(name)
    clinical = assessment.clinical if assessment else None
    if clinical is None:
        return []
    points = []
    head = assessment.headline
    if head.sensitivity is not None and head.specificity is not None:
        sens, spec = head.sensitivity.estimate, head.specificity.estimate
        if sens is not None and spec is not None:
            label = f"decision rule (p ≥ {clinical.rule_threshold:g})"
            points.append((label, 1 - spec, sens, "o"))
    target = clinical.target
    if target is not None and target.honest is not None:
        sens, spec = target.honest.sensitivity.estimate, target.honest.specificity.estimate
        if sens is not None and spec is not None:
            label = f"target {target.kind} {target.value:g} (inner-chosen thresholds)"
            points.append((label, 1 - spec, sens, "D"))
    return points


def _figures(
    run: Run, name: str, slug: str, rows: C.EvalRows | None, figures: F.Figures
) -> list[F.FigureSpec]:
    """The model's figures: training curves (and their mean over folds), then, on the images
    it is judged on, confusion matrices, ROC, precision-recall and reliability."""
    entry = run.entry(name)
    out = []
    runs = run.training(name)
    if runs:
        has_cv = any(r.scheme == "cv" for r in runs)
        out.append(F.training_curves_figure(slug, name, runs, has_cv=has_cv))
        mean = C.mean_curves(runs)
        if mean is not None:
            out.append(F.mean_curves_figure(slug, name, mean))
    if rows is not None:
        per_fold = rows.scheme == "cv" and len(rows.fold_ids()) > 1
        positive = run.positive
        roc = C.roc_panel(rows, positive, entry.cv)
        if rows.scheme == "cv":
            roc.points = _operating_points(run, name)
        out += [
            F.confusion_figure(slug, name, C.confusions(rows), run.classes, per_fold=per_fold),
            F.roc_figure(
                slug,
                name,
                roc,
                per_fold=bool(positive) and per_fold,
                binary=bool(positive),
            ),
            F.precision_recall_figure(slug, name, C.pr_panel(rows, positive)),
            F.reliability_figure(slug, name, C.reliability(rows, positive, entry.cv)),
        ]
    return [figures.add(spec) for spec in out]


def _evaluated_on(rows: C.EvalRows | None) -> str | None:
    if rows is None:
        return None
    if rows.scheme == "cv":
        return f"the held-out test folds ({len(rows.frame)} images, {len(rows.fold_ids())} folds)"
    return (
        f"the seed split's validation images ({len(rows.frame)} images; optimistic, "
        "since they also chose the checkpoint)"
    )


def _per_class(run: Run, name: str, rows: C.EvalRows | None) -> dict:
    """The per-class table and its note, and the per-fold table: over the folds for a cv
    model, on the seed split's images otherwise."""
    entry = run.entry(name)
    cv = entry.cv
    if cv is not None:
        counted = entry.assessment.per_class_fold_counts if entry.assessment else {}
        notes = [
            f"{metric.capitalize()} of {cls}: {cells.folds_note(c.get(metric))}."
            for cls, c in counted.items()
            for metric in ("precision", "recall")
            if cells.folds_note(c.get(metric))
        ]
        return {
            "per_class": _per_class_table(cv.per_class, run.classes, counted),
            "per_class_note": f"Mean ± SD over the {cv.k} folds where the value is defined, "
            "then the value on the pooled test folds.",
            "per_class_notes": notes,
            "folds": _fold_table(cv, entry.optimism, cells.headline_metrics(run)),
        }
    if rows is not None:
        return {
            "per_class": _per_class_table(C.per_class_seed(rows), run.classes),
            "per_class_note": "On the seed split's validation images (no folds).",
            "per_class_notes": [],
        }
    return {}


def _ci_method(run: Run, name: str) -> str | None:
    """Proportions, the AUC and the other metrics get different intervals: each is named
    once, with the metrics it applies to."""
    entry = run.entry(name)
    summary = entry.cv or entry.seed_split
    by_method: dict[str, list[str]] = {}
    intervals = summary.ci if summary is not None else {}
    for metric in T.reported_metrics(intervals, run.positive):
        ci = intervals[metric]
        if ci.method:
            by_method.setdefault(ci.method, []).append(T.metric_label(metric, run.positive))
    return (
        "; ".join(f"{method} for {', '.join(names)}" for method, names in by_method.items()) or None
    )


def model_section(
    run: Run, name: str, slug: str, rows: C.EvalRows | None, figures: F.Figures
) -> dict:
    """Everything section 3 shows of one model."""
    entry = run.entry(name)
    info = run.models.get(name, {})
    delong = entry.cv.auc_delong if entry.cv is not None else None
    return {
        "name": name,
        "slug": slug,
        "anchor": f"model-{slug}",
        "input": "×".join(str(s) for s in info.get("input_shape", [])),
        "params": T.integer(info.get("params")),
        "cv": entry.cv,
        "seed": entry.seed_split,
        "metric_labels": [T.metric_label(m, run.positive) for m in cells.headline_metrics(run)],
        "evaluated_on": _evaluated_on(rows),
        "figures": _figures(run, name, slug, rows, figures),
        **_per_class(run, name, rows),
        "all_metrics": _all_metrics_table(
            run, name, T.reported_metrics(run.metrics.metrics, run.positive)
        ),
        "ci_method": _ci_method(run, name),
        "auc_delong": delong if usable(delong) else None,
    }
