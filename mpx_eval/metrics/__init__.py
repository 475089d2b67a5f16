"""Evaluation metrics as pure functions over arrays: numpy, scipy, scikit-learn and pandas only.

Arrays in, numbers out: ``f(y_true, y_pred_or_score, *, option=...)``. Labels may be
integers or class names; (n, k) probability arrays have columns following ``labels`` (the
class list, named as in scikit-learn). Input checks shared by them are public in
:mod:`mpx_eval.metrics.validation`. The run summary built from them (``metrics.json``) lives
in :mod:`mpx_eval.summary`.
"""

import importlib
import warnings

from ._bootstrap import ConfidenceInterval, bootstrap_ci, bootstrap_prediction_metrics
from ._bundle import metric_names, predicted_labels, prediction_metrics
from ._calibration import (
    ReliabilityCurve,
    brier_score_loss,
    expected_calibration_error,
    reliability_curve,
)
from ._classification import (
    BinaryRates,
    PerClassScores,
    accuracy_score,
    balanced_accuracy_score,
    binary_rates,
    cohen_kappa_score,
    confusion_matrix,
    f1_macro_score,
    matthews_corrcoef,
    precision_recall_f1_support,
)
from ._comparison import (
    AUCDifference,
    AUCInterval,
    CorrectedTTestResult,
    DeLongResult,
    McNemarResult,
    corrected_resampled_ttest,
    delong_auc_ci,
    delong_auc_difference,
    delong_roc_test,
    mcnemar_test,
)
from ._differences import AccuracyDifference, paired_accuracy_difference
from ._folds import MeanROC, fold_metrics, mean_roc_curve, summarize_folds
from ._intervals import proportion_intervals, wilson_interval
from ._operating import (
    DecisionCurve,
    LikelihoodRatios,
    ROCReadout,
    ThresholdRates,
    decision_curve,
    likelihood_ratios,
    net_benefit,
    rates_at_threshold,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    threshold_for_target,
)
from ._ranking import (
    OperatingPoint,
    average_precision_score,
    operating_point,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "AUCDifference",
    "AUCInterval",
    "AccuracyDifference",
    "BinaryRates",
    "ConfidenceInterval",
    "CorrectedTTestResult",
    "DeLongResult",
    "DecisionCurve",
    "LikelihoodRatios",
    "McNemarResult",
    "MeanROC",
    "OperatingPoint",
    "PerClassScores",
    "ROCReadout",
    "ReliabilityCurve",
    "ThresholdRates",
    "accuracy_score",
    "average_precision_score",
    "balanced_accuracy_score",
    "binary_rates",
    "bootstrap_ci",
    "bootstrap_prediction_metrics",
    "brier_score_loss",
    "cohen_kappa_score",
    "confusion_matrix",
    "corrected_resampled_ttest",
    "decision_curve",
    "delong_auc_ci",
    "delong_auc_difference",
    "delong_roc_test",
    "expected_calibration_error",
    "f1_macro_score",
    "fold_metrics",
    "likelihood_ratios",
    "matthews_corrcoef",
    "mcnemar_test",
    "mean_roc_curve",
    "metric_names",
    "net_benefit",
    "operating_point",
    "paired_accuracy_difference",
    "precision_recall_curve",
    "precision_recall_f1_support",
    "predicted_labels",
    "prediction_metrics",
    "proportion_intervals",
    "rates_at_threshold",
    "reliability_curve",
    "roc_auc_score",
    "roc_curve",
    "sensitivity_at_specificity",
    "specificity_at_sensitivity",
    "summarize_folds",
    "threshold_for_target",
    "wilson_interval",
]

#: Public names that moved out of the metrics package, and where they live now.
_MOVED = {
    "summarize_predictions": "mpx_eval.summary",
    "metrics_json_schema": "mpx_eval.summary",
}


def __getattr__(name):
    # Kept importable from here for code written against earlier releases; to be removed.
    if name in _MOVED:
        warnings.warn(
            f"mpx_eval.metrics.{name} has moved to {_MOVED[name]}.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
