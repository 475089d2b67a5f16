"""Figures of the report: each function takes prepared data (see ``curves``) and draws it,
and each figure's specification carries its caption beside the function that draws it.

Single-panel functions accept an optional matplotlib ``ax``; multi-panel ones an optional
``fig``. Drawing uses matplotlib's object-oriented API on the Agg canvas only: no pyplot, so
no global figure registry to leak into and no interactive backend to start. matplotlib is
imported inside the functions, so importing the report does not load it. How every figure
looks, and the canvas it is drawn on, live in ``figure_style``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .figure_style import (
    KEPT_EPOCH,
    MARKERS,
    PALETTE,
    REFERENCE,
    ROLE_STYLES,
    axes_or_new,
    cap_accuracy,
    integer_epochs,
    markevery_for,
    new_figure,
    role_line,
    series_style,
    wrap_label,
)

# drawing and saving go through this module: the canvas and the style are its names too
from .figure_style import png_bytes as png_bytes
from .figure_style import style as style

# --------------------------------------------------------------------------- training curves


def plot_training_curves(runs, *, fig=None):
    """Accuracy and loss per epoch of each unit, the kept epoch marked by a dotted line.

    ``runs`` is a list of ``curves.TrainingRun``; two units share a row (accuracy, loss,
    accuracy, loss). Returns the figure.
    """
    per_row = 2 if len(runs) > 1 else 1
    nrows = max(-(-len(runs) // per_row), 1)
    if fig is None:
        fig = new_figure(5.5 * per_row, 0.7 + 2.2 * nrows)
    axes = fig.subplots(nrows, 2 * per_row, squeeze=False)
    for index, run in enumerate(runs):
        row, col = divmod(index, per_row)
        frame = run.frame
        for offset, metric in enumerate(("accuracy", "loss")):
            ax = axes[row, 2 * col + offset]
            for role, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
                values = frame[prefix + metric].to_numpy(dtype=float)
                if np.isfinite(values).any():
                    role_line(ax, frame["epoch"].to_numpy(), values, role)
            if run.chosen_epoch is not None:
                ax.axvline(run.chosen_epoch, **KEPT_EPOCH, label="kept epoch")
            ax.set_title(f"{run.title}: {metric}", loc="left")
            integer_epochs(ax)
            if metric == "accuracy":
                cap_accuracy(ax)
            if row == nrows - 1 or index + per_row >= len(runs):
                ax.set_xlabel("epoch")
    for ax in axes.ravel()[2 * len(runs) :]:
        ax.set_visible(False)
    _figure_legend(fig, axes)
    return fig


def _figure_legend(fig, axes) -> None:
    """One legend for the figure, above its panels, in as many rows as its width needs."""
    seen: dict[str, object] = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        # an entry takes its handle (about half an inch) and about 0.06 inch a character at
        # the legend's font size: as many columns as the widest entry leaves room for
        entry = 0.55 + 0.06 * max(len(label) for label in seen)
        columns = max(1, min(len(seen), int(fig.get_figwidth() // entry)))
        fig.legend(
            list(seen.values()),
            list(seen.keys()),
            loc="outside upper center",
            ncol=columns,
            frameon=False,
        )


def plot_mean_curves(mean, *, fig=None):
    """Mean ± 1 SD over the cv folds of accuracy and loss per epoch (train, inner val, test)."""
    if fig is None:
        fig = new_figure(8.0, 3.2)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    epochs = mean["epoch"].to_numpy()
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for role, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
            centre = mean[f"{prefix}{metric}_mean"].to_numpy(dtype=float)
            spread = np.nan_to_num(mean[f"{prefix}{metric}_std"].to_numpy(dtype=float))
            if not np.isfinite(centre).any():
                continue
            low, high = centre - spread, centre + spread
            if metric == "accuracy":  # an accuracy is within [0, 1], and so is its band
                low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
            role_line(ax, epochs, centre, role)
            ax.fill_between(
                epochs, low, high, color=ROLE_STYLES[role]["color"], alpha=0.15, linewidth=0
            )
        ax.set_title(f"{metric}: mean ± 1 SD over folds", loc="left")
        integer_epochs(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        if metric == "accuracy":
            cap_accuracy(ax)
    _figure_legend(fig, axes)
    return fig


# --------------------------------------------------------------------------- confusion


def plot_confusion(matrix, classes, *, ax=None, colorbar=False):
    """One confusion matrix: each cell shows the count and its share of the true class's row;
    the shading is that share, so classes of different sizes read alike."""
    ax = axes_or_new(ax, 3.4, 3.2)
    normalized = np.nan_to_num(np.asarray(matrix.normalized, dtype=float))
    image = ax.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0)
    k = len(classes)
    for i in range(k):
        for j in range(k):
            share = matrix.normalized[i][j]
            text = f"{int(matrix.counts[i][j])}"
            if share is not None and np.isfinite(share):
                text += f"\n{100 * share:.0f}%"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8 if k <= 4 else 6,
                color="white" if normalized[i, j] > 0.55 else "black",
            )
    labels = [wrap_label(c, 12) for c in classes]
    ax.set_xticks(range(k), labels, rotation=30 if k > 2 else 0, ha="right" if k > 2 else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(matrix.title, loc="left")
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    return ax


def plot_confusion_grid(matrices, classes, *, fig=None):
    """Per-fold matrices followed by the pooled one, three to a row."""
    n = len(matrices)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    side = 2.7 + 0.25 * max(len(classes) - 2, 0)
    if fig is None:
        fig = new_figure(side * ncols + 0.6, side * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, matrix in zip(axes.ravel(), matrices, strict=False):
        plot_confusion(matrix, classes, ax=ax)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig


# --------------------------------------------------------------------------- ROC / PR

#: Thin curves of single folds, bold pooled curves, and the mean of the folds.
_FOLD_WIDTH, _POOLED_WIDTH = 0.9, 2.0
#: A marker about every tenth of a curve's length: markers tell the curves apart where
#: they run together, and a step curve of many points does not turn into a row of them.
_CURVE_MARKS = 0.1


def _curve_lines(panel, ax, *, inset: bool = False) -> None:
    """The panel's fold, band and pooled curves (``inset``: without labels or the band)."""
    for i, line in enumerate(panel.folds):
        style = series_style(i)
        ax.plot(
            line.x, line.y, color=style["color"], marker=style["marker"], markersize=3.5,
            markevery=_CURVE_MARKS, linestyle="-", linewidth=_FOLD_WIDTH, alpha=0.7,
            label=None if inset else line.label,
        )  # fmt: skip
    if panel.band is not None and not inset:
        band = panel.band
        std = np.nan_to_num(band["std"])
        ax.fill_between(
            band["x"],
            np.clip(band["y"] - std, 0, 1),
            np.clip(band["y"] + std, 0, 1),
            color="0.5",
            alpha=0.2,
            linewidth=0,
        )
        ax.plot(band["x"], band["y"], color="0.15", linewidth=2, label=band["label"])
    for style, line in zip(_pooled_styles(panel), panel.pooled, strict=True):
        ax.plot(
            line.x, line.y, **style, markersize=4, markevery=_CURVE_MARKS,
            linewidth=_POOLED_WIDTH, label=None if inset else line.label,
        )  # fmt: skip


