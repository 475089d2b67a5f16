"""The shortcut audit: image properties a network could learn the label from without looking
at the lesion (size, shape, file format, compression, colour, brightness, camera, borders).

Each property alone is given to a small classifier (a depth-3 tree for a number, the class
shares of each value for a category), cross-validated over the folds' groups (patients and
image families), and its pooled out-of-fold AUC is reported with a cluster-aware interval.
A property is **flagged** when its AUC is at least :data:`FLAG_AUC` and its interval
excludes 0.5: it then tells the classes apart about as well as the small CNNs of the blog
tell the lesions apart, and a reviewer will ask whether the model learnt the camera.

The models resize every image to their input size, but resizing keeps what a size betrays
in other forms (stretched aspect ratios, interpolation blur, JPEG blocks), so size counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: A property is flagged at this AUC or above, when its interval also excludes 0.5.
FLAG_AUC = 0.70
#: Cross-validation folds of the one-property classifiers (fewer when a class has fewer
#: groups); the seed is fixed so that ``splits`` and ``run`` agree.
AUDIT_FOLDS = 5
AUDIT_SEED = 0

#: Properties: key -> (label in prose, kind, unit or None, what to do about it).
PROPERTIES: dict[str, tuple[str, str, str | None, str]] = {
    "width": ("image width", "number", "px", "resize or crop every photo to one size"),
    "height": ("image height", "number", "px", "resize or crop every photo to one size"),
    "aspect": ("aspect ratio (width / height)", "number", None, "crop to one aspect ratio"),
    "format": ("file format", "category", None, "re-encode every photo the same way"),
    "jpeg_quality": (
        "JPEG quality (estimated)",
        "number",
        None,
        "re-encode every photo at one quality",
    ),
    "colourfulness": (
        "colourfulness (mean channel spread)",
        "number",
        None,
        "check for grey or recoloured photos in one class",
    ),
    "brightness": ("mean brightness", "number", None, "check how each class was photographed"),
    "camera": (
        "camera (EXIF make and model)",
        "category",
        None,
        "group the folds by camera or source (--group-pattern), or report per source",
    ),
    "border": ("plain border (share of the side)", "number", None, "crop plain borders"),
}

#: The JPEG standard's luminance quantisation table (ITU T.81, Annex K), whose scaling by
#: the IJG quality setting the quality estimate inverts.
_STANDARD_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_STANDARD_LUMA_SUM = sum(map(sum, _STANDARD_LUMA))


def jpeg_quality(quantization: dict | None) -> float:
    """The IJG quality (1-100) whose scaled standard table has the luminance table's sum;
    NaN for an image without JPEG tables. An estimate: encoders with tables of their own
    (cameras, some phones) land near the quality they behave like."""
    if not quantization or 0 not in quantization:
        return float("nan")
    scale = 100.0 * float(np.sum(quantization[0])) / _STANDARD_LUMA_SUM
    quality = 5000.0 / scale if scale > 100 else (200.0 - scale) / 2.0
    return float(np.clip(quality, 1, 100))


def _header(path: Path) -> tuple[str, float, str]:
    """Format, JPEG quality estimate and EXIF camera of a file, from its header only."""
    from PIL import Image

    try:
        with warnings.catch_warnings(), Image.open(path) as img:
            warnings.simplefilter("ignore")
            exif = img.getexif()
            camera = " ".join(str(exif.get(tag, "")).strip("\0 ") for tag in (0x010F, 0x0110))
            quality = jpeg_quality(getattr(img, "quantization", None))
            return str(img.format or "unknown"), quality, camera.strip() or "(none)"
    except (OSError, ValueError, SyntaxError):
        return "unknown", float("nan"), "(none)"


def border_share(rgb: np.ndarray, tolerance: float = 4.0) -> float:
    """The widest plain band along any side, as a share of that side: rows (or columns)
    from the edge inward whose pixels all lie within ``tolerance`` of the edge's median."""
    grey = rgb.astype(np.float32).mean(axis=2) if rgb.ndim == 3 else rgb.astype(np.float32)
    return float(_border_shares(grey[None], tolerance)[0])


def _border_shares(grey: np.ndarray, tolerance: float = 4.0) -> np.ndarray:
    """``border_share`` of each grey image of ``grey`` (n, height, width), all at once."""
    widest = np.zeros(len(grey))
    for band in (grey, grey[:, ::-1], grey.transpose(0, 2, 1), grey.transpose(0, 2, 1)[:, ::-1]):
        reference = np.median(band[:, 0], axis=1)
        plain = np.all(np.abs(band - reference[:, None, None]) <= tolerance, axis=2)
        depth = np.where(plain.all(axis=1), plain.shape[1], np.argmin(plain, axis=1))
        widest = np.maximum(widest, depth / plain.shape[1])
    return widest


