"""Describing images: the grey working copies, where keypoints may lie, and each image's SIFT
keypoints (the usual ones for the index and the checks, finer ones for the last look)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ..images import ImageSet
from .settings import FamilySettings

#: One description of an image: keypoint positions (m, 2) in the working copy's pixels, and
#: their SIFT descriptors (m, 128).
Description = tuple[np.ndarray, np.ndarray]

# A SIFT descriptor is 4 x 4 cells of 8 orientation bins, laid out in the keypoint's own
# frame; mirroring the image mirrors that frame, which reverses the cell rows and the
# orientations. Measured on MSLD photos, the permuted descriptors match those computed on the
# mirrored photo (mean absolute bin difference 3.7 against 24 for unrelated keypoints), so a
# flipped copy is found without describing every image twice.
MIRROR = np.arange(128).reshape(4, 4, 8)[::-1][:, :, (-np.arange(8)) % 8].ravel()


@dataclass
class Keypoints:
    """The keypoints of the whole set, row ``owner[r]``'s keypoint number ``local[r]``;
    image ``i``'s are rows ``starts[i]`` to ``starts[i] + counts[i]``."""

    xy: np.ndarray  # (m, 2) float32 positions in the working copy
    raw: np.ndarray  # (m, 128) uint8 SIFT descriptors
    owner: np.ndarray  # (m,) int64 image row
    local: np.ndarray  # (m,) int64 keypoint number within its image
    counts: np.ndarray  # (n,) keypoints per image
    starts: np.ndarray  # (n,) first row of each image's keypoints

    def of(self, i: int) -> Description:
        """Image ``i``'s keypoints."""
        rows = slice(self.starts[i], self.starts[i] + self.counts[i])
        return self.xy[rows], self.raw[rows]


def working_copies(images: ImageSet, settings: FamilySettings) -> np.ndarray:
    """The grey working copies, made from the largest decoded array when the set has none."""
    if images.family_view is not None:
        return images.family_view
    source = images.arrays[max(images.arrays)] if images.arrays else images.thumbnails
    side = settings.side
    out = np.empty((len(source), side, side), dtype=np.uint8)
    for i, img in enumerate(source):
        out[i] = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (side, side))
    return out


def _keypoint_mask(view: np.ndarray, settings: FamilySettings) -> np.ndarray:
    """Where keypoints may lie: away from flat areas such as the fill of a rotated copy,
    whose straight edges and corners would match between any two rotated photos."""
    f = view.astype(np.float32)
    window = (settings.flat_window, settings.flat_window)
    mean = cv2.blur(f, window)
    var = cv2.blur(f * f, window) - mean * mean
    flat = (var < settings.flat_variance).astype(np.uint8)
    flat = cv2.dilate(flat, np.ones((settings.flat_margin, settings.flat_margin), np.uint8))
    return np.where(flat > 0, 0, 255).astype(np.uint8)


def sift(view: np.ndarray, contrast: float, features: int, settings: FamilySettings) -> Description:
    """Keypoint positions and SIFT descriptors of a grey image, at most ``features`` of them.

    Local contrast is equalised first (CLAHE), so brightness and contrast changes move
    few keypoints, and flat areas are masked (see ``_keypoint_mask``).
    """
    detector = cv2.SIFT_create(nfeatures=features, contrastThreshold=contrast)
    tiles = (settings.clahe_tiles, settings.clahe_tiles)
    clahe = cv2.createCLAHE(clipLimit=settings.clahe_clip, tileGridSize=tiles)
    keypoints, desc = detector.detectAndCompute(clahe.apply(view), _keypoint_mask(view, settings))
    if desc is None or not keypoints:
        return np.empty((0, 2), np.float32), np.empty((0, 128), np.uint8)
    xy = np.array([k.pt for k in keypoints[:features]], dtype=np.float32)
    return xy, np.clip(np.rint(desc[:features]), 0, 255).astype(np.uint8)


def _working(view: np.ndarray, settings: FamilySettings) -> np.ndarray:
    """``view`` at the working size (the set's own working copies already are)."""
    if view.shape[0] == settings.side:
        return view
    return cv2.resize(view, (settings.side, settings.side), interpolation=cv2.INTER_AREA)


