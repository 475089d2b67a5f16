"""The columns of a run's tables (history.csv, predictions.csv, splits.csv).

Kept apart from :mod:`mpx_eval.rundir.folder`, which writes them, so that the run summary
(:mod:`mpx_eval.summary`), which reads them, needs nothing else of the run folder.
"""

#: Columns of history.csv (a unit's and the run's), in their order.
HISTORY_COLUMNS = (
    "model",
    "scheme",
    "fold",
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
)
#: The columns of predictions.csv before its ``prob_<class>`` columns.
PREDICTION_KEYS = ("model", "scheme", "fold", "checkpoint", "path", "label", "group")
#: Columns of splits.csv: one row per image and split, with the image's role in it.
SPLIT_COLUMNS = ("path", "label", "group", "scheme", "fold", "role")

__all__ = ["HISTORY_COLUMNS", "PREDICTION_KEYS", "SPLIT_COLUMNS"]
