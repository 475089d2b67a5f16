"""From a checked run (``_artefacts.Run``) to the plain structure the templates render.

Each section is a dict of strings, numbers, tables and figure specifications; nothing here
draws (figures are specified, then drawn by ``_render``) and nothing here writes HTML.
"""

from __future__ import annotations

import base64
import difflib
import re
import shlex
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ..assessment import headline as A
from . import _compute as C
from . import _figures as F
from . import _text as T
from . import _verdict as V
from ._artefacts import Run
from ._families import families_section
from ._gradcam import gradcam_context

#: Thumbnails per class in the sample grid, wrong predictions shown per model, and findings
#: of each kind shown with thumbnails (the rest are listed as text) — keeps the page small.
SAMPLES_PER_CLASS = 6
MISCLASSIFIED_PER_MODEL = 8
AUDIT_FINDINGS_SHOWN = 24

HEADLINE_BINARY = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "roc_auc", "f1")
HEADLINE_MULTI = ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro")


@dataclass
class FigureSpec:
    """A figure to draw: ``draw(*args)`` returns a matplotlib Figure or Axes."""

    name: str
    caption: str
    alt: str
    draw: Callable[..., Any]
    args: tuple = ()
    wide: bool = True  # spans the page; narrow ones sit side by side on wide screens
    uri: str = field(default="", repr=False)

    @property
    def file(self) -> str:
        return f"figures/{self.name}.png"


class Figures:
    """The figures of one report, with unique, readable file names."""

    def __init__(self):
        self.specs: list[FigureSpec] = []

    def add(self, name: str, caption: str, alt: str, draw, *args, wide=True) -> FigureSpec:
        spec = FigureSpec(name, caption, alt, draw, args, wide)
        self.specs.append(spec)
        return spec


def slugify(name: str, taken: set[str]) -> str:
    """A file-name-safe, unique form of a model name (``pkg.nets:wide`` -> ``pkg.nets-wide``)."""
    base = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.") or "model"
    slug, n = base, 2
    while slug in taken or slug in ("comparison", "optimism"):
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class ThumbnailFactory:
    """Thumbnails as data URIs; only the ones a section asks for are embedded."""

    def __init__(self, run: Run):
        self.run = run

    def __call__(self, path: str) -> dict:
        data = self.run.thumbnails.get(path)
        return {"path": path, "uri": _data_uri(data, "image/jpeg") if data else None}


# --------------------------------------------------------------------------- overview


def _elapsed(started, units) -> str | None:
    """Time from the run's start to its last finished unit (the report is first rendered
    before the run records its own wall time)."""
    try:
        start = datetime.fromisoformat(str(started))
        ends = [
            datetime.fromisoformat(str(u["finished_at"])) for u in units if u.get("finished_at")
        ]
        return T.seconds((max(ends) - start).total_seconds()) if ends else None
    except (TypeError, ValueError):
        return None


