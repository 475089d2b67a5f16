"""A run's units on disk: writing a trained unit's files (``unit.json`` last, the mark of a
finished unit), scanning the finished units once, and reading and checking their tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import loads, read_csv, remove, write_csv, write_json
from ..errors import MpxEvalError
from ._checks import damaged, require_keys, require_numeric
from .kept import PREPROCESSING, read_external, write_epochs, write_external, write_kept
from .layout import (
    EPOCHS_FILE,
    EXTERNAL_FILE,
    HISTORY,
    HISTORY_COLUMNS,
    PREDICTION_KEYS,
    PREDICTIONS,
    UNIT_INFO,
    RunPaths,
)

if TYPE_CHECKING:
    from ..data.images import ImageSet

#: unit.json fields the report and resume read, and the types they must have.
UNIT_FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "scheme": (str,),
    "fold": (int,),
    "epochs": (int,),
    "best_epoch": (int, type(None)),
    "n_train": (int,),
    "n_val": (int,),
    "n_test": (int,),
    "n_external": (int,),
    "seconds": (int, float),
    "seconds_per_epoch": (int, float, type(None)),
    "identity": (str,),
    "finished_at": (str,),
    "status": (str,),
    "diverged_at": (int,),
    "precision_policy": (str,),
}


def is_diverged(info: dict) -> bool:
    """A unit whose training diverged: its history is kept, it has no predictions."""
    return info.get("status") == "diverged"


# --------------------------------------------------------------------------- scanning


def _read_info(folder: Path) -> dict | None:
    """A folder's unit.json when it is readable and names this folder, else None (an
    unfinished unit, or one moved aside as damaged, which keeps its unit.json but no longer
    its name)."""
    marker = folder / UNIT_INFO
    if not marker.is_file():
        return None
    try:
        info = loads(marker.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    named = isinstance(info, dict) and isinstance(info.get("unit"), str)
    return info if named and info.get("dirname") == folder.name else None


class Units(dict[str, dict]):
    """The finished units of a run folder, by unit name (their ``unit.json``), scanned once.

    A unit's tables are read, and checked against its unit.json, the first time they are
    asked for, and kept: a run checks, aggregates and reports its units from one reading.
    """

    def __init__(self, out: str | Path, infos: dict[str, dict] | None = None) -> None:
        super().__init__(infos or {})
        self.paths = RunPaths(out)
        self._tables: dict[str, tuple[pd.DataFrame, pd.DataFrame | None]] = {}
        self._external: dict[str, dict[str, np.ndarray] | None] = {}

    @classmethod
    def scan(cls, out: str | Path) -> Units:
        """Every unit folder under ``out/units`` that holds a unit.json of its own; a folder
        without a readable one is unfinished (``run`` trains it again)."""
        found: dict[str, dict] = {}
        folder = RunPaths(out).units
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                info = _read_info(child)
                if info is not None:
                    found[info["unit"]] = info
        return cls(out, found)

    def where(self, names: Iterable[str]) -> Units:
        """These units only (their tables as read so far come along)."""
        kept = Units(self.paths.root, {n: self[n] for n in names if n in self})
        kept._tables = {n: t for n, t in self._tables.items() if n in kept}
        kept._external = {n: e for n, e in self._external.items() if n in kept}
        return kept

    def add(self, info: dict) -> None:
        """A unit this process has just finished writing; the units stay in the order of
        their folders' names, as a scan lists them."""
        self[info["unit"]] = info
        self._tables.pop(info["unit"], None)
        self._external.pop(info["unit"], None)
        ordered = sorted(self.items(), key=lambda item: str(item[1]["dirname"]))
        self.clear()
        self.update(ordered)

    def in_folder_order(self) -> list[str]:
        """The unit names in the order of their folders' names (the order of a scan)."""
        return sorted(self, key=lambda name: str(self[name]["dirname"]))

    def diverged(self) -> dict[str, int | None]:
        """The diverged units and the epoch each diverged at, in folder order."""
        return {
            name: self[name].get("diverged_at")
            for name in self.in_folder_order()
            if is_diverged(self[name])
        }

    def folder(self, name: str) -> Path:
        return self.paths.unit(str(self[name]["dirname"]))

    def tables(self, name: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """A unit's history and predictions (None for a diverged unit), read once."""
        if name not in self._tables:
            folder = self.folder(name)
            history = read_csv(folder / HISTORY, required=HISTORY_COLUMNS)
            predictions = (
                None
                if is_diverged(self[name])
                else read_csv(folder / PREDICTIONS, required=PREDICTION_KEYS)
            )
            self._tables[name] = (history, predictions)
        return self._tables[name]

    def external(self, name: str) -> dict[str, np.ndarray] | None:
        """A unit's external probabilities (``external.npz``; None without), read once."""
        if name not in self._external:
            self._external[name] = read_external(self.folder(name))
        return self._external[name]

    def check(self, name: str, classes: list[str]) -> None:
        """The unit's unit.json has fields of the right types and its tables agree with it
        (catches truncated files); raises ``MpxEvalError`` naming the file at fault."""
        info = self[name]
        folder = self.folder(name)
        check_unit_fields(info, folder / UNIT_INFO)
        history, predictions = self.tables(name)
        _check_history(info, history, folder / HISTORY)
        if predictions is not None:
            _check_predictions(info, predictions, classes, folder / PREDICTIONS)
            _check_external(info, folder, len(classes), lambda: self.external(name))


# --------------------------------------------------------------------------- checks


def check_unit_fields(info: dict, marker: Path) -> None:
    require_keys(info, ("model", "scheme", "fold"), marker)
    for key, types in UNIT_FIELDS.items():
        value = info.get(key)
        if key in info and (not isinstance(value, types) or isinstance(value, bool)):
            raise damaged(marker, f"has {key!r} of the wrong type ({type(value).__name__})")
    if info["scheme"] not in ("seed", "cv"):
        raise damaged(marker, f"has scheme {info['scheme']!r}, not 'seed' or 'cv'")
    if info.get("status", "finished") not in ("finished", "diverged"):
        raise damaged(marker, f"has status {info['status']!r}, not 'finished' or 'diverged'")


def _check_history(info: dict, history: pd.DataFrame, path: Path) -> None:
    """A diverged unit's losses may be non-finite; a finished one's are numbers."""
    epochs = info.get("epochs")
    if isinstance(epochs, int) and history.shape[0] != epochs:
        raise damaged(path, f"has {history.shape[0]} epoch rows but unit.json says {epochs}")
    if is_diverged(info):
        require_numeric(history, ["fold", "epoch"], path)
        return
    core = ["fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    if info["scheme"] == "cv":
        core += ["test_loss", "test_accuracy"]
    require_numeric(history, core, path)


def _check_external(info: dict, folder: Path, n_classes: int, read) -> None:
    """A unit that predicted external images has them all, at every epoch it trained
    (``read()``: its external.npz, read once by :meth:`Units.external`)."""
    expected = info.get("n_external")
    if not isinstance(expected, int):
        return
    path = folder / EXTERNAL_FILE
    kept = read()  # a file that cannot be read is named there
    if kept is None:
        raise damaged(path, f"is missing although unit.json says {expected} external images")
    shape = (info.get("epochs"), expected, n_classes)
    if kept["probabilities"].shape != shape:
        raise damaged(path, f"holds {kept['probabilities'].shape} probabilities, not {shape}")


def _check_predictions(
    info: dict, predictions: pd.DataFrame, classes: list[str], path: Path
) -> None:
    prob_columns = [f"prob_{c}" for c in classes]
    missing = [c for c in prob_columns if c not in predictions.columns]
    if missing:
        raise damaged(path, f"lacks column(s) {', '.join(missing)}")
    for column in ("path", "label", "checkpoint"):
        if predictions[column].isna().any():
            raise damaged(path, f"has empty '{column}' values")
    require_numeric(predictions, ["fold", *prob_columns], path)
    unknown = sorted(set(predictions["label"]) - set(classes))
    if unknown:
        raise damaged(
            path,
            f"has label(s) {', '.join(map(repr, unknown[:3]))} that are not classes of the run",
        )
    expected = info.get("n_test") if info["scheme"] == "cv" else info.get("n_val")
    if isinstance(expected, int):
        for checkpoint, rows in predictions.groupby("checkpoint"):
            if rows.shape[0] != expected:
                what = "test" if info["scheme"] == "cv" else "validation"
                raise damaged(
                    path,
                    f"has {rows.shape[0]} rows for checkpoint {checkpoint!r} but unit.json "
                    f"says {expected} {what} images",
                )


# --------------------------------------------------------------------------- writing


def unit_frames(unit, result, images: ImageSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """history and predictions tables of one trained unit (a ``commands.run.Unit``)."""
    history = pd.DataFrame(result.history)
    history.insert(0, "fold", unit.split.fold)
    history.insert(0, "scheme", unit.split.scheme)
    history.insert(0, "model", unit.model)
    history = history[list(HISTORY_COLUMNS)]
    rows = np.asarray(result.eval_index)
    blocks = []
    for checkpoint, probs in (("best", result.probs_best), ("last", result.probs_last)):
        block = pd.DataFrame(
            {
                "model": unit.model,
                "scheme": unit.split.scheme,
                "fold": unit.split.fold,
                "checkpoint": checkpoint,
                "path": [images.paths[i] for i in rows],
                "label": [images.class_names[images.labels[i]] for i in rows],
                "group": images.groups[rows],
            }
        )
        for c, name in enumerate(images.class_names):
            block[f"prob_{name}"] = probs[:, c]
        blocks.append(block)
    return history, pd.concat(blocks, ignore_index=True)


def write_unit_tables(
    folder: Path, history: pd.DataFrame, predictions: pd.DataFrame | None
) -> None:
    """A unit's history.csv and predictions.csv (None: a diverged unit, which has none, so
    that of an earlier attempt goes)."""
    write_csv(history[list(HISTORY_COLUMNS)], folder / HISTORY)
    if predictions is None:
        remove(folder / PREDICTIONS)
    else:
        write_csv(predictions, folder / PREDICTIONS)


def finish_unit(folder: Path, info: dict) -> None:
    """unit.json, written last: it marks the unit complete (resume rests on it)."""
    if info.get("dirname") != folder.name:
        raise ValueError(f"unit.json of {folder} names the folder {info.get('dirname')!r}")
    write_json(folder / UNIT_INFO, info)


def write_unit(
    out: Path,
    unit,
    result,
    images: ImageSet,
    identity: str,
    extra: dict,
    external_paths: list[str] | None = None,
) -> dict:
    """Every file of a trained unit (a ``commands.run.Unit``), unit.json last; returns it.
    ``external_paths`` name the external images the unit predicted (``external.npz``).

    A diverged unit keeps its history up to the epoch that diverged and has no
    predictions: there is no model left to predict with."""
    folder = RunPaths(out).unit(unit.dirname)
    diverged_at = getattr(result, "diverged_at", None)
    if diverged_at:
        result.probs_best = result.probs_last = np.empty((0, len(images.class_names)))
        result.eval_index = np.empty(0, dtype=np.int64)
    history, predictions = unit_frames(unit, result, images)
    write_unit_tables(folder, history, None if diverged_at else predictions)
    remove(folder / EPOCHS_FILE)  # an earlier, unfinished attempt's
    if not diverged_at and getattr(result, "probs_by_epoch", None) is not None:
        write_epochs(
            folder,
            result.probs_by_epoch,
            val=[images.paths[i] for i in unit.split.val],
            test=[images.paths[i] for i in unit.split.test],
        )
    remove(folder / EXTERNAL_FILE)
    external = getattr(result, "external_by_epoch", None)
    if not diverged_at and external is not None:
        write_external(folder, external, paths=external_paths)
    kept = write_kept(
        folder, result.kept, paths=images.paths, model_info=saved_model_info(unit, images)
    )
    info = {
        "unit": unit.name,
        "dirname": unit.dirname,
        "model": unit.model,
        "scheme": unit.split.scheme,
        "fold": unit.split.fold,
        "identity": identity,
        "input_size": unit.size,
        "n_train": len(unit.split.train),
        "n_val": len(unit.split.val),
        "n_test": len(unit.split.test),
        **({"n_external": len(external_paths)} if external_paths else {}),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "params": result.params,
        "seconds": round(result.seconds, 3),
        "seconds_per_epoch": round(float(np.mean(result.seconds_per_epoch)), 4),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "diverged" if diverged_at else "finished",
        **({"diverged_at": int(diverged_at)} if diverged_at else {}),
        **extra,
        **kept,
    }
    finish_unit(folder, info)
    return info


def saved_model_info(unit, images: ImageSet) -> dict:
    """What model.json records beside a saved model: enough to use it without the run."""
    return {
        "unit": unit.name,
        "model": unit.model,
        "class_names": list(images.class_names),
        "input_size": unit.size,
        "preprocessing": PREPROCESSING,
        "dataset_fingerprint": images.fingerprint,
        "mpx_eval": __version__,
    }


def unit_is_damaged(units: Units, name: str, classes: list[str]) -> str | None:
    """What is wrong with a finished unit's files, or None when they pass the checks."""
    try:
        units.check(name, classes)
    except MpxEvalError as exc:
        return str(exc)
    return None
