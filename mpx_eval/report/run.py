"""Everything the report reads from a run folder, read once through the folder's readers:
the recorded configuration, the typed metrics.json, the tables, the audit and the units.

Every problem with an artefact becomes an ``MpxEvalError`` whose one line names the file, so
the command line can print it instead of a traceback.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..assessment.aggregate import RunSources
from ..assessment.layout import Assessment, RunMetrics, RunModel
from ..config import RecordedConfig, RunConfig, read_recorded
from ..rundir import records
from ..rundir.layout import RunPaths
from ..rundir.records import Thumbnails
from ..rundir.units import Units
from .curves import EvalRows, TrainingRun, eval_rows, training_runs


@dataclass
class Run:
    """A run folder as the report sees it, checked."""

    out: Path
    runinfo: dict
    recorded: RecordedConfig
    splits: pd.DataFrame
    audit: dict
    models: dict[str, dict]
    units: Units
    history: pd.DataFrame
    predictions: pd.DataFrame
    metrics: RunMetrics
    thumbnails: Thumbnails
    #: ``report --images``: overrides the recorded choice for this rendering only
    images: str | None = None
    #: external.json and the external images' thumbnails (a run with ``--external``)
    external: dict | None = None
    external_thumbnails: Thumbnails | None = None
    _rows: dict = field(default_factory=dict, repr=False)
    _training: dict = field(default_factory=dict, repr=False)
    _embedded: set = field(default_factory=set, repr=False)

    @property
    def classes(self) -> list[str]:
        return list(self.runinfo["dataset"]["classes"])

    @property
    def config(self) -> RunConfig:
        """The configuration the run recorded (not the defaults of the code rendering it)."""
        return self.recorded.config

    @property
    def positive(self) -> str | None:
        return self.metrics.positive_class

    def entry(self, model: str) -> RunModel:
        """A model's numbers; a model without any is an entry without numbers."""
        return self.metrics.models.get(model) or RunModel(cv=None, seed_split=None)

    def assessment(self, model: str) -> Assessment | None:
        return self.entry(model).assessment

    def names(self) -> list[str]:
        """The models in report order: those the run built, then any others with numbers."""
        return list(self.models) + [m for m in self.metrics.models if m not in self.models]

    def rows(self, model: str, scheme: str) -> EvalRows | None:
        """A model's scored images of ``scheme`` ("cv" or "seed") at the chosen checkpoint,
        taken from the prediction table once and shared by every section."""
        key = (model, scheme)
        if key not in self._rows:
            self._rows[key] = eval_rows(self.predictions, model, self.classes, scheme)
        return self._rows[key]

    def chosen_epochs(self, model: str) -> dict[tuple[str, int], int]:
        """The epoch whose weights each of a model's units kept, by (scheme, fold)."""
        chosen = {}
        for unit in self.units.values():
            if unit.get("model") == model and isinstance(unit.get("best_epoch"), int):
                chosen[(unit.get("scheme"), int(unit.get("fold", 0)))] = unit["best_epoch"]
        entry = self.entry(model)
        for fold in entry.cv.folds if entry.cv is not None else []:
            if fold.best_epoch is not None:
                chosen[("cv", fold.fold)] = fold.best_epoch
        if entry.seed_split is not None and entry.seed_split.best_epoch is not None:
            chosen[("seed", 0)] = entry.seed_split.best_epoch
        return chosen

    def training(self, model: str) -> list[TrainingRun]:
        """A model's units' per-epoch histories with their kept epochs, taken once."""
        if model not in self._training:
            self._training[model] = training_runs(self.history, model, self.chosen_epochs(model))
        return self._training[model]

    @property
    def photos(self) -> bool:
        """Whether the page may embed photos of the data set (``--images``)."""
        return (self.images or self.config.images) != "none"

    def photo(self, path: str, *, external: bool = False) -> bytes | None:
        """An image's thumbnail JPEG (an external image's with ``external``), or None when
        the archive lacks it or the report embeds no photos; every photo on the page comes
        through here, and is counted."""
        if not self.photos:
            return None
        archive = self.external_thumbnails if external else self.thumbnails
        data = archive.get(path) if archive is not None else None
        if data:
            self._embedded.add(("external", path) if external else path)
        return data

    @property
    def embedded(self) -> int:
        """How many distinct photos the sections have taken for the page so far."""
        return len(self._embedded)

    def thumbnail(self, path: str) -> dict:
        """An image's thumbnail as a data URI (None when the archive lacks it, or when the
        report embeds no photos): only the thumbnails a section asks for are embedded."""
        uri = data_uri(self.photo(path), "image/jpeg")
        return {"path": path, "uri": uri, "hidden": not self.photos}

    def external_thumbnail(self, path: str) -> dict:
        """An external image's thumbnail, as :meth:`thumbnail` gives a training image's."""
        uri = data_uri(self.photo(path, external=True), "image/jpeg")
        return {"path": path, "uri": uri, "hidden": not self.photos}


def data_uri(data: bytes | None, mime: str) -> str | None:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}" if data else None


def read_run(sources: RunSources, metrics: RunMetrics, *, images: str | None = None) -> Run:
    """The rest of the run folder, once its sources are checked and its metrics current;
    ``images`` overrides the recorded ``--images`` for this rendering."""
    out = sources.out
    found = sources.external()
    external = found[0] if found is not None else None
    return Run(
        out=out,
        runinfo=sources.runinfo,
        recorded=read_recorded(RunPaths(out).config),
        splits=records.read_splits(out),
        audit=records.read_audit(out),
        models=sources.models,
        units=sources.units,
        history=records.read_history(out),
        predictions=records.read_predictions(out),
        metrics=metrics,
        thumbnails=records.read_thumbnails(out),
        images=images,
        external=external,
        external_thumbnails=records.read_external_thumbnails(out) if external else None,
    )
