"""The layout of ``metrics.json`` as types: what :func:`~mpx_eval.summary.summarize_predictions`
returns, key by key, so that readers and writers of the file can point at one definition.

These are :class:`typing.TypedDict` s: at run time the summary is a plain ``dict`` (the JSON
is exactly these keys, in this order), and a type checker reads what each key holds. Every
``float`` may be ``None`` where the number is undefined (NaN and infinities are written as
``null``). ``metrics.json`` adds run-level keys of its own (``dataset``, ``seed_leakage``,
``assessment``, ...; see the README); :func:`~mpx_eval.summary.metrics_json_schema` checks both.
"""

from __future__ import annotations

from typing import Literal, TypedDict

#: One number per metric name (see :func:`mpx_eval.metrics.metric_names`), ``None`` where
#: the metric is undefined.
MetricValues = dict[str, float | None]


class Interval(TypedDict):
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
    n_dropped: int  # bootstrap resamples where the metric was undefined; 0 for the others


class _Metrics(TypedDict, total=False):
    """Every metric of :func:`mpx_eval.metrics.metric_names`, each a key of its own (the
    four binary rates with two classes only)."""

    accuracy: float | None
    balanced_accuracy: float | None
    f1: float | None
    f1_macro: float | None
    mcc: float | None
    kappa: float | None
    roc_auc: float | None
    average_precision: float | None
    brier: float | None
    ece: float | None
    sensitivity: float | None
    specificity: float | None
    ppv: float | None
    npv: float | None


class _FoldKeys(TypedDict):
    fold: int
    n_test: int
    n_train: int  # n - n_test
    # First epoch with the highest val_accuracy in the history, None without history.
    best_epoch: int | None


class Fold(_FoldKeys, _Metrics):
    """One cv fold at checkpoint ``"best"``: its sizes, chosen epoch and every metric.

    The metric keys are those of :func:`mpx_eval.metrics.metric_names` (the four binary
    rates with two classes only); a metric undefined in the fold (e.g. ``roc_auc`` when the
    fold's test rows hold one class) is ``None``.
    """


class AUCDeLong(TypedDict):
    """The pooled AUC with its DeLong interval (the same as ``ci["roc_auc"]``)."""

    auc: float | None
    low: float | None
    high: float | None


class Confusion(TypedDict):
    """Pooled confusion matrix: rows are true classes, columns predicted ones."""

    labels: list[str]
    counts: list[list[int]]
    normalized: list[list[float | None]]  # each row divided by its total


class ClassScore(TypedDict):
    mean: float | None  # over the folds
    std: float | None  # over the folds, ddof=1
    pooled: float | None


class Support(TypedDict):
    mean: float | None  # images of the class per fold
    std: float | None
    pooled: int  # images of the class


class PerClass(TypedDict):
    precision: ClassScore
    recall: ClassScore
    f1: ClassScore
    support: Support


class LastCheckpoint(TypedDict):
    """The same metrics for checkpoint ``"last"``: fold mean, fold spread, pooled."""

    mean: MetricValues
    std: MetricValues
    pooled: MetricValues


class MeanROC(TypedDict):
    """Fold-averaged ROC curve on 101 FPR points (see :func:`mpx_eval.metrics.mean_roc_curve`)."""

    fpr: list[float]
    tpr_mean: list[float]
    tpr_std: list[float | None]
    folds: list[int]  # the folds holding both classes, which the mean is over


class Reliability(TypedDict):
    """Pooled reliability curve in 10 equal-width bins.

    On the positive class's probability for two classes, on the top-label confidence for more.
    """

    mean_predicted: list[float | None]
    observed_frequency: list[float | None]
    counts: list[int]


class CrossValidation(TypedDict):
    """A model's cross-validation: per fold, over the folds, and pooled (checkpoint "best")."""

    k: int  # folds, over all repeats
    n: int  # distinct images over the model's cv rows (or n_samples)
    repeats: int  # repetitions of the k folds present (see folds_per_repeat)
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


