"""The run summary: a run's prediction table and training history in, ``metrics.json`` out.

:func:`summarize_predictions` computes it with :mod:`mpx_eval.metrics`; its layout is typed in
:mod:`mpx_eval.summary.layout` and its JSON Schema ships with the package
(:func:`metrics_json_schema`). Like the metrics, it needs numpy, scipy, scikit-learn and pandas
only.
"""

from ._schema import metrics_json_schema
from ._summarize import summarize_predictions
from .layout import Summary

__all__ = [
    "Summary",
    "metrics_json_schema",
    "summarize_predictions",
]