def _overview(run: Run, thumbs: ThumbnailFactory) -> dict:
    info = run.runinfo
    dataset = info["dataset"]
    counts = dataset["counts"]
    audit = run.audit
    pattern = run.setting("group_pattern")
    by = []
    if audit.get("family_detection") == "on":
        by.append("image families (copies of one photo)")
    if pattern:
        by.append(f"the pattern {pattern} on file names")
    if by:
        grouping = (
            f"by {' joined with '.join(by)}: {dataset.get('n_groups', 'n/a')} groups, "
            f"{audit.get('n_multi_image_groups', 'n/a')} of them with several images"
        )
    else:
        grouping = "none: every image is its own group"
    folds = run.setting("folds")
    repeats = run.setting("repeats", 1)
    epochs = run.setting("epochs")
    inner = run.setting("inner_fraction")
    val_split = run.setting("validation_split")
    sizes = {name: "×".join(str(s) for s in m["input_shape"]) for name, m in run.models.items()}
    protocol = [
        (
            "Cross-validation",
            f"{folds} stratified folds; each fold is the test set once"
            + (
                f"; repeated {repeats} times with split seeds {run.setting('seed')} to "
                f"{run.setting('seed') + repeats - 1} ({folds * repeats} folds in all)"
                if repeats > 1
                else ""
            )
            if folds
            else "none (folds 0): only the seed split was run",
        ),
        (
            "Seed split (the blog's procedure)",
            f"seed {run.setting('seed')}, {T.fraction(val_split)} of the images held out for "
            "validation",
        ),
        ("Patient/group grouping", grouping),
        ("Inner validation part", f"{T.fraction(inner)} of each training fold"),
        ("Epochs", str(epochs)),
        ("Batch size", str(run.setting("batch_size"))),
        ("Learning rate (Adam)", str(run.setting("learning_rate"))),
        ("Input size", ", ".join(f"{n}: {s}" for n, s in sizes.items())),
        (
            "Checkpoint rule",
            "the weights of the epoch with the highest accuracy on the inner validation part "
            "(the first such epoch on ties); the test fold never influences the choice. On the "
            "seed split the validation images both choose the epoch and score it, as in the blog.",
        ),
    ]
    device = info.get("device") or {}
    where = device.get("name", "n/a")
    if device.get("threads"):
        where += f", {device['threads']} threads"
    runtime = [
        ("Backend", str(info.get("backend", "n/a"))),
        ("Device", f"{str(device.get('kind', 'n/a')).upper()} ({where})"),
        ("Precision", str(info.get("precision_policy", "n/a"))),
        # units finished before engines existed were trained one after another
        (
            "Engine",
            ", ".join(sorted({str(u.get("engine", "sequential")) for u in run.units.values()}))
            or str(info.get("engine", "n/a")),
        ),
        ("Executor", str(run.setting("executor", "n/a"))),
        ("Started", str(info.get("started") or "n/a")),
        *([("Resumed", str(info["resumed"]))] if info.get("resumed") else []),
        ("Finished", str(info.get("finished") or "not recorded yet")),
        (
            "Versions",
            ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items()) or "n/a",
        ),
    ]
    planned = list(info.get("units_planned") or run.units)
    units = []
    total = 0.0
    for name in planned + sorted(set(run.units) - set(planned)):
        unit = run.units.get(name)
        if unit is None:
            units.append({"name": name, "finished": False})
            continue
        total += float(unit.get("seconds") or 0.0)
        units.append(
            {
                "name": name,
                "finished": True,
                "model": unit.get("model"),
                "split": "seed split"
                if unit.get("scheme") == "seed"
                else f"fold {unit.get('fold')}",
                "n_train": unit.get("n_train"),
                "n_val": unit.get("n_val"),
                "n_test": unit.get("n_test") if unit.get("scheme") == "cv" else "—",
                "epochs": unit.get("epochs"),
                "best_epoch": f"diverged at epoch {unit.get('diverged_at')}"
                if unit.get("status") == "diverged"
                else unit.get("best_epoch"),
                "seconds": T.seconds(unit.get("seconds")),
                "per_epoch": T.seconds(unit.get("seconds_per_epoch")),
            }
        )
    samples = C.sample_paths(run.splits, run.classes, SAMPLES_PER_CLASS)
    return {
        "dataset": [
            ("Folder", str(dataset.get("root", "n/a"))),
            ("Fingerprint", str(dataset["fingerprint"])),
            ("Images", f"{dataset['n_images']} in {len(run.classes)} classes"),
            ("Classes", ", ".join(f"{c}: {counts.get(c, 0)}" for c in run.classes)),
            (
                "Image sizes seen",
                ", ".join(f"{size}: {n}" for size, n in (dataset.get("sizes_seen") or {}).items())
                or "n/a",
            ),
        ],
        "skipped": list(dataset.get("skipped") or []),
        "unread": [str(p) for p in dataset.get("unread") or []],
        "protocol": protocol,
        "runtime": runtime,
        "units": units,
        "training_total": T.seconds(total),
        "wall": T.seconds(info.get("wall_seconds")) if info.get("wall_seconds") else None,
        "resumed": info.get("resumed"),
        "elapsed": _elapsed(info.get("started"), run.units.values()),
        "samples": [
            {"label": cls, "count": counts.get(cls, 0), "images": [thumbs(p) for p in paths]}
            for cls, paths in samples.items()
        ],
    }


# --------------------------------------------------------------------------- per model


def _pooled_cells(summary: dict, rows: C.EvalRows | None, names, positive) -> list[dict]:
    """Pooled values, each with its own interval (exact for a proportion whose bootstrap
    interval has no width)."""
    pooled = summary.get("pooled") or summary
    cells = []
    for name in names:
        counts = (
            A.proportion_counts(rows.labels, rows.predicted, name, positive, rows.classes)
            if rows is not None
            else None
        )
        ci = (summary.get(A.METRICS_INTERVAL_KEY) or {}).get(name)
        cells.append(V.interval_cell(pooled.get(name), ci, proportion=counts))
    return cells


def _headline_metrics(metrics: dict) -> list[str]:
    names = metrics.get("metrics") or []
    wanted = HEADLINE_BINARY if metrics.get("positive_class") else HEADLINE_MULTI
    return [m for m in wanted if m in names]


def _chosen_epochs(entry: dict, units: dict, model: str) -> dict:
    chosen = {}
    for unit in units.values():
        if unit.get("model") == model and isinstance(unit.get("best_epoch"), int):
            chosen[(unit.get("scheme"), int(unit.get("fold", 0)))] = unit["best_epoch"]
    cv = entry.get("cv")
    for fold in (cv or {}).get("folds") or []:
        if fold.get("best_epoch") is not None:
            chosen[("cv", int(fold["fold"]))] = fold["best_epoch"]
    seed = entry.get("seed_split")
    if seed and seed.get("best_epoch") is not None:
        chosen[("seed", 0)] = seed["best_epoch"]
    return chosen


