"""The layout of ``metrics.json`` as types: what :func:`~mpx_eval.summary.summarize_predictions`
returns, key by key, as frozen dataclasses that readers build with :meth:`Summary.from_json`.

The summary itself is a plain JSON-ready ``dict`` with exactly these keys, in this order (a
field's name is its key). Every ``float`` may be ``None`` where the number is undefined (NaN
and infinities are written as ``null``). A run's ``metrics.json`` adds run-level keys of its
own, typed in :mod:`mpx_eval.assessment.layout`; :func:`~mpx_eval.summary.metrics_json_schema`
checks both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from ..metrics import metric_names
from ._from_json import REST, from_json
from ._schema import Count, Limits, PositiveCount, Probability

#: One number per metric name (see :func:`mpx_eval.metrics.metric_names`), ``None`` where
#: the metric is undefined.
MetricValues = dict[str, float | None]
#: Every metric name a summary can hold (the binary rates included): the keys that a fold's
#: or a seed split's flat object gathers into its ``metrics``.
METRIC_KEYS = frozenset(metric_names(2))


#: The metadata of a field that holds the object's metric keys (``accuracy``, ``roc_auc``,
#: ...), laid flat beside its other keys in the file.
FLAT_METRICS = {REST: METRIC_KEYS}


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A confidence interval of one metric on pooled rows.

    ``method`` names how it was made: Wilson score intervals for proportions (``accuracy``,
    ``sensitivity``, ``specificity``, ``ppv``, ``npv``; see
    :func:`mpx_eval.metrics.proportion_intervals`), DeLong's variance on the logit scale for
    a binary ``roc_auc`` (see :func:`mpx_eval.metrics.delong_auc_ci`), a percentile
    bootstrap without strata for the rest. When a ``group`` occurs on more than one row, all
    of them account for the groups: design effect, Obuchowski's clustered variance, whole
    groups resampled.
    """

    low: float | None
    high: float | None
    method: str
    n_dropped: Count  # bootstrap resamples where the metric was undefined; 0 for the others


@dataclass(frozen=True, kw_only=True)
class Fold:
    """One cv fold at checkpoint ``"best"``: its sizes, chosen epoch and every metric.

    In the file the metrics are keys of the fold's object (those of
    :func:`mpx_eval.metrics.metric_names`, the four binary rates with two classes only); a
    metric undefined in the fold (``roc_auc`` when its test rows hold one class) is ``None``.
    """

    fold: int
    n_test: PositiveCount
    n_train: Count  # n - n_test
    # First epoch with the highest val_accuracy in the history, None without history.
    best_epoch: int | None
    metrics: MetricValues = field(default_factory=dict, metadata=FLAT_METRICS)


@dataclass(frozen=True, kw_only=True)
class AUCDeLong:
    """The pooled AUC with its DeLong interval (the same as ``ci["roc_auc"]``)."""

    auc: Probability
    low: Probability
    high: Probability
    reason: str | None = None  # why the bounds are None ("too few groups of Monkeypox (1) …")


@dataclass(frozen=True, kw_only=True)
class Confusion:
    """Pooled confusion matrix: rows are true classes, columns predicted ones."""

    labels: list[str]
    counts: list[list[Count]]
    normalized: list[list[Probability]]  # each row divided by its total


@dataclass(frozen=True, kw_only=True)
class ClassScore:
    mean: float | None  # over the folds
    std: float | None  # over the folds, ddof=1
    pooled: float | None


@dataclass(frozen=True, kw_only=True)
class Support:
    mean: float | None  # images of the class per fold
    std: float | None
    pooled: int  # images of the class


@dataclass(frozen=True, kw_only=True)
class PerClass:
    precision: ClassScore
    recall: ClassScore
    f1: ClassScore
    support: Support


@dataclass(frozen=True, kw_only=True)
class LastCheckpoint:
    """The same metrics for checkpoint ``"last"``: fold mean, fold spread, pooled."""

    mean: MetricValues
    std: MetricValues
    pooled: MetricValues