def _pooled_styles(panel) -> list[dict]:
    """One pooled curve beside the folds: dash-dot without markers (the folds carry them);
    one pooled curve alone: solid; several (one per class or model): a series style each."""
    if len(panel.pooled) == 1:
        linestyle = "-." if panel.folds or panel.band is not None else "-"
        return [{"color": PALETTE[1], "linestyle": linestyle, "marker": None}]
    return [series_style(i) for i in range(len(panel.pooled))]


def _baselines(panel, ax) -> None:
    """Each class's prevalence as a dotted line; equal prevalences drawn once."""
    levels: dict[str, list[str]] = {}
    for label, level in panel.baselines:
        levels.setdefault(f"{level:.2f}", []).append(label.removesuffix(" prevalence"))
    for i, (level, names) in enumerate(levels.items()):
        label = (
            f"prevalence of each class {level}"
            if len(names) > 1
            else f"{names[0]} prevalence {level}"
        )
        marker = None if len(levels) == 1 else MARKERS[i % len(MARKERS)]
        ax.axhline(float(level), **REFERENCE, marker=marker, markevery=0.25, label=label)


def _plot_panel(panel, ax, *, xlabel, ylabel, diagonal):
    _curve_lines(panel, ax)
    if diagonal:
        ax.plot([0, 1], [0, 1], **REFERENCE, label="chance")
    _baselines(panel, ax)
    for label, x, y, marker in panel.points:
        ax.plot(
            [x], [y], marker=marker, markersize=8, linestyle="none", color="black",
            markerfacecolor="white", markeredgewidth=1.5, label=label, zorder=5,
        )  # fmt: skip
    for note in panel.notes:
        ax.plot([], [], " ", label=note)
    if panel.zoom:
        _corner_inset(panel, ax)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    # square, and held at the top of its box, so that the legend below stays in the figure
    ax.set_aspect("equal", anchor="N")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(panel.title, loc="left")
    if ax.get_legend_handles_labels()[0]:
        _legend_below(ax)
    else:
        ax.text(
            0.5,
            0.5,
            "not defined: a class is missing",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
        )
    return ax


