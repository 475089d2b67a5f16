"""``mpx_eval predict``: class probabilities of new photos from saved models.

A model is a unit folder of a run (``OUT/units/t4-seed-0``) or a ``.keras`` file; images are
decoded exactly as training decoded them (mpx_eval.data.images.decode_file). Several models also
give their mean, an ensemble.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..assessment.operating import RULE_THRESHOLD
from ..atomic import loads, write_csv
from ..data.images import IMAGE_EXTENSIONS, BadImage, decode_file
from ..errors import MpxEvalError
from ..rundir.layout import METRICS, MODEL_FILE, MODEL_INFO, UNIT_INFO, UNITS
from .train import EVAL_BATCH, log_probabilities


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
    if unit.parent.name != UNITS or not (run / METRICS).is_file():
        return None
    try:
        info = loads((unit / UNIT_INFO).read_text(encoding="utf-8"))
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


def _model_files(path: Path) -> tuple[Path, Path | None, str]:
    """The .keras file, its record (when there is one) and a display name for ``path``."""
    if path.is_dir():
        model_file = path / MODEL_FILE
        if not model_file.is_file():
            note = ""
            try:
                saved = loads((path / UNIT_INFO).read_text(encoding="utf-8"))
                note = (saved.get("saved_model") or {}).get("note") or ""
            except (OSError, ValueError):
                pass
            why = f" ({note})" if note else ""
            raise MpxEvalError(
                f"--model {path}: no {MODEL_FILE} in this folder{why}; pass a unit folder of a "
                "run made with --save-models seed or all, or a .keras file"
            )
        return model_file, path / MODEL_INFO, path.name
    if not path.exists():
        raise MpxEvalError(f"--model {path} does not exist")
    if path.suffix != ".keras":
        raise MpxEvalError(f"--model {path} is not a .keras file or a unit folder")
    sibling = path.with_name(MODEL_INFO if path.name == MODEL_FILE else path.stem + ".json")
    name = path.parent.name if path.name == MODEL_FILE else path.stem
    return path, sibling, name


def _load_keras(model_file: Path, builder: str | None) -> keras.Model:
    """keras.saving.load_model; when that fails on a user model's own layers, import the
    builder's module (which registers them) and try again."""
    try:
        return keras.saving.load_model(model_file, compile=False)
    except Exception as first:
        if builder and ":" in builder:
            try:
                importlib.import_module(builder.split(":")[0])
                return keras.saving.load_model(model_file, compile=False)
            except Exception:
                pass
        raise MpxEvalError(
            f"--model {model_file} cannot be loaded ({type(first).__name__}: "
            f"{str(first).splitlines()[0] if str(first) else ''})"
        ) from None


