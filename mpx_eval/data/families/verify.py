"""Checking pairs of images: RANSAC affine fits, ratio-tested direct matches, pooled fits of
several descriptions, and the links they make of candidate pairs and hash matches."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .candidates import Matches
from .describe import MIRROR, Description, Keypoints, root_sift
from .result import Link
from .settings import FamilySettings


def verify(
    src: np.ndarray, dst: np.ndarray, qk: np.ndarray, nk: np.ndarray, settings: FamilySettings
) -> int:
    """Inliers of a RANSAC affine fit from ``src`` to ``dst`` (distinct keypoints on both
    sides), or 0 when the fit is no plausible copy: squashed or stretched beyond what
    zoom, shear and resizing do, or all its inliers in one small spot."""
    if len(src) < settings.min_inliers:
        return 0
    cv2.setRNGSeed(len(src))  # RANSAC draws from this thread's generator: keep it repeatable
    matrix, inliers = cv2.estimateAffine2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=settings.ransac_pixels,
        maxIters=settings.ransac_iterations,
        confidence=settings.ransac_confidence,
        refineIters=0,
    )
    if matrix is None:
        return 0
    inl = inliers.ravel().astype(bool)
    count = min(len(np.unique(qk[inl])), len(np.unique(nk[inl])))
    if count < settings.min_inliers:
        return 0
    return count if _plausible(matrix, dst[inl], settings) else 0


def _plausible(matrix: np.ndarray, inliers: np.ndarray, settings: FamilySettings) -> bool:
    """Whether an affine map could make a copy (its scales within ``min_scale`` to
    ``max_scale``, one no more than ``max_stretch`` times the other) and its ``inliers``
    span at least ``min_spread`` of the working copy's side both ways."""
    s = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if s[1] < settings.min_scale or s[0] > settings.max_scale or s[0] > settings.max_stretch * s[1]:
        return False
    return np.ptp(inliers, axis=0).min() >= settings.min_spread * settings.side