class _SeedSplitKeys(TypedDict):
    n_val: int
    best_epoch: int | None
    best_val_accuracy: float | None
    last_val_accuracy: float | None
    # From the history when it has the model's seed rows, else from the "best"/"last"
    # predictions.
    val_accuracy_source: Literal["history", "predictions"]


class SeedSplit(_SeedSplitKeys, _Metrics):
    """The single seeded split, measured on its validation part (checkpoint "best").

    After the keys above, every metric of :func:`mpx_eval.metrics.metric_names` as a key of
    its own (as in :class:`Fold`), then ``ci``: per metric an :class:`Interval`.
    """

    ci: dict[str, Interval]


class OptimismFold(TypedDict):
    fold: int
    chosen_epoch: int | None  # the epoch the inner validation chose
    best_test_epoch: int | None  # the epoch with the highest test_accuracy
    best_epoch_on_test: float | None  # that highest test_accuracy
    chosen: float | None  # test_accuracy at chosen_epoch
    last: float | None  # test_accuracy of the last epoch


class Optimism(TypedDict):
    """What choosing the epoch on the test fold would have claimed, against what was chosen.

    Means over the folds of the model's cv history.
    """

    # Highest test_accuracy of any epoch: an optimistic figure no honest procedure can reach.
    best_epoch_on_test: float | None
    chosen: float | None  # test_accuracy at the epoch the inner validation chose
    last: float | None  # test_accuracy of the last epoch
    gap: float | None  # best_epoch_on_test - chosen
    per_fold: list[OptimismFold]


class ModelSummary(TypedDict):
    cv: CrossValidation | None  # None without cv rows
    seed_split: SeedSplit | None  # None without seed rows
    optimism: Optimism | None  # None without history rows of the model's cv


class CorrectedT(TypedDict):
    """Nadeau and Bengio's corrected resampled t-test on the per-fold accuracies.

    n_test is the mean fold size and n_train = n - n_test; with repeats it is Bouckaert and
    Frank's corrected repeated k-fold t-test. ``t`` and ``p`` are None with
    ``undefined_reason`` ``"no_variance"`` when the per-fold differences do not vary.
    """

    t: float | None
    p: float | None
    df: int  # k - 1
    undefined_reason: Literal["no_variance"] | None


class McNemar(TypedDict):
    """McNemar's test on the pooled paired correctness (see :func:`mpx_eval.metrics.mcnemar_test`).

    Exact, or Durkalski et al.'s clustered test when groups repeat (``method`` says which).
    """

    statistic: int | float
    p: float | None
    n_a_only: int
    n_b_only: int
    method: str


class DeLong(TypedDict):
    """DeLong's test on the pooled positive-class probabilities (clustered when groups repeat)."""

    z: float | None
    p: float | None
    auc_a: float | None
    auc_b: float | None


class Comparison(TypedDict):
    """Two models with cv rows (``a < b``), paired by (fold, path) at checkpoint "best".

    Over the folds both models have (a partial run may lack some).
    """

    a: str
    b: str
    metric: Literal["accuracy"]
    k: int
    repeats: int
    folds: list[int]
    mean_a: float
    mean_b: float
    mean_difference: float  # a - b, of the fold means
    corrected_t: CorrectedT | None  # None with one fold
    mcnemar: McNemar
    delong: DeLong | None  # two classes only
    n_paired: int


class Summary(TypedDict):
    """What :func:`~mpx_eval.summary.summarize_predictions` returns."""

    classes: list[str]
    positive_class: str | None  # None with more than two classes
    confidence_level: float
    n_resamples: int
    metrics: list[str]  # the metric names used throughout, in order
    models: dict[str, ModelSummary]  # per model name, sorted
    # Every pair of models with cv rows in common (a pair with no fold in common is left out).
    comparisons: list[Comparison]
