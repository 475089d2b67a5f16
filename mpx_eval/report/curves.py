"""The curves and tables behind the report's figures, taken from a run's tables.

Every metric comes from :mod:`mpx_eval.metrics`; this module only selects rows, calls it,
and arranges the results as plain data for the figure functions and the templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_f1_support,
    predicted_labels,
    reliability_curve,
    roc_auc_score,
    roc_curve,
    wilson_interval,
)
from ..summary.layout import ClassScore, CrossValidation, PerClass, Support

CURVE_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")


@dataclass
class Line:
    """One curve of a figure."""

    x: np.ndarray
    y: np.ndarray
    label: str


@dataclass
class EvalRows:
    """A model's scored images at the chosen ("best") checkpoint, in one scheme."""

    scheme: str  # "cv": the held-out test folds; "seed": the seed split's validation part
    frame: pd.DataFrame
    classes: list[str]

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=object)

    @property
    def probs(self) -> np.ndarray:
        return self.frame[[f"prob_{c}" for c in self.classes]].to_numpy(dtype=float)

    @property
    def folds(self) -> np.ndarray:
        return self.frame["fold"].to_numpy(dtype=int)

    @property
    def predicted(self) -> np.ndarray:
        return predicted_labels(self.probs, labels=self.classes)

    def fold_ids(self) -> list[int]:
        return sorted(set(self.folds.tolist()))

    def subset(self, fold: int) -> EvalRows:
        return EvalRows(self.scheme, self.frame.loc[self.frame["fold"] == fold], self.classes)


def eval_rows(predictions: pd.DataFrame, model: str, classes: list[str], scheme: str):
    """The model's "best"-checkpoint rows of ``scheme``, or None when it has none."""
    if predictions.empty:
        return None
    mask = (
        (predictions["model"] == model)
        & (predictions["scheme"] == scheme)
        & (predictions["checkpoint"] == "best")
    )
    frame = predictions.loc[mask].copy()
    if frame.empty:
        return None
    frame["fold"] = pd.to_numeric(frame["fold"]).astype(int)
    return EvalRows(scheme, frame.sort_values(["fold", "path"]).reset_index(drop=True), classes)


def _has_both(labels: np.ndarray, positive: str) -> bool:
    is_positive = labels == positive
    return bool(is_positive.any() and not is_positive.all())


# --------------------------------------------------------------------------- ROC and PR


@dataclass
class CurvePanel:
    """Per-fold curves, pooled curve(s), and optionally a band and reference lines."""

    title: str
    folds: list[Line] = field(default_factory=list)
    pooled: list[Line] = field(default_factory=list)
    band: dict | None = None
    baselines: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # curves left out, and why
    zoom: bool = False  # a pooled curve hugs the corner: draw the corner enlarged
    # operating points marked on the curve: (label, x, y, marker)
    points: list[tuple[str, float, float, str]] = field(default_factory=list)


#: A pooled AUC at or above this hugs the ROC corner; the figure adds an enlarged corner.
ZOOM_AUC = 0.95


@dataclass(frozen=True)
class CurveKind:
    """What tells the ROC panel from the precision-recall panel; the rest is shared."""

    title: str
    area_name: str  # the area under the curve, as the legend names it
    measure: Callable  # (labels, probs, classes, cls) -> (x, y, area)
    needs_negatives: bool  # the curve is undefined without images of another class
    constant_note: bool  # a fold whose scores are all equal gets a note instead of a curve
    zoom_at: float | None  # a pooled area at or above this asks for the enlarged corner
    prevalence: bool  # each pooled class's prevalence is drawn as a baseline


def _roc(labels, probs, classes, cls):
    fpr, tpr, _ = roc_curve(labels, probs, labels=classes, positive_class=cls)
    return fpr, tpr, roc_auc_score(labels, probs, labels=classes, positive_class=cls)


