"""The run-level files of a run folder, written and read back: the header a run writes before
it trains (config, split plan, audit, models, thumbnails, runinfo.json), the run's finish,
the aggregated tables, and the checked readers the report and the summary use."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import (
    read_csv,
    read_json,
    remove,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)
from ..config import DEMO_SETTINGS
from ..data.demo import DEMO_LABEL
from ..errors import MpxEvalError
from ..system import versions
from ._checks import damaged, require_keys, require_list
from .layout import HISTORY_COLUMNS, PREDICTION_KEYS, SPLIT_COLUMNS, RunPaths

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..data.images import ImageSet
    from ..data.splits import Split
    from .units import Units


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- writing


def splits_table(images: ImageSet, plan: list[Split]) -> pd.DataFrame:
    """The split plan in long form, as splits.csv holds it: one row per (image, split) with
    its role."""
    blocks = []
    for split in plan:
        role = split.roles(len(images))
        used = np.sort(np.concatenate([split.train, split.val, split.test]))
        blocks.append(
            pd.DataFrame(
                {
                    "path": [images.paths[i] for i in used],
                    "label": [images.class_names[images.labels[i]] for i in used],
                    "group": images.groups[used],
                    "scheme": split.scheme,
                    "fold": split.fold,
                    "role": role[used],
                }
            )
        )
    return pd.concat(blocks, ignore_index=True)[list(SPLIT_COLUMNS)]


def write_header(
    out: Path, *, config: str, splits: pd.DataFrame, audit: dict, models: dict
) -> None:
    """What a run knows before it trains, written again by every invocation: the resolved
    config (TOML text), the split plan, its audit and the models' descriptions."""
    paths = RunPaths(out)
    write_text(paths.config, config)
    write_csv(splits, paths.splits)
    write_json(paths.audit, audit)
    write_json(paths.models, models)


def runinfo_header(
    cfg: RunConfig, out: Path, command, done: dict, device_info, policy, engine, images
) -> dict:
    """runinfo.json as a run starts (a resumed run keeps its first start)."""
    info = images.describe()
    previous: dict = {}
    path = RunPaths(out).runinfo
    if done and path.is_file():
        try:
            previous = read_json(path)
        except MpxEvalError:
            previous = {}  # damaged: this invocation's start stands in
    return {
        "mpx_eval": __version__,
        "command": command or ["python", "-m", "mpx_eval", "run"],
        "started": previous.get("started") or _now(),
        "resumed": _now() if done else None,
        "finished": None,
        "backend": device_info["backend"],
        "device": device_info,
        "precision_policy": policy,
        "engine": engine,
        "versions": versions(),
        "dataset": info,
        "demo": {"label": DEMO_LABEL, "settings": DEMO_SETTINGS} if cfg.demo else None,
    }


def write_runinfo(out: Path, runinfo: dict) -> None:
    write_json(RunPaths(out).runinfo, runinfo)


def record_finish(out: Path, runinfo: dict, wall_seconds: float, units: Units) -> None:
    """runinfo.json once training is over: when, how long, and each finished unit's times."""
    runinfo["finished"] = _now()
    runinfo["wall_seconds"] = round(wall_seconds, 1)
    runinfo["units"] = {
        name: {k: units[name][k] for k in ("seconds", "seconds_per_epoch", "finished_at")}
        for name in runinfo["units_planned"]
        if name in units
    }
    write_runinfo(out, runinfo)


def write_thumbnails(out: Path, images: ImageSet) -> None:
    """Small JPEGs of every image for the report (which never reads the data folder);
    kept as they are when they already show this data set."""
    path = RunPaths(out).thumbnails
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                if zf.comment.decode() == images.fingerprint:
                    return
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError):
            pass
    write_thumbnail_zip(out, zip(images.paths, images.thumbnails, strict=True), images.fingerprint)


def thumbnail_jpeg(thumb: np.ndarray) -> bytes:
    """A thumbnail (RGB array) as the JPEG every page of mpx_eval embeds."""
    from PIL import Image

    jpeg = io.BytesIO()
    Image.fromarray(thumb).save(jpeg, format="JPEG", quality=85)
    return jpeg.getvalue()