def ratio_matches(
    a: Description, b: Description, orientation: int, settings: FamilySettings
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint numbers (in ``a``, in ``b``) of the ratio-tested best descriptor matches of
    two images, the first taken upright (``orientation`` 0) or mirrored (1)."""
    if len(a[1]) < 2 or len(b[1]) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    raw = a[1][:, MIRROR] if orientation else a[1]
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(root_sift(raw), root_sift(b[1]), k=2)
    # Lowe's ratio test: a keypoint on a repeated pattern (a rash of like spots) has
    # several near-equal matches, and chance affine fits among them linked drawings
    matches = [
        p[0] for p in pairs if len(p) == 2 and p[0].distance < settings.ratio * p[1].distance
    ]
    qk = np.array([m.queryIdx for m in matches], dtype=np.int64)
    nk = np.array([m.trainIdx for m in matches], dtype=np.int64)
    return qk, nk


def match_score(
    a: Description,
    b: Description,
    settings: FamilySettings,
    orientations: tuple[int, ...] = (0, 1),
) -> int:
    """``verify`` on the ratio-tested best descriptor matches of two images, the first taken
    upright and/or mirrored."""
    best = 0
    for orientation in orientations:
        qk, nk = ratio_matches(a, b, orientation, settings)
        if len(qk):
            best = max(best, verify(a[0][qk], b[0][nk], qk, nk, settings))
    return best


def _cells(xy: np.ndarray, settings: FamilySettings) -> np.ndarray:
    """One number per ``pool_cell``-pixel square of the working copy that ``xy`` lies in."""
    cell = np.floor(xy / settings.pool_cell).astype(np.int64)
    return cell[:, 0] * (settings.side + 1) + cell[:, 1]


def pooled_score(
    a: list[Description], b: list[Description], orientation: int, settings: FamilySettings
) -> int:
    """``verify`` on the ratio-tested matches of several descriptions of two images (each
    description of ``a`` matched to the like one of ``b``), pooled into one fit. A keypoint
    found in several descriptions counts once: inliers are counted as distinct
    ``pool_cell``-pixel squares on both sides."""
    src, dst = [], []
    for x, y in zip(a, b, strict=True):
        qk, nk = ratio_matches(x, y, orientation, settings)
        src.append(x[0][qk])
        dst.append(y[0][nk])
    if not src:
        return 0
    src, dst = np.concatenate(src), np.concatenate(dst)
    return verify(src, dst, _cells(src, settings), _cells(dst, settings), settings)


def pair_score(
    points: Keypoints,
    a: int,
    b: int,
    settings: FamilySettings,
    orientations: tuple[int, ...] = (0, 1),
) -> int:
    """``match_score`` of two images of the set (for pairs whose index matches are too few
    or missing)."""
    return match_score(points.of(a), points.of(b), settings, orientations)


def direct_links(
    points: Keypoints,
    checks: list[tuple[int, int, int]],
    settings: FamilySettings,
    workers: int,
    report: Callable[[int, int], None] | None = None,
) -> list[Link]:
    """The geometric links among ``checks`` (lower row, higher row, orientation), each pair
    checked with direct matches (``pair_score``); ``report(done, total)`` after each."""

    def check(job: tuple[int, int, int]) -> Link | None:
        a, b, o = job
        score = pair_score(points, a, b, settings, (o,))
        return Link(a, b, "geometric", float(score)) if score else None

    links = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, link in enumerate(pool.map(check, checks), start=1):
            if link is not None:
                links.append(link)
            if report is not None:
                report(done, len(checks))
    return links


def candidate_links(
    points: Keypoints,
    matches: Matches,
    groups: list[int],
    settings: FamilySettings,
    workers: int,
    tick: Callable[[int], None],
) -> list[Link]:
    """The geometric links among the candidate ``groups`` of ``matches``, each checked by a
    RANSAC affine fit of the index's matches (one progress step per image)."""
    n = len(points.counts)

    def check(g: int) -> Link | None:
        i, j = int(matches.a[g]), int(matches.b[g])
        rows = slice(matches.starts[g], matches.ends[g])
        ki, kj = matches.ka[rows], matches.kb[rows]
        src, dst = points.xy[points.starts[i] + ki], points.xy[points.starts[j] + kj]
        score = verify(src, dst, ki, kj, settings)
        return Link(i, j, "geometric", float(score)) if score else None

    links = []
    per_step = max(1, len(groups) // max(n, 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for k, link in enumerate(pool.map(check, groups), start=1):
            if link is not None:
                links.append(link)
            if k % per_step == 0 and k // per_step <= n:
                tick(1)
    return links


def duplicate_links(
    exact: list[list[int]],
    near: list[tuple[int, int, int]],
    points: Keypoints,
    settings: FamilySettings,
    report: Callable[[int, int], None] | None = None,
) -> list[Link]:
    """Links of the exact duplicates (each set a chain) and of the near duplicates whose
    keypoints agree, or of which one has too few keypoints to tell; a near duplicate with a
    sure fit gets a geometric link too, since the guards weigh a hash match as weak.
    ``report(done, total)`` after each near duplicate (31,000 at 30,000 augmented images,
    half a minute)."""
    links = [Link(a, b, "exact", 1.0) for m in exact for a, b in itertools.pairwise(m)]
    # On augmented sets of smooth skin photos, copies of distinct photos can share a
    # perceptual hash within the near-duplicate distance, so a hash match alone is no link.
    for done, (a, b, d) in enumerate(near, start=1):
        few_points = min(points.counts[a], points.counts[b]) < settings.min_inliers
        inliers = 0 if few_points else pair_score(points, a, b, settings)
        if few_points or inliers:
            links.append(Link(a, b, "near", float(d)))
        if inliers >= settings.sure_inliers:
            links.append(Link(a, b, "geometric", float(inliers)))
        if report is not None:
            report(done, len(near))
    return links
