"""Figure functions: they draw on a given axes, names from the data are not math, and every
figure of a run keeps its legends inside, its accuracy axes within 1 and its series apart
without relying on colour."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mpx_eval.assessment.aggregate import current_metrics, read_sources
from mpx_eval.metrics import wilson_interval
from mpx_eval.report import curves as C
from mpx_eval.report import figures as F
from mpx_eval.report.run import read_run
from mpx_eval.report.sections import build_context


def _rows() -> C.EvalRows:
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = np.array(["Monkeypox", "Others"] * 20, dtype=object)
    p = np.clip(np.where(labels == "Monkeypox", 0.7, 0.3) + rng.normal(0, 0.2, 40), 0.01, 0.99)
    frame = pd.DataFrame(
        {
            "model": "t4",
            "scheme": "cv",
            "fold": np.repeat([1, 2], 20),
            "checkpoint": "best",
            "path": [f"img{i}.jpg" for i in range(40)],
            "label": labels,
            "group": "g",
            "prob_Monkeypox": p,
            "prob_Others": 1 - p,
        }
    )
    return C.EvalRows("cv", frame, ["Monkeypox", "Others"])


def test_single_panel_figures_draw_on_the_axes_they_are_given():
    rows = _rows()
    with F.style():
        fig = F.new_figure(8, 4)
        left, right = fig.subplots(1, 2)
        assert F.plot_roc(C.roc_panel(rows, "Monkeypox", None), ax=left) is left
        assert F.plot_precision_recall(C.pr_panel(rows, "Monkeypox"), ax=right) is right
        assert len(left.lines) == 2 + 1 + 1  # two folds, pooled, chance
        assert {t.get_text() for t in left.get_legend().get_texts()} >= {"chance"}
        assert F.png_bytes(fig).startswith(b"\x89PNG")


def test_dollar_signs_in_class_names_are_drawn_as_text():
    matrix = C.Confusion(
        "fold 1", np.array([[1, 2], [3, 4]]), np.array([[1 / 3, 2 / 3], [3 / 7, 4 / 7]])
    )
    with F.style():
        ax = F.plot_confusion(matrix, ["a$b", "$x^{2$"])
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert F.png_bytes(ax.figure).startswith(b"\x89PNG")
    assert labels == ["a$b", "$x^{2$"]


# --------------------------------------------------------------------------- every figure of a run


COLOUR_WORDS = re.compile(
    r"\b(red|green|blue|orange|purple|yellow|grey|gray|pink|brown|cyan|magenta|violet|black)\b",
    re.IGNORECASE,
)


def _specs(rendered) -> list[F.FigureSpec]:
    sources = read_sources(rendered.out)
    run = read_run(sources, current_metrics(sources))
    return build_context(run)[1]


def _drawn(rendered):
    """Every figure of a rendered run, drawn on the Agg canvas as the report draws it."""
    from matplotlib.figure import FigureBase

    with F.style():
        for spec in _specs(rendered):
            result = spec.draw(*spec.args)
            fig = result if isinstance(result, FigureBase) else result.figure
            fig.canvas.draw()
            yield spec, fig


@pytest.fixture(scope="module")
def figures(binary_run, three_class_run, three_model_run) -> list[tuple[str, object]]:
    runs = (binary_run, three_class_run, three_model_run)
    return [(spec.name, fig) for run in runs for spec, fig in _drawn(run)]


def _legends(fig) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]


def _drawn_ticks(ax) -> list:
    """The y tick labels inside the view (matplotlib keeps labels of ticks beyond it)."""
    low, high = sorted(ax.get_ylim())
    return [t for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]


def _inside(extent, bounds, slack: float = 1.0) -> bool:
    return (
        extent.x0 >= bounds.x0 - slack
        and extent.y0 >= bounds.y0 - slack
        and extent.x1 <= bounds.x1 + slack
        and extent.y1 <= bounds.y1 + slack
    )


def test_legends_and_labels_lie_inside_the_figure(figures):
    """Nothing is cut at the figure's edge: no legend, tick label or title."""
    for name, fig in figures:
        renderer = fig.canvas.get_renderer()
        shown = [ax for ax in fig.axes if ax.get_visible()]
        texts = [t for ax in shown for t in _drawn_ticks(ax)] + [ax.title for ax in shown]
        for artist in [*_legends(fig), *texts]:
            if artist.get_visible() and (not hasattr(artist, "get_text") or artist.get_text()):
                extent = artist.get_window_extent(renderer)
                assert _inside(extent, fig.bbox), (name, getattr(artist, "get_text", str)())