def describe(view: np.ndarray, settings: FamilySettings) -> Description:
    """Keypoints of one working copy (``sift``): the strongest ``features`` at ``contrast``,
    or at ``contrast_low`` for a smooth photo with fewer than ``few_keypoints``."""
    view = _working(view, settings)
    xy, desc = sift(view, settings.contrast, settings.features, settings)
    if len(xy) < settings.few_keypoints:
        xy, desc = sift(view, settings.contrast_low, settings.features, settings)
    return xy, desc


def describe_finely(view: np.ndarray, settings: FamilySettings) -> list[Description]:
    """Finer keypoints of one working copy for the last look, at ``fine_contrast``: on the
    copy stretched to its full range (its ``fine_stretch`` percentiles made black and
    white: a copy brightened nearly to white keeps its detail in a few grey levels, and a
    photo that spans the grey scale is left about as it is), on the copy enlarged to
    ``fine_side`` and on it smoothed (a Gaussian of ``fine_smooth`` px, against noise);
    positions in the copy's pixels."""
    view = _working(view, settings)
    low, high = np.percentile(view, settings.fine_stretch)
    stretched = np.clip((view - low) * (255 / max(high - low, 1)), 0, 255).astype(np.uint8)
    side = (settings.fine_side, settings.fine_side)
    enlarged = cv2.resize(view, side, interpolation=cv2.INTER_CUBIC)
    smoothed = cv2.GaussianBlur(view, (0, 0), settings.fine_smooth)
    found = []
    for copy in (stretched, enlarged, smoothed):
        xy, desc = sift(copy, settings.fine_contrast, settings.fine_features, settings)
        found.append((xy * np.float32(settings.side / len(copy)), desc))
    return found


def root_sift(raw: np.ndarray) -> np.ndarray:
    """RootSIFT (Hellinger-normalised SIFT), which matches better under Euclidean distance."""
    desc = raw.astype(np.float32)
    return np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-7))


def describe_set(
    images: ImageSet,
    views: np.ndarray,
    settings: FamilySettings,
    workers: int,
    tick: Callable[[int], None],
    known: dict[int, Description] | None = None,
) -> tuple[Keypoints, dict[int, Description]]:
    """Describe every working copy of ``views`` (one progress step each) but those whose
    description is ``known`` (row -> description, from the cache); images too small to
    compare get no keypoints. Returns the keypoints and the descriptions made here."""
    known = known or {}
    found: list[Description | None] = [known.get(i) for i in range(len(views))]
    tick(len(known))
    todo = [i for i, d in enumerate(found) if d is None]
    made: dict[int, Description] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, description in zip(
            todo, pool.map(lambda i: describe(views[i], settings), todo), strict=True
        ):
            found[i] = made[i] = description
            tick(1)
    xy = [d[0] for d in found if d is not None]
    raw = [d[1] for d in found if d is not None]
    # an upscaled thumbnail's keypoints sit on its pixel grid, which any two such share
    for i, (w, h) in enumerate(images.original_sizes):
        if min(w, h) < settings.min_side:
            xy[i], raw[i] = xy[i][:0], raw[i][:0]
    counts = np.array([len(p) for p in xy], dtype=np.int64)
    points = Keypoints(
        xy=np.concatenate(xy) if xy else np.empty((0, 2), np.float32),
        raw=np.concatenate(raw) if raw else np.empty((0, 128), np.uint8),
        owner=np.repeat(np.arange(len(counts)), counts),
        local=np.concatenate([np.arange(c) for c in counts]) if xy else counts,
        counts=counts,
        starts=np.r_[0, np.cumsum(counts)[:-1]],
    )
    return points, made


def release_freed_memory() -> None:
    """Hand memory that was freed back to the system (glibc only; elsewhere nothing). The
    descriptions come one small array at a time from the worker threads, whose memory glibc
    keeps once they are joined into one: on 3,192 images 84 MB of 176 after describing, and
    the index, built next, is the detector's peak."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
