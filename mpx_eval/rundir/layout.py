"""The run folder's layout: every file and folder name in it, the names of units and their
folders, and the columns of its tables. The one place that names them; imports nothing."""

from __future__ import annotations

import re
from pathlib import Path

#: Written when mpx_eval creates (or adopts) a run folder; it also lists the figures written.
MARKER = ".mpx_eval"
#: Holds the OS lock while a ``run`` or ``report`` works in the folder.
LOCK = ".mpx_eval.lock"

CONFIG = "config.toml"
RUNINFO = "runinfo.json"
SPLITS = "splits.csv"
AUDIT = "audit.json"
MODELS = "models.json"
THUMBNAILS = "thumbnails.zip"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
METRICS = "metrics.json"
INDEX = "index.html"
#: The report's methods section as Markdown, beside index.html.
METHODS = "methods.md"
UNITS = "units"
FIGURES = "figures"

#: Written last in a unit's folder: the folder is finished once it exists.
UNIT_INFO = "unit.json"
#: A unit's saved model (Keras's native format) and the record beside it.
MODEL_FILE = "model.keras"
MODEL_INFO = "model.json"
#: A unit's Grad-CAM heatmaps.
GRADCAM_FILE = "gradcam.npz"
#: A unit's probabilities at every epoch, for rules that choose after all folds are trained.
EPOCHS_FILE = "epochs.npz"
#: A unit's probabilities of the external images at every epoch.
EXTERNAL_FILE = "external.npz"
#: The external sets of a run: their images, clusters and contamination (``--external``).
EXTERNAL = "external.json"
#: Small JPEGs of the external images, for the report.
EXTERNAL_THUMBNAILS = "external_thumbnails.zip"
#: Every finished unit's predictions of the external images, at its chosen checkpoint.
EXTERNAL_PREDICTIONS = "external_predictions.csv"

#: Files a run writes at the top of its folder (what ``--overwrite`` removes there).
RUN_FILES = (
    CONFIG,
    RUNINFO,
    SPLITS,
    AUDIT,
    MODELS,
    THUMBNAILS,
    HISTORY,
    PREDICTIONS,
    METRICS,
    INDEX,
    METHODS,
    EXTERNAL,
    EXTERNAL_THUMBNAILS,
    EXTERNAL_PREDICTIONS,
)
#: Files that do not make a folder someone else's (a repository's placeholder for an
#: output folder, a file manager's notes).
PLACEHOLDERS = frozenset({LOCK, ".gitignore", ".gitkeep", ".keep", ".DS_Store"})
#: Files a unit writes in its folder under ``units/``.
UNIT_FILES = (
    HISTORY, PREDICTIONS, UNIT_INFO, MODEL_FILE, MODEL_INFO, GRADCAM_FILE, EPOCHS_FILE,
    EXTERNAL_FILE,
)  # fmt: skip
#: A unit folder's name (``t4-cv-3``), or one moved aside as damaged.
UNIT_DIR = re.compile(r"^[\w.-]+-(seed|cv)-\d+(\.damaged-\d{8}T\d{6}Z(-\d+)?)?$")
#: What an interrupted atomic write of file ``name`` leaves behind: ``.<name>.<8 random
#: characters>.tmp`` (tempfile.mkstemp's, see mpx_eval.atomic.atomic_open).
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")

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


def folder_stem(model: str) -> str:
    """The part of a unit's folder name that comes from its model (``a.b:c`` -> ``a.b_c``)."""
    return re.sub(r"[^\w.-]", "_", model)


def unit_name(model: str, scheme: str, fold: int) -> str:
    """A unit's name (``t4-cv-3``), as runinfo.json and unit.json record it."""
    return f"{model}-{scheme}-{fold}"


def unit_dirname(model: str, scheme: str, fold: int) -> str:
    """A unit's folder under ``units/``: its name with the model made safe for a file name."""
    return f"{folder_stem(model)}-{scheme}-{fold}"


class RunPaths:
    """The paths of one run folder's files, by what they hold (``RunPaths(out).metrics``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunPaths({str(self.root)!r})"

    marker = property(lambda self: self.root / MARKER)
    lock = property(lambda self: self.root / LOCK)
    config = property(lambda self: self.root / CONFIG)
    runinfo = property(lambda self: self.root / RUNINFO)
    splits = property(lambda self: self.root / SPLITS)
    audit = property(lambda self: self.root / AUDIT)
    models = property(lambda self: self.root / MODELS)
    thumbnails = property(lambda self: self.root / THUMBNAILS)
    history = property(lambda self: self.root / HISTORY)
    predictions = property(lambda self: self.root / PREDICTIONS)
    metrics = property(lambda self: self.root / METRICS)
    index = property(lambda self: self.root / INDEX)
    methods = property(lambda self: self.root / METHODS)
    external = property(lambda self: self.root / EXTERNAL)
    external_thumbnails = property(lambda self: self.root / EXTERNAL_THUMBNAILS)
    external_predictions = property(lambda self: self.root / EXTERNAL_PREDICTIONS)
    units = property(lambda self: self.root / UNITS)
    figures = property(lambda self: self.root / FIGURES)

    def unit(self, dirname: str) -> Path:
        """A unit's folder, by its folder name (``unit.json``'s ``dirname``)."""
        return self.root / UNITS / dirname


__all__ = [
    "HISTORY_COLUMNS",
    "PREDICTION_KEYS",
    "RUN_FILES",
    "SPLIT_COLUMNS",
    "UNIT_FILES",
    "RunPaths",
    "folder_stem",
    "unit_dirname",
    "unit_name",
]
