"""Reading and writing a run's artefacts. Every write is atomic: a temporary file in the same
folder, flushed and fsync'ed, then renamed over the target, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd

from .errors import MpxEvalError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Artefacts get the permissions a plain open() would give them (mkstemp makes them 0600).
_FILE_MODE = 0o666 & ~_current_umask()


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    A failing write (a full disk, a read-only folder, a folder where the file should be)
    leaves ``path`` as it was and becomes an MpxEvalError naming it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.fchmod(fd, _FILE_MODE)
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_error(path: Path, exc: OSError) -> MpxEvalError:
    if path.is_dir():
        return MpxEvalError(f"cannot write {path}: it is a folder; move it away")
    reason = exc.strerror or str(exc)
    return MpxEvalError(f"cannot write {path}: {reason}; nothing of it was written")


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def _json_safe(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(_json_safe(data), indent=2, ensure_ascii=False) + "\n")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_open(path) as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MpxEvalError(f"{path} is not valid JSON ({exc}); it may be truncated") from None


#: Columns that always hold text, even when every value looks like a number (group "17").
TEXT_COLUMNS = ("model", "scheme", "checkpoint", "path", "label", "group", "role")


def read_csv(path: str | Path, *, required: tuple[str, ...] = ()) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(
            path,
            keep_default_na=False,
            na_values=[""],
            dtype={c: str for c in TEXT_COLUMNS},
        )
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MpxEvalError(f"{path} cannot be read as CSV ({exc}); it may be truncated") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MpxEvalError(f"{path} lacks column(s) {', '.join(missing)}; it may be truncated")
    return frame


# --------------------------------------------------------------------------- a run's tables

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
PREDICTION_KEYS = ("model", "scheme", "fold", "checkpoint", "path", "label", "group")

#: The class a run reports sensitivity, PPV, ... of when the data set has it; the metrics
#: library has no domain default, so a run names it (else the second of two classes).
RUN_POSITIVE_CLASS = "Monkeypox"


def finished_units(out: str | Path) -> dict[str, dict]:
    """unit.json of every complete unit folder under ``out/units``, by unit name.

    A folder without a readable unit.json is unfinished (it is retrained by ``run``).
    """
    found: dict[str, dict] = {}
    units_dir = Path(out) / "units"
    if not units_dir.is_dir():
        return found
    for child in sorted(units_dir.iterdir()):
        marker = child / "unit.json"
        if not marker.is_file():
            continue
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        # a folder moved aside as damaged keeps its unit.json but no longer its name
        if (
            isinstance(info, dict)
            and isinstance(info.get("unit"), str)
            and info.get("dirname") == child.name
        ):
            found[info["unit"]] = info
    return found


def collect_units(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    """The finished units' history and predictions, concatenated in the run's planned order."""
    out = Path(out)
    done = finished_units(out)
    planned: list[str] = []
    if (out / "runinfo.json").is_file():
        planned = list(read_json(out / "runinfo.json").get("units_planned") or [])
    # a diverged unit has no predictions; its history stays in its own folder
    done = {n: info for n, info in done.items() if info.get("status") != "diverged"}
    names = [n for n in planned if n in done] + sorted(n for n in done if n not in planned)
    histories, predictions = [], []
    for name in names:
        folder = out / "units" / done[name]["dirname"]
        histories.append(read_csv(folder / "history.csv", required=HISTORY_COLUMNS))
        predictions.append(read_csv(folder / "predictions.csv", required=PREDICTION_KEYS))
    if not names:
        return (
            pd.DataFrame(columns=list(HISTORY_COLUMNS)),
            pd.DataFrame(columns=list(PREDICTION_KEYS)),
            {},
        )
    return (
        pd.concat(histories, ignore_index=True),
        pd.concat(predictions, ignore_index=True),
        {n: done[n] for n in names},
    )


def _folds_per_repeat(out: Path) -> int | None:
    """k of a run that repeats its k folds (from its config.toml), else None."""
    from .config import config_from_toml_text, tomllib

    path = out / "config.toml"
    if not path.is_file():
        return None
    try:
        settings = config_from_toml_text(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MpxEvalError(f"{path} is not valid TOML ({exc})") from None
    return int(settings["folds"]) if settings.get("repeats", 1) > 1 else None


def _flat_config(path: Path) -> dict:
    """The resolved config as ``{field: value}``; empty when the run folder has none yet."""
    from .config import config_from_toml_text

    try:
        return config_from_toml_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}


def aggregate_run(out: str | Path) -> dict:
    """Write the run-level history.csv, predictions.csv and metrics.json from the finished
    units (works on partial runs) and return the metrics."""
    from .assessment import assess
    from .summary import summarize_predictions

    out = Path(out)
    runinfo = read_json(out / "runinfo.json")
    models = read_json(out / "models.json")
    dataset = runinfo["dataset"]
    history, predictions, done = collect_units(out)
    write_csv(history, out / "history.csv")
    write_csv(predictions, out / "predictions.csv")
    if predictions.empty:
        metrics: dict = {"classes": dataset["classes"], "models": {}, "comparisons": []}
    else:
        classes = dataset["classes"]
        positive = RUN_POSITIVE_CLASS if RUN_POSITIVE_CLASS in classes else None
        metrics = summarize_predictions(
            predictions,
            labels=classes,
            positive_class=positive if len(classes) == 2 else None,
            history=history,
            n_samples=dataset["n_images"],
            folds_per_repeat=_folds_per_repeat(out),
        )
    metrics["dataset"] = {
        key: dataset[key] for key in ("classes", "counts", "fingerprint", "n_images")
    }
    for name, info in models.items():
        entry = metrics["models"].setdefault(name, {"cv": None, "seed_split": None})
        entry["params"] = info["params"]
        entry["input_shape"] = info["input_shape"]
    if (out / "audit.json").is_file():
        from .leakage import seed_leakage_metrics

        audit = read_json(out / "audit.json")
        metrics["seed_leakage"] = seed_leakage_metrics(predictions, audit, dataset["classes"])
    metrics["units_finished"] = len(done)
    metrics["units_diverged"] = {
        name: info.get("diverged_at")
        for name, info in finished_units(out).items()
        if info.get("status") == "diverged"
    }
    metrics["units_planned"] = len(runinfo.get("units_planned") or done)
    assess(metrics, predictions, _flat_config(out / "config.toml"))
    write_json(out / "metrics.json", metrics)
    return metrics