def _legend_below(ax) -> None:
    """The legend under the axes, where it covers no curve; the figure's layout makes room
    for it."""
    entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=1 if entries <= 4 else 2,
        frameon=False,
        fontsize=7,
        borderaxespad=0.0,
    )


def _corner_inset(panel, ax) -> None:
    """The ROC's top-left corner enlarged, where curves near AUC 1 are squeezed into the
    axes' edge and cannot be told apart."""
    inset = ax.inset_axes([0.42, 0.36, 0.54, 0.42])
    _curve_lines(panel, inset, inset=True)
    inset.set_xlim(-0.005, 0.25)
    inset.set_ylim(0.75, 1.005)
    inset.set_title("corner enlarged", fontsize=7, loc="left")
    inset.tick_params(labelsize=6)
    ax.indicate_inset_zoom(inset, edgecolor="0.4")


def plot_roc(panel, *, ax=None):
    """ROC curves of ``curves.roc_panel``: folds (thin), mean ± 1 SD band, pooled (bold)."""
    ax = axes_or_new(ax, 4.8, 5.8)
    return _plot_panel(
        panel,
        ax,
        xlabel="false-positive rate (1 − specificity)",
        ylabel="true-positive rate (sensitivity)",
        diagonal=True,
    )


def plot_precision_recall(panel, *, ax=None):
    """Precision–recall curves of ``curves.pr_panel``, with each class's prevalence."""
    ax = axes_or_new(ax, 4.8, 5.8)
    return _plot_panel(
        panel,
        ax,
        xlabel="recall (sensitivity)",
        ylabel="precision (positive predictive value)",
        diagonal=False,
    )


# --------------------------------------------------------------------------- calibration


