"""Table cells shared by the sections: a number with its own interval (and how it was made),
a fold mean with its t interval and the folds it rests on, and the rows a model is judged
on."""

from __future__ import annotations

from ...assessment.headline import why_undefined
from ...assessment.intervals import Bounds, exact_interval, finite, proportion_counts, usable
from ...assessment.intervals import t_interval as fold_t_interval
from ...assessment.layout import Estimate, FoldCount
from ...assessment.verdicts import no_interval_reason
from ...summary.layout import CrossValidation, Interval, SeedSplit
from .. import curves as C
from .. import text as T
from ..run import Run

#: The metrics of the detailed results table and of the per-fold table.
HEADLINE_BINARY = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "roc_auc", "f1")
HEADLINE_MULTI = ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro")


#: Under this many images a missing interval is put down to their number.
FEW_IMAGES = 10


#: Metrics read from the scores alone: a model that predicts one class still ranks images.
_FROM_SCORES = ("roc_auc", "average_precision", "brier")


def why_no_interval(
    ci: Interval | Bounds | None, rows: C.EvalRows | None, metric: str | None = None
) -> str:
    """Why a value has no interval, found on the images it was computed on: a model that
    predicted one class (every resample of its predictions gives the same value), one class
    among the images, a bootstrap whose resamples all agreed, or few images."""
    if rows is not None and len(rows.frame):
        said = sorted(set(rows.predicted.tolist()))
        if len(said) == 1 and metric not in _FROM_SCORES:
            return f"no interval: the model predicted {said[0]} for every image"
        if len(set(rows.labels.tolist())) == 1:
            return "no interval: the images hold one class only"
    if ci is not None and finite(ci.low) and finite(ci.high):
        return "no interval: every resample gave the same value"
    if rows is not None and len(rows.frame) < FEW_IMAGES:
        return f"no interval: {len(rows.frame)} images are too few"
    if ci is not None and getattr(ci, "n_dropped", 0):
        return "no interval: the metric is undefined on most resampled sets"
    return "no interval"


def interval_cell(
    value,
    ci: Interval | Bounds | Estimate | None,
    *,
    proportion: tuple[int, int] | None = None,
    why: str = "no interval",
    undefined: str = "",
) -> dict:
    """A number and its 95 % interval: the metrics' interval when it has a width, else the
    exact binomial interval of a proportion, else no interval and ``why``. ``undefined``:
    why the number itself is missing, said beside the "n/a"."""
    if not finite(value):
        return {"value": "n/a", "ci": "", "method": "", "note": undefined}
    if not usable(ci) and proportion is not None and proportion[1] > 0:
        ci = exact_interval(*proportion)
    if usable(ci):
        return {
            "value": T.num(value),
            "ci": T.interval(ci),
            "method": T.method_name(ci.method),
            "note": "",
        }
    return {"value": T.num(value), "ci": "", "method": "", "note": why}


def estimate_cell(
    found: Estimate, rows: C.EvalRows | None = None, metric: str | None = None
) -> dict:
    """A headline estimate of ``metric`` with the interval the assessment decided for it
    (``rows``: the images it rests on, for the reason when it has none)."""
    if finite(found.estimate) and not finite(found.low):
        return {
            "value": T.num(found.estimate),
            "ci": "",
            "method": "",
            "note": no_interval_reason(found, why_no_interval(None, rows, metric)),
        }
    return interval_cell(found.estimate, found)


def folds_note(counted: FoldCount | None) -> str:
    """``mean of 2 of 5 folds (folds 1, 3, 4: the model predicted no Monkeypox)``."""
    if counted is None or not counted.partial:
        return ""
    by_reason: dict[str, list[int]] = {}
    for item in counted.left_out:
        by_reason.setdefault(item.reason, []).append(item.fold)
    why = "; ".join(
        f"fold{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))}: {reason}"
        for reason, folds in by_reason.items()
    )
    if not counted.n:
        return f"defined on none of the {counted.of} folds ({why})"
    return f"mean of {counted.n} of {counted.of} folds ({why})"


def fold_mean_cell(cv: CrossValidation, metric: str, counts: dict[str, FoldCount]) -> dict:
    """The mean over the folds where ``metric`` is defined, with a t interval over them, and
    how many folds those are when some were left out."""
    ci = fold_t_interval([f.metrics.get(metric) for f in cv.folds])
    mean = cv.mean.get(metric)
    cell = {"value": T.num(mean), "ci": "", "method": "", "note": ""}
    if ci is not None and usable(ci):
        cell.update(ci=T.interval(ci), method=f"t over {ci.k} folds")
    elif ci is not None:
        cell["note"] = "no interval: the same value on every fold"
    elif finite(mean):
        cell["note"] = "no interval: fewer than two folds"
    counted = counts.get(metric)
    if counted is not None and counted.partial:
        cell["note"] = (cell["note"] + "; " if cell["note"] else "") + folds_note(counted)
    return cell


def _where(rows: C.EvalRows) -> str:
    return "the pooled test folds" if rows.scheme == "cv" else "its validation part"


def pooled_cells(
    summary: CrossValidation | SeedSplit, rows: C.EvalRows | None, names, positive
) -> list[dict]:
    """Pooled values, each with its own interval (exact for a proportion whose interval has
    no width), and, found on ``rows``, why a value or its interval is missing."""
    pooled = summary.pooled if isinstance(summary, CrossValidation) else summary.metrics
    cells = []
    for name in names:
        ci = summary.ci.get(name)
        if rows is None:
            cells.append(interval_cell(pooled.get(name), ci))
            continue
        labels, predicted = rows.labels, rows.predicted
        cells.append(
            interval_cell(
                pooled.get(name),
                ci,
                proportion=proportion_counts(labels, predicted, name, positive, rows.classes),
                why=why_no_interval(ci, rows, name),
                undefined=why_undefined(
                    name, labels, predicted, positive, rows.classes, where=_where(rows)
                ),
            )
        )
    return cells


def ci_text(cell: dict) -> str:
    if cell["ci"]:
        return f"{cell['ci']} ({cell['method']})" if cell["method"] else cell["ci"]
    return cell["note"] or ""


def headline_metrics(run: Run) -> list[str]:
    """The metrics of the detailed results and per-fold tables, among those the run has."""
    wanted = HEADLINE_BINARY if run.positive else HEADLINE_MULTI
    return [m for m in wanted if m in run.metrics.metrics]


def judged_rows(run: Run, name: str) -> C.EvalRows | None:
    """What a model is judged on: its cv test folds, else the seed split's validation part."""
    return run.rows(name, "cv") or run.rows(name, "seed")
