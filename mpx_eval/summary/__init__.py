"""The run summary: a run's prediction table and training history in, ``metrics.json`` out.

:func:`summarize_predictions` computes it with :mod:`mpx_eval.metrics`; its layout is typed in
:mod:`mpx_eval.summary.layout` and its JSON Schema ships with the package
(:func:`metrics_json_schema`); the checkpoint rules that choose each fold's epoch from its
inner-validation curve are in :mod:`mpx_eval.summary.checkpoints`. Like the metrics, it needs
numpy, scipy, scikit-learn and pandas only.
"""

from .. import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "Summary": ".layout",
        "metrics_json_schema": "._schema",
        "summarize_predictions": "._summarize",
    },
)
