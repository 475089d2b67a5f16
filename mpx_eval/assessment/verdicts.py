"""The verdict of a comparison of two models, decided once: the primary test declared in
advance, its outcome, the reason and the numbers behind it. The terminal, the report's
first screen and its comparison section only put a :class:`ComparisonVerdict` in words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .intervals import finite

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..summary.layout import Comparison
    from .layout import Alarm, Estimate, PrimaryTest, RunMetrics

#: The paired test declared in advance: its p-value alone decides whether the report speaks
#: of evidence for a difference between two models. The others are shown as secondary.
PRIMARY_TEST = "corrected_t"
ALPHA = 0.05
SECONDARY_TESTS = ("mcnemar", "delong")


class Outcome(enum.Enum):
    """What the primary test says about a pair of models."""

    FAVOURS = "favours"  # p < alpha, and one model's mean accuracy is higher
    NO_EVIDENCE = "no evidence"  # p >= alpha
    INCONCLUSIVE = "inconclusive"  # p < alpha, but the mean accuracies are equal
    NO_VARIANCE = "no variance"  # the per-fold differences are all equal: no test
    NO_TEST = "no test"  # under two folds that both models finished
    NOT_DESIGNS = "not designs"  # a model has an alarm: it did not learn the task


@dataclass(frozen=True)
class ComparisonVerdict:
    """One pair's verdict and the numbers every rendering of it shows."""

    a: str
    b: str
    outcome: Outcome
    test_name: str  # "corrected t over 5 folds", or its repeated-CV form
    p: float | None  # the primary test's p-value
    alpha: float
    favoured: str | None  # the more accurate model (FAVOURS)
    warned: tuple[tuple[str, str], ...]  # (model, its first alarm) for NOT_DESIGNS
    mean_difference: float | None  # a - b, of the fold means
    n_images: int | None  # paired test images

    @property
    def p_text(self) -> str:
        return p_text(self.p, alpha=self.alpha)

    @property
    def other(self) -> str | None:
        """The less accurate model of a FAVOURS verdict."""
        if self.favoured is None:
            return None
        return self.b if self.favoured == self.a else self.a

    @property
    def warned_models(self) -> list[str]:
        return [name for name, _ in self.warned]

    @property
    def reason(self) -> str:
        """Why there is no verdict on the designs, in words every rendering uses."""
        return {
            Outcome.NOT_DESIGNS: " and ".join(f"{name} {alarm}" for name, alarm in self.warned),
            Outcome.NO_VARIANCE: "the accuracy difference is the same in every fold",
            Outcome.NO_TEST: "the primary test needs at least two folds that both models finished",
            Outcome.INCONCLUSIVE: "the mean accuracies are equal",
        }.get(self.outcome, "")


def p_text(p: float | None, *, alpha: float = ALPHA) -> str:
    """``p = 0.012``, ``p < 0.001``; four decimals where three would hide which side of
    ``alpha`` it is on (0.0496 and 0.0504)."""
    if not finite(p):
        return "n/a"
    if p < 0.001:
        return "p < 0.001"
    text = f"{p:.3f}"
    return f"p = {p:.4f}" if text == f"{alpha:.3f}" else f"p = {text}"


def test_name(comparison: Comparison) -> str:
    """``corrected t over 5 folds``, or its repeated-CV form when the folds were repeated."""
    if comparison.repeats > 1:
        return (
            f"corrected repeated k-fold t over {comparison.k} folds, {comparison.repeats} repeats"
        )
    return f"corrected t over {comparison.k} folds"


def test_p(comparison: Comparison, test: str) -> float | None:
    """The p-value of one of the pair's tests (``corrected_t``, ``mcnemar``, ``delong``)."""
    found = {
        "corrected_t": comparison.corrected_t,
        "mcnemar": comparison.mcnemar,
        "delong": comparison.delong,
    }.get(test)
    return found.p if found is not None else None


