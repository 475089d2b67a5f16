"""``mpx_eval predict``: class probabilities of new photos from saved models.

A model is a unit folder of a run (``OUT/units/t4-seed-0``) or a ``.keras`` file; images are
decoded exactly as training decoded them (mpx_eval.data.images.decode_file), one batch at a
time. Several models also give their mean, an ensemble. Nothing read is trusted: the model's
own shapes decide its input size and classes, ``model.json`` must agree with them, and code
named in a model folder runs only with ``trust_code`` (docs/predict.md). What a model folder
must satisfy is checked in ``model_checks``; names and files are read as ``untrusted`` reads
them.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from ..assessment.operating import RULE_THRESHOLD
from ..atomic import loads, write_csv
from ..data.images import IMAGE_EXTENSIONS, BadImage, decode_file
from ..errors import MpxEvalError
from ..progress import format_seconds
from ..rundir.layout import METRICS, MODEL_FILE, MODEL_INFO, UNIT_INFO, UNITS
from ..system import usable_cpus
from . import usercode
from .model_checks import (
    code_outside_keras,
    model_shapes,
    read_config,
    read_record,
    record_builder,
    record_classes,
    record_name,
    record_outputs,
    record_size,
)
from .train import EVAL_BATCH, log_probabilities
from .untrusted import not_a_file, read_small, shown

#: Images decoded and predicted at a time: the training code's evaluation batch, so that a
#: unit's saved model reproduces its predictions.csv and memory does not grow with the folder.
BATCH = EVAL_BATCH
#: The flag that lets predict run code named in a model folder (cli.py defines it).
TRUST_FLAG = "--trust-model-code"
#: Keras releases before 3.12 let a crafted .keras file import modules, read files or run
#: code even in safe mode (CVE-2025-1550, fixed in 3.9; CVE-2025-8747, 3.11; CVE-2025-12058
#: and CVE-2025-12060, 3.12).
SAFE_KERAS = (3, 12)
#: Largest metrics.json read for a unit's decision rule (a small run writes 40 to 100 kB).
METRICS_BYTES = 64 << 20


@dataclass
class SavedModel:
    """A loaded model and what it needs to know about its inputs and outputs."""

    name: str
    path: Path
    model: keras.Model
    class_names: list[str]
    input_size: int
    probabilities: bool  # the model ends in a softmax (else: logits)
    # what its run recorded about it (a unit folder inside a run folder), else None
    recorded: Recorded | None = None


@dataclass
class Recorded:
    """What a unit's run says about its model: the headline and alarms of the architecture
    it belongs to, and the threshold it chose for this very model, if any."""

    positive: str | None
    threshold: float | None
    rule: str  # how ``predicted`` is decided, in words
    lines: list[str]


def _recorded(unit: Path) -> Recorded | None:
    """Read, without trusting it, what the run folder around ``unit`` recorded about its
    model; None when ``unit`` is not a finished unit of a run with a readable metrics.json."""
    from ..assessment.layout import read_metrics

    run = unit.parent.parent
    if unit.parent.name != UNITS or not_a_file(run / METRICS) is not None:
        return None
    try:
        if (run / METRICS).stat().st_size > METRICS_BYTES:
            return None
        info = loads(read_small(unit / UNIT_INFO))
        model, scheme, fold = str(info["model"]), str(info["scheme"]), int(info["fold"])
        metrics = read_metrics(run / METRICS)
        entry = metrics.models[model]
    except (OSError, ValueError, KeyError, TypeError, MpxEvalError):
        return None
    assessment, positive = entry.assessment, metrics.positive_class
    lines = []
    if assessment is not None:
        head = assessment.headline
        where = "cross-validated" if assessment.evaluated_on == "cv" else "seed split only"
        text = f"{model} in its run ({where}): accuracy {_fmt(head.accuracy)}"
        if head.sensitivity is not None and head.specificity is not None:
            text += (
                f", sensitivity ({positive}) {_fmt(head.sensitivity)}, "
                f"specificity {_fmt(head.specificity)}"
            )
        lines.append(text)
        lines += [f"WARNING: in its run, {model} {alarm.message}" for alarm in assessment.alarms]
    threshold, rule = None, "the most probable class"
    clinical = assessment.clinical if assessment is not None else None
    target = clinical.target if clinical is not None else None
    if positive is not None:
        rule = (
            f"{positive} at a probability of at least {RULE_THRESHOLD:g} (the run's decision rule)"
        )
    if target is not None and scheme == "cv":
        chosen = {f.fold: f.threshold for f in target.folds}
        if chosen.get(fold) is not None:
            threshold = float(chosen[fold])
            rule = (
                f"{positive} at a probability of at least {threshold:.4g}, the threshold fold "
                f"{fold} chose on its inner validation part for target {target.kind} "
                f"{target.value:g}"
            )
    elif target is not None:
        lines.append(
            f"The run chose thresholds for target {target.kind} {target.value:g} for its cv "
            f"fold models only; this model keeps the decision rule (probability at least "
            f"{RULE_THRESHOLD:g})."
        )
    return Recorded(positive, threshold, rule, lines)


def _fmt(estimate) -> str:
    if estimate.estimate is None:
        return "n/a"
    text = f"{estimate.estimate:.3f}"
    if estimate.low is not None and estimate.high is not None:
        text += f" (95 % CI {estimate.low:.3f}–{estimate.high:.3f})"
    return text


# ---- a saved model: its files and loading it (model_checks checks what they hold)


def _unit_note(folder: Path) -> str:
    """Why a unit folder holds no model, as its unit.json says; empty when it says nothing
    readable."""
    try:
        saved = loads(read_small(folder / UNIT_INFO)).get("saved_model")
        note = saved.get("note") if isinstance(saved, dict) else None
    except (ValueError, AttributeError, MpxEvalError):
        return ""
    return f" ({shown(note)[:300]})" if isinstance(note, str) and note else ""


def _model_files(path: Path) -> tuple[Path, Path | None, str]:
    """The .keras file, its record (when there is one) and a display name for ``path``."""
    if path.is_dir():
        model_file = path / MODEL_FILE
        if not os.path.lexists(model_file):
            raise MpxEvalError(
                f"--model {shown(path)}: no {MODEL_FILE} in this folder{_unit_note(path)}; pass "
                "a unit folder of a run made with --save-models seed or all, or a .keras file"
            )
        return model_file, path / MODEL_INFO, shown(path.name)
    if not os.path.lexists(path):
        raise MpxEvalError(f"--model {shown(path)} does not exist")
    if path.suffix != ".keras":
        raise MpxEvalError(f"--model {shown(path)} is not a .keras file or a unit folder")
    sibling = path.with_name(MODEL_INFO if path.name == MODEL_FILE else path.stem + ".json")
    name = path.parent.name if path.name == MODEL_FILE else path.stem
    return path, sibling, shown(name)


def _keras_version() -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", keras.__version__)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def _refuse_code(model_file: Path, config: Any, builder: str | None) -> None:
    """Without trust: refuse a model whose loading could run code, before Keras reads it."""
    if _keras_version() < SAFE_KERAS:
        raise MpxEvalError(
            f"--model {shown(model_file)}: Keras {keras.__version__} can run code stored in a "
            f"model file even in safe mode (fixed in Keras {'.'.join(map(str, SAFE_KERAS))}); "
            f"upgrade Keras, or add {TRUST_FLAG} if you trust this model"
        )
    code = code_outside_keras(config)
    if code is not None:
        built = f" (built by {builder})" if builder else ""
        raise MpxEvalError(
            f"--model {shown(model_file)}{built} uses code outside Keras ({code}); loading it "
            f"would run that code, so predict does not: add {TRUST_FLAG} if you trust this model"
        )


def _keras_load(model_file: Path, *, trust: bool) -> keras.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.saving.load_model(model_file, compile=False, safe_mode=not trust)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return shown(f"{type(exc).__name__}: {text}")[:300]


def _load_keras(model_file: Path, builder: str | None, *, trust: bool) -> keras.Model:
    """The model in ``model_file``, loaded in Keras's safe mode unless ``trust``. With
    ``trust``, when Keras does not know the model's layers, the builder module model.json
    names is imported (it registers them) and the model is loaded again."""
    config = read_config(model_file)
    if not trust:
        _refuse_code(model_file, config, builder)
    try:
        return _keras_load(model_file, trust=trust)
    except BaseException as exc:
        if not usercode.is_users(exc):
            raise
        first = exc
    if trust and builder:
        usercode.import_module(builder.split(":")[0], f"--model {shown(model_file)}")
        try:
            return _keras_load(model_file, trust=trust)
        except BaseException as exc:
            if not usercode.is_users(exc):
                raise
            first = exc
    hint = ""
    if not trust and "safe_mode" in str(first):
        hint = f"; Keras's safe mode refused code stored in it: add {TRUST_FLAG} if you trust it"
    elif not trust and builder:
        hint = (
            f"; model.json names its builder {builder}, whose module may define what is "
            f"missing: add {TRUST_FLAG} to import it, if you trust this model"
        )
    raise MpxEvalError(f"--model {shown(model_file)} cannot be loaded ({_first_line(first)}){hint}")


def load_saved_model(path: str | os.PathLike, *, trust_code: bool = False) -> SavedModel:
    """Load a unit folder's model (or a .keras file) with its class names and input size.

    The model's own shapes decide: one input of square RGB images, one output of at least
    two classes. A ``model.json`` beside the file names the classes and must agree with
    the model; without one the classes are ``class_0``, ``class_1``... No code outside Keras
    runs unless ``trust_code`` (then Keras's safe mode is off, and the builder module that
    model.json names is imported if the model does not load without it).
    """
    model_file, info_file, name = _model_files(Path(path))
    where = shown(path)
    record = read_record(info_file)
    model = _load_keras(model_file, record_builder(record), trust=trust_code)
    model_size, n_classes = model_shapes(model, where)
    return SavedModel(
        name=record_name(record, name, where),
        path=Path(path),
        model=model,
        class_names=record_classes(record, n_classes, where),
        input_size=record_size(record, model_size, where),
        probabilities=record_outputs(record, model, where),
        recorded=_recorded(Path(path)) if Path(path).is_dir() else None,
    )


# ---- the images


@dataclass
class Images:
    """The image files to predict, and the entries of named folders left out because they
    cannot be read as files (each with why)."""

    paths: list[Path]
    left_out: list[tuple[Path, str]] = field(default_factory=list)


def _scan_folder(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every image file under ``root`` (hidden files and folders skipped, folder links not
    followed) and the image entries that are not readable files, both sorted."""
    files: list[Path] = []
    left_out: list[tuple[Path, str]] = []

    def unlisted(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        left_out.append((where, f"cannot be listed ({exc.strerror or exc})"))

    for folder, subfolders, names in os.walk(root, onerror=unlisted):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = Path(folder, name)
            problem = not_a_file(path)
            if problem is None:
                files.append(path)
            else:
                left_out.append((path, problem))
    return sorted(files), sorted(left_out)


def find_images(inputs: Sequence[str | os.PathLike]) -> Images:
    """Image files named directly, and every image file under named folders (sorted).

    A named entry that is not a readable file or folder stops here; inside a folder, an
    image entry that is not a readable file (a link to nothing, a link loop, a FIFO, a
    device) is left out and listed. Nothing is opened.
    """
    found = Images([])
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files, left_out = _scan_folder(path)
            if not files:
                unread = f" ({len(left_out)} unreadable entries)" if left_out else ""
                raise MpxEvalError(
                    f"folder {shown(path)} holds no image files "
                    f"({', '.join(IMAGE_EXTENSIONS)}){unread}"
                )
            found.paths.extend(files)
            found.left_out.extend(left_out)
            continue
        problem = not_a_file(path)
        if problem is not None:
            raise MpxEvalError(f"image {shown(path)} {problem}")
        found.paths.append(path)
    if not found.paths:
        raise MpxEvalError("no images given: name image files or folders after the options")
    return found


def check_out(out: str | os.PathLike) -> Path:
    """``--out`` before any work: a file name (not a folder, not ``dir/``), not an image
    name (a later predict on the folder would read it), in a folder one can write to."""
    text = os.fspath(out)
    target = Path(text)
    separators = tuple(s for s in (os.sep, os.altsep) if s)
    if isinstance(text, str) and text.endswith(separators):
        raise MpxEvalError(f"--out {shown(text)} names a folder; name a .csv file")
    try:
        mode = os.stat(target).st_mode
    except OSError:  # absent, a link to nothing, a loop: the write replaces the name itself
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise MpxEvalError(f"--out {shown(target)} {not_a_file(target)}; name a .csv file")
    if target.suffix.lower() in IMAGE_EXTENSIONS:
        raise MpxEvalError(
            f"--out {shown(target)} has an image extension; name a .csv file (predict reads "
            "files with image extensions as images)"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise MpxEvalError(
            f"--out {shown(target)}: folder {shown(parent)} does not exist or is not writable"
        )
    return target


def _check_out_is_no_input(target: Path, images: list[Path]) -> None:
    """The table must not replace one of the images it is about."""
    try:
        out = os.stat(target)
    except OSError:
        return
    for path in images:
        try:
            same = os.path.samestat(out, os.stat(path))
        except OSError:
            continue
        if same:
            raise MpxEvalError(
                f"--out {shown(target)} is the input image {shown(path)}; writing the table "
                "would replace it: name another file"
            )


# ---- streaming: decode a batch, predict it, keep only the probabilities


def _decode(path: Path, sizes: list[int]) -> dict[int, np.ndarray]:
    try:
        return decode_file(path, sizes).arrays
    except BadImage as exc:
        raise MpxEvalError(
            f"image {shown(path)}: {exc}; fix or remove it (nothing was written)"
        ) from None


def decoded_batches(
    images: Sequence[Path],
    sizes: list[int],
    *,
    batch: int | None = None,
    workers: int | None = None,
) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """``(first row, {size: (n, size, size, 3) uint8})`` for ``batch`` (default ``BATCH``)
    images at a time, decoded on ``workers`` threads while the previous batch is predicted:
    at most two batches are in memory, whatever the number of images."""
    batch, workers = batch or BATCH, workers or min(4, usable_cpus())
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def submit(start: int) -> list:
            return [pool.submit(_decode, p, sizes) for p in images[start : start + batch]]

        pending = submit(0)
        try:
            for start in range(0, len(images), batch):
                current, pending = pending, submit(start + batch)
                decoded = [future.result() for future in current]
                yield start, {s: np.stack([d[s] for d in decoded]) for s in sizes}
        finally:
            for future in pending:
                future.cancel()


def class_probabilities(saved: SavedModel, x: np.ndarray) -> np.ndarray:
    """Probabilities as a run computes them: batches of the training code's evaluation size,
    log-softmax in float64 (so a unit's saved model reproduces its predictions.csv)."""
    chunks = [
        np.asarray(saved.model.predict_on_batch(x[i : i + EVAL_BATCH]))
        for i in range(0, len(x), EVAL_BATCH)
    ]
    out = np.concatenate(chunks).astype(np.float64)
    if out.shape != (len(x), len(saved.class_names)):
        raise MpxEvalError(
            f"--model {shown(saved.path)} gave outputs of shape {out.shape} for {len(x)} images; "
            f"{len(saved.class_names)} values per image were expected"
        )
    logp = log_probabilities(out, saved.probabilities)
    if not np.isfinite(logp).all():
        raise MpxEvalError(
            f"--model {shown(saved.path)} gave outputs that are not finite numbers (NaN or "
            "infinity); its weights may be damaged"
        )
    return np.exp(logp)


def _same_classes(models: list[SavedModel]) -> list[str]:
    classes = models[0].class_names
    for saved in models[1:]:
        if saved.class_names != classes:
            raise MpxEvalError(
                f"--model {shown(saved.path)} predicts {', '.join(saved.class_names)}, but "
                f"{shown(models[0].path)} predicts {', '.join(classes)}; an ensemble needs the "
                "same classes"
            )
    return classes


def predict(
    models: list[SavedModel], images: Sequence[Path], *, progress: _Progress | None = None
) -> pd.DataFrame:
    """One row per image and model (and per image for the mean of several models): path,
    model, one ``prob_<class>`` column per class, predicted class, and the ``threshold`` on
    the positive class's probability that decided it (a unit of a two-class run: the
    threshold its run chose for it, else 0.5; otherwise empty: the most probable class).

    Images are decoded and predicted ``BATCH`` at a time; only the probabilities are kept.
    """
    classes = _same_classes(models)
    images = list(images)
    sizes = sorted({m.input_size for m in models})
    probs = [np.empty((len(images), len(classes))) for _ in models]
    progress = progress or _Progress(len(images), on=False)
    try:
        for start, arrays in decoded_batches(images, sizes):
            for saved, p in zip(models, probs, strict=True):
                x = arrays[saved.input_size]
                p[start : start + len(x)] = class_probabilities(saved, x)
            progress.update(start + len(arrays[sizes[0]]))
    finally:
        progress.close()
    named = [(m.name, p) for m, p in zip(models, probs, strict=True)]
    if len(models) > 1:
        named.append((f"mean of {len(models)} models", np.mean(probs, axis=0)))
    recorded = [m.recorded for m in models] + ([None] if len(models) > 1 else [])
    paths = [shown(i) for i in images]
    blocks = []
    for (name, p), known in zip(named, recorded, strict=True):
        block = pd.DataFrame({"path": paths, "model": name})
        for c, cls in enumerate(classes):
            block[f"prob_{cls}"] = p[:, c]
        block["predicted"], block["threshold"] = _decide(p, classes, known)
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def _decide(p: np.ndarray, classes: list[str], known: Recorded | None):
    """The predicted classes and the threshold that decided them: a unit of a two-class run
    at its run's rule (its positive class at 0.5, or at the threshold chosen for it), else
    the most probable class (no threshold)."""
    if known is None or known.positive not in classes or len(classes) != 2:
        return [classes[i] for i in p.argmax(axis=1)], np.nan
    threshold = known.threshold if known.threshold is not None else RULE_THRESHOLD
    column = classes.index(known.positive)
    called = p[:, column] >= threshold
    return np.where(called, known.positive, classes[1 - column]), threshold


class _Progress:
    """Images done, speed and ETA on one line redrawn in place; only on a terminal."""

    def __init__(self, total: int, stream=None, *, on: bool | None = None) -> None:
        self.total, self.stream = total, stream or sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)()) if on is None else on
        self.started = time.perf_counter()
        self.drawn = False

    def update(self, done: int) -> None:
        if not self.on:
            return
        seconds = time.perf_counter() - self.started
        rate = done / seconds if seconds > 0 else 0.0
        eta = format_seconds((self.total - done) / rate) if rate else "?"
        self.stream.write(f"\rpredict: {done:,}/{self.total:,} images, {rate:.0f} img/s, ETA {eta}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the line, so that what is printed next starts on a line of its own."""
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


def _left_out_line(left_out: list[tuple[Path, str]], show: int = 5) -> str:
    named = "; ".join(f"{shown(p)} {why}" for p, why in left_out[:show])
    more = f", and {len(left_out) - show} more" if len(left_out) > show else ""
    return f"left out {len(left_out)} entries that are not readable image files: {named}{more}"


def _tell(models: list[SavedModel], images: Images, table: pd.DataFrame, out) -> None:
    """The decision rule and run warnings of each model, and what was left out or written."""
    for saved in models:
        known = saved.recorded
        rule = known.rule if known is not None else "the most probable class"
        print(f"{saved.name}: predicted = {rule}", file=sys.stderr)
        for line in known.lines if known is not None else []:
            print(f"  {line}", file=sys.stderr)
    if len(models) > 1:
        print(
            f"The rows 'mean of {len(models)} models' average the class probabilities of "
            f"{', '.join(m.name for m in models)} (an ensemble).",
            file=sys.stderr,
        )
    if images.left_out:
        print(f"WARNING: {_left_out_line(images.left_out)}", file=sys.stderr)
    if out is not None:
        print(f"Wrote {len(table)} rows to {shown(out)}", file=sys.stderr)


def predict_command(
    model_paths: list[str],
    inputs: list[str],
    *,
    out: str | os.PathLike | None = None,
    trust_code: bool = False,
) -> int:
    """``mpx_eval predict``: every check first (--out, the images listed, every model
    loaded and checked), then the table on stdout and in ``out``."""
    target = check_out(out) if out is not None else None
    images = find_images(inputs)
    if target is not None:
        _check_out_is_no_input(target, images.paths)
    models = [load_saved_model(p, trust_code=trust_code) for p in model_paths]
    table = predict(models, images.paths, progress=_Progress(len(images.paths)))
    if target is not None:
        write_csv(table, target)
    printed = table.copy()
    prob_columns = [c for c in printed.columns if c.startswith("prob_")]
    printed[prob_columns] = printed[prob_columns].round(4)
    print(printed.to_string(index=False))
    _tell(models, images, table, out)
    return 0