def _per_class_table(per_class: dict, classes: list[str], counts: dict | None = None) -> list[dict]:
    rows = []
    for cls in classes:
        entry = per_class.get(cls)
        if not entry:
            continue
        row = {"class": cls}
        for metric in ("precision", "recall", "f1"):
            values = entry[metric]
            row[metric] = (
                T.pm(values.get("mean"), values.get("std"))
                if values.get("mean") is not None
                else T.num(values.get("pooled"))
            )
            counted = ((counts or {}).get(cls) or {}).get(metric)
            if counted and counted["n"] < counted["of"] and values.get("mean") is not None:
                row[metric] += f" ({counted['n']} of {counted['of']} folds)"
            row[metric + "_pooled"] = T.num(values.get("pooled"))
        row["support"] = T.integer(entry["support"].get("pooled"))
        rows.append(row)
    return rows


def _fold_table(cv: dict, optimism: dict | None, metric_names: list[str]) -> list[dict]:
    by_fold = {f["fold"]: f for f in (optimism or {}).get("per_fold") or []}
    rows = []
    for fold in cv["folds"]:
        extra = by_fold.get(fold["fold"], {})
        rows.append(
            {
                "fold": fold["fold"],
                "n_train": fold.get("n_train"),
                "n_test": fold.get("n_test"),
                "best_epoch": fold.get("best_epoch")
                if fold.get("best_epoch") is not None
                else "n/a",
                "values": [T.num(fold.get(m)) for m in metric_names],
                "best_on_test": T.num(extra.get("best_epoch_on_test")),
                "best_test_epoch": extra.get("best_test_epoch", "n/a"),
                "last": T.num(extra.get("last")),
            }
        )
    return rows


def _all_metrics_table(run: Run, model: str, metric_names: list[str], positive) -> list[dict]:
    entry = run.metrics["models"].get(model) or {}
    cv, seed = entry.get("cv"), entry.get("seed_split")
    counts = (entry.get("assessment") or {}).get("fold_counts") or {}
    cv_rows = C.eval_rows(run.predictions, model, run.classes, "cv") if cv else None
    seed_rows = C.eval_rows(run.predictions, model, run.classes, "seed") if seed else None
    pooled = _pooled_cells(cv, cv_rows, metric_names, positive) if cv else []
    seeded = _pooled_cells(seed, seed_rows, metric_names, positive) if seed else []
    rows = []
    for i, name in enumerate(metric_names):
        row = {"label": T.metric_label(name, positive)}
        if cv:
            row["cv"] = T.pm(cv["mean"].get(name), cv["std"].get(name))
            row["folds"] = V.folds_note(counts.get(name)) or f"all {cv['k']}"
            low, high = (cv.get("min") or {}).get(name), (cv.get("max") or {}).get(name)
            row["range"] = (
                "n/a"
                if low is None
                else f"{T.num(low)} on every fold"
                if T.num(low) == T.num(high)
                else f"{T.num(low)}–{T.num(high)}"
            )
            row["pooled"] = pooled[i]["value"]
            row["ci"] = _ci_text(pooled[i])
            last = cv.get("last")
            row["last"] = T.pm(last["mean"].get(name), last["std"].get(name)) if last else "n/a"
        if seed:
            row["seed"] = seeded[i]["value"]
            row["seed_ci"] = _ci_text(seeded[i])
        rows.append(row)
    return rows


def _ci_text(cell: dict) -> str:
    if cell["ci"]:
        return f"{cell['ci']} ({cell['method']})" if cell["method"] else cell["ci"]
    return cell["note"] or ""


def _eval_rows(run: Run, name: str) -> C.EvalRows | None:
    """What a model is judged on: its cv test folds, else the seed split's validation part."""
    return C.eval_rows(run.predictions, name, run.classes, "cv") or C.eval_rows(
        run.predictions, name, run.classes, "seed"
    )