#: Thumbnails whose pixel properties are computed at once: bounds the float copies' memory.
_TRAIT_BATCH = 256


def _pixel_traits(thumbnails: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colourfulness, brightness and border share of each thumbnail, a batch at a time (one
    image at a time, the per-call overhead of small arrays made these most of a cached
    ``splits``)."""
    n = len(thumbnails)
    colour, bright, border = np.empty(n), np.empty(n), np.empty(n)
    for s in range(0, n, _TRAIT_BATCH):
        batch = np.asarray(thumbnails[s : s + _TRAIT_BATCH])
        rows = slice(s, s + len(batch))
        flat = len(batch), -1
        pixels = batch.astype(np.float32)
        # channel by channel: a reduction over an axis of three is slow in numpy
        r, g, b = (pixels[..., c] for c in range(3))
        spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
        colour[rows] = spread.reshape(flat).mean(axis=1)
        bright[rows] = pixels.reshape(flat).mean(axis=1)
        border[rows] = _border_shares((r + g + b) / np.float32(3))
    return colour, bright, border


def image_traits(
    root: Path, paths: Sequence[str], sizes: Sequence[tuple[int, int]], thumbnails: np.ndarray
) -> pd.DataFrame:
    """One row of :data:`PROPERTIES` per image: sizes as decoded, pixels' properties from
    the run's thumbnails (no second decoding), format, quality and camera from the header."""
    colour, bright, border = _pixel_traits(np.asarray(thumbnails))
    rows = []
    for path, (width, height), *pixels in zip(paths, sizes, colour, bright, border, strict=True):
        fmt, quality, camera = _header(Path(root) / path)
        rows.append(
            {
                "width": float(width),
                "height": float(height),
                "aspect": float(width) / max(float(height), 1.0),
                "format": fmt,
                "jpeg_quality": quality,
                "colourfulness": float(pixels[0]),
                "brightness": float(pixels[1]),
                "camera": camera,
                "border": float(pixels[2]),
            }
        )
    return pd.DataFrame(rows, columns=list(PROPERTIES))


# --------------------------------------------------------------------------- classifiers


def _category_scores(train: pd.Series, y_train, test: pd.Series, k: int) -> np.ndarray:
    """Each value's class shares in the training part (one pseudo-count per class); a value
    not seen there gets the training part's class shares."""
    counts = pd.crosstab(train.to_numpy(), np.asarray(y_train)).reindex(columns=range(k))
    counts = counts.fillna(0) + 1.0
    shares = counts.div(counts.sum(axis=1), axis=0)
    prior = np.bincount(np.asarray(y_train), minlength=k) + 1.0
    prior = prior / prior.sum()
    found = shares.reindex(test.to_numpy())
    return np.where(found.isna().to_numpy(), prior, found.fillna(0).to_numpy())


def _number_scores(train, y_train, test, k: int, leaf: int) -> np.ndarray:
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=leaf, random_state=0)
    tree.fit(np.nan_to_num(train, nan=-1.0).reshape(-1, 1), y_train)
    proba = np.zeros((len(test), k))
    proba[:, tree.classes_] = tree.predict_proba(np.nan_to_num(test, nan=-1.0).reshape(-1, 1))
    return proba


