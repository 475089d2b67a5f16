"""What a unit keeps of its chosen checkpoint while the model is in memory: the model as a
``.keras`` file (as bytes, so a Ray task can return it) and Grad-CAM heatmaps. Plain data
out, with which units keep a model and which images get a heatmap; the run folder writes
it (mpx_eval.rundir.kept).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Callable

import keras
import numpy as np

from ..config import SAVE_MODELS
from ..data.images import THUMBNAIL_SIZE
from ..errors import MpxEvalError
from ..rundir.kept import GRADCAM_RIGHT_PER_CLASS, GRADCAM_WRONG
from ..rundir.layout import MODEL_FILE
from .gradcam import gradcam, last_conv_layer
from .models import ModelSpec, build, outputs_probabilities


def saves_model(scheme: str, choice: str) -> bool:
    """Whether a unit of ``scheme`` ('seed' or 'cv') saves its model under ``choice``
    (--save-models: no unit, the seed split's unit of each model, every unit)."""
    if choice not in SAVE_MODELS:
        raise ValueError(f"save_models must be one of {', '.join(SAVE_MODELS)}, got {choice!r}")
    return choice == "all" or (choice == "seed" and scheme == "seed")


def gradcam_rows(labels: np.ndarray, probs: np.ndarray, paths: list[str]) -> np.ndarray:
    """Positions (into ``labels``/``probs``) to explain: the ``GRADCAM_WRONG`` wrong
    predictions made with the highest probability (ties by path, as the report's gallery
    orders them), then ``GRADCAM_RIGHT_PER_CLASS`` right ones per class, evenly spread over
    their sorted paths."""
    labels = np.asarray(labels)
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = sorted(wrong, key=lambda i: (-confidence[i], paths[i]))[:GRADCAM_WRONG]
    right: list[int] = []
    for c in range(probs.shape[1]):
        hits = sorted(np.flatnonzero((predicted == labels) & (labels == c)), key=lambda i: paths[i])
        if len(hits) > GRADCAM_RIGHT_PER_CLASS:
            picks = np.linspace(0, len(hits) - 1, GRADCAM_RIGHT_PER_CLASS).round().astype(int)
            hits = [hits[i] for i in picks]
        right.extend(hits)
    return np.array([*wrong, *right], dtype=np.int64)


def model_bytes(model: keras.Model, spec: ModelSpec) -> bytes:
    """The model in Keras's native format, without optimizer or compile settings: a fresh
    model from the builder (same layers, same dtype policy) given the trained weights, so
    that loading it needs neither mpx_eval nor its optimizer."""
    fresh = build(spec, int(model.inputs[0].shape[1]), int(model.outputs[0].shape[-1]))
    fresh.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory(prefix="mpx-model-") as tmp:
        path = os.path.join(tmp, MODEL_FILE)
        with warnings.catch_warnings():
            # Keras's own numpy-2 notice about TensorFlow variables, once per weight
            warnings.simplefilter("ignore", DeprecationWarning)
            fresh.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def _save(model, spec) -> dict:
    started = time.perf_counter()
    try:
        data = model_bytes(model, spec)
    except Exception as exc:  # a user model Keras cannot serialise: say so, keep the unit
        return {"data": None, "note": f"not saved: {type(exc).__name__}: {exc}"[:300]}
    return {
        "data": data,
        "outputs": "probabilities" if outputs_probabilities(model) else "logits",
        "seconds": round(time.perf_counter() - started, 3),
    }


def _explain(model, spec, x, y, paths, result) -> dict:
    started = time.perf_counter()
    layer = getattr(spec.builder, "gradcam_layer", None) or last_conv_layer(model)
    if layer is None:
        return {
            "heatmaps": None,
            "note": f"no Grad-CAM: model {spec.name} has no convolutional layer at its top "
            "level (set gradcam_layer on its builder to name one)",
        }
    rows = np.asarray(result.eval_index, dtype=np.int64)
    probs = result.probs_best
    picks = gradcam_rows(y[rows], probs, [paths[r] for r in rows])
    predicted = probs[picks].argmax(axis=1)
    try:
        heatmaps = gradcam(
            model, x[rows[picks]], class_index=predicted, layer=layer, size=THUMBNAIL_SIZE
        )
    except MpxEvalError as exc:
        return {"heatmaps": None, "note": f"no Grad-CAM: {exc}"}
    except Exception as exc:  # user layers the gradient cannot pass: a note, not a crash
        return {"heatmaps": None, "note": f"no Grad-CAM: {type(exc).__name__}: {exc}"[:300]}
    return {
        "rows": rows[picks],
        "heatmaps": heatmaps,
        "predicted": predicted,
        "probability": probs[picks, predicted],
        "correct": predicted == y[rows[picks]],
        "layer": layer,
        "position": f"{[x.name for x in model.layers].index(layer) + 1} of {len(model.layers)}",
        "seconds": round(time.perf_counter() - started, 3),
    }


def keep_hook(
    spec: ModelSpec, x: np.ndarray, y: np.ndarray, *, paths: list[str], save: bool
) -> Callable[[keras.Model, object], dict]:
    """The ``keep`` argument of ``train_unit``: the model file when ``save``, and the
    Grad-CAM heatmaps of the checkpoint's mistakes and a few right answers at thumbnail
    size. ``paths`` (the images' paths) only break ties in the choice of images."""

    def keep(model, result) -> dict:
        return {
            "model": _save(model, spec) if save else None,
            "gradcam": _explain(model, spec, x, y, paths, result),
        }

    return keep
