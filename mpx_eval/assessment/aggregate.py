"""A run's numbers from its finished units: the run-level tables and metrics.json (the
summary, the run-level keys and the assessment), computed here and stored through the run
folder; and whether the stored ones are still those of the units."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import csv_text, json_text
from ..config import RunConfig, read_recorded
from ..errors import MpxEvalError
from ..rundir import records
from ..rundir.folder import is_run_folder
from ..rundir.layout import HISTORY, HISTORY_COLUMNS, PREDICTION_KEYS, PREDICTIONS, RunPaths
from ..rundir.units import Units, is_diverged, unit_is_damaged
from ..summary import summarize_predictions
from ..summary._from_json import from_json
from ..summary.layout import Comparison, ModelSummary
from .checkpoints import checkpoint_flags, pooled_rule_predictions
from .departures import departures
from .external import external_summary, external_table
from .headline import assess_model, baseline
from .layout import LAYOUT, RunMetrics, metrics_from_text, read_metrics
from .leakage import seed_leakage_metrics
from .operating import clinical_readout, inner_thresholds
from .verdicts import primary_result, primary_test_declaration

#: The class a run reports sensitivity, PPV, ... of when the data set has it; the metrics
#: library has no domain default, so a run names it (else the second of two classes).
RUN_POSITIVE_CLASS = "Monkeypox"


@dataclass
class RunSources:
    """What a run's numbers are computed from, read and checked once: runinfo.json,
    models.json and the finished units (their tables read on first use)."""

    out: Path
    runinfo: dict
    models: dict
    units: Units
    _collected: tuple | None = field(default=None, repr=False)
    _external: tuple | None = field(default=None, repr=False)

    @property
    def classes(self) -> list[str]:
        return list(self.runinfo["dataset"]["classes"])

    def collected(self) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        """The run-level tables of the units (see :func:`collect`), gathered once."""
        if self._collected is None:
            self._collected = collect(self)
        return self._collected

    def external(self) -> tuple[dict, pd.DataFrame] | None:
        """external.json and the units' external predictions (external_predictions.csv),
        gathered once; None for a run without an external set."""
        if self._external is None:
            info = records.read_external(self.out)
            if info is None:
                self._external = (None, None)
            else:
                history = self.collected()[0]
                config = _recorded_config(self.out) or RunConfig()
                table = external_table(
                    self.units.where(self.collected()[2]), history, info, self.classes,
                    rule_name=config.checkpoint, folds_per_repeat=config.folds_per_repeat,
                )  # fmt: skip
                self._external = (info, table)
        return None if self._external[0] is None else self._external


def read_sources(out: str | Path, units: Units | None = None) -> RunSources:
    """Check what aggregation reads (runinfo.json, models.json, every finished unit's files);
    a damaged unit is named with what to do. ``units``: the units this process already
    scanned, else the folder is scanned now."""
    out = Path(out)
    if not out.is_dir():
        raise MpxEvalError(f"{out} is not a run folder (it does not exist or is a file)")
    if not is_run_folder(out):
        raise MpxEvalError(
            f"{out} is not an mpx_eval run folder (its runinfo.json is missing): give report "
            "the --out that a run wrote to"
        )
    runinfo = records.read_runinfo(out)
    models = records.read_models(out)
    units = Units.scan(out) if units is None else units
    classes = list(runinfo["dataset"]["classes"])
    for name in units:
        damage = unit_is_damaged(units, name, classes)
        if damage is not None:
            raise MpxEvalError(
                f"{damage} (unit {name} is damaged: `mpx_eval run` with the same options moves "
                "it aside and trains it again)"
            )
    return RunSources(out, runinfo, models, units)


def collect(sources: RunSources) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The finished, not diverged units' history and predictions, concatenated in the run's
    planned order, and those units' names."""
    planned = list(sources.runinfo.get("units_planned") or [])
    units = sources.units
    # a diverged unit has no predictions; its history stays in its own folder
    done = [n for n in units if not is_diverged(units[n])]
    names = [n for n in planned if n in done] + sorted(n for n in done if n not in planned)
    if not names:
        return (
            pd.DataFrame(columns=list(HISTORY_COLUMNS)),
            pd.DataFrame(columns=list(PREDICTION_KEYS)),
            [],
        )
    tables = [units.tables(name) for name in names]
    history = pd.concat([history for history, _ in tables], ignore_index=True)
    predictions = pd.concat([predictions for _, predictions in tables], ignore_index=True)
    config = _recorded_config(sources.out) or RunConfig()
    predictions = pooled_rule_predictions(
        history,
        predictions,
        units,
        rule_name=config.checkpoint,
        folds_per_repeat=config.folds_per_repeat,
        classes=sources.classes,
    )
    return history, predictions, names


def current_metrics(sources: RunSources) -> RunMetrics | None:
    """The stored metrics.json when history.csv and predictions.csv hold exactly what
    aggregating the finished units would write and metrics.json counts the same units;
    None when any is missing, unreadable or behind the units (an interrupted run, a unit
    trained or replaced since)."""
    paths = RunPaths(sources.out)
    try:
        history, predictions, names = sources.collected()
        tables = [(history, paths.history), (predictions, paths.predictions)]
        external = sources.external()
        if external is not None:
            tables.append((external[1], paths.external_predictions))
        for frame, path in tables:
            if path.read_bytes() != csv_text(frame).encode("utf-8"):
                return None
        metrics = read_metrics(paths.metrics)
    except (MpxEvalError, OSError):
        return None
    diverged = metrics.units_diverged
    current = (
        metrics.layout == LAYOUT
        and metrics.units_finished == len(names)
        and diverged is not None
        and set(diverged) == set(sources.units.diverged())
    )
    return metrics if current else None


def aggregate_run(sources: RunSources) -> RunMetrics:
    """Compute the run-level metrics.json, history.csv and predictions.csv from the finished
    units (works on partial runs), store them, and return the metrics as a reader of the
    file sees them. A unit whose predictions the metrics library rejects is named."""
    history, predictions, names = sources.collected()
    try:
        metrics = summarize_run(sources, history, predictions, names)
    except (ValueError, KeyError, TypeError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        culprit = _unit_at_fault(sources)
        if culprit is not None:
            raise MpxEvalError(
                f"{culprit[0]} cannot be summarised ({culprit[1]}); it may be truncated or "
                "written by another version"
            ) from None
        raise MpxEvalError(
            f"{RunPaths(sources.out).predictions} (gathered from the finished units) cannot be "
            f"summarised: {detail}"
        ) from None
    text = json_text(metrics)
    external = sources.external()
    records.write_aggregates(
        sources.out,
        metrics_text=text,
        history=history,
        predictions=predictions,
        external=None if external is None else external[1],
    )
    return metrics_from_text(text)  # as a reader of the file sees it


def _recorded_config(out: Path) -> RunConfig | None:
    """The run's recorded configuration, None when the folder has none yet."""
    path = RunPaths(out).config
    return read_recorded(path).config if path.is_file() else None


def summarize_run(
    sources: RunSources, history: pd.DataFrame, predictions: pd.DataFrame, names: list[str]
) -> dict:
    """metrics.json's content from the finished units' tables: the summary, then the data
    set, the models' sizes, the seed split's leakage, the units, and the assessment."""
    out, runinfo = sources.out, sources.runinfo
    config = _recorded_config(out)
    dataset = runinfo["dataset"]
    classes = list(dataset["classes"])
    if predictions.empty:
        metrics: dict = {"classes": dataset["classes"], "models": {}, "comparisons": []}
    else:
        positive = RUN_POSITIVE_CLASS if RUN_POSITIVE_CLASS in classes else None
        metrics = summarize_predictions(
            predictions,
            labels=classes,
            positive_class=positive if len(classes) == 2 else None,
            history=history,
            n_samples=dataset["n_images"],
            folds_per_repeat=config.folds_per_repeat if config else None,
            checkpoint=(config or RunConfig()).checkpoint,
        )
    metrics["dataset"] = {
        key: dataset[key] for key in ("classes", "counts", "fingerprint", "n_images")
    }
    for name, info in sources.models.items():
        entry = metrics["models"].setdefault(name, {"cv": None, "seed_split": None})
        entry["params"] = info["params"]
        entry["input_shape"] = info["input_shape"]
    if RunPaths(out).audit.is_file():
        audit = records.read_audit(out)
        metrics["seed_leakage"] = seed_leakage_metrics(predictions, audit, classes)
    metrics["units_finished"] = len(names)
    metrics["units_diverged"] = sources.units.diverged()
    metrics["units_planned"] = len(runinfo.get("units_planned") or names)
    config = config or RunConfig()
    metrics = assess(metrics, predictions, config)
    labels = _labels(sources) if config.target is not None else None
    for name, entry in metrics["models"].items():
        if entry.get("cv") and entry.get("assessment"):
            epochs = {f["fold"]: f["best_epoch"] for f in entry["cv"]["folds"] if f["best_epoch"]}
            entry["assessment"]["checkpoint_flags"] = checkpoint_flags(
                history, sources.units, name, config.checkpoint, epochs
            )
            if metrics.get("positive_class") and len(classes) == 2:
                entry["assessment"]["clinical"] = _clinical(
                    sources, predictions, name, epochs, metrics["positive_class"], config.target,
                    labels,
                )  # fmt: skip
    external = _external_metrics(sources, metrics, config)
    if external is not None:
        metrics["external"] = external
    metrics["layout"] = LAYOUT
    return metrics


def _external_metrics(sources: RunSources, metrics: dict, config: RunConfig) -> dict | None:
    """metrics.json's ``external`` (None without an external set): each model's figures on
    it, its gap to the model's cross-validated headline."""
    external = sources.external()
    if external is None:
        return None
    headlines = {
        name: (entry.get("assessment") or {}).get("headline")
        for name, entry in metrics["models"].items()
        if (entry.get("assessment") or {}).get("evaluated_on") == "cv"
    }
    return external_summary(
        external[1], external[0], sources.classes, metrics.get("positive_class"), headlines,
        keep_contaminated=config.keep_contaminated,
        level=metrics.get("confidence_level", 0.95),
    )  # fmt: skip


def _labels(sources: RunSources) -> dict[str, str]:
    """Every image's class by path, from splits.csv (the inner parts' labels)."""
    splits = records.read_splits(sources.out)
    return dict(zip(splits["path"].astype(str), splits["label"].astype(str), strict=True))


def _clinical(sources, predictions, model, epochs, positive, target, labels) -> dict:
    """The clinical read-out of one model, its target's thresholds chosen on inner parts."""
    rows = predictions.loc[
        (predictions["model"] == model)
        & (predictions["scheme"] == "cv")
        & (predictions["checkpoint"] == "best")
    ]
    thresholds = None
    if target is not None:
        thresholds = inner_thresholds(
            sources.units, model, epochs, labels, sources.classes, positive, target
        )
    return clinical_readout(rows, positive, target=target, thresholds=thresholds)


def assess(metrics: dict, predictions: pd.DataFrame, config: RunConfig) -> dict:
    """Add what the numbers mean to ``metrics`` (metrics.json being written, as plain data)
    and return it: ``baseline``, each model's ``assessment``, ``primary_test``, each
    comparison's ``primary``, and the ``departures`` from the blog's settings."""
    classes = list(metrics["classes"])
    counts = (metrics.get("dataset") or {}).get("counts") or {}
    if counts:
        labels = np.repeat(np.asarray(classes, dtype=object), [counts.get(c, 0) for c in classes])
        metrics["baseline"] = baseline(labels, classes)
    for name, entry in metrics["models"].items():
        entry["assessment"] = assess_model(
            from_json(ModelSummary, entry, f"models.{name}"),
            predictions,
            name,
            classes,
            metrics.get("positive_class"),
            confidence_level=metrics.get("confidence_level", 0.95),
        )
    metrics["primary_test"] = primary_test_declaration()
    for comparison in metrics["comparisons"]:
        comparison["primary"] = primary_result(from_json(Comparison, comparison))
    metrics["departures"] = departures(config, list(metrics["models"]))
    return metrics


def _unit_at_fault(sources: RunSources) -> tuple[Path, str] | None:
    """The first unit whose predictions the metrics library rejects on their own, if any.

    Used after the run-level summary failed, to name a unit's file rather than the table
    gathered from all of them (problems between units stay with that table).
    """
    units = sources.units
    for name in units.in_folder_order():
        if is_diverged(units[name]):
            continue
        folder = units.folder(name)
        history, predictions = units.tables(name)
        for path, history_part in (
            (folder / PREDICTIONS, None),
            (folder / HISTORY, history),
        ):
            try:
                summarize_predictions(
                    predictions, labels=sources.classes, history=history_part, n_resamples=2
                )
            except ValueError as exc:
                return path, str(exc)
    return None
