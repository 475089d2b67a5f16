"""What a unit keeps besides its tables, on disk: the saved model, the record beside it,
the Grad-CAM heatmaps and every epoch's probabilities, written and read back. No Keras here
(the report reads the heatmaps)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import remove, write_bytes, write_json
from ..errors import MpxEvalError
from .layout import EPOCHS_FILE, EXTERNAL_FILE, GRADCAM_FILE, MODEL_FILE, MODEL_INFO

#: Grad-CAM per unit: its most confident mistakes, as many as the report's gallery shows per
#: model (so that every mistake shown has its heatmap), and an even spread of correct
#: predictions per class.
GRADCAM_WRONG = 8
GRADCAM_RIGHT_PER_CLASS = 2

#: How an image becomes a model input, as training did it (mpx_eval.data.images.decode_file).
PREPROCESSING = {
    "decode": "Pillow; EXIF orientation applied; converted to RGB (alpha dropped, 16-bit "
    "grey scaled)",
    "resize": "bilinear to input_size x input_size, aspect ratio not kept",
    "dtype": "uint8 0-255; the model rescales its input itself",
}


def write_kept(folder: Path, kept: dict, *, paths: list[str], model_info: dict) -> dict:
    """Write a unit's saved model (``model.keras`` and ``model.json``) and heatmaps
    (``gradcam.npz``) from what its ``keep`` hook returned; return what unit.json records
    about them. ``paths`` are the image set's relative paths (the hook knows row numbers)."""
    record: dict = {}
    model = kept.get("model")
    if model is None:
        remove(folder / MODEL_FILE)  # an earlier, unfinished attempt's
        remove(folder / MODEL_INFO)
    elif model.get("data") is not None:
        write_bytes(folder / MODEL_FILE, model["data"])
        write_json(folder / MODEL_INFO, {**model_info, "outputs": model["outputs"]})
        record["saved_model"] = {
            "file": MODEL_FILE,
            "bytes": len(model["data"]),
            "seconds": model["seconds"],
        }
    else:
        record["saved_model"] = {"file": None, "note": model["note"]}
    cam = kept.get("gradcam")
    if cam is None:
        return record
    if cam.get("heatmaps") is None:
        record["gradcam"] = {"file": None, "note": cam["note"]}
        return record
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        paths=np.array([paths[i] for i in cam["rows"]], dtype=str),
        heatmaps=cam["heatmaps"],
        predicted=np.asarray(cam["predicted"], dtype=np.int64),
        probability=np.asarray(cam["probability"], dtype=np.float64),
        correct=np.asarray(cam["correct"], dtype=bool),
    )
    write_bytes(folder / GRADCAM_FILE, buf.getvalue())
    record["gradcam"] = {
        "file": GRADCAM_FILE,
        "layer": cam["layer"],
        "position": cam["position"],
        "n": len(cam["rows"]),
        "seconds": cam["seconds"],
    }
    return record


def _read_npz(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray] | None:
    """The arrays ``keys`` (all when None) of an .npz file, or None when there is no file;
    a file that cannot be read, or lacks a key, is named."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in (data.files if keys is None else keys)}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise MpxEvalError(f"{path} cannot be read ({exc}); it may be truncated") from None


def read_gradcam(folder: Path) -> dict[str, np.ndarray] | None:
    """A unit's heatmaps by field (paths, heatmaps, predicted, probability, correct), or
    None when it has none."""
    return _read_npz(Path(folder) / GRADCAM_FILE)


def write_epochs(folder: Path, probabilities: np.ndarray, *, val: list[str], test: list[str]):
    """Every epoch's probabilities of a unit (``(epochs, len(val) + len(test), classes)``,
    validation rows first) with the paths of those rows."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        paths=np.array([*val, *test], dtype=str),
        n_val=np.int64(len(val)),
        probabilities=np.asarray(probabilities, dtype=np.float32),
    )
    write_bytes(folder / EPOCHS_FILE, buf.getvalue())


def read_epochs(folder: Path) -> dict[str, np.ndarray] | None:
    """A unit's every-epoch probabilities: ``paths``, ``n_val`` and ``probabilities``
    (checked to fit together), or None when the unit has none (written before they were
    kept, or diverged)."""
    path = Path(folder) / EPOCHS_FILE
    out = _read_npz(path, ("paths", "n_val", "probabilities"))
    if out is None:
        return None
    probs = out["probabilities"]
    if (
        probs.ndim != 3
        or probs.shape[1] != out["paths"].shape[0]
        or not 0 <= out["n_val"] <= probs.shape[1]
    ):
        raise MpxEvalError(f"{path} holds arrays that do not fit together; it may be damaged")
    return out


def write_external(folder: Path, probabilities: np.ndarray, *, paths: list[str]) -> None:
    """Every epoch's probabilities of the external images (``(epochs, len(paths),
    classes)``), with their paths."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        paths=np.array(paths, dtype=str),
        probabilities=np.asarray(probabilities, dtype=np.float32),
    )
    write_bytes(folder / EXTERNAL_FILE, buf.getvalue())


def read_external(folder: Path) -> dict[str, np.ndarray] | None:
    """A unit's every-epoch probabilities of the external images: ``paths`` and
    ``probabilities`` (checked to fit together: finite, each row summing to 1), or None
    when the unit has none."""
    path = Path(folder) / EXTERNAL_FILE
    out = _read_npz(path, ("paths", "probabilities"))
    if out is None:
        return None
    probs = out["probabilities"]
    if (
        probs.ndim != 3
        or out["paths"].ndim != 1
        or probs.shape[1] != out["paths"].shape[0]
        or not np.isfinite(probs).all()
        or not np.allclose(probs.sum(axis=2), 1.0, atol=1e-3)
    ):
        raise MpxEvalError(f"{path} holds arrays that do not fit together; it may be damaged")
    return out