def _model_section(
    run: Run, name: str, slug: str, rows: C.EvalRows | None, figures: Figures
) -> dict:
    metrics = run.metrics
    entry = metrics["models"].get(name) or {"cv": None, "seed_split": None}
    positive = metrics.get("positive_class")
    classes = run.classes
    cv, seed = entry.get("cv"), entry.get("seed_split")
    names = list(metrics.get("metrics") or [])
    info = run.models.get(name, {})
    section = {
        "name": name,
        "slug": slug,
        "anchor": f"model-{slug}",
        "input": "×".join(str(s) for s in info.get("input_shape", [])),
        "params": T.integer(info.get("params")),
        "cv": cv,
        "seed": seed,
        "figures": [],
        "metric_labels": [T.metric_label(m, positive) for m in _headline_metrics(metrics)],
    }
    section["evaluated_on"] = (
        None
        if rows is None
        else f"the held-out test folds ({len(rows.frame)} images, {len(rows.fold_ids())} folds)"
        if rows.scheme == "cv"
        else f"the seed split's validation images ({len(rows.frame)} images; optimistic, "
        "since they also chose the checkpoint)"
    )

    runs = C.training_runs(run.history, name, _chosen_epochs(entry, run.units, name))
    if runs:
        has_cv = any(r.scheme == "cv" for r in runs)
        section["figures"].append(
            figures.add(
                f"{slug}-curves",
                "Training curves per unit: accuracy and loss on the training images and on the "
                "validation images — "
                + (
                    "in cross-validation the inner validation part, on the seed split its "
                    "held-out share — and, in cross-validation, on the test fold; "
                    if has_cv
                    else "the seed split's held-out share; "
                )
                + "the dashed line marks the epoch whose weights were kept.",
                f"Training curves of {name}",
                F.plot_training_curves,
                runs,
            )
        )
        mean = C.mean_curves(runs)
        if mean is not None:
            section["figures"].append(
                figures.add(
                    f"{slug}-curves-mean",
                    "Mean ± 1 SD over the cross-validation folds at each epoch.",
                    f"Mean training curves of {name}",
                    F.plot_mean_curves,
                    mean,
                )
            )
    if rows is not None:
        section["figures"].append(
            figures.add(
                f"{slug}-confusion",
                "Confusion matrices (rows: true class, columns: predicted class). Each cell shows "
                "the count and, below it, its share of the true class's images; the colour follows "
                "that share."
                + (
                    " One per test fold, then all folds pooled."
                    if rows.scheme == "cv" and len(rows.fold_ids()) > 1
                    else ""
                ),
                f"Confusion matrices of {name}",
                F.plot_confusion_grid,
                C.confusions(rows),
                classes,
            )
        )
        section["figures"].append(
            figures.add(
                f"{slug}-roc",
                "ROC curves: "
                + (
                    "each test fold (thin), the mean over folds with a ±1 SD band (metrics.json "
                    "mean_roc), and all test folds pooled (dash-dot)."
                    if positive and rows.scheme == "cv" and len(rows.fold_ids()) > 1
                    else "one class against the rest, pooled."
                    if not positive
                    else "pooled over the evaluated images."
                ),
                f"ROC curves of {name}",
                F.plot_roc,
                C.roc_panel(rows, positive, cv),
                wide=False,
            )
        )
        section["figures"].append(
            figures.add(
                f"{slug}-pr",
                "Precision–recall curves with average precision (AP); the dotted line is the "
                "share of the class among the images, what a random ranking achieves.",
                f"Precision-recall curves of {name}",
                F.plot_precision_recall,
                C.pr_panel(rows, positive),
                wide=False,
            )
        )
        section["figures"].append(
            figures.add(
                f"{slug}-reliability",
                "Reliability: in each probability bin, the predicted probability against how "
                "often it came true (on the diagonal: well calibrated); the bars count images.",
                f"Reliability diagram of {name}",
                F.plot_reliability,
                C.reliability(rows, positive, cv),
                wide=False,
            )
        )
    if cv:
        counted = (entry.get("assessment") or {}).get("per_class_fold_counts") or {}
        section["per_class"] = _per_class_table(cv["per_class"], classes, counted)
        notes = [
            f"{metric} of {cls}: {V.folds_note(c[metric])}"
            for cls, c in counted.items()
            for metric in ("precision", "recall")
            if V.folds_note(c.get(metric) or {})
        ]
        section["per_class_note"] = (
            f"mean ± SD over the {cv['k']} folds where the value is defined; pooled in the "
            "last columns" + ("; " + "; ".join(notes) if notes else "")
        )
        section["folds"] = _fold_table(cv, entry.get("optimism"), _headline_metrics(metrics))
    elif rows is not None:
        section["per_class"] = _per_class_table(C.per_class_seed(rows), classes)
        section["per_class_note"] = "on the seed split's validation images (no folds)"
    section["all_metrics"] = _all_metrics_table(run, name, names, positive)
    # Proportions, the AUC and the other metrics get different intervals: name each once.
    by_method: dict[str, list[str]] = {}
    for name, ci in ((cv or seed or {}).get("ci") or {}).items():
        if ci and ci.get("method"):
            by_method.setdefault(ci["method"], []).append(T.metric_label(name, positive))
    section["ci_method"] = (
        "; ".join(f"{method} for {', '.join(names)}" for method, names in by_method.items()) or None
    )
    delong = (cv or {}).get("auc_delong")
    section["auc_delong"] = delong if A.usable(delong) else None
    return section