def _pr(labels, probs, classes, cls):
    precision, recall, _ = precision_recall_curve(labels, probs, labels=classes, positive_class=cls)
    return (
        recall,
        precision,
        average_precision_score(labels, probs, labels=classes, positive_class=cls),
    )


ROC = CurveKind(
    title="ROC",
    area_name="AUC",
    measure=_roc,
    needs_negatives=True,
    constant_note=False,
    zoom_at=ZOOM_AUC,
    prevalence=False,
)
PRECISION_RECALL = CurveKind(
    title="Precision–recall",
    area_name="AP",
    measure=_pr,
    needs_negatives=False,
    constant_note=True,
    zoom_at=None,
    prevalence=True,
)


def _ovr_classes(rows: EvalRows, positive: str | None) -> list[str]:
    """The classes drawn one against the rest: the positive class alone for two classes."""
    return [positive] if positive is not None else list(rows.classes)


def _drawable(kind: CurveKind, labels: np.ndarray, cls: str) -> bool:
    return _has_both(labels, cls) if kind.needs_negatives else bool((labels == cls).any())


def _constant(scores: np.ndarray) -> bool:
    return scores.size > 0 and float(np.ptp(scores)) < 1e-9


def _add_pooled(panel: CurvePanel, kind: CurveKind, rows: EvalRows, cls: str, name: str):
    """The curve of ``cls`` against the rest over all of ``rows``, labelled with its area."""
    x, y, area = kind.measure(rows.labels, rows.probs, rows.classes, cls)
    panel.pooled.append(Line(x, y, f"{name} ({kind.area_name} {area:.3f})"))
    if kind.zoom_at is not None:
        panel.zoom = panel.zoom or area >= kind.zoom_at


def _per_fold(rows: EvalRows, positive: str | None) -> bool:
    """Folds get curves of their own in a two-class cv run of several folds."""
    return positive is not None and rows.scheme == "cv" and len(rows.fold_ids()) > 1


def curve_panel(kind: CurveKind, rows: EvalRows, positive: str | None) -> CurvePanel:
    """Curves of ``kind``: per fold and pooled for two classes, one-vs-rest pooled for more."""
    what = "test folds" if rows.scheme == "cv" else "seed split validation"
    panel = CurvePanel(title=f"{kind.title} — {what}")
    if _per_fold(rows, positive):
        for fold in rows.fold_ids():
            part = rows.subset(fold)
            if not _drawable(kind, part.labels, positive):
                continue
            if kind.constant_note and _constant(part.probs[:, rows.classes.index(positive)]):
                # one score for every image ranks nothing: no curve, not a diagonal line
                panel.notes.append(f"fold {fold}: constant scores, no curve")
                continue
            x, y, area = kind.measure(part.labels, part.probs, rows.classes, positive)
            panel.folds.append(Line(x, y, f"fold {fold} ({kind.area_name} {area:.3f})"))
    for cls in _ovr_classes(rows, positive):
        if not _drawable(kind, rows.labels, cls):
            continue
        _add_pooled(panel, kind, rows, cls, "pooled" if positive is not None else f"{cls} vs rest")
        if kind.prevalence:
            panel.baselines.append((f"{cls} prevalence", float((rows.labels == cls).mean())))
    return panel


def roc_panel(rows: EvalRows, positive: str | None, cv: CrossValidation | None) -> CurvePanel:
    """ROC curves (see :func:`curve_panel`), with the mean of the folds ± 1 SD as a band."""
    panel = curve_panel(ROC, rows, positive)
    mean_roc = cv.mean_roc if cv is not None else None
    if _per_fold(rows, positive) and mean_roc and len(mean_roc.folds) > 1:
        auc_mean, auc_std = cv.mean.get("roc_auc"), cv.std.get("roc_auc")
        label = "mean of folds ± 1 SD"
        if auc_mean is not None:
            label += f" (AUC {auc_mean:.3f}" + (
                f" ± {auc_std:.3f})" if auc_std is not None else ")"
            )
        panel.band = {
            "x": np.asarray(mean_roc.fpr, dtype=float),
            "y": np.asarray(mean_roc.tpr_mean, dtype=float),
            "std": np.asarray([np.nan if v is None else v for v in mean_roc.tpr_std], dtype=float),
            "label": label,
        }
    return panel


