"""Reading a run folder for the report, and checking each artefact before it is used.

Every problem with an artefact becomes an ``MpxEvalError`` whose one line names the file, so
the command line can print it instead of a traceback.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import read_csv, read_json
from ..config import tomllib
from ..errors import MpxEvalError
from ..rundir import folder as outdir
from ..rundir.folder import finished_units
from ..rundir.layout import HISTORY_COLUMNS, PREDICTION_KEYS, SPLIT_COLUMNS


def _fail(path: Path, message: str) -> MpxEvalError:
    return MpxEvalError(f"{path} {message}; it may be truncated or written by another version")


def require_keys(value: Any, keys: tuple[str, ...], path: Path, where: str = "") -> dict:
    """``value`` as a dict holding ``keys``, or an error naming ``path`` and what is missing."""
    place = f"{where} " if where else ""
    if not isinstance(value, dict):
        raise _fail(path, f"{place or 'top level '}is not a JSON object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise _fail(path, f"{place}lacks key(s) {', '.join(missing)}")
    return value


def require_list(value: Any, path: Path, where: str) -> list:
    if not isinstance(value, list):
        raise _fail(path, f"{where} is not a list")
    return value


class Thumbnails:
    """The run's thumbnails.zip: one small JPEG per image, named by the image's path."""

    def __init__(self, path: Path):
        self.path = path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise MpxEvalError(f"{path} is missing") from None
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise _fail(path, f"is not a readable zip archive ({exc})") from None
        self._names = set(self._archive.namelist())
        self._cache: dict[str, bytes] = {}

    def get(self, rel: str) -> bytes | None:
        """The JPEG bytes of image ``rel``, or None when the archive has no such entry."""
        if rel not in self._names:
            return None
        if rel not in self._cache:
            try:
                self._cache[rel] = self._archive.read(rel)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise _fail(self.path, f"has a damaged entry {rel!r} ({exc})") from None
        return self._cache[rel]


@dataclass
class Run:
    """Everything the report reads from a run folder, checked."""

    out: Path
    runinfo: dict
    config: dict[str, dict]
    config_text: str
    splits: pd.DataFrame
    audit: dict
    models: dict[str, dict]
    units: dict[str, dict]
    history: pd.DataFrame
    predictions: pd.DataFrame
    metrics: dict
    thumbnails: Thumbnails

    @property
    def classes(self) -> list[str]:
        return list(self.runinfo["dataset"]["classes"])

    def setting(self, key: str, default: Any = None) -> Any:
        """A value of the resolved config, whichever table holds it."""
        for table in self.config.values():
            if isinstance(table, dict) and key in table:
                return table[key]
        return default


# --------------------------------------------------------------------------- checks


def _check_runinfo(path: Path) -> dict:
    runinfo = require_keys(read_json(path), ("dataset",), path)
    dataset = require_keys(
        runinfo["dataset"], ("classes", "counts", "fingerprint", "n_images"), path, "'dataset'"
    )
    classes = dataset["classes"]
    if not (
        isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)
    ):
        raise _fail(path, "'dataset.classes' is not a list of at least two class names")
    for key in ("counts", "sizes_seen"):
        if key in dataset and not isinstance(dataset[key], dict):
            raise _fail(path, f"'dataset.{key}' is not a JSON object")
    require_list(dataset.get("unread", []), path, "'dataset.unread'")
    for i, item in enumerate(require_list(dataset.get("skipped", []), path, "'dataset.skipped'")):
        require_keys(item, ("path", "reason"), path, f"skipped file {i}")
    for key in ("units_planned", "command"):
        if runinfo.get(key) is not None:
            require_list(runinfo[key], path, f"'{key}'")
    for key in ("device", "versions", "units", "demo"):
        if runinfo.get(key) is not None and not isinstance(runinfo[key], dict):
            raise _fail(path, f"'{key}' is not a JSON object")
    return runinfo


def _check_models(path: Path) -> dict:
    models = read_json(path)
    if not isinstance(models, dict) or not models:
        raise _fail(path, "does not map model names to their descriptions")
    for name, info in models.items():
        where = f"model {name!r}"
        require_keys(info, ("input_shape", "params", "layers"), path, where)
        require_list(info["input_shape"], path, f"{where} 'input_shape'")
        for i, layer in enumerate(require_list(info["layers"], path, f"{where} 'layers'")):
            require_keys(layer, ("type", "output_shape", "params"), path, f"{where} layer {i}")
            require_list(layer["output_shape"], path, f"{where} layer {i} 'output_shape'")
    return models


def _check_audit(path: Path) -> dict:
    audit = require_keys(read_json(path), ("exact_duplicates", "near_duplicates", "leaks"), path)
    exact = require_list(audit["exact_duplicates"], path, "'exact_duplicates'")
    for i, members in enumerate(exact):
        for item in require_list(members, path, f"exact duplicate set {i}"):
            require_keys(item, ("path",), path, f"exact duplicate set {i}")
    for i, pair in enumerate(require_list(audit["near_duplicates"], path, "'near_duplicates'")):
        require_keys(pair, ("a", "b", "distance"), path, f"near-duplicate pair {i}")
        require_keys(pair["a"], ("path",), path, f"near-duplicate pair {i} 'a'")
        require_keys(pair["b"], ("path",), path, f"near-duplicate pair {i} 'b'")
    for i, leak in enumerate(require_list(audit["leaks"], path, "'leaks'")):
        require_keys(leak, ("kind", "split", "items"), path, f"leak {i}")
        if not (isinstance(leak["kind"], str) and isinstance(leak["split"], str)):
            raise _fail(path, f"leak {i} has a 'kind' or 'split' that is not text")
        for item in require_list(leak["items"], path, f"leak {i} 'items'"):
            require_keys(item, ("path", "role"), path, f"leak {i} item")
    return audit


def _check_config(path: Path) -> tuple[dict, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except UnicodeDecodeError as exc:
        raise _fail(path, f"is not UTF-8 text ({exc})") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"is not valid TOML ({exc})") from None
    return config, text


def _numeric(frame: pd.DataFrame, columns, path: Path) -> None:
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0]) + 2  # header is line 1
            raise _fail(path, f"has an empty or non-numeric '{column}' on line {row}")


#: unit.json fields the report and resume read, and the types they must have.
_UNIT_FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "scheme": (str,),
    "fold": (int,),
    "epochs": (int,),
    "best_epoch": (int, type(None)),
    "n_train": (int,),
    "n_val": (int,),
    "n_test": (int,),
    "seconds": (int, float),
    "seconds_per_epoch": (int, float, type(None)),
    "identity": (str,),
    "finished_at": (str,),
    "status": (str,),
    "diverged_at": (int,),
    "precision_policy": (str,),
}


def _check_unit_fields(info: dict, marker: Path) -> None:
    require_keys(info, ("model", "scheme", "fold"), marker)
    for key, types in _UNIT_FIELDS.items():
        value = info.get(key)
        if key in info and (not isinstance(value, types) or isinstance(value, bool)):
            raise _fail(marker, f"has {key!r} of the wrong type ({type(value).__name__})")
    if info["scheme"] not in ("seed", "cv"):
        raise _fail(marker, f"has scheme {info['scheme']!r}, not 'seed' or 'cv'")
    if info.get("status", "finished") not in ("finished", "diverged"):
        raise _fail(marker, f"has status {info['status']!r}, not 'finished' or 'diverged'")


def _check_unit(out: Path, info: dict, classes: list[str]) -> None:
    """A finished unit's tables agree with its unit.json (catches truncated files).

    A diverged unit has a history (its losses may be non-finite) and no predictions.
    """
    folder = out / "units" / str(info["dirname"])
    marker = folder / "unit.json"
    _check_unit_fields(info, marker)
    history_path, predictions_path = folder / "history.csv", folder / "predictions.csv"
    history = read_csv(history_path, required=HISTORY_COLUMNS)
    epochs = info.get("epochs")
    if isinstance(epochs, int) and history.shape[0] != epochs:
        raise _fail(history_path, f"has {history.shape[0]} epoch rows but unit.json says {epochs}")
    if info.get("status") == "diverged":
        _numeric(history, ["fold", "epoch"], history_path)
        return
    predictions = read_csv(predictions_path, required=PREDICTION_KEYS)

    core = ["fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    if info["scheme"] == "cv":
        core += ["test_loss", "test_accuracy"]
    _numeric(history, core, history_path)

    prob_columns = [f"prob_{c}" for c in classes]
    missing = [c for c in prob_columns if c not in predictions.columns]
    if missing:
        raise _fail(predictions_path, f"lacks column(s) {', '.join(missing)}")
    for column in ("path", "label", "checkpoint"):
        if predictions[column].isna().any():
            raise _fail(predictions_path, f"has empty '{column}' values")
    _numeric(predictions, ["fold", *prob_columns], predictions_path)
    unknown = sorted(set(predictions["label"]) - set(classes))
    if unknown:
        raise _fail(
            predictions_path,
            f"has label(s) {', '.join(map(repr, unknown[:3]))} that are not classes of the run",
        )
    expected = info.get("n_test") if info["scheme"] == "cv" else info.get("n_val")
    if isinstance(expected, int):
        for checkpoint, rows in predictions.groupby("checkpoint"):
            if rows.shape[0] != expected:
                what = "test" if info["scheme"] == "cv" else "validation"
                raise _fail(
                    predictions_path,
                    f"has {rows.shape[0]} rows for checkpoint {checkpoint!r} but unit.json "
                    f"says {expected} {what} images",
                )


def _check_metrics(metrics: Any, path: Path) -> dict:
    metrics = require_keys(metrics, ("classes", "models", "comparisons"), path)
    for name, entry in metrics["models"].items():
        require_keys(entry, ("cv", "seed_split"), path, f"model {name!r}")
        cv = entry["cv"]
        if cv is not None:
            require_keys(
                cv,
                (
                    "k",
                    "n",
                    "folds",
                    "mean",
                    "std",
                    "pooled",
                    "ci",
                    "confusion_matrix",
                    "per_class",
                    "reliability",
                ),
                path,
                f"model {name!r} 'cv'",
            )
        if entry["seed_split"] is not None:
            require_keys(
                entry["seed_split"],
                ("n_val", "best_val_accuracy", "accuracy", "ci"),
                path,
                f"model {name!r} 'seed_split'",
            )
    for i, comparison in enumerate(require_list(metrics["comparisons"], path, "'comparisons'")):
        require_keys(comparison, ("a", "b", "mcnemar"), path, f"comparison {i}")
    return metrics


# --------------------------------------------------------------------------- loading


def check_sources(out: Path) -> tuple[dict, dict]:
    """Check what aggregation reads (runinfo.json, models.json, every finished unit's files);
    return the run information and the models. A damaged unit is named with what to do."""
    if not out.is_dir():
        raise MpxEvalError(f"{out} is not a run folder (it does not exist or is a file)")
    runinfo = _check_runinfo(out / "runinfo.json")
    models = _check_models(out / "models.json")
    classes = list(runinfo["dataset"]["classes"])
    for name, info in finished_units(out).items():
        try:
            _check_unit(out, info, classes)
        except MpxEvalError as exc:
            raise MpxEvalError(
                f"{exc} (unit {name} is damaged: `mpx_eval run` with the same options moves "
                "it aside and trains it again)"
            ) from None
    return runinfo, models


def aggregates_usable(out: Path) -> bool:
    """The run-level history.csv, predictions.csv and metrics.json are current (see
    :func:`mpx_eval.rundir.folder.aggregates_current`) and metrics.json has what the report
    reads."""
    if not outdir.aggregates_current(out):
        return False
    try:
        _check_metrics(read_json(out / "metrics.json"), out / "metrics.json")
    except MpxEvalError:
        return False
    return True


def load_run(out: str | Path) -> Run:
    """Read and check every artefact of a run folder; nothing is written.

    The run-level tables and metrics.json are read as they are: ``run`` writes them, and
    ``render_run`` rebuilds them first when they are missing, damaged or behind the units.
    """
    out = Path(out)
    runinfo, models = check_sources(out)
    return read_run(out, runinfo, models)


def read_run(out: Path, runinfo: dict, models: dict) -> Run:
    """The rest of the run folder, once :func:`check_sources` has passed."""
    metrics = _check_metrics(read_json(out / "metrics.json"), out / "metrics.json")
    config, config_text = _check_config(out / "config.toml")
    splits = read_csv(out / "splits.csv", required=SPLIT_COLUMNS)
    return Run(
        out=out,
        runinfo=runinfo,
        config=config,
        config_text=config_text,
        splits=splits,
        audit=_check_audit(out / "audit.json"),
        models=models,
        units=finished_units(out),
        history=read_csv(out / "history.csv", required=HISTORY_COLUMNS),
        predictions=read_csv(out / "predictions.csv", required=PREDICTION_KEYS),
        metrics=metrics,
        thumbnails=Thumbnails(out / "thumbnails.zip"),
    )