def load_saved_model(path: str | os.PathLike) -> SavedModel:
    """Load a unit folder's model (or a .keras file) with its class names and input size.

    Without a ``model.json`` beside the file the input size is the model's own and the
    classes are named ``class_0``, ``class_1``...
    """
    model_file, info_file, name = _model_files(Path(path))
    info: dict = {}
    if info_file is not None and info_file.is_file():
        try:
            info = loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MpxEvalError(f"{info_file} cannot be read ({exc})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _load_keras(model_file, info.get("model"))
    shape = tuple(model.inputs[0].shape) if getattr(model, "inputs", None) else ()
    n_out = int(model.outputs[0].shape[-1])
    size = info.get("input_size") or (shape[1] if len(shape) == 4 else None)
    if not size or (len(shape) == 4 and shape[1] is not None and shape[1] != shape[2]):
        raise MpxEvalError(
            f"--model {path}: takes inputs of shape {shape}; square RGB inputs are needed"
        )
    classes = list(info.get("class_names") or [f"class_{i}" for i in range(n_out)])
    if len(classes) != n_out:
        raise MpxEvalError(
            f"--model {path}: {n_out} outputs but {len(classes)} class names in {info_file}"
        )
    outputs = info.get("outputs")
    if outputs is None:
        last = getattr(model.layers[-1], "activation", None) if model.layers else None
        outputs = "probabilities" if last is keras.activations.softmax else "logits"
    return SavedModel(
        name=info.get("unit") or name,
        path=Path(path),
        model=model,
        class_names=classes,
        input_size=int(size),
        probabilities=outputs == "probabilities",
        recorded=_recorded(Path(path)) if Path(path).is_dir() else None,
    )


def find_images(inputs: list[str | os.PathLike]) -> list[Path]:
    """Image files named directly, and every image file under named folders (sorted)."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                raise MpxEvalError(
                    f"folder {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
                )
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            raise MpxEvalError(f"image {path} does not exist")
    if not found:
        raise MpxEvalError("no images given: name image files or folders after the options")
    return found


def class_probabilities(saved: SavedModel, x: np.ndarray) -> np.ndarray:
    """Probabilities as a run computes them: batches of the training code's evaluation size,
    log-softmax in float64 (so a unit's saved model reproduces its predictions.csv)."""
    chunks = [
        np.asarray(saved.model.predict_on_batch(x[i : i + EVAL_BATCH]))
        for i in range(0, len(x), EVAL_BATCH)
    ]
    out = np.concatenate(chunks).astype(np.float64)
    logp = log_probabilities(out, saved.probabilities)
    return np.exp(logp)


def predict(models: list[SavedModel], images: list[Path]) -> pd.DataFrame:
    """One row per image and model (and per image for the mean of several models): path,
    model, one ``prob_<class>`` column per class, predicted class, and the ``threshold`` on
    the positive class's probability that decided it (a unit of a two-class run: the
    threshold its run chose for it, else 0.5; otherwise empty: the most probable class)."""
    classes = models[0].class_names
    for saved in models[1:]:
        if saved.class_names != classes:
            raise MpxEvalError(
                f"--model {saved.path} predicts {', '.join(saved.class_names)}, but "
                f"{models[0].path} predicts {', '.join(classes)}; an ensemble needs the same "
                "classes"
            )
    sizes = sorted({m.input_size for m in models})
    arrays: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    for path in images:
        try:
            decoded = decode_file(path, sizes)
        except BadImage as exc:
            raise MpxEvalError(f"image {path}: {exc}") from None
        for s in sizes:
            arrays[s].append(decoded.arrays[s])
    x = {s: np.stack(a) for s, a in arrays.items()}
    probs = [class_probabilities(m, x[m.input_size]) for m in models]
    named = [(m.name, p) for m, p in zip(models, probs, strict=True)]
    if len(models) > 1:
        named.append((f"mean of {len(models)} models", np.mean(probs, axis=0)))
    recorded = [m.recorded for m in models] + ([None] if len(models) > 1 else [])
    blocks = []
    for (name, p), known in zip(named, recorded, strict=True):
        block = pd.DataFrame({"path": [str(i) for i in images], "model": name})
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


def predict_command(
    model_paths: list[str], inputs: list[str], *, out: str | os.PathLike | None = None
) -> int:
    """``mpx_eval predict``: every check first, then the table on stdout and in ``out``."""
    if out is not None:
        target = Path(out)
        parent = target.parent if str(target.parent) else Path(".")
        if target.is_dir():
            raise MpxEvalError(f"--out {target} is a folder; name a .csv file")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise MpxEvalError(f"--out {target}: folder {parent} does not exist or is not writable")
    images = find_images(inputs)
    models = [load_saved_model(p) for p in model_paths]
    table = predict(models, images)
    if out is not None:
        write_csv(table, out)
    shown = table.copy()
    prob_columns = [c for c in shown.columns if c.startswith("prob_")]
    shown[prob_columns] = shown[prob_columns].round(4)
    print(shown.to_string(index=False))
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
    if out is not None:
        print(f"Wrote {len(table)} rows to {out}", file=sys.stderr)
    return 0
