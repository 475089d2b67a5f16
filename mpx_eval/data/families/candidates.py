"""Candidate pairs: one approximate nearest-neighbour index of the whole set's keypoints, its
matches grouped by pair of images, and the pairs among them worth a geometric check."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from .describe import MIRROR, Keypoints, root_sift
from .settings import FamilySettings

_PROJECTED_ROWS = 65536  # descriptors projected at once: bounds the float copies' memory


@dataclass
class Matches:
    """Descriptor matches grouped by image pair and orientation: group ``g`` pairs rows
    ``a[g] < b[g]`` (one mirrored against the other when ``orient[g]``), with ``votes[g]``
    distinct matched keypoints of ``a``, listed in ``ka[starts[g]:ends[g]]`` against
    ``kb[...]``."""

    a: np.ndarray
    b: np.ndarray
    orient: np.ndarray
    votes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    ka: np.ndarray
    kb: np.ndarray


def index_matches(
    points: Keypoints, settings: FamilySettings, workers: int, tick: Callable[[int], None]
) -> Matches:
    """The matches of the pooled index (``_search``), grouped by pair (one progress step
    per image)."""
    codes = _search(points, settings, workers, tick)
    return _grouped(codes, len(points.counts), settings.features)


def _projection(points: Keypoints, settings: FamilySettings) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ``dims`` principal axes of the RootSIFT descriptors, fitted on about
    ``pca_sample`` of them."""
    m = len(points.raw)
    sample = root_sift(points.raw[:: max(1, m // settings.pca_sample)])
    mean = sample.mean(axis=0)
    axes = np.linalg.eigh(np.cov(sample - mean, rowvar=False))[1]
    basis = np.ascontiguousarray(axes[:, ::-1][:, : settings.dims], dtype=np.float32)
    return mean.astype(np.float32), basis


def _search(
    points: Keypoints, settings: FamilySettings, workers: int, tick: Callable[[int], None]
) -> np.ndarray:
    """Descriptor matches across the whole set from one pooled index of upright keypoints,
    queried with upright and mirrored descriptors: the sorted distinct codes (``_code``) of
    the matches under ``max_distance``, each found from either image of its pair.

    Descriptors are projected on their ``dims`` principal axes, which keeps the index small
    and the kd-tree search fast.
    """
    m = len(points.raw)
    mean, basis = _projection(points, settings)
    cv2.setRNGSeed(0)  # the kd-trees are randomised: the same set gives the same families
    pooled = np.concatenate(
        [
            (root_sift(points.raw[s : s + _PROJECTED_ROWS]) - mean) @ basis
            for s in range(0, m, _PROJECTED_ROWS)
        ]
    )
    index = cv2.flann_Index(pooled, {"algorithm": 1, "trees": settings.trees})
    del pooled
    n, batch = len(points.counts), settings.query_batch
    k = min(settings.neighbours + 1, len(points.raw))
    bounds = np.searchsorted(points.owner, np.arange(0, n + batch, batch).clip(max=n))

    def run(chunk: int, orientation: int) -> np.ndarray:
        rows = np.arange(bounds[chunk], bounds[chunk + 1])
        raw = points.raw[rows]
        queries = (root_sift(raw[:, MIRROR] if orientation else raw) - mean) @ basis
        nearest, dist = index.knnSearch(queries, k, params={"checks": settings.checks})
        nearest, dist = nearest.astype(np.int64).ravel(), dist.ravel()
        qi, qk = np.repeat(points.owner[rows], k), np.repeat(points.local[rows], k)
        nj = points.owner[nearest]
        # FLANN reports squared distances
        keep = (nj != qi) & (dist < settings.max_distance**2)
        kj = points.local[nearest[keep]]
        return _code(qi[keep], qk[keep], nj[keep], kj, orientation, n, settings.features)

    found = []
    jobs = [(c, o) for c in range(len(bounds) - 1) for o in (0, 1) if bounds[c + 1] > bounds[c]]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (chunk, orientation), codes in zip(
            jobs, pool.map(lambda j: run(*j), jobs), strict=True
        ):
            found.append(codes)
            if orientation:
                tick(min(batch, n - chunk * batch))
    return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)


def _code(i, ki, j, kj, orientation: int, n: int, features: int) -> np.ndarray:
    """One int64 per match of keypoint ``ki`` of image ``i`` and ``kj`` of ``j``: the pair
    (lower row first) and orientation, then the two keypoint numbers (each under
    ``features``), so that sorting the codes groups the matches by pair and the same match
    found from both images is one code (eight bytes a match: the matches are the detector's
    largest array)."""
    swap = i > j
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    ka, kb = np.where(swap, kj, ki), np.where(swap, ki, kj)
    return (((a * n + b) * 2 + orientation) * features + ka) * features + kb


def _grouped(codes: np.ndarray, n: int, features: int) -> Matches:
    """The matches of ``_search`` grouped by image pair and orientation. Matches found from
    either image of a pair count for it: the index returns only the nearest neighbours, so
    with many copies of one photo in the set either direction alone holds only part of
    them."""
    kb, ka = codes % features, (codes // features) % features
    key = codes // (features * features)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    new_a = np.r_[True, (key[1:] != key[:-1]) | (ka[1:] != ka[:-1])]
    votes = np.add.reduceat(new_a.astype(np.int64), starts) if len(starts) else starts
    keys = key[starts]
    return Matches(
        a=keys // (2 * n),
        b=(keys // 2) % n,
        orient=keys % 2,
        votes=votes,
        starts=starts,
        ends=np.r_[starts[1:], len(key)].astype(np.int64),
        ka=ka,
        kb=kb,
    )


def candidates(matches: Matches, settings: FamilySettings) -> list[int]:
    """Groups of ``matches`` worth a geometric check: for each image (on either side of a
    pair) its ``candidates`` partners with the most matched keypoints (at least
    ``min_votes``), each pair once, in the orientation with the most matches."""
    strong = np.flatnonzero(matches.votes >= settings.min_votes)
    image = np.r_[matches.a[strong], matches.b[strong]]
    group = np.r_[strong, strong]
    ranked = np.lexsort((-matches.votes[group], image))
    best: dict[tuple[int, int], int] = {}
    taken: dict[int, int] = defaultdict(int)
    for i, g in zip(image[ranked].tolist(), group[ranked].tolist(), strict=True):
        if taken[i] >= settings.candidates:
            continue
        taken[i] += 1
        pair = (int(matches.a[g]), int(matches.b[g]))
        if pair not in best or matches.votes[g] > matches.votes[best[pair]]:
            best[pair] = g
    return sorted(best.values())
