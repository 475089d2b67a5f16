"""The report's "where the models looked" part: each model's Grad-CAM heatmaps beside the
thumbnails of its most confident mistakes and of a few right answers, and the saved models
with their sizes. Reads what the units kept (mpx_eval.rundir.kept); draws the overlays.
"""

from __future__ import annotations

import io

import numpy as np

from ...rundir.kept import read_gradcam
from .. import curves as C
from .. import text as T
from ..run import Run, data_uri

RIGHT_SHOWN_PER_CLASS = 2
COLORMAP = "inferno"


def overlay_png(thumbnail_jpeg: bytes | None, heatmap: np.ndarray) -> bytes:
    """The heatmap in ``COLORMAP`` over the thumbnail, opaque where the heat is high (the
    photo shows through where the model found no evidence), as PNG bytes."""
    import matplotlib
    from PIL import Image

    heat = heatmap.astype(np.float32) / 255.0
    colours = matplotlib.colormaps[COLORMAP](heat)[..., :3]
    if thumbnail_jpeg:
        base = Image.open(io.BytesIO(thumbnail_jpeg)).convert("RGB")
        base = base.resize(heatmap.shape[::-1], Image.Resampling.BILINEAR)
        photo = np.asarray(base, dtype=np.float32) / 255.0
    else:
        photo = np.zeros((*heatmap.shape, 3), dtype=np.float32)
    alpha = 0.75 * heat[..., None]
    mixed = np.clip(np.rint((photo * (1 - alpha) + colours * alpha) * 255), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(mixed.astype(np.uint8), "RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _item(run: Run, cams: dict, i: int, classes: list[str], label: str, fold: int) -> dict:
    path = str(cams["paths"][i])
    heatmap = cams["heatmaps"][i]
    thumb = run.photo(path)
    predicted = classes[int(cams["predicted"][i])]
    return {
        "path": path,
        "uri": data_uri(thumb, "image/jpeg"),
        "heat_uri": data_uri(overlay_png(thumb, heatmap), "image/png"),
        "empty": not heatmap.any(),
        "label": label,
        "predicted": predicted,
        "probability_text": T.num(float(cams["probability"][i])),
        "fold": f"fold {fold}" if fold else "seed split",
    }


def _unit_cams(run: Run, name: str, scheme: str) -> dict[int, dict]:
    """Heatmaps of one model's units in ``scheme``, by fold."""
    out = {}
    for unit, info in run.units.items():
        if info.get("model") == name and info.get("scheme") == scheme:
            cams = read_gradcam(run.units.folder(unit))
            if cams is not None:
                out[int(info["fold"])] = cams
    return out


def _recorded(run: Run, name: str, key: str) -> list[str]:
    """What a model's units recorded of their Grad-CAM (``note``, ``position``), each once."""
    found = set()
    for info in run.units.values():
        value = (info.get("gradcam") or {}).get(key)
        if info.get("model") == name and value:
            found.add(value)
    return sorted(found)


def _wrong(run: Run, rows: C.EvalRows, cams: dict, mistakes: int) -> list[dict]:
    """The gallery's mistakes that have a heatmap, most confident first."""
    where = {
        (fold, str(p)): (fold, i) for fold, c in cams.items() for i, p in enumerate(c["paths"])
    }
    wrong = []
    for m in C.misclassified(rows, mistakes):
        hit = where.get((m["fold"], m["path"]))
        if hit is not None:
            wrong.append(_item(run, cams[hit[0]], hit[1], run.classes, m["label"], m["fold"]))
    return wrong


def _right(run: Run, rows: C.EvalRows, cams: dict) -> list[dict]:
    """A few right answers per class, evenly spread over their sorted paths."""
    labels = dict(zip(rows.frame["path"].astype(str), rows.frame["label"].astype(str), strict=True))
    right = []
    for cls in run.classes:
        found = sorted(
            (str(c["paths"][i]), fold, i)
            for fold, c in cams.items()
            for i in np.flatnonzero(c["correct"])
            if labels.get(str(c["paths"][i])) == cls
        )
        if len(found) > RIGHT_SHOWN_PER_CLASS:
            picks = np.linspace(0, len(found) - 1, RIGHT_SHOWN_PER_CLASS).round().astype(int)
            found = [found[k] for k in picks]
        right += [_item(run, cams[fold], i, run.classes, cls, fold) for _, fold, i in found]
    return right


def _model_part(run: Run, name: str, rows: C.EvalRows, mistakes: int) -> dict:
    cams = _unit_cams(run, name, rows.scheme)
    return {
        "name": name,
        "where": "test-fold" if rows.scheme == "cv" else "seed-split validation",
        "layers": _recorded(run, name, "position"),
        "wrong": _wrong(run, rows, cams, mistakes),
        "right": _right(run, rows, cams),
        "notes": _recorded(run, name, "note"),
    }


def _saved_models(run: Run) -> dict:
    saved, notes = [], []
    for info in run.units.values():
        record = info.get("saved_model") or {}
        if record.get("file"):
            saved.append(
                {
                    "unit": info["unit"],
                    "file": f"units/{info['dirname']}/{record['file']}",
                    "size": T.num(record["bytes"] / 1e6, 1) + " MB",
                }
            )
        elif record.get("note"):
            notes.append({"unit": info["unit"], "note": record["note"]})
    return {
        # a run before --save-models existed recorded no choice (and kept no model)
        "choice": run.recorded.save_models_choice,
        "saved": saved,
        "notes": notes,
        "total": T.num(
            sum((i.get("saved_model") or {}).get("bytes") or 0 for i in run.units.values()) / 1e6,
            1,
        ),
    }


def gradcam_context(run: Run, evaluated: dict[str, C.EvalRows | None], mistakes: int) -> dict:
    """Per model, the heatmaps of the gallery's mistakes (at most ``mistakes``) and of a few
    right answers; and which units saved their model, where, and how large it is."""
    models = [
        _model_part(run, name, rows, mistakes)
        for name, rows in evaluated.items()
        if rows is not None and run.photos  # the overlays are drawn over the photos
    ]
    return {"models": models, "photos": run.photos, "saved": _saved_models(run)}