# --------------------------------------------------------------------------- headline


def _headline(run: Run, sections: list[dict], figures: Figures) -> dict:
    metrics = run.metrics
    positive = metrics.get("positive_class")
    names = _headline_metrics(metrics)
    split_seed, epochs = run.setting("seed"), run.setting("epochs")
    models, bars = [], []
    for section in sections:
        entry = metrics["models"].get(section["name"]) or {}
        cv, seed, optimism = entry.get("cv"), entry.get("seed_split"), entry.get("optimism")
        assessment = entry.get("assessment") or {}
        counts = assessment.get("fold_counts") or {}
        rows = []
        if cv:
            cv_rows = C.eval_rows(run.predictions, section["name"], run.classes, "cv")
            rows.append(
                {
                    "label": f"Pooled over the {cv['k']} test folds ({cv['n']} images)",
                    "kind": "honest",
                    "tag": "test images chose nothing",
                    "cells": _pooled_cells(cv, cv_rows, names, positive),
                }
            )
            rows.append(
                {
                    "label": f"Mean over the {cv['k']} test folds, t interval over folds",
                    "kind": "honest",
                    "tag": "test images chose nothing",
                    "cells": [V.fold_mean_cell(cv, m, counts) for m in names],
                }
            )
        if seed:
            seed_rows = C.eval_rows(run.predictions, section["name"], run.classes, "seed")
            rows.append(
                {
                    "label": f"Seed split, the blog's procedure ({seed['n_val']} validation "
                    "images)",
                    "kind": "optimistic",
                    "tag": "checkpoint chosen on these images",
                    "cells": _pooled_cells(seed, seed_rows, names, positive),
                }
            )
        sentences = []
        if seed:
            honest = (assessment.get("headline") or {}).get("accuracy") if cv else None
            sentences.append(T.seed_sentence(seed, cv, split_seed, epochs, honest=honest))
        if optimism:
            sentences.append(T.optimism_sentence(optimism))
        if not cv and not seed:
            sentences.append("No unit of this model has finished yet.")
        models.append(
            {
                "name": section["name"],
                "anchor": section["anchor"],
                "rows": rows,
                "sentences": [s for s in sentences if s],
                "alarms": [a["message"] for a in assessment.get("alarms") or []],
            }
        )
        model_bars = [
            (
                "seed split: best validation epoch (the blog: epoch chosen on these images)",
                (seed or {}).get("best_val_accuracy"),
                "#9467bd",
            ),
            (
                "cv: best epoch picked on the test fold (chosen on the graded images)",
                (optimism or {}).get("best_epoch_on_test"),
                "#ff7f0e",
            ),
            (
                "cv: epoch chosen on inner validation (honest)",
                (optimism or {}).get("chosen"),
                "#2ca02c",
            ),
            ("cv: last epoch", (optimism or {}).get("last"), "#7f7f7f"),
        ]
        if any(v is not None for _, v, _ in model_bars):
            bars.append((section["name"], model_bars))
    figure = None
    if any(value is not None for _, model_bars in bars for _, value, _ in model_bars[1:]):
        figure = figures.add(
            "optimism",
            "Test accuracy (mean over folds) depending on how the checkpoint was chosen, beside "
            "the blog-style seed-split number. Only the green bar comes from a procedure in "
            "which the graded images chose nothing; the others can overstate, whatever value "
            "they happen to take in this run.",
            "Accuracy by checkpoint choice per model",
            F.plot_optimism,
            bars,
        )
    return {
        "columns": [T.metric_label(m, positive) for m in names],
        "models": models,
        "figure": figure,
        "positive": positive,
        "ci_note": "Pooled rows: the metric on all held-out images together, with its 95 % "
        "interval computed on those same images (percentile bootstrap, "
        f"{metrics.get('n_resamples', 'n/a')} resamples, whole patient groups resampled when a "
        "group has several images; an exact binomial interval for a proportion whose bootstrap "
        "cannot move). Mean rows: the mean over folds with a Student t interval over the folds "
        "(a fold where the metric is undefined is left out and counted). The seed-split row "
        "is scored on the images that chose its checkpoint.",
    }


# --------------------------------------------------------------------------- comparison


def _layer_cell(layer: dict) -> dict:
    shape = layer.get("output_shape") or []
    shape = shape[1:] if shape and shape[0] is None else shape
    return {
        "name": str(layer.get("name", "")),
        "type": str(layer.get("type", "")),
        "shape": "(" + ", ".join(str(s) for s in shape) + ")",
        "params": T.integer(layer.get("params")),
    }


