"""The run-level layout of ``metrics.json``: what a run adds to the summary (the data set, the
units, the seed split's leakage, the assessment of each model, the declared primary test and
the departures from the blog), as frozen dataclasses, and the one reader of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import loads
from ..errors import MpxEvalError
from ..summary._from_json import JSON_KEY, LayoutError, from_json
from ..summary._schema import Count, generate
from ..summary.layout import Comparison, ModelSummary, Summary


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The majority-class rule: always answer ``class_`` (``"class"`` in the file)."""

    class_: str = field(metadata={JSON_KEY: "class"})
    accuracy: float | None  # that class's share
    roc_auc: float  # 0.5: it ranks nothing
    n: int


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A headline number with its own 95 % interval; ``low``/``high`` are None without one,
    and ``no_interval`` then says why where the reason is known."""

    estimate: float | None
    estimator: str  # "pooled"
    low: float | None
    high: float | None
    method: str | None
    n: int
    successes: int | None = None  # a proportion's count (accuracy)
    no_interval: str | None = None


@dataclass(frozen=True, kw_only=True)
class Headline:
    accuracy: Estimate
    roc_auc: Estimate
    # two classes: the positive class's sensitivity and the specificity, at the decision rule
    # "the most probable class" (a probability of at least 0.5 for the positive class)
    sensitivity: Estimate | None = None
    specificity: Estimate | None = None
    # more than two classes: each class's recall, by class name
    recall: dict[str, Estimate] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SeedHeadline:
    """The seed split's headline numbers, on the images that also chose its checkpoint."""

    accuracy: Estimate
    roc_auc: Estimate
    sensitivity: Estimate | None = None
    specificity: Estimate | None = None
    recall: dict[str, Estimate] = field(default_factory=dict)
    baseline: Baseline


@dataclass(frozen=True, kw_only=True)
class Alarm:
    """What makes a model's numbers mean less than they seem."""

    kind: str  # one_class, constant_scores, not_above_baseline, auc_not_above_chance
    short: str  # a few words for a table cell
    message: str  # reads after the model's name


@dataclass(frozen=True, kw_only=True)
class FoldMean:
    """The mean over the folds where a metric is defined, with a Student t interval."""

    mean: float
    low: float
    high: float
    sd: float
    k: int


@dataclass(frozen=True, kw_only=True)
class LeftOut:
    fold: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class FoldCount:
    """On how many of the folds a metric is defined, and why the others are left out."""

    n: int
    of: int
    left_out: list[LeftOut]

    @property
    def partial(self) -> bool:
        return self.n < self.of


@dataclass(frozen=True, kw_only=True)
class Readout:
    """A rate read off the pooled ROC at a fixed other rate (``fixed``), with its group
    bootstrap interval and the threshold that gives it."""

    fixed: float
    value: float | None
    low: float | None
    high: float | None
    threshold: float | None
    method: str


@dataclass(frozen=True, kw_only=True)
class FoldThreshold:
    """The threshold one fold chose on its inner validation part (None: ``reason``)."""

    fold: int
    threshold: float | None
    n_inner: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class HonestPoint:
    """The target's rates on the test folds, each fold at its own inner-chosen threshold."""

    n_images: int
    sensitivity: Estimate
    specificity: Estimate


@dataclass(frozen=True, kw_only=True)
class OptimisticPoint:
    """The same target reached by a threshold chosen on the pooled test images themselves."""

    threshold: float
    sensitivity: float
    specificity: float


@dataclass(frozen=True, kw_only=True)
class TargetPoint:
    kind: str  # "sensitivity" or "specificity"
    value: float
    folds: list[FoldThreshold]
    honest: HonestPoint | None
    optimistic: OptimisticPoint | None


@dataclass(frozen=True, kw_only=True)
class DecisionCurveData:
    """Net benefit per threshold probability: the model, and treating everyone (treating
    no one is 0 throughout)."""

    thresholds: list[float]
    model: list[float]
    treat_all: list[float]


@dataclass(frozen=True, kw_only=True)
class Clinical:
    """What a clinician reads first, on the pooled cv test images (two classes)."""

    rule_threshold: float  # the positive class at a probability of at least this
    lr_positive: Estimate
    lr_negative: Estimate
    sensitivity_at_specificity: Readout
    specificity_at_sensitivity: Readout
    decision_curve: DecisionCurveData
    target: TargetPoint | None


@dataclass(frozen=True, kw_only=True)
class Assessment:
    """A model's headline, judged on its cv test folds, else on the seed split."""

    evaluated_on: str  # "cv" or "seed"
    n: int  # prediction rows (with repeated cv, each image once per repeat)
    n_images: int | None = None  # distinct images among them
    n_groups: int | None = None  # distinct patient / photo groups among them
    baseline: Baseline
    headline: Headline
    alarms: list[Alarm]
    fold_mean: dict[str, FoldMean | None] = field(default_factory=dict)
    fold_counts: dict[str, FoldCount] = field(default_factory=dict)
    per_class_fold_counts: dict[str, dict[str, FoldCount]] = field(default_factory=dict)
    seed_split: SeedHeadline | None = None
    # when the cv epochs rest on too little: a small inner part, early epochs, flat curves
    checkpoint_flags: list[str] = field(default_factory=list)
    clinical: Clinical | None = None  # two classes, with cv


