"""One verdict, three renderings: for every kind of outcome the terminal, the report's first
screen and its comparison section say the same thing, for the same reason."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mpx_eval.assessment.aggregate import aggregate_run, current_metrics, read_sources
from mpx_eval.assessment.verdicts import Outcome, decide_all
from mpx_eval.commands.terminal import summary_lines
from mpx_eval.report.run import read_run
from mpx_eval.report.sections import build_context

from .synthetic_run import make_run

#: What a rendering of each outcome says: every rendering of that outcome matches it, and no
#: rendering of another outcome does.
SAYS = {
    Outcome.FAVOURS: r"t3 is more accurate",
    Outcome.NO_EVIDENCE: r"no evidence (of a difference|that t3 and t4 differ)",
    Outcome.INCONCLUSIVE: r"inconclusive",
    Outcome.NO_VARIANCE: r"same in every fold",
    Outcome.NO_TEST: r"at least two folds that both models finished",
    Outcome.NOT_DESIGNS: r"not a comparison of designs",
}
#: Words that only a rendering of a missing test may use.
NO_TEST_WORDS = r"two common folds|needs at least two"


def _no_variance(comparison: dict) -> None:
    comparison["corrected_t"].update(t=None, p=None, undefined_reason="no_variance")


def _significant(comparison: dict) -> None:
    comparison["corrected_t"]["p"] = 0.01
    comparison.update(mean_a=0.85, mean_b=0.80, mean_difference=0.05)


def _not_significant(comparison: dict) -> None:
    comparison["corrected_t"]["p"] = 0.41


def _equal_means(comparison: dict) -> None:
    comparison["corrected_t"]["p"] = 0.01
    comparison.update(mean_a=0.8, mean_b=0.8, mean_difference=0.0)


def _one_fold(comparison: dict) -> None:
    comparison.update(k=1, folds=[1], corrected_t=None)


def _repeated(comparison: dict) -> None:
    _significant(comparison)
    comparison.update(k=6, repeats=2)


#: case -> (how the run is made, how its comparison is changed, the outcome, the p it shows)
CASES = {
    "significant": ({}, _significant, Outcome.FAVOURS, "p = 0.010"),
    "not significant": ({}, _not_significant, Outcome.NO_EVIDENCE, "p = 0.410"),
    "equal means": ({}, _equal_means, Outcome.INCONCLUSIVE, "p = 0.010"),
    "zero variance": ({}, _no_variance, Outcome.NO_VARIANCE, None),
    "one fold": ({}, _one_fold, Outcome.NO_TEST, None),
    # enough images that the one fold left of t4 still shows an AUC above chance
    "diverged unit": ({"folds": 2, "n_per_class": 36}, None, Outcome.NO_TEST, None),
    "warned model": ({"constant": ("t4",)}, _significant, Outcome.NOT_DESIGNS, None),
    "repeated cv": ({}, _repeated, Outcome.FAVOURS, "p = 0.010"),
}


def _diverge(out: Path, unit: str) -> None:
    """Record a unit as diverged, as a run does: its history kept, no predictions."""
    folder = out / "units" / unit
    info = json.loads((folder / "unit.json").read_text(encoding="utf-8"))
    info.update(status="diverged", diverged_at=2)
    (folder / "unit.json").write_text(json.dumps(info), encoding="utf-8")
    (folder / "predictions.csv").unlink()
    (out / "metrics.json").unlink()  # the aggregates are computed again from the units


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    made: dict[tuple, Path] = {}
    found = {}
    for case, (options, _, _, _) in CASES.items():
        key = tuple(sorted(options.items()))
        if key not in made:
            made[key] = make_run(tmp_path_factory.mktemp("verdict") / "run", epochs=3, **options)
        found[case] = made[key]
    return found


def _renderings(out: Path, change) -> tuple[Outcome, dict[str, str]]:
    """The verdict decided for the run's one pair and its three renderings."""
    if change is not None:
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        change(metrics["comparisons"][0])
        (out / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    sources = read_sources(out)
    # a changed metrics.json still counts the same units; a diverged unit asks for a new one
    metrics = current_metrics(sources) or aggregate_run(sources)
    (verdict,) = decide_all(metrics)
    context, _ = build_context(read_run(sources, metrics))
    terminal = next(line for line in summary_lines(metrics) if line.startswith("t3 vs t4"))
    return verdict.outcome, {
        "terminal": terminal,
        "first screen": context["verdict"]["architecture"],
        "comparison section": context["comparison"]["pairs"][0]["verdict"],
    }


@pytest.mark.parametrize("case", list(CASES))
def test_the_three_renderings_of_a_verdict_agree(case, runs, tmp_path):
    _, change, expected, p_text = CASES[case]
    out = tmp_path / "run"
    shutil.copytree(runs[case], out)
    if case == "diverged unit":
        _diverge(out, "t4-cv-2")
    outcome, texts = _renderings(out, change)
    assert outcome is expected
    for where, text in texts.items():
        assert re.search(SAYS[expected], text, flags=re.IGNORECASE), f"{where}: {text}"
        for other, says in SAYS.items():
            if other is not expected:
                assert not re.search(says, text, flags=re.IGNORECASE), f"{where}: {text}"
        if expected is not Outcome.NO_TEST:
            assert not re.search(NO_TEST_WORDS, text), f"{where}: {text}"
        if p_text is not None:
            assert p_text in text, f"{where}: {text}"
    if case == "warned model":
        assert all("t4" in text for text in texts.values())
    if case == "repeated cv":
        assert "corrected repeated k-fold t over 6 folds, 2 repeats" in texts["first screen"]
