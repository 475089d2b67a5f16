"""Figures of the report: each function takes prepared data (see ``curves``) and draws it,
and each figure's specification carries its caption beside the function that draws it.

Single-panel functions accept an optional matplotlib ``ax``; multi-panel ones an optional
``fig``. Drawing uses matplotlib's object-oriented API on the Agg canvas only: no pyplot, so
no global figure registry to leak into and no interactive backend to start. matplotlib is
imported inside the functions, so importing the report does not load it.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Resolution of the saved PNGs: sharp enough on screen and paper, small enough to inline.
DPI = 100

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    # Names from the data (classes, models, files) are drawn as written: "$" is not math.
    "text.parse_math": False,
    "text.usetex": False,
}

#: Colours of the three parts of the data a unit sees.
ROLE_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
ROLE_NAMES = {"train": "training", "val": "validation", "test": "test fold"}
POOLED_COLOUR = "#d62728"


@contextmanager
def style():
    """The report's plotting style, applied only while drawing."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def new_figure(width: float, height: float):
    """A figure on the Agg canvas (the report never opens a window)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG, without the software tag, so equal inputs give equal bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return buf.getvalue()


def _axes(ax, width: float, height: float):
    if ax is not None:
        return ax
    return new_figure(width, height).add_subplot()


def _wrap(text: str, width: int = 16) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_long_words=True)) or str(text)


def _integer_epochs(ax) -> None:
    """Epochs are whole numbers: no tick at 1.5."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


# --------------------------------------------------------------------------- training curves