def direction(comparison: Comparison, test: str) -> str | None:
    """The model a test's statistic points to, or None when it points nowhere."""
    if test == "corrected_t":
        score_a, score_b = comparison.mean_difference, 0.0
    elif test == "mcnemar":
        score_a, score_b = comparison.mcnemar.n_a_only, comparison.mcnemar.n_b_only
    elif comparison.delong is not None:
        score_a, score_b = comparison.delong.auc_a, comparison.delong.auc_b
    else:
        return None
    if not (finite(score_a) and finite(score_b)) or score_a == score_b:
        return None
    return comparison.a if score_a > score_b else comparison.b


def declared_test(metrics: RunMetrics) -> tuple[str, float]:
    """The primary test and its level as the run recorded them: a run rendered again is
    judged by the rule it was assessed by, not by today's. A metrics.json written before the
    declaration was recorded keeps the rule."""
    declared: PrimaryTest | None = metrics.primary_test
    if declared is None:
        return PRIMARY_TEST, ALPHA
    return declared.test, declared.alpha


def decide(
    comparison: Comparison,
    *,
    primary: str = PRIMARY_TEST,
    alpha: float = ALPHA,
    alarms: Mapping[str, Sequence[Alarm]] | None = None,
) -> ComparisonVerdict:
    """The verdict of one pair, decided by the primary test alone.

    A model with an alarm (one class predicted, constant scores, not above the baseline)
    makes the comparison no comparison of designs: a model that learnt nothing cannot show
    which architecture is better. A primary test without variance decides nothing either.
    """
    a, b = comparison.a, comparison.b
    warned = tuple(
        (name, (alarms or {})[name][0].message) for name in (a, b) if (alarms or {}).get(name)
    )
    p = test_p(comparison, primary)
    no_variance = (
        primary == PRIMARY_TEST
        and comparison.corrected_t is not None
        and comparison.corrected_t.undefined_reason == "no_variance"
    )
    favoured = direction(comparison, primary) if finite(p) and p < alpha else None
    if warned:
        outcome = Outcome.NOT_DESIGNS
    elif no_variance:
        outcome = Outcome.NO_VARIANCE
    elif not finite(p):
        outcome = Outcome.NO_TEST
    elif p >= alpha:
        outcome = Outcome.NO_EVIDENCE
    else:
        outcome = Outcome.FAVOURS if favoured is not None else Outcome.INCONCLUSIVE
    return ComparisonVerdict(
        a=a,
        b=b,
        outcome=outcome,
        test_name=test_name(comparison),
        p=p,
        alpha=alpha,
        favoured=favoured if outcome is Outcome.FAVOURS else None,
        warned=warned,
        mean_difference=comparison.mean_difference,
        n_images=comparison.n_paired,
    )


def decide_all(metrics: RunMetrics) -> list[ComparisonVerdict]:
    """Every pair's verdict, under the primary test and level the run recorded."""
    primary, alpha = declared_test(metrics)
    alarms = {
        name: entry.assessment.alarms
        for name, entry in metrics.models.items()
        if entry.assessment is not None
    }
    return [
        decide(comparison, primary=primary, alpha=alpha, alarms=alarms)
        for comparison in metrics.comparisons
    ]


def no_interval_reason(estimate: Estimate, fallback: str = "no interval") -> str:
    """Why a headline number has no interval, as every rendering says it: the reason the
    assessment recorded, else ``fallback`` (a reason found on the images, or none: the
    number of images is not the reason unless it is small)."""
    return estimate.no_interval or fallback


# --------------------------------------------------------------------------- recorded


def primary_result(comparison: Comparison) -> dict:
    """The primary test's outcome for one pair, as metrics.json records it: its p-value, and
    the model it favours when p < ALPHA (None otherwise, or when the test could not run)."""
    p = test_p(comparison, PRIMARY_TEST)
    significant = finite(p) and p < ALPHA
    diff = comparison.mean_difference
    favours = None
    if significant and finite(diff) and diff != 0:
        favours = comparison.a if diff > 0 else comparison.b
    return {"test": PRIMARY_TEST, "p": p, "significant": bool(significant), "favours": favours}


def primary_test_declaration() -> dict:
    """The primary test as metrics.json declares it."""
    return {
        "test": PRIMARY_TEST,
        "name": "corrected resampled t-test (Nadeau–Bengio) on per-fold accuracy",
        "alpha": ALPHA,
        "secondary": list(SECONDARY_TESTS),
    }
