"""Section 4, "Architecture comparison": the models' sizes and times, their layers lined up,
the metrics side by side, the figures that overlay the models, and each pair's paired tests
with the verdict the assessment decided, in words."""

from __future__ import annotations

import difflib
import shlex

import numpy as np

from ...assessment.verdicts import decide_all, declared_test
from .. import curves as C
from .. import figures as F
from .. import text as T
from ..run import Run

# --------------------------------------------------------------------------- input sizes


def _sizes(run: Run) -> dict[str, int]:
    return {
        name: int(info["input_shape"][0])
        for name, info in run.models.items()
        if info.get("input_shape")
    }


def one_size_command(run: Run) -> str | None:
    """The run's command again with one ``--image-size`` for every model (the smallest of
    their sizes) and its own output folder, or None when the models share a size."""
    sizes = _sizes(run)
    if len(set(sizes.values())) < 2:
        return None
    size = min(sizes.values())
    command = [str(c) for c in run.runinfo.get("command") or ["python", "-m", "mpx_eval", "run"]]
    kept, skip = [], False
    for arg in command:
        if skip:
            skip = False
            continue
        if arg in ("--image-size", "--out", "--overwrite"):
            skip = arg != "--overwrite"
            continue
        if arg.startswith(("--image-size=", "--out=")):
            continue
        kept.append(arg)
    out = f"{str(run.out).rstrip('/')}-size{size}"
    return shlex.join([*kept, "--image-size", str(size), "--out", out])


def size_mix(run: Run) -> str | None:
    """The sentence that says a comparison mixes input size and design, or None."""
    sizes = _sizes(run)
    if len(set(sizes.values())) < 2:
        return None
    listed = ", ".join(f"{name} {size} px" for name, size in sizes.items())
    return (
        f"The models also differ in input size ({listed}), so this comparison mixes size and "
        "design."
    )


# --------------------------------------------------------------------------- layers


def _layer_cell(layer: dict) -> dict:
    shape = layer.get("output_shape") or []
    shape = shape[1:] if shape and shape[0] is None else shape
    return {
        "name": str(layer.get("name", "")),
        "type": str(layer.get("type", "")),
        "shape": "(" + ", ".join(str(s) for s in shape) + ")",
        "params": T.integer(layer.get("params")),
    }


def _merge(rows: list[list[dict | None]], table: list[dict], index: int) -> list:
    """Rows of the first ``index`` models with the next model's layers lined up by type."""
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
    return merged


def _aligned_row(row: list[dict | None]) -> dict:
    present = [c for c in row if c is not None]
    first = present[0]
    diff = {key: any(c[key] != first[key] for c in present) for key in ("type", "shape", "params")}
    return {
        "cells": row,
        "diff": diff,
        "differs": len(present) < len(row) or any(diff.values()),
        "design": len(present) < len(row) or diff["type"],
    }


def align_layers(tables: list[list[dict]]) -> list[dict]:
    """Line up several models' layer lists by layer type, one row per aligned position.

    Each row holds one cell per model (None where that model has no such layer) and says
    which fields differ from the first model present in the row.
    """
    rows: list[list[dict | None]] = [[cell] for cell in (tables[0] if tables else [])]
    for index, table in enumerate(tables[1:], start=1):
        rows = _merge(rows, table, index)
    return [_aligned_row(row) for row in rows]


def _design_differences(layers: list[dict], names: list[str]) -> list[str]:
    """The rows where the models' designs differ (a layer only some have, or another type),
    in words; shapes and parameter counts that follow from the input size are not listed."""
    out = []
    for index, row in enumerate(layers, start=1):
        row_cells = row["cells"]
        present = [(n, c) for n, c in zip(names, row_cells, strict=True) if c is not None]
        if len(present) < len(row_cells):
            have = ", ".join(n for n, _ in present)
            out.append(f"row {index}: {present[0][1]['type']} only in {have}")
        elif row["diff"]["type"]:
            kinds = ", ".join(f"{n} {c['type']}" for n, c in present)
            out.append(f"row {index}: {kinds}")
    return out


# --------------------------------------------------------------------------- tables