def align_layers(tables: list[list[dict]]) -> list[dict]:
    """Line up several models' layer lists by layer type, one row per aligned position.

    Each row holds one cell per model (None where that model has no such layer) and says
    which fields differ from the first model present in the row.
    """
    rows: list[list[dict | None]] = [[cell] for cell in (tables[0] if tables else [])]
    for index, table in enumerate(tables[1:], start=1):
        reference = [next(c for c in row if c is not None)["type"] for row in rows]
        matcher = difflib.SequenceMatcher(a=reference, b=[c["type"] for c in table], autojunk=False)
        merged = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            paired = min(i2 - i1, j2 - j1) if tag in ("equal", "replace") else 0
            for offset in range(paired):
                merged.append(rows[i1 + offset] + [table[j1 + offset]])
            for i in range(i1 + paired, i2):
                merged.append(rows[i] + [None])
            for j in range(j1 + paired, j2):
                merged.append([None] * index + [table[j]])
        rows = merged
    out = []
    for cells in rows:
        present = [c for c in cells if c is not None]
        first = present[0]
        diff = {
            key: any(c[key] != first[key] for c in present) for key in ("type", "shape", "params")
        }
        out.append(
            {
                "cells": cells,
                "diff": diff,
                "differs": len(present) < len(cells) or any(diff.values()),
                "design": len(present) < len(cells) or diff["type"],
            }
        )
    return out


def _comparison(run: Run, sections: list[dict], figures: Figures) -> dict:
    metrics = run.metrics
    positive = metrics.get("positive_class")
    names = [s["name"] for s in sections]
    models = []
    for name in names:
        info = run.models.get(name, {})
        units = [u for u in run.units.values() if u.get("model") == name]
        per_epoch = [
            u["seconds_per_epoch"]
            for u in units
            if isinstance(u.get("seconds_per_epoch"), (int, float))
        ]
        models.append(
            {
                "name": name,
                "builder": str(info.get("builder", "n/a")),
                "input": "×".join(str(s) for s in info.get("input_shape", [])),
                "params": T.integer(info.get("params")),
                "per_epoch": T.seconds(float(np.mean(per_epoch))) if per_epoch else "n/a",
                "training": T.seconds(sum(float(u.get("seconds") or 0) for u in units)),
                "units": len(units),
            }
        )
    layer_names = [n for n in names if n in run.models]
    layers = align_layers(
        [[_layer_cell(layer) for layer in run.models[n]["layers"]] for n in layer_names]
    )
    mixed = V.size_mix(run)
    metric_names = list(metrics.get("metrics") or [])
    side_by_side = []
    for m in metric_names:
        cells = []
        for name in names:
            entry = metrics["models"].get(name) or {}
            cv = entry.get("cv")
            counted = ((entry.get("assessment") or {}).get("fold_counts") or {}).get(m)
            cell = T.pm(cv["mean"].get(m), cv["std"].get(m)) if cv else "—"
            if cv and counted and counted["n"] < counted["of"]:
                cell += f" ({counted['n']} of {counted['of']} folds)"
            cells.append(cell)
        side_by_side.append({"label": T.metric_label(m, positive), "cells": cells})
    alarms = {
        name: [a["message"] for a in ((entry.get("assessment") or {}).get("alarms") or [])]
        for name, entry in metrics["models"].items()
    }
    primary, alpha = T.declared_test(metrics)
    pairs = []
    for comparison in metrics["comparisons"]:
        tests = T.comparison_tests(comparison, primary=primary, alpha=alpha)
        pairs.append(
            {
                "a": comparison["a"],
                "b": comparison["b"],
                "comparison": comparison,
                "tests": tests,
                "verdict": T.verdict(
                    comparison,
                    tests,
                    n_images=comparison.get("n_paired"),
                    alarms=alarms,
                    alpha=alpha,
                ),
            }
        )
    figure = None
    per_fold = {}
    for name in names:
        cv = (metrics["models"].get(name) or {}).get("cv")
        if cv:
            per_fold[name] = (
                [f["fold"] for f in cv["folds"]],
                [f.get("accuracy") for f in cv["folds"]],
            )
    if len(per_fold) >= 2:
        figure = figures.add(
            "comparison-folds",
            "Each model's test accuracy on every fold. Lines that cross, or lie close, mean "
            "the folds disagree about which model is better.",
            "Per-fold accuracy of the models",
            F.plot_fold_comparison,
            per_fold,
        )
    return {
        "names": names,
        "models": models,
        "layer_names": layer_names,
        "layers": layers,
        "design_only": bool(mixed),
        "design_differences": _design_differences(layers, layer_names),
        "size_mix": mixed,
        "one_size_command": V.one_size_command(run),
        "metrics": side_by_side,
        "pairs": pairs,
        "figure": figure,
        "overlays": _overlays(run, names, positive, figures),
        "several_pairs": len(pairs) > 1,
        "no_cv": len(names) > 1 and not pairs,
        "alpha": alpha,
    }