def write_thumbnail_zip(
    out: Path, thumbnails, fingerprint: str, *, path: Path | None = None
) -> None:
    """thumbnails.zip (or ``path``) from ``(image path, RGB array)`` pairs, the data set's
    fingerprint as its comment; fixed entry dates, so the same images give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.comment = fingerprint.encode()
        for rel, thumb in thumbnails:
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, thumbnail_jpeg(thumb))
    write_bytes(path or RunPaths(out).thumbnails, buf.getvalue())


def write_aggregates(
    out: Path,
    *,
    metrics_text: str,
    history: pd.DataFrame,
    predictions: pd.DataFrame,
    external: pd.DataFrame | None = None,
) -> None:
    """The run-level metrics.json, history.csv and predictions.csv.

    metrics.json is written first: an aggregation cut short leaves tables that no longer
    match the units, which a reader comparing them with the units notices.
    """
    paths = RunPaths(out)
    write_text(paths.metrics, metrics_text)
    write_csv(history, paths.history)
    write_csv(predictions, paths.predictions)
    if external is not None:
        write_csv(external, paths.external_predictions)


# --------------------------------------------------------------------------- reading


def read_runinfo(out: Path) -> dict:
    """runinfo.json, checked for what readers of it rely on."""
    path = RunPaths(out).runinfo
    runinfo = require_keys(read_json(path), ("dataset",), path)
    dataset = require_keys(
        runinfo["dataset"], ("classes", "counts", "fingerprint", "n_images"), path, "'dataset'"
    )
    classes = dataset["classes"]
    if not (
        isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)
    ):
        raise damaged(path, "'dataset.classes' is not a list of at least two class names")
    for key in ("counts", "sizes_seen"):
        if key in dataset and not isinstance(dataset[key], dict):
            raise damaged(path, f"'dataset.{key}' is not a JSON object")
    require_list(dataset.get("unread", []), path, "'dataset.unread'")
    for i, item in enumerate(require_list(dataset.get("skipped", []), path, "'dataset.skipped'")):
        require_keys(item, ("path", "reason"), path, f"skipped file {i}")
    for key in ("units_planned", "command"):
        if runinfo.get(key) is not None:
            require_list(runinfo[key], path, f"'{key}'")
    for key in ("device", "versions", "units", "demo"):
        if runinfo.get(key) is not None and not isinstance(runinfo[key], dict):
            raise damaged(path, f"'{key}' is not a JSON object")
    return runinfo


def read_models(out: Path) -> dict:
    """models.json: each model's input shape, parameter count and layer table, checked."""
    path = RunPaths(out).models
    models = read_json(path)
    if not isinstance(models, dict) or not models:
        raise damaged(path, "does not map model names to their descriptions")
    for name, info in models.items():
        where = f"model {name!r}"
        require_keys(info, ("input_shape", "params", "layers"), path, where)
        require_list(info["input_shape"], path, f"{where} 'input_shape'")
        for i, layer in enumerate(require_list(info["layers"], path, f"{where} 'layers'")):
            require_keys(layer, ("type", "output_shape", "params"), path, f"{where} layer {i}")
            require_list(layer["output_shape"], path, f"{where} layer {i} 'output_shape'")
    return models


def read_audit(out: Path) -> dict:
    """audit.json, checked for the findings the report lists."""
    path = RunPaths(out).audit
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
            raise damaged(path, f"leak {i} has a 'kind' or 'split' that is not text")
        for item in require_list(leak["items"], path, f"leak {i} 'items'"):
            require_keys(item, ("path", "role"), path, f"leak {i} item")
    return audit


def write_external(out: Path, external) -> None:
    """external.json and external_thumbnails.zip of a run with external sets (an
    ``data.external.ExternalImages``); a run without any removes those of an earlier one."""
    paths = RunPaths(out)
    if external is None:
        for stale in (paths.external, paths.external_thumbnails, paths.external_predictions):
            remove(stale)
        return
    write_json(paths.external, external.describe())
    pairs = zip(external.paths, external.thumbnails, strict=True)
    write_thumbnail_zip(out, pairs, external.fingerprint, path=paths.external_thumbnails)


def read_external(out: Path) -> dict | None:
    """external.json, checked for what the assessment and the report read; None when the
    run has no external set."""
    path = RunPaths(out).external
    if not path.is_file():
        return None
    found = require_keys(
        read_json(path), ("fingerprint", "sources", "images", "label_conflicts"), path
    )
    for i, image in enumerate(require_list(found["images"], path, "'images'")):
        require_keys(
            image, ("path", "source", "label", "group", "contaminated", "copies_in_training"),
            path,
            f"image {i}",
        )  # fmt: skip
        if not isinstance(image["contaminated"], bool) or not isinstance(image["path"], str):
            raise damaged(path, f"image {i} has a 'path' or 'contaminated' of the wrong type")
        for copy in require_list(image["copies_in_training"], path, f"image {i} copies"):
            require_keys(copy, ("path", "label"), path, f"image {i} copy")
    for source in require_list(found["sources"], path, "'sources'"):
        require_keys(source, ("name", "root", "counts", "n_images"), path, "source")
    require_list(found["label_conflicts"], path, "'label_conflicts'")
    return found


def read_external_thumbnails(out: Path) -> Thumbnails:
    return Thumbnails(RunPaths(out).external_thumbnails)


def read_splits(out: Path) -> pd.DataFrame:
    return read_csv(RunPaths(out).splits, required=SPLIT_COLUMNS)


def read_history(out: Path) -> pd.DataFrame:
    """The run-level history.csv (every unit's epochs)."""
    return read_csv(RunPaths(out).history, required=HISTORY_COLUMNS)


def read_predictions(out: Path) -> pd.DataFrame:
    """The run-level predictions.csv (every finished unit's predictions)."""
    return read_csv(RunPaths(out).predictions, required=PREDICTION_KEYS)


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
            raise damaged(path, f"is not a readable zip archive ({exc})") from None
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
                raise damaged(self.path, f"has a damaged entry {rel!r} ({exc})") from None
        return self._cache[rel]


def read_thumbnails(out: Path) -> Thumbnails:
    return Thumbnails(RunPaths(out).thumbnails)