@dataclass(frozen=True, kw_only=True)
class MeanROC:
    """Fold-averaged ROC curve on 101 FPR points (see :func:`mpx_eval.metrics.mean_roc_curve`)."""

    fpr: list[float]
    tpr_mean: list[float]
    tpr_std: list[float | None]
    folds: list[int]  # the folds holding both classes, which the mean is over


@dataclass(frozen=True, kw_only=True)
class Reliability:
    """Pooled reliability curve in 10 equal-width bins.

    On the positive class's probability for two classes, on the top-label confidence for more.
    """

    mean_predicted: list[float | None]
    observed_frequency: list[float | None]
    counts: list[Count]


@dataclass(frozen=True, kw_only=True)
class CrossValidation:
    """A model's cross-validation: per fold, over the folds, and pooled (checkpoint "best")."""

    k: PositiveCount  # folds, over all repeats
    n: PositiveCount  # distinct images over the model's cv rows (or n_samples)
    # Repetitions of the k folds present (see folds_per_repeat); absent in summaries
    # written before repeated cross-validation existed.
    repeats: PositiveCount = 1
    folds: list[Fold]
    mean: MetricValues  # per metric over the folds where it is defined
    std: MetricValues  # ddof=1
    min: MetricValues
    max: MetricValues
    pooled: MetricValues  # every metric on all cv "best" rows together
    ci: dict[str, Interval]  # per metric, on the pooled rows
    auc_delong: AUCDeLong | None  # two classes, both present; else None
    confusion_matrix: Confusion
    per_class: dict[str, PerClass]  # per class name
    last: LastCheckpoint | None  # None without "last" rows
    mean_roc: MeanROC | None  # two classes only (and a fold holding both)
    reliability: Reliability


@dataclass(frozen=True, kw_only=True)
class SeedSplit:
    """The single seeded split, measured on its validation part (checkpoint "best").

    After ``val_accuracy_source`` the file lays every metric of
    :func:`mpx_eval.metrics.metric_names` flat as a key of its own (as in :class:`Fold`),
    then ``ci``: per metric an :class:`Interval`.
    """

    n_val: PositiveCount
    best_epoch: int | None
    best_val_accuracy: float | None
    last_val_accuracy: float | None
    # From the history when it has the model's seed rows, else from the "best"/"last"
    # predictions.
    val_accuracy_source: Literal["history", "predictions"]
    metrics: MetricValues = field(default_factory=dict, metadata=FLAT_METRICS)
    ci: dict[str, Interval]


@dataclass(frozen=True, kw_only=True)
class OptimismFold:
    fold: int
    chosen_epoch: int | None  # the epoch the inner validation chose
    best_test_epoch: int | None  # the epoch with the highest test_accuracy
    best_epoch_on_test: float | None  # that highest test_accuracy
    chosen: float | None  # test_accuracy at chosen_epoch
    last: float | None  # test_accuracy of the last epoch


@dataclass(frozen=True, kw_only=True)
class RuleOutcome:
    """One checkpoint rule applied to a model's cv history: the test-fold accuracy at the
    epochs it chooses (mean and spread over the folds) and those epochs, in fold order."""

    rule: str  # a name of mpx_eval.summary.checkpoints.RULES, or "best-on-test"
    honest: bool  # False only for "best-on-test": the test fold chose its own epoch
    pooled: bool  # one epoch for all folds of a repeat, from the mean inner curve
    mean: float | None
    std: float | None  # ddof=1; None with one fold
    epochs: list[int]


@dataclass(frozen=True, kw_only=True)
class Optimism:
    """The epochs the run's checkpoint rule chose, against the other rules and against
    choosing the epoch on the test fold itself (optimistic).

    Means over the folds of the model's cv history.
    """

    # Highest test_accuracy of any epoch: an optimistic figure no honest procedure can reach.
    best_epoch_on_test: float | None
    chosen: float | None  # test_accuracy at the epoch the run's rule chose
    last: float | None  # test_accuracy of the last epoch
    gap: float | None  # best_epoch_on_test - chosen
    per_fold: list[OptimismFold]
    rule: str = "val-accuracy"  # the run's rule (older runs: their only rule)
    rules: list[RuleOutcome] = field(default_factory=list)  # every rule, then "best-on-test"