def _design_differences(layers: list[dict], names: list[str]) -> list[str]:
    """The rows where the models' designs differ (a layer only some have, or another type),
    in words; shapes and parameter counts that follow from the input size are not listed."""
    out = []
    for index, row in enumerate(layers, start=1):
        cells = row["cells"]
        present = [(n, c) for n, c in zip(names, cells, strict=True) if c is not None]
        if len(present) < len(cells):
            have = ", ".join(n for n, _ in present)
            out.append(f"row {index}: {present[0][1]['type']} only in {have}")
        elif row["diff"]["type"]:
            kinds = ", ".join(f"{n} {c['type']}" for n, c in present)
            out.append(f"row {index}: {kinds}")
    return out


def _overlays(run: Run, names: list[str], positive, figures: Figures) -> list[FigureSpec]:
    """Figures that put the models on one set of axes: pooled ROC and mean training curves."""
    out = []
    rows = {name: C.eval_rows(run.predictions, name, run.classes, "cv") for name in names}
    rows = {name: r for name, r in rows.items() if r is not None}
    if positive is not None and len(rows) >= 2:
        panel = C.roc_overlay(rows, positive)
        if panel.pooled:
            out.append(
                figures.add(
                    "comparison-roc",
                    "Pooled ROC curve of every model over its held-out test folds, on one set "
                    "of axes.",
                    "Pooled ROC curves of the models",
                    F.plot_roc,
                    panel,
                    wide=False,
                )
            )
    means = {}
    for name in names:
        entry = run.metrics["models"].get(name) or {}
        chosen = _chosen_epochs(entry, run.units, name)
        mean = C.mean_curves(C.training_runs(run.history, name, chosen))
        if mean is not None:
            means[name] = mean
    if len(means) >= 2:
        out.append(
            figures.add(
                "comparison-curves",
                "Mean over the folds at each epoch, one colour per model: test-fold accuracy "
                "and loss (solid) and training accuracy and loss (dashed).",
                "Mean training curves of the models",
                F.plot_mean_curves_overlay,
                means,
            )
        )
    return out


# --------------------------------------------------------------------------- audit


_ROLE_ORDER = ("train", "val", "test")


def _pair_name(roles: set[str]) -> str:
    ordered = [r for r in _ROLE_ORDER if r in roles]
    return " / ".join(ordered) if ordered else "—"


def _audit(run: Run, thumbs: ThumbnailFactory, evaluated: dict) -> dict:
    audit = run.audit
    leaks = audit["leaks"]
    exact, near = _duplicates(audit, thumbs)
    group_list = _group_leaks(leaks, thumbs)
    return {
        "hash_bits": audit.get("hash_bits", "n/a"),
        "near_bits": audit.get("near_duplicate_bits", "n/a"),
        "n_multi": audit.get("n_multi_image_groups", "n/a"),
        "n_leaks": len(leaks),
        "table": _leak_table(leaks),
        "exact": exact[:AUDIT_FINDINGS_SHOWN],
        "exact_more": max(len(exact) - AUDIT_FINDINGS_SHOWN, 0),
        "near": near[:AUDIT_FINDINGS_SHOWN],
        "near_more": max(len(near) - AUDIT_FINDINGS_SHOWN, 0),
        "groups": group_list[:AUDIT_FINDINGS_SHOWN],
        "groups_more": group_list[AUDIT_FINDINGS_SHOWN:],
        "errors": _mistakes(evaluated, thumbs),
    }


def _duplicates(audit: dict, thumbs: ThumbnailFactory) -> tuple[list[dict], list[dict]]:
    """Exact and near duplicates, each with the splits where they leak."""
    by_paths: dict[tuple[str, frozenset], list[dict]] = defaultdict(list)
    for leak in audit["leaks"]:
        key = frozenset(item["path"] for item in leak["items"])
        by_paths[(leak["kind"], key)].append(leak)

    def where(kind: str, paths) -> list[str]:
        found = by_paths.get((kind, frozenset(paths)), [])
        return [
            f"{leak['split']} ({_pair_name({i['role'] for i in leak['items']})})" for leak in found
        ]

    exact = []
    for members in audit["exact_duplicates"]:
        paths = [m["path"] for m in members]
        exact.append(
            {
                "images": [dict(thumbs(m["path"]), group=m.get("group")) for m in members],
                "where": where("exact", paths),
            }
        )
    near = []
    for pair in audit["near_duplicates"]:
        paths = [pair["a"]["path"], pair["b"]["path"]]
        near.append(
            {
                "images": [
                    dict(thumbs(item["path"]), group=item.get("group"))
                    for item in (pair["a"], pair["b"])
                ],
                "distance": pair["distance"],
                "where": where("near", paths),
            }
        )
    return exact, near