def plot_reliability(data, *, fig=None):
    """Observed frequency against mean predicted probability per bin, each with its 95 %
    interval, counts underneath."""
    if fig is None:
        fig = new_figure(4.8, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], **REFERENCE, label="perfect calibration")
    shown = np.isfinite(data["mean_predicted"]) & np.isfinite(data["observed"])
    observed = data["observed"][shown]
    low, high = data["low"][shown], data["high"][shown]
    top.errorbar(
        data["mean_predicted"][shown],
        observed,
        yerr=np.vstack([observed - low, high - observed]),
        marker="o",
        markersize=5,
        color=PALETTE[1],
        ecolor=PALETTE[1],
        elinewidth=1.0,
        capsize=3,
        clip_on=False,  # a bin at 0 or 1 shows its whole marker on the axis's end
        label="model, with 95 % Wilson interval per bin",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel(data["ylabel"])
    top.set_title(data["title"], loc="left")
    top.legend(loc="upper left", frameon=False)
    edges = np.linspace(0, 1, len(data["counts"]) + 1)
    bottom.bar(
        edges[:-1],
        data["counts"],
        width=np.diff(edges),
        align="edge",
        color="0.6",
        edgecolor="white",
    )
    bottom.set_xlabel(data["xlabel"])
    bottom.set_ylabel("images")
    return fig


# --------------------------------------------------------------------------- run level


#: How a bar of the checkpoint figure is drawn, by kind: fill, hatch. The hatch tells the
#: optimistic bars from the honest ones, and the run's rule is named on its own label.
_BAR_STYLES = {
    "optimistic": ("#e6e6e6", "///"),
    "honest": (PALETTE[5], ""),
    "primary": (PALETTE[0], ""),
}


def plot_optimism(rows, *, ax=None):
    """Accuracy by way of choosing the checkpoint, per model (horizontal bars, each named on
    its own line, so no legend can hide one).

    ``rows`` is a list of ``(model, [(label, value or None, kind), ...])`` with kind
    "optimistic", "honest" or "primary".
    """
    n = sum(len(bars) + 1 for _, bars in rows)
    ax = axes_or_new(ax, 7.5, 0.7 + 0.26 * n)
    ticks, labels, heads, primary, y = [], [], [], [], 0.0
    for model, bars in rows:
        heads.append(len(ticks))
        ticks.append(y)
        labels.append(model)
        y -= 1
        for label, value, kind in bars:
            if kind == "primary":
                primary.append(len(ticks))
            ticks.append(y)
            labels.append(label)
            if value is not None:
                _bar(ax, y, value, kind)
            y -= 1
    ax.set_yticks(ticks, labels, fontsize=8)
    for i in heads:
        ax.get_yticklabels()[i].set_fontweight("bold")
        ax.get_yticklabels()[i].set_fontsize(10)
    for i in primary:
        ax.get_yticklabels()[i].set_fontweight("bold")
    ax.set_ylim(y + 0.4, 0.6)
    ax.set_xlim(0, 1.0)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("accuracy")
    ax.grid(axis="y", visible=False)
    ax.set_title("Accuracy by the way the checkpoint is chosen", loc="left")
    return ax


def _bar(ax, y: float, value: float, kind: str) -> None:
    """One bar with its value written at its end: outside it, or inside a bar that reaches
    close to 1 (the axis ends at 1)."""
    colour, hatch = _BAR_STYLES[kind]
    ax.barh(y, value, height=0.8, color=colour, hatch=hatch, edgecolor="#525252")
    inside = value > 0.9
    ax.text(
        value - 0.01 if inside else value + 0.01,
        y,
        f"{value:.3f}",
        va="center",
        ha="right" if inside else "left",
        fontsize=8,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5} if inside else None,
    )


def plot_decision_curve(curves, treat_all, thresholds, *, ax=None):
    """Net benefit against threshold probability: each model (``curves``: name -> values),
    treating everyone (``treat_all``) and treating no one (0), on the thresholds given."""
    ax = axes_or_new(ax, 7.0, 3.8)
    x = np.asarray(thresholds, dtype=float)
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(
            x, values, **series_style(i), markersize=4, markevery=markevery_for(len(x)),
            linewidth=1.8, label=name,
        )  # fmt: skip
    ax.plot(x, treat_all, color="0.3", linestyle="-", linewidth=1.0, label="treat everyone")
    ax.axhline(0.0, **REFERENCE, label="treat no one")
    top = max([float(np.nanmax(v)) for v in curves.values()] + [float(np.nanmax(treat_all))])
    ax.set_ylim(-0.05, max(0.05, top * 1.1))
    ax.set_xlim(0, 1)
    ax.set_xlabel("threshold probability (the risk at which one would act)")
    ax.set_ylabel("net benefit")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    ax.set_title("Decision curve, pooled test folds", loc="left")
    return ax