def roc_overlay(rows: dict[str, EvalRows], positive: str) -> CurvePanel:
    """Each model's pooled ROC curve over its test folds, on one panel."""
    panel = CurvePanel(title="ROC — test folds pooled, per model")
    for model, part in rows.items():
        if _drawable(ROC, part.labels, positive):
            _add_pooled(panel, ROC, part, positive, model)
    return panel


def pr_panel(rows: EvalRows, positive: str | None) -> CurvePanel:
    """Precision-recall curves (see :func:`curve_panel`); baselines are prevalences."""
    return curve_panel(PRECISION_RECALL, rows, positive)


# --------------------------------------------------------------------------- confusion


@dataclass
class Confusion:
    title: str
    counts: np.ndarray
    normalized: np.ndarray


def confusions(rows: EvalRows) -> list[Confusion]:
    """One matrix per fold (cv with several folds) and one of all rows together."""
    out = []
    if rows.scheme == "cv" and len(rows.fold_ids()) > 1:
        for fold in rows.fold_ids():
            part = rows.subset(fold)
            out.append(
                Confusion(
                    f"fold {fold} (n={len(part.frame)})",
                    confusion_matrix(part.labels, part.predicted, labels=rows.classes),
                    confusion_matrix(
                        part.labels, part.predicted, labels=rows.classes, normalize="true"
                    ),
                )
            )
    title = "pooled test folds" if rows.scheme == "cv" else "seed split validation"
    out.append(
        Confusion(
            f"{title} (n={len(rows.frame)})",
            confusion_matrix(rows.labels, rows.predicted, labels=rows.classes),
            confusion_matrix(rows.labels, rows.predicted, labels=rows.classes, normalize="true"),
        )
    )
    return out


# --------------------------------------------------------------------------- calibration


def reliability(rows: EvalRows, positive: str | None, cv: CrossValidation | None) -> dict:
    """Reliability diagram data: metrics.json's for cv, computed here for a seed split."""
    if rows.scheme == "cv" and cv is not None:
        curve = cv.reliability
        mean_predicted, observed, counts = (
            curve.mean_predicted,
            curve.observed_frequency,
            curve.counts,
        )
    else:
        result = reliability_curve(
            rows.labels, rows.probs, labels=rows.classes, positive_class=positive
        )
        mean_predicted, observed, counts = (
            result.mean_predicted,
            result.observed_frequency,
            result.counts,
        )

    def floats(values):
        return np.asarray([np.nan if v is None else v for v in values], dtype=float)

    if positive is not None:
        xlabel = f"predicted probability of {positive}"
        ylabel = f"observed share of {positive}"
    else:
        xlabel, ylabel = "confidence of the predicted class", "observed accuracy"
    observed, counts = floats(observed), np.asarray(counts, dtype=int)
    low, high = bin_intervals(observed, counts)
    return {
        "mean_predicted": floats(mean_predicted),
        "observed": observed,
        "low": low,
        "high": high,
        "counts": counts,
        "xlabel": xlabel,
        "ylabel": ylabel,
        "title": "Reliability — " + ("test folds" if rows.scheme == "cv" else "seed split"),
    }