def plot_training_curves(runs, *, fig=None):
    """Accuracy and loss per epoch of each unit, the kept epoch marked by a dashed line.

    ``runs`` is a list of ``curves.TrainingRun``; two units share a row (accuracy, loss,
    accuracy, loss). Returns the figure.
    """
    per_row = 2 if len(runs) > 1 else 1
    nrows = max(-(-len(runs) // per_row), 1)
    if fig is None:
        fig = new_figure(5.5 * per_row, 0.5 + 2.2 * nrows)
    axes = fig.subplots(nrows, 2 * per_row, squeeze=False)
    for index, run in enumerate(runs):
        row, col = divmod(index, per_row)
        frame = run.frame
        for offset, metric in enumerate(("accuracy", "loss")):
            ax = axes[row, 2 * col + offset]
            for role, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
                values = frame[prefix + metric].to_numpy(dtype=float)
                if np.isfinite(values).any():
                    ax.plot(
                        frame["epoch"], values, color=ROLE_COLOURS[role], label=ROLE_NAMES[role]
                    )
            if run.chosen_epoch is not None:
                ax.axvline(
                    run.chosen_epoch, color="0.25", linestyle="--", linewidth=1, label="kept epoch"
                )
            ax.set_title(f"{run.title}: {metric}", loc="left")
            _integer_epochs(ax)
            if row == nrows - 1 or index + per_row >= len(runs):
                ax.set_xlabel("epoch")
    for ax in axes.ravel()[2 * len(runs) :]:
        ax.set_visible(False)
    _figure_legend(fig, axes)
    return fig


def _figure_legend(fig, axes) -> None:
    seen: dict[str, object] = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(
            list(seen.values()),
            list(seen.keys()),
            loc="outside upper center",
            ncol=len(seen),
            frameon=False,
        )


def plot_mean_curves(mean, *, fig=None):
    """Mean ± 1 SD over the cv folds of accuracy and loss per epoch (train, inner val, test)."""
    if fig is None:
        fig = new_figure(8.0, 3.0)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    epochs = mean["epoch"].to_numpy()
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for role, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
            centre = mean[f"{prefix}{metric}_mean"].to_numpy(dtype=float)
            spread = mean[f"{prefix}{metric}_std"].to_numpy(dtype=float)
            if not np.isfinite(centre).any():
                continue
            ax.plot(epochs, centre, color=ROLE_COLOURS[role], label=ROLE_NAMES[role])
            ax.fill_between(
                epochs,
                centre - spread,
                centre + spread,
                color=ROLE_COLOURS[role],
                alpha=0.18,
                linewidth=0,
            )
        ax.set_title(f"{metric}: mean ± 1 SD over folds", loc="left")
        _integer_epochs(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
    _figure_legend(fig, axes)
    return fig


# --------------------------------------------------------------------------- confusion


def plot_confusion(matrix, classes, *, ax=None, colorbar=False):
    """One confusion matrix: each cell shows the count and its share of the true class's row;
    the colour is that share, so classes of different sizes read alike."""
    ax = _axes(ax, 3.4, 3.2)
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
    labels = [_wrap(c, 12) for c in classes]
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


def _plot_panel(panel, ax, *, xlabel, ylabel, diagonal, legend_loc):
    for line in panel.folds:
        ax.plot(line.x, line.y, linewidth=0.9, alpha=0.55, label=line.label)
    if panel.band is not None:
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
    colours = [POOLED_COLOUR] if len(panel.pooled) == 1 else _colours(len(panel.pooled))
    for line, colour in zip(panel.pooled, colours, strict=True):
        ax.plot(
            line.x,
            line.y,
            color=colour,
            linewidth=2,
            linestyle="-" if panel.band is None else "-.",
            label=line.label,
        )
    if diagonal:
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance")
    for label, level in panel.baselines:
        ax.axhline(level, color="0.6", linestyle=":", linewidth=1, label=f"{label} {level:.2f}")
    for label, x, y, marker in panel.points:
        ax.plot(
            [x], [y], marker=marker, markersize=8, linestyle="none", color="black",
            markerfacecolor="white", markeredgewidth=1.5, label=label, zorder=5,
        )  # fmt: skip
    for note in panel.notes:
        ax.plot([], [], " ", label=note)
    if panel.zoom:
        _corner_inset(panel, ax, colours)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(panel.title, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=legend_loc, framealpha=0.85, fontsize=7)
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


def _corner_inset(panel, ax, colours) -> None:
    """The ROC's top-left corner enlarged, where curves near AUC 1 are squeezed into the
    axes' edge and cannot be told apart."""
    inset = ax.inset_axes([0.42, 0.36, 0.54, 0.42])
    for line in panel.folds:
        inset.plot(line.x, line.y, linewidth=0.9, alpha=0.55)
    for line, colour in zip(panel.pooled, colours, strict=True):
        inset.plot(line.x, line.y, color=colour, linewidth=2)
    inset.set_xlim(-0.005, 0.25)
    inset.set_ylim(0.75, 1.005)
    inset.set_title("corner enlarged", fontsize=7, loc="left")
    inset.tick_params(labelsize=6)
    ax.indicate_inset_zoom(inset, edgecolor="0.4")


def plot_roc(panel, *, ax=None):
    """ROC curves of ``curves.roc_panel``: folds (thin), mean ± 1 SD band, pooled (bold)."""
    ax = _axes(ax, 4.8, 4.8)
    return _plot_panel(
        panel,
        ax,
        xlabel="false-positive rate (1 − specificity)",
        ylabel="true-positive rate (sensitivity)",
        diagonal=True,
        legend_loc="lower right",
    )


def plot_precision_recall(panel, *, ax=None):
    """Precision–recall curves of ``curves.pr_panel``, with each class's prevalence."""
    ax = _axes(ax, 4.8, 4.8)
    return _plot_panel(
        panel,
        ax,
        xlabel="recall (sensitivity)",
        ylabel="precision (positive predictive value)",
        diagonal=False,
        legend_loc="lower left",
    )


# --------------------------------------------------------------------------- calibration


def plot_reliability(data, *, fig=None):
    """Observed frequency against mean predicted probability per bin, counts underneath."""
    if fig is None:
        fig = new_figure(4.8, 4.8)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="perfect calibration")
    shown = np.isfinite(data["mean_predicted"]) & np.isfinite(data["observed"])
    top.plot(
        data["mean_predicted"][shown],
        data["observed"][shown],
        marker="o",
        color=POOLED_COLOUR,
        label="model",
    )
    top.set_xlim(0, 1)
    top.set_ylim(-0.02, 1.02)
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


#: How a bar of the checkpoint figure is drawn, by kind: fill, hatch.
_BAR_STYLES = {
    "optimistic": ("#d9d9d9", "///"),
    "honest": ("#9ecae1", ""),
    "primary": ("#08519c", ""),
}


def plot_optimism(rows, *, ax=None):
    """Accuracy by way of choosing the checkpoint, per model (horizontal bars, each named on
    its own line, so no legend can hide one).

    ``rows`` is a list of ``(model, [(label, value or None, kind), ...])`` with kind
    "optimistic", "honest" or "primary".
    """
    n = sum(len(bars) + 1 for _, bars in rows)
    ax = _axes(ax, 7.5, 0.6 + 0.26 * n)
    ticks, labels, heads, y = [], [], [], 0.0
    for model, bars in rows:
        heads.append(len(ticks))
        ticks.append(y)
        labels.append(model)
        y -= 1
        for label, value, kind in bars:
            ticks.append(y)
            labels.append(label)
            if value is not None:
                colour, hatch = _BAR_STYLES[kind]
                ax.barh(y, value, height=0.8, color=colour, hatch=hatch, edgecolor="#525252")
                ax.text(value + 0.01, y, f"{value:.3f}", va="center", fontsize=8)
            y -= 1
    ax.set_yticks(ticks, labels, fontsize=8)
    for i in heads:
        ax.get_yticklabels()[i].set_fontweight("bold")
        ax.get_yticklabels()[i].set_fontsize(10)
    ax.set_ylim(y + 0.4, 0.6)
    ax.set_xlim(0, 1.1)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("accuracy")
    ax.grid(axis="y", visible=False)
    ax.set_title("Accuracy by the way the checkpoint is chosen", loc="left")
    return ax


def plot_decision_curve(curves, treat_all, thresholds, *, ax=None):
    """Net benefit against threshold probability: each model (``curves``: name -> values),
    treating everyone (``treat_all``) and treating no one (0), on the thresholds given."""
    ax = _axes(ax, 7.0, 3.8)
    x = np.asarray(thresholds, dtype=float)
    styles = ("-", "--", "-.", ":")
    for i, ((name, values), colour) in enumerate(
        zip(curves.items(), _colours(len(curves)), strict=True)
    ):
        ax.plot(x, values, color=colour, linestyle=styles[i % 4], linewidth=1.8, label=name)
    ax.plot(x, treat_all, color="#525252", linewidth=1.0, label="treat everyone")
    ax.axhline(0.0, color="#969696", linewidth=1.0, linestyle=(0, (1, 2)), label="treat no one")
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
    ax = _axes(ax, 7.0, 3.4)
    colours = _colours(len(per_model))
    for (model, (folds, values)), colour in zip(per_model.items(), colours, strict=True):
        values = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        ax.plot(folds, values, marker="o", color=colour, label=model)
        if np.isfinite(values).any():
            ax.axhline(np.nanmean(values), color=colour, linestyle=":", linewidth=1)
    all_folds = sorted({f for folds, _ in per_model.values() for f in folds})
    ax.set_xticks(all_folds)
    ax.set_xlabel("test fold")
    ax.set_ylabel("accuracy (chosen checkpoint)")
    ax.set_title("Test accuracy per fold (dotted: each model's mean)", loc="left")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return ax


def plot_mean_curves_overlay(per_model, *, fig=None):
    """Mean over the cv folds of accuracy and loss per epoch, one colour per model: the test
    fold solid, training dashed. ``per_model`` maps a model to ``curves.mean_curves``."""
    if fig is None:
        fig = new_figure(8.0, 3.2)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    colours = _colours(len(per_model))
    for (model, mean), colour in zip(per_model.items(), colours, strict=True):
        epochs = mean["epoch"].to_numpy()
        for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
            for prefix, style, role in (("test_", "-", "test fold"), ("", "--", "training")):
                centre = mean[f"{prefix}{metric}_mean"].to_numpy(dtype=float)
                if not np.isfinite(centre).any():
                    continue
                ax.plot(epochs, centre, color=colour, linestyle=style, label=f"{model}, {role}")
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        ax.set_title(f"{metric}: mean over folds", loc="left")
        _integer_epochs(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
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
        "validation images — " + parts + "the dashed line marks the epoch whose weights were kept.",
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
        "the count and, below it, its share of the true class's images; the colour follows "
        "that share." + (" One per test fold, then all folds pooled." if per_fold else ""),
        f"Confusion matrices of {model}",
        plot_confusion_grid,
        (matrices, classes),
    )


def roc_figure(slug: str, model: str, panel, *, per_fold: bool, binary: bool) -> FigureSpec:
    if per_fold:
        what = (
            "each test fold (thin), the mean over folds with a ±1 SD band (metrics.json "
            "mean_roc), and all test folds pooled (dash-dot)."
        )
    elif binary:
        what = "pooled over the evaluated images."
    else:
        what = "one class against the rest, pooled."
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
        "often it came true (on the diagonal: well calibrated); the bars count images.",
        f"Reliability diagram of {model}",
        plot_reliability,
        (data,),
        False,
    )


def optimism_figure(bars) -> FigureSpec:
    return FigureSpec(
        "optimism",
        "Test accuracy depending on how the checkpoint was chosen. Hatched grey bars are "
        "optimistic: the images they grade chose the epoch (the blog's seed split, and each "
        "test fold's own best epoch). Plain bars are honest rules: only the inner validation "
        "part chose, so none of them can flatter, and their differences are selection "
        "noise unless wider than the headline's interval; the darkest is the run's rule, "
        "fixed before the run.",
        "Accuracy by checkpoint choice per model",
        plot_optimism,
        (bars,),
    )


def fold_comparison_figure(per_fold) -> FigureSpec:
    return FigureSpec(
        "comparison-folds",
        "Each model's test accuracy on every fold. Lines that cross, or lie close, mean "
        "the folds disagree about which model is better.",
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
        "Mean over the folds at each epoch, one colour per model: test-fold accuracy "
        "and loss (solid) and training accuracy and loss (dashed).",
        "Mean training curves of the models",
        plot_mean_curves_overlay,
        (means,),
    )