def _model_row(run: Run, name: str) -> dict:
    info = run.models.get(name, {})
    units = [u for u in run.units.values() if u.get("model") == name]
    per_epoch = [u.get("seconds_per_epoch") for u in units]
    per_epoch = [s for s in per_epoch if isinstance(s, (int, float))]
    return {
        "name": name,
        "builder": str(info.get("builder", "n/a")),
        "input": "×".join(str(s) for s in info.get("input_shape", [])),
        "params": T.integer(info.get("params")),
        "per_epoch": T.seconds(float(np.mean(per_epoch))) if per_epoch else "n/a",
        "training": T.seconds(sum(float(u.get("seconds") or 0) for u in units)),
        "units": len(units),
    }


def _side_by_side(run: Run, names: list[str]) -> list[dict]:
    """Each metric's mean ± SD over folds, one column per model."""
    out = []
    for metric in T.reported_metrics(run.metrics.metrics, run.positive):
        row = []
        for name in names:
            entry = run.entry(name)
            cv = entry.cv
            if cv is None:
                row.append("—")
                continue
            cell = T.pm(cv.mean.get(metric), cv.std.get(metric))
            counted = entry.assessment.fold_counts.get(metric) if entry.assessment else None
            if counted is not None and counted.partial:
                cell += f" ({counted.n} of {counted.of} folds)"
            row.append(cell)
        out.append({"label": T.metric_label(metric, run.positive), "cells": row})
    return out


def pairs(run: Run, primary: str, alpha: float) -> list[dict]:
    """Each pair's tests and the verdict decided for it, in words."""
    out = []
    for comparison, verdict in zip(run.metrics.comparisons, decide_all(run.metrics), strict=True):
        tests = T.comparison_tests(comparison, primary=primary, alpha=alpha)
        out.append(
            {
                "a": comparison.a,
                "b": comparison.b,
                "verdict_decided": verdict,
                "tests": tests,
                "effects": T.comparison_effects(comparison),
                "effect_sentence": T.effect_sentence(comparison),
                "verdict": T.verdict(verdict, tests),
            }
        )
    return out


# --------------------------------------------------------------------------- figures


def _figures(run: Run, names: list[str], figures: F.Figures) -> tuple:
    """The per-fold accuracy figure, and the overlays: pooled ROC curves and mean training
    curves of every model on one set of axes."""
    per_fold = {}
    for name in names:
        cv = run.entry(name).cv
        if cv is not None:
            accuracies = [f.metrics.get("accuracy") for f in cv.folds]
            per_fold[name] = ([f.fold for f in cv.folds], accuracies)
    folds = figures.add(F.fold_comparison_figure(per_fold)) if len(per_fold) >= 2 else None
    overlays = []
    rows = {name: run.rows(name, "cv") for name in names}
    rows = {name: r for name, r in rows.items() if r is not None}
    if run.positive is not None and len(rows) >= 2:
        panel = C.roc_overlay(rows, run.positive)
        if panel.pooled:
            overlays.append(figures.add(F.roc_overlay_figure(panel)))
    means = {}
    for name in names:
        mean = C.mean_curves(run.training(name))
        if mean is not None:
            means[name] = mean
    if len(means) >= 2:
        overlays.append(figures.add(F.curves_overlay_figure(means)))
    return folds, overlays


def comparison(run: Run, sections: list[dict], figures: F.Figures) -> dict:
    """Everything section 4 shows."""
    names = [s["name"] for s in sections]
    layer_names = [n for n in names if n in run.models]
    layers = align_layers(
        [[_layer_cell(layer) for layer in run.models[n]["layers"]] for n in layer_names]
    )
    mixed = size_mix(run)
    primary, alpha = declared_test(run.metrics)
    found = pairs(run, primary, alpha)
    folds, overlays = _figures(run, names, figures)
    return {
        "names": names,
        "models": [_model_row(run, name) for name in names],
        "layer_names": layer_names,
        "layers": layers,
        "design_only": bool(mixed),
        "design_differences": _design_differences(layers, layer_names),
        "size_mix": mixed,
        "one_size_command": one_size_command(run),
        "metrics": _side_by_side(run, names),
        "pairs": found,
        "figure": folds,
        "overlays": overlays,
        "several_pairs": len(found) > 1,
        "no_cv": len(names) > 1 and not found,
        "alpha": alpha,
    }