def test_roc_and_precision_recall_legends_cover_no_curve(figures):
    drawn = [(n, f) for n, f in figures if n.endswith(("-roc", "-pr"))]
    assert len(drawn) >= 8
    for name, fig in drawn:
        renderer = fig.canvas.get_renderer()
        (ax,) = [a for a in fig.axes if a.get_legend() is not None]
        assert not ax.get_legend().get_window_extent(renderer).overlaps(ax.bbox), name


def _accuracy_axes(fig):
    for ax in fig.axes:
        words = f"{ax.get_title()} {ax.get_ylabel()}".lower()
        if "accuracy" in words and "loss" not in words:
            yield "y", ax
        if "accuracy" in ax.get_xlabel().lower():
            yield "x", ax


def test_no_accuracy_axis_runs_past_one(figures):
    checked = 0
    for name, fig in figures:
        for axis, ax in _accuracy_axes(fig):
            top = ax.get_ylim()[1] if axis == "y" else ax.get_xlim()[1]
            assert top <= 1.0, (name, ax.get_title(), top)
            checked += 1
    assert checked >= 10
    # a model near 1 whose band reaches past it: the axis still ends at 1
    epochs = np.arange(1, 6)
    columns = {"epoch": epochs}
    for prefix in ("", "val_", "test_"):
        for metric, centre, spread in (("accuracy", 0.97, 0.06), ("loss", 0.1, 0.02)):
            columns[f"{prefix}{metric}_mean"] = np.full(5, centre)
            columns[f"{prefix}{metric}_std"] = np.full(5, spread)
    with F.style():
        fig = F.plot_mean_curves(pd.DataFrame(columns))
        assert fig.axes[0].get_ylabel() == "accuracy" and fig.axes[0].get_ylim()[1] <= 1.0


def test_no_caption_names_a_colour(binary_run, three_class_run):
    """A colour-blind reader cannot match "the green bar": captions name shapes instead."""
    for run in (binary_run, three_class_run):
        for spec in _specs(run):
            assert not COLOUR_WORDS.search(spec.caption), (spec.name, spec.caption)
        captions = re.findall(r"<figcaption>(.*?)</figcaption>", run.html, flags=re.S)
        assert captions and not [c for c in captions if COLOUR_WORDS.search(c)]


def test_series_differ_in_marker_or_line_style_not_only_in_colour(figures):
    several = 0
    for name, fig in figures:
        for ax in fig.axes:
            series = [
                line
                for line in ax.get_lines()
                if not line.get_label().startswith("_") and len(line.get_xdata()) > 0
            ]
            if len(series) < 2:
                continue
            several += 1
            shapes = [(line.get_linestyle(), line.get_marker()) for line in series]
            assert len(set(shapes)) == len(shapes), (name, ax.get_title(), shapes)
    assert several >= 10


def test_each_reliability_bin_has_its_wilson_interval():
    labels = np.array(["Monkeypox"] * 10 + ["Others"] * 10, dtype=object)
    # ten images scored 0.35 (three of them Monkeypox), ten scored 0.85 (seven)
    p = np.array([0.35] * 3 + [0.85] * 7 + [0.35] * 7 + [0.85] * 3)
    frame = pd.DataFrame(
        {"fold": 1, "path": [f"{i}.jpg" for i in range(20)], "label": labels,
         "prob_Monkeypox": p, "prob_Others": 1 - p}
    )  # fmt: skip
    data = C.reliability(C.EvalRows("seed", frame, ["Monkeypox", "Others"]), "Monkeypox", None)
    shown = data["counts"] > 0
    assert data["counts"][shown].tolist() == [10, 10]
    expected = wilson_interval(3, 10)
    assert data["low"][shown][0] == pytest.approx(expected.low)
    assert data["high"][shown][0] == pytest.approx(expected.high)
    with F.style():
        fig = F.plot_reliability(data)
        bars = [c for c in fig.axes[0].containers if c.has_yerr]
        assert len(bars) == 1
        (segments,) = bars[0].lines[2]
        spans = sorted((s[0][1], s[1][1]) for s in segments.get_segments())
    assert spans[0] == pytest.approx((expected.low, expected.high))