def plot_fold_comparison(per_model, *, ax=None):
    """Per-fold test accuracy of every model; lines join one model's folds.

    ``per_model`` maps a model name to ``(folds, accuracies)``.
    """
    ax = axes_or_new(ax, 7.0, 3.4)
    for i, (model, (folds, values)) in enumerate(per_model.items()):
        style = series_style(i)
        values = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        ax.plot(folds, values, **style, label=model, clip_on=False)  # whole markers at 1
        if np.isfinite(values).any():
            ax.axhline(np.nanmean(values), color=style["color"], linestyle=":", linewidth=1)
    all_folds = sorted({f for folds, _ in per_model.values() for f in folds})
    ax.set_xticks(all_folds)
    ax.set_xlabel("test fold")
    ax.set_ylabel("accuracy (chosen checkpoint)")
    ax.set_title("Test accuracy per fold (dotted: each model's mean)", loc="left")
    cap_accuracy(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return ax


def plot_mean_curves_overlay(per_model, *, fig=None):
    """Mean over the cv folds of accuracy and loss per epoch, one marker (and colour) per
    model: the test fold solid, training dashed. ``per_model`` maps a model to
    ``curves.mean_curves``."""
    if fig is None:
        fig = new_figure(8.0, 3.4)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    for i, (model, mean) in enumerate(per_model.items()):
        style = series_style(i)
        epochs = mean["epoch"].to_numpy()
        for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
            for prefix, line, role in (("test_", "-", "test fold"), ("", "--", "training")):
                centre = mean[f"{prefix}{metric}_mean"].to_numpy(dtype=float)
                if not np.isfinite(centre).any():
                    continue
                ax.plot(
                    epochs, centre, color=style["color"], marker=style["marker"],
                    markersize=3.5, markevery=markevery_for(len(epochs)), linestyle=line,
                    label=f"{model}, {role}",
                )  # fmt: skip
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        ax.set_title(f"{metric}: mean over folds", loc="left")
        integer_epochs(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        if metric == "accuracy":
            cap_accuracy(ax)
    _figure_legend(fig, axes)
    return fig


# --------------------------------------------------------------------------- figures with captions


@dataclass
class FigureSpec:
    """A figure of the report with its caption: ``draw(*args)`` returns a matplotlib Figure
    or Axes; ``uri`` is filled with the PNG once drawn."""

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
    """The figures of one report, in the order they are asked for."""

    def __init__(self) -> None:
        self.specs: list[FigureSpec] = []

    def add(self, spec: FigureSpec) -> FigureSpec:
        self.specs.append(spec)
        return spec


def training_curves_figure(slug: str, model: str, runs, *, has_cv: bool) -> FigureSpec:
    parts = (
        "in cross-validation the inner validation part, on the seed split its held-out "
        "share — and, in cross-validation, on the test fold; "
        if has_cv
        else "the seed split's held-out share; "
    )
    return FigureSpec(
        f"{slug}-curves",
        "Training curves per unit: accuracy and loss on the training images and on the "
        "validation images — " + parts + "each with its own marker and line style; the "
        "vertical dotted line marks the epoch whose weights were kept.",
        f"Training curves of {model}",
        plot_training_curves,
        (runs,),
    )


def mean_curves_figure(slug: str, model: str, mean) -> FigureSpec:
    return FigureSpec(
        f"{slug}-curves-mean",
        "Mean ± 1 SD over the cross-validation folds at each epoch.",
        f"Mean training curves of {model}",
        plot_mean_curves,
        (mean,),
    )


def confusion_figure(slug: str, model: str, matrices, classes, *, per_fold: bool) -> FigureSpec:
    return FigureSpec(
        f"{slug}-confusion",
        "Confusion matrices (rows: true class, columns: predicted class). Each cell shows "
        "the count and, below it, its share of the true class's images; the shading follows "
        "that share." + (" One per test fold, then all folds pooled." if per_fold else ""),
        f"Confusion matrices of {model}",
        plot_confusion_grid,
        (matrices, classes),
    )


def roc_figure(slug: str, model: str, panel, *, per_fold: bool, binary: bool) -> FigureSpec:
    if per_fold:
        what = (
            "each test fold (thin, one marker each), the mean over folds (bold, solid) with "
            "a shaded ±1 SD band (metrics.json mean_roc), and all test folds pooled "
            "(dash-dot); the dotted diagonal is chance."
        )
    elif binary:
        what = "pooled over the evaluated images; the dotted diagonal is chance."
    else:
        what = (
            "each class against the rest, pooled, one marker and line style per class; the "
            "dotted diagonal is chance."
        )
    if panel.points:
        what += (
            " The circle marks the decision rule (probability at least 0.5) on the pooled test"
            " images; a diamond, the target's operating point, each fold at the threshold its"
            " inner validation part chose."
        )
    return FigureSpec(
        f"{slug}-roc", "ROC curves: " + what, f"ROC curves of {model}", plot_roc, (panel,), False
    )


def precision_recall_figure(slug: str, model: str, panel) -> FigureSpec:
    return FigureSpec(
        f"{slug}-pr",
        "Precision–recall curves with average precision (AP); the dotted line is the "
        "share of the class among the images, what a random ranking achieves.",
        f"Precision-recall curves of {model}",
        plot_precision_recall,
        (panel,),
        False,
    )


def reliability_figure(slug: str, model: str, data) -> FigureSpec:
    return FigureSpec(
        f"{slug}-reliability",
        "Reliability: in each probability bin, the predicted probability against how "
        "often it came true (on the diagonal: well calibrated), with the bin's 95 % Wilson "
        "interval (its images counted as independent): a bin whose interval crosses the "
        "diagonal is within chance of it. The bars count images.",
        f"Reliability diagram of {model}",
        plot_reliability,
        (data,),
        False,
    )


def optimism_figure(bars) -> FigureSpec:
    return FigureSpec(
        "optimism",
        "Test accuracy depending on how the checkpoint was chosen. Hatched bars are "
        "optimistic: the images they grade chose the epoch (the blog's seed split, and each "
        "test fold's own best epoch). Plain bars are honest rules: only the inner validation "
        "part chose, so none of them can flatter, and their differences are selection "
        "noise unless wider than the headline's interval. The bar labelled “the run's "
        "rule” (in bold) is the rule fixed before the run.",
        "Accuracy by checkpoint choice per model",
        plot_optimism,
        (bars,),
    )


def fold_comparison_figure(per_fold) -> FigureSpec:
    return FigureSpec(
        "comparison-folds",
        "Each model's test accuracy on every fold, one marker per model; the dotted "
        "lines are the models' means. Lines that cross, or lie close, mean the folds "
        "disagree about which model is better.",
        "Per-fold accuracy of the models",
        plot_fold_comparison,
        (per_fold,),
    )


def decision_curve_figure(curves, treat_all, thresholds, positive) -> FigureSpec:
    return FigureSpec(
        "decision-curve",
        f"Net benefit of acting on the model's call of {positive} (probability at least the "
        "threshold), against acting on everyone and on no one (Vickers & Elkin 2006), on the "
        "pooled held-out test images. A model is useful at a threshold probability where its "
        "curve lies above both references; the threshold is the risk at which one would act. "
        "The prevalence is that of this data set.",
        "Decision curve of the models",
        plot_decision_curve,
        (curves, treat_all, thresholds),
    )


def roc_overlay_figure(panel) -> FigureSpec:
    return FigureSpec(
        "comparison-roc",
        "Pooled ROC curve of every model over its held-out test folds, on one set of axes.",
        "Pooled ROC curves of the models",
        plot_roc,
        (panel,),
        False,
    )


def curves_overlay_figure(means) -> FigureSpec:
    return FigureSpec(
        "comparison-curves",
        "Mean over the folds at each epoch, one marker per model: test-fold accuracy "
        "and loss (solid lines) and training accuracy and loss (dashed lines).",
        "Mean training curves of the models",
        plot_mean_curves_overlay,
        (means,),
    )