@dataclass(frozen=True, kw_only=True)
class ModelSummary:
    cv: CrossValidation | None  # None without cv rows
    seed_split: SeedSplit | None  # None without seed rows
    optimism: Optimism | None = None  # None without history rows of the model's cv


@dataclass(frozen=True, kw_only=True)
class CorrectedT:
    """Nadeau and Bengio's corrected resampled t-test on the per-fold accuracies.

    n_test is the mean fold size and n_train = n - n_test; with repeats it is Bouckaert and
    Frank's corrected repeated k-fold t-test. ``t`` and ``p`` are None with
    ``undefined_reason`` ``"no_variance"`` when the per-fold differences do not vary.
    """

    t: float | None
    p: Probability
    df: PositiveCount  # k - 1
    undefined_reason: Literal["no_variance"] | None = None


@dataclass(frozen=True, kw_only=True)
class McNemar:
    """McNemar's test on the pooled paired correctness (see :func:`mpx_eval.metrics.mcnemar_test`).

    Exact, or the cluster-count test (Obuchowski 1998) when groups repeat (``method`` says
    which).
    """

    statistic: int | float  # a count of discordant pairs (exact), or a chi-square
    p: Probability
    n_a_only: Count
    n_b_only: Count
    method: str = "exact"


@dataclass(frozen=True, kw_only=True)
class DeLong:
    """DeLong's test on the pooled positive-class probabilities (clustered when groups repeat)."""

    z: float | None
    p: Probability
    auc_a: Probability
    auc_b: Probability


@dataclass(frozen=True, kw_only=True)
class Effect:
    """A paired difference a − b with its interval (None bounds, and ``reason``, without)."""

    difference: float | None
    low: float | None
    high: float | None
    method: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Effects:
    """How much better, with what interval: the effect sizes beside the tests."""

    accuracy: Effect  # pooled test images, paired (clustered when groups repeat)
    roc_auc: Effect | None  # two classes only
    fold_mean_accuracy: Effect | None  # mean of the per-fold differences; None with one fold


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """Two models with cv rows (``a < b``), paired by (fold, path) at checkpoint "best".

    Over the folds both models have (a partial run may lack some).
    """

    a: str
    b: str
    metric: Literal["accuracy"]
    k: PositiveCount
    repeats: PositiveCount = 1  # absent in summaries from before repeated cross-validation
    folds: list[int]
    mean_a: float
    mean_b: float
    mean_difference: float  # a - b, of the fold means
    corrected_t: CorrectedT | None  # None with one fold
    mcnemar: McNemar
    delong: DeLong | None  # two classes only
    n_paired: PositiveCount
    effects: Effects | None = None  # None in summaries from before effect sizes


@dataclass(frozen=True, kw_only=True)
class Summary:
    """What :func:`~mpx_eval.summary.summarize_predictions` returns, read back."""

    classes: Annotated[list[str], Limits(min_items=1)]
    positive_class: str | None  # None with more than two classes
    confidence_level: Annotated[float, Limits(exclusive_minimum=0, exclusive_maximum=1)]
    n_resamples: Annotated[int, Limits(minimum=2)]
    metrics: list[str]  # the metric names used throughout, in order
    models: dict[str, ModelSummary]  # per model name, sorted
    # Every pair of models with cv rows in common (a pair with no fold in common is left out).
    comparisons: list[Comparison]

    @classmethod
    def from_json(cls, data: dict) -> Summary:
        """The summary of ``json.loads(text)``; raises ``LayoutError`` naming the first key
        that does not fit."""
        return from_json(cls, data)