def _folds(labels: np.ndarray, groups: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, stratified folds; as many as the rarest class has groups, at most five."""
    from sklearn.model_selection import StratifiedGroupKFold

    per_class = [len(np.unique(groups[labels == c])) for c in np.unique(labels)]
    n = min(AUDIT_FOLDS, *per_class)
    if n < 2:
        return []
    folds = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=AUDIT_SEED)
    return list(folds.split(np.zeros(len(labels)), labels, groups))


def out_of_fold_scores(values: pd.Series, kind: str, labels: np.ndarray, folds) -> np.ndarray:
    """Class probabilities of each image from the one-property classifier of the folds that
    did not hold it."""
    k = int(labels.max()) + 1
    scores = np.zeros((len(labels), k))
    for train, test in folds:
        if kind == "category":
            scores[test] = _category_scores(values.iloc[train], labels[train], values.iloc[test], k)
        else:
            leaf = max(3, len(train) // 20)
            numbers = values.to_numpy(dtype=float)
            scores[test] = _number_scores(numbers[train], labels[train], numbers[test], k, leaf)
    return scores


def _auc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int) -> dict:
    from ..metrics import bootstrap_ci, delong_auc_ci, roc_auc_score

    if k == 2:
        ci = delong_auc_ci(labels, scores[:, 1], positive_class=1, groups=groups)
        return {"auc": ci.auc, "low": ci.low, "high": ci.high, "method": "DeLong, clustered"}
    classes = list(range(k))

    def macro(y, s):
        return roc_auc_score(y, s, labels=classes)

    ci = bootstrap_ci(macro, labels, scores, groups=groups, n_resamples=1000, random_state=0)
    return {
        "auc": float(macro(labels, scores)),
        "low": ci.low,
        "high": ci.high,
        "method": "one-vs-rest macro; cluster bootstrap",
    }


# --------------------------------------------------------------------------- the audit


def _by_class(values: pd.Series, kind: str, labels: np.ndarray, classes: list[str]) -> list:
    """Per class: the median and quartiles of a number, or the three commonest values of a
    category with their shares."""
    rows = []
    for c, name in enumerate(classes):
        part = values[labels == c]
        if kind == "number":
            numbers = part.to_numpy(dtype=float)
            numbers = numbers[np.isfinite(numbers)]
            q = np.percentile(numbers, [25, 50, 75]) if len(numbers) else [np.nan] * 3
            rows.append({"class": name, "n": len(part), "median": q[1], "q1": q[0], "q3": q[2]})
        else:
            shares = part.value_counts(normalize=True).head(3)
            top = [{"value": str(v), "share": float(s)} for v, s in shares.items()]
            rows.append({"class": name, "n": len(part), "top": top})
    return rows


def _sentence(key: str, result: dict, by_class: list[dict]) -> str:
    label, kind, unit, advice = PROPERTIES[key]
    interval = f"AUC {result['auc']:.2f} ({result['low']:.2f}–{result['high']:.2f})"
    if kind == "number":
        ranked = sorted(by_class, key=lambda r: -np.nan_to_num(r["median"], nan=-np.inf))
        suffix = f" {unit}" if unit else ""
        parts = ", ".join(f"{r['class']} {format_value(r['median'])}{suffix}" for r in ranked)
        what = f"The {label} differs by class (medians: {parts})"
    else:
        parts = ", ".join(
            f"{r['class']} mostly {r['top'][0]['value']} ({r['top'][0]['share']:.0%})"
            for r in by_class
            if r["top"]
        )
        what = f"The {label} differs by class ({parts})"
    return f"{what}: a classifier of the {label} alone reaches {interval}. Suggestion: {advice}."


def format_value(value: float) -> str:
    """A property's value as the audit writes it: whole above 10, two decimals below."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}"


def shortcut_audit(
    traits: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, classes: list[str]
) -> dict:
    """How well each property alone predicts the label, cross-validated over ``groups``.

    Returns a JSON-ready dict: ``properties`` (each with its AUC, interval, whether flagged,
    and for flagged ones a by-class table and a sentence), ``flagged`` (their keys),
    ``level`` and ``folds``; or ``skipped`` with the reason when a class has fewer than two
    groups.
    """
    labels = np.asarray(labels, dtype=int)
    groups = np.asarray(groups).astype(str)
    folds = _folds(labels, groups)
    base = {"level": FLAG_AUC, "folds": len(folds), "properties": {}, "flagged": []}
    if not folds:
        return {**base, "skipped": "a class has fewer than two groups of images"}
    for key, (_, kind, _, _) in PROPERTIES.items():
        values = traits[key]
        if values.nunique(dropna=False) < 2:
            base["properties"][key] = {"constant": True, "flagged": False}
            continue
        scores = out_of_fold_scores(values, kind, labels, folds)
        result = _auc(labels, scores, groups, len(classes))
        result["flagged"] = bool(result["auc"] >= FLAG_AUC and result["low"] > 0.5)
        if result["flagged"]:
            result["by_class"] = _by_class(values, kind, labels, classes)
            result["sentence"] = _sentence(key, result, result["by_class"])
            base["flagged"].append(key)
        base["properties"][key] = result
    return base


def shortcut_lines(found: dict | None) -> list[str]:
    """The audit's lines for the terminal: one per flagged property (an older audit.json,
    without the shortcut audit, gives none)."""
    if not found:
        return []
    return [f"shortcut: {found['properties'][key]['sentence']}" for key in found["flagged"]]


__all__ = [
    "FLAG_AUC",
    "PROPERTIES",
    "border_share",
    "format_value",
    "image_traits",
    "jpeg_quality",
    "shortcut_audit",
    "shortcut_lines",
]