def bin_intervals(observed: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % Wilson interval of each bin's observed frequency, its images counted as
    independent (NaN for an empty bin): how far a bin of a few images can stray from the
    diagonal by chance."""
    low = np.full(len(counts), np.nan)
    high = np.full(len(counts), np.nan)
    for i, (share, n) in enumerate(zip(observed, counts, strict=True)):
        if n > 0 and np.isfinite(share):
            found = wilson_interval(round(float(share) * int(n)), int(n))
            low[i], high[i] = found.low, found.high
    return low, high


def per_class_seed(rows: EvalRows) -> dict[str, PerClass]:
    """Per-class precision/recall/F1/support of a single split (no spread to report)."""
    scores = precision_recall_f1_support(rows.labels, rows.predicted, labels=rows.classes)

    def pooled(metric: str, j: int) -> ClassScore:
        return ClassScore(mean=None, std=None, pooled=_float(getattr(scores, metric)[j]))

    return {
        cls: PerClass(
            precision=pooled("precision", j),
            recall=pooled("recall", j),
            f1=pooled("f1", j),
            support=Support(mean=None, std=None, pooled=int(scores.support[j])),
        )
        for j, cls in enumerate(rows.classes)
    }


def _float(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


# --------------------------------------------------------------------------- training curves


@dataclass
class TrainingRun:
    """One unit's per-epoch history, with the epoch whose weights were kept."""

    scheme: str
    fold: int
    frame: pd.DataFrame
    chosen_epoch: int | None

    @property
    def title(self) -> str:
        return "seed split" if self.scheme == "seed" else f"fold {self.fold}"


def training_runs(history: pd.DataFrame, model: str, chosen: dict) -> list[TrainingRun]:
    """The model's units in report order (seed split first, then the folds)."""
    if history.empty:
        return []
    rows = history.loc[history["model"] == model].copy()
    for column in ("fold", "epoch", *CURVE_COLUMNS):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    out = []
    for scheme in ("seed", "cv"):
        part = rows.loc[rows["scheme"] == scheme]
        for fold, unit in part.groupby("fold", sort=True):
            fold = int(fold)
            out.append(
                TrainingRun(scheme, fold, unit.sort_values("epoch"), chosen.get((scheme, fold)))
            )
    return out


def mean_curves(runs: list[TrainingRun]) -> pd.DataFrame | None:
    """Mean and standard deviation over the cv folds at every epoch (None under two folds)."""
    folds = [r.frame for r in runs if r.scheme == "cv"]
    if len(folds) < 2:
        return None
    stacked = pd.concat(folds, ignore_index=True)
    grouped = stacked.groupby("epoch")[list(CURVE_COLUMNS)]
    mean, std = grouped.mean(), grouped.std(ddof=1)
    return mean.add_suffix("_mean").join(std.add_suffix("_std")).reset_index()


# --------------------------------------------------------------------------- errors


def misclassified(rows: EvalRows, n: int) -> list[dict]:
    """The ``n`` wrong predictions made with the highest probability (ties: by path)."""
    predicted = rows.predicted
    probs = rows.probs
    confidence = probs[np.arange(probs.shape[0]), np.argmax(probs, axis=1)]
    wrong = np.flatnonzero(predicted != rows.labels)
    frame = pd.DataFrame(
        {
            "i": wrong,
            "confidence": confidence[wrong],
            "path": rows.frame["path"].to_numpy()[wrong],
        }
    ).sort_values(["confidence", "path"], ascending=[False, True], kind="mergesort")
    out = []
    for i, conf in zip(frame["i"][:n], frame["confidence"][:n], strict=True):
        row = rows.frame.iloc[int(i)]
        out.append(
            {
                "path": str(row["path"]),
                "group": str(row["group"]),
                "fold": int(row["fold"]),
                "label": str(row["label"]),
                "predicted": str(predicted[int(i)]),
                "confidence": float(conf),
                "true_probability": float(row[f"prob_{row['label']}"]),
            }
        )
    return out


def sample_paths(splits: pd.DataFrame, classes: list[str], per_class: int) -> dict[str, list]:
    """A few images of each class, evenly spread over the class's sorted paths."""
    images = splits.drop_duplicates("path")[["path", "label"]]
    out = {}
    for cls in classes:
        paths = sorted(images.loc[images["label"] == cls, "path"].tolist())
        if len(paths) > per_class:
            picks = np.linspace(0, len(paths) - 1, per_class).round().astype(int)
            paths = [paths[i] for i in picks]
        out[cls] = paths
    return out