@dataclass(frozen=True, kw_only=True)
class RunModel(ModelSummary):
    """A model's summary with what the run adds: its size and its assessment."""

    params: Count | None = None
    input_shape: list[int] | None = None
    assessment: Assessment | None = None


@dataclass(frozen=True, kw_only=True)
class PrimaryResult:
    """The primary test's outcome for one pair, as recorded when the run was assessed."""

    test: str
    p: float | None
    significant: bool
    favours: str | None


@dataclass(frozen=True, kw_only=True)
class RunComparison(Comparison):
    primary: PrimaryResult | None = None


@dataclass(frozen=True, kw_only=True)
class PrimaryTest:
    """The test declared in advance whose p-value alone decides a comparison's verdict."""

    test: str
    name: str
    alpha: float
    secondary: list[str]


@dataclass(frozen=True, kw_only=True)
class Departure:
    """A setting that differs from the blog's, with the value used and the blog's."""

    setting: str
    name: str
    used: int | float | str
    blog: str


@dataclass(frozen=True, kw_only=True)
class DatasetCounts:
    classes: list[str]
    counts: dict[str, Count]
    fingerprint: str
    n_images: Count


@dataclass(frozen=True, kw_only=True)
class LeakagePart:
    """The seed checkpoint's accuracy on one part of its validation images."""

    n: int
    accuracy: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True, kw_only=True)
class SeedLeakage:
    checkpoint: str
    with_sibling: LeakagePart
    without_sibling: LeakagePart
    all: LeakagePart


@dataclass(frozen=True, kw_only=True)
class ExternalFigures:
    """Figures on the external images, each with its interval over their clusters; a fold
    model's carry its ``fold``."""

    n_images: int
    n_rows: int  # predictions counted (an image once per fold model when they are pooled)
    n_clusters: int
    accuracy: Estimate
    roc_auc: Estimate | None = None  # with a positive class
    sensitivity: Estimate | None = None
    specificity: Estimate | None = None
    fold: int | None = None


@dataclass(frozen=True, kw_only=True)
class ExternalGap:
    """The internal cross-validated figure less the fold models' external one."""

    internal: float
    external: float
    difference: float
    low: float
    high: float
    method: str


@dataclass(frozen=True, kw_only=True)
class ExternalModel:
    fold_models: ExternalFigures | None  # every fold model's predictions, pooled
    ensemble: ExternalFigures | None  # the mean of the fold models' probabilities
    seed_split: ExternalFigures | None  # the seed split's model (the blog's one model)
    contaminated: ExternalFigures | None  # the ensemble on the images with a training copy
    folds: list[ExternalFigures]
    gap: dict[str, ExternalGap] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ExternalSource:
    name: str
    n_images: Count
    counts: dict[str, Count]


@dataclass(frozen=True, kw_only=True)
class ExternalSummary:
    """External validation: the sets, their contamination and each model's figures."""

    sources: list[ExternalSource]
    n_images: Count
    n_contaminated: Count
    contaminated_included: bool
    n_label_conflicts: Count
    rule_threshold: float
    models: dict[str, ExternalModel]


@dataclass(frozen=True, kw_only=True)
class RunMetrics(Summary):
    """A run's ``metrics.json``: the summary and the run-level keys, read back.

    A run with no finished predictions (every unit diverged, or none finished yet) writes
    only the classes, the models and the comparisons of the summary's keys.
    """

    positive_class: str | None = None
    confidence_level: float = 0.95
    n_resamples: int = 0
    metrics: list[str] = field(default_factory=list)
    models: dict[str, RunModel]
    comparisons: list[RunComparison]
    dataset: DatasetCounts | None = None
    seed_leakage: dict[str, SeedLeakage] = field(default_factory=dict)
    # the units the file was computed from (a reader compares them with the folder's); None
    # in a file written before they were recorded
    units_finished: Count | None = None
    units_diverged: dict[str, int | None] | None = None
    units_planned: Count | None = None
    baseline: Baseline | None = None
    primary_test: PrimaryTest | None = None
    departures: list[Departure] = field(default_factory=list)
    external: ExternalSummary | None = None  # a run with --external
    # which layout wrote the file (1: before it was recorded); a file of an older layout is
    # computed again from the units, so that a newer mpx_eval shows all it knows
    layout: int = 1


#: The layout this version writes: raised whenever metrics.json gains content.
LAYOUT = 3


def metrics_from_json(data: object) -> RunMetrics:
    """A parsed ``metrics.json`` as :class:`RunMetrics`; raises ``LayoutError`` naming the
    first key that does not fit."""
    return from_json(RunMetrics, data)


def metrics_from_text(text: str) -> RunMetrics:
    """metrics.json's text as :class:`RunMetrics` (NaN written as null, keys as text)."""
    return metrics_from_json(loads(text))


def read_metrics(path: str | Path) -> RunMetrics:
    """Read a run's ``metrics.json``: the one reader of the file.

    Raises
    ------
    MpxEvalError
        Naming the file, when it is missing, not JSON, or not laid out as
        :class:`RunMetrics`.
    """
    path = Path(path)
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MpxEvalError(f"{path} is not valid JSON ({exc}); it may be truncated") from None
    try:
        return metrics_from_json(data)
    except LayoutError as exc:
        raise MpxEvalError(
            f"{path}: {exc}; it may be truncated or written by another version"
        ) from None


def schema_text() -> str:
    """The text of ``mpx_eval/summary/metrics.schema.json``, as this layout makes it."""
    return json.dumps(generate(RunMetrics), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
