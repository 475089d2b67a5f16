"""Figure functions: they draw on a given axes, and names from the data are not math."""

from __future__ import annotations

import numpy as np

from mpx_eval.report import curves as C
from mpx_eval.report import figures as F


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