def _group_leaks(leaks: list[dict], thumbs: ThumbnailFactory) -> list[dict]:
    """Groups found on both sides of a split, by group id; the first shown with images."""
    groups: dict[str, dict] = {}
    for leak in leaks:
        if leak["kind"] != "group":
            continue
        entry = groups.setdefault(
            str(leak.get("group", "?")),
            {"group": str(leak.get("group", "?")), "roles": {}, "splits": []},
        )
        entry["splits"].append(leak["split"])
        for item in leak["items"]:
            entry["roles"].setdefault(item["path"], []).append(
                f"{leak['split']}: {item['role'] or 'unused'}"
            )
    group_list = sorted(groups.values(), key=lambda g: g["group"])
    for entry in group_list[:AUDIT_FINDINGS_SHOWN]:
        entry["images"] = [
            dict(thumbs(path), roles=", ".join(roles)) for path, roles in entry["roles"].items()
        ]
    return group_list


def _leak_table(leaks: list[dict]) -> list[dict]:
    """One row per split with leaks: their count of each kind, by the roles they join."""
    splits = sorted(
        {leak["split"] for leak in leaks}, key=lambda s: (not s.startswith("seed"), len(s), s)
    )
    table = []
    for split in splits:
        row = {"split": split}
        for kind in ("exact", "near", "group"):
            found = [leak for leak in leaks if leak["split"] == split and leak["kind"] == kind]
            pairs = defaultdict(int)
            for leak in found:
                pairs[_pair_name({i["role"] for i in leak["items"]})] += 1
            row[kind] = ", ".join(f"{n} ({p})" for p, n in sorted(pairs.items())) or "0"
        table.append(row)
    return table


def _mistakes(evaluated: dict, thumbs: ThumbnailFactory) -> list[dict]:
    """Each model's most confident wrong predictions, with their images."""
    errors = []
    for name, rows in evaluated.items():
        if rows is None:
            continue
        items = C.misclassified(rows, MISCLASSIFIED_PER_MODEL)
        for item in items:
            item.update(thumbs(item["path"]))
            item["confidence_text"] = T.num(item["confidence"])
            item["true_probability_text"] = T.num(item["true_probability"])
        errors.append(
            {
                "name": name,
                "where": "test-fold images"
                if rows.scheme == "cv"
                else "seed-split validation images",
                "n_wrong": int((rows.predicted != rows.labels).sum()),
                "n": len(rows.frame),
                "mistakes": items,
            }
        )
    return errors


# --------------------------------------------------------------------------- the report


def _partial_banner(run: Run) -> dict | None:
    planned = list(run.runinfo.get("units_planned") or [])
    missing = [u for u in planned if u not in run.units]
    if not missing:
        return None
    return {
        "finished": len(planned) - len(missing),
        "planned": len(planned),
        "missing": missing,
    }


def _diverged_banner(run: Run) -> dict | None:
    """Units whose training diverged: results (recorded, not retrained), but without
    predictions, so the fold statistics leave them out and say so."""
    diverged = {
        name: unit.get("diverged_at")
        for name, unit in run.units.items()
        if unit.get("status") == "diverged"
    }
    if not diverged:
        return None
    return {"count": len(diverged), "units": [f"{n} at epoch {e}" for n, e in diverged.items()]}


def build_context(run: Run) -> tuple[dict, list[FigureSpec]]:
    """The template's context and the figures it needs drawn."""
    figures = Figures()
    thumbs = ThumbnailFactory(run)
    taken: set[str] = set()
    names = list(run.models) + [m for m in run.metrics["models"] if m not in run.models]
    evaluated = {name: _eval_rows(run, name) for name in names}
    sections = [
        _model_section(run, name, slugify(name, taken), evaluated[name], figures) for name in names
    ]
    command = run.runinfo.get("command") or []
    comparison = _comparison(run, sections, figures)
    context = {
        "title": f"{' vs '.join(names)} — evaluation report",
        "version": run.runinfo.get("mpx_eval") or "(version not recorded)",
        "out": str(run.out),
        "classes": run.classes,
        "positive": run.metrics.get("positive_class"),
        "banner": V.banner(run),
        "partial": _partial_banner(run),
        "diverged": _diverged_banner(run),
        "overview": _overview(run, thumbs),
        "headline": _headline(run, sections, figures),
        "models": sections,
        "comparison": comparison,
        "verdict": V.build(run, sections, comparison["pairs"]),
        "audit": _audit(run, thumbs, evaluated),
        "families": families_section(run, thumbs),
        "gradcam": gradcam_context(run, evaluated, MISCLASSIFIED_PER_MODEL),
        "reproduce": {
            "command": shlex.join(str(c) for c in command) if command else None,
            "rerender": shlex.join(["python", "-m", "mpx_eval", "report", "--out", str(run.out)]),
            "config": run.config_text,
        },
    }
    return context, figures.specs
