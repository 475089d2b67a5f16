"""Candidate pairs: one approximate nearest-neighbour index of the whole set's keypoints, its
matches grouped by pair of images, and the pairs among them worth a geometric check."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from .describe import MIRROR, Keypoints, root_sift
from .settings import FamilySettings

_PROJECTED_ROWS = 65536  # descriptors projected at once: bounds the float copies' memory
_MERGE_ROWS = 1 << 21  # codes of one range gathered before their first merge
_BUCKETS = 16  # ranges of lower image rows whose distinct codes are merged apart


@dataclass
class Matches:
    """Descriptor matches grouped by image pair and orientation: group ``g`` pairs rows
    ``a[g] < b[g]`` (one mirrored against the other when ``orient[g]``), with ``votes[g]``
    distinct matched keypoints of ``a``, listed in ``ka[starts[g]:ends[g]]`` against
    ``kb[...]``. Each array is of the smallest type that holds it (int32 rows, uint8
    keypoint numbers): at 30,000 images there are tens of millions of groups, most of them
    one chance match."""

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
    return _grouped(_search(points, settings, workers, tick), len(points.counts), settings.features)


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
    projection = _projection(points, settings)
    found = _query(
        _index(points, projection, settings), points, projection, settings, workers, tick
    )
    # the index (a copy of the projected descriptors and its trees: 1.8 GB at 30,000
    # images) is gone before the last merge, the detector's peak while it was kept
    return found.codes()


def _index(
    points: Keypoints, projection: tuple[np.ndarray, np.ndarray], settings: FamilySettings
) -> cv2.flann_Index:
    """The kd-tree index of the projected descriptors of every keypoint."""
    mean, basis = projection
    cv2.setRNGSeed(0)  # the kd-trees are randomised: the same set gives the same families
    pooled = np.concatenate(
        [
            (root_sift(points.raw[s : s + _PROJECTED_ROWS]) - mean) @ basis
            for s in range(0, len(points.raw), _PROJECTED_ROWS)
        ]
    )
    return cv2.flann_Index(pooled, {"algorithm": 1, "trees": settings.trees})


def _query(
    index: cv2.flann_Index,
    points: Keypoints,
    projection: tuple[np.ndarray, np.ndarray],
    settings: FamilySettings,
    workers: int,
    tick: Callable[[int], None],
) -> _Distinct:
    """The distinct matches of every keypoint's lookup in ``index``, upright and mirrored,
    ``query_batch`` images at a time (one progress step per image)."""
    mean, basis = projection
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

    jobs = [(c, o) for c in range(len(bounds) - 1) for o in (0, 1) if bounds[c + 1] > bounds[c]]
    found = _Distinct(n, settings.features)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (chunk, orientation), codes in zip(
            jobs, pool.map(lambda j: run(*j), jobs), strict=True
        ):
            found.add(codes)
            if orientation:
                tick(min(batch, n - chunk * batch))
    return found


class _Distinct:
    """The distinct codes of many batches, merged as they come, in ``_BUCKETS`` ranges of
    the lower image row: a match is found from both of its images, so the batches hold
    most twice, and kept whole until the end they were the detector's largest memory
    (3.2 GB at 10,000 images); merged by range, only one range is ever copied at once."""

    def __init__(self, n: int, features: int) -> None:
        rows = -(-n // _BUCKETS)
        # the first code of each range: that of its first lower row (``_code``)
        self.bounds = np.arange(1, _BUCKETS) * rows * n * 2 * features * features
        self.merged = [np.empty(0, np.int64) for _ in range(_BUCKETS)]
        self.pending: list[list[np.ndarray]] = [[] for _ in range(_BUCKETS)]
        self.rows = [0] * _BUCKETS

    def add(self, codes: np.ndarray) -> None:
        distinct = np.unique(codes)
        cuts = np.searchsorted(distinct, self.bounds)
        for b, part in enumerate(np.split(distinct, cuts)):
            if len(part):
                self.pending[b].append(part)
                self.rows[b] += len(part)
                if self.rows[b] > max(len(self.merged[b]), _MERGE_ROWS):
                    self._merge(b)

    def _merge(self, b: int) -> None:
        # the parts are sorted runs, which a stable sort (timsort) merges
        merged = np.concatenate([self.merged[b], *self.pending[b]])
        self.merged[b], self.pending[b], self.rows[b] = np.empty(0, np.int64), [], 0
        merged.sort(kind="stable")
        keep = np.empty(len(merged), dtype=bool)
        keep[:1] = True
        np.not_equal(merged[1:], merged[:-1], out=keep[1:])
        self.merged[b] = merged[keep]

    def codes(self) -> np.ndarray:
        """Every distinct code added, sorted (the ranges are in order)."""
        for b in range(_BUCKETS):
            self._merge(b)
        out = np.empty(sum(len(m) for m in self.merged), np.int64)
        start = 0
        for b in range(_BUCKETS):
            out[start : start + len(self.merged[b])] = self.merged[b]
            start += len(self.merged[b])
            self.merged[b] = np.empty(0, np.int64)
        return out


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
    them. Worked through in parts, every array kept in the smallest type that holds it, so
    that no int64 copy of all the matches or of all the pairs is made (at 30,000 images
    that grouping was the detector's peak)."""
    m, square, part = len(codes), features * features, _PROJECTED_ROWS * 16
    small = np.uint8 if features <= 256 else np.uint16
    index_type = np.int32 if m < 2**31 else np.int64
    ka, kb = np.empty(m, small), np.empty(m, small)
    new_a = np.empty(m, bool)
    found_starts = []
    last_key, last_ka = -1, -1
    for s in range(0, m, part):
        chunk = codes[s : s + part]
        key, chunk_ka = chunk // square, (chunk // features) % features
        rows = slice(s, s + len(chunk))
        ka[rows], kb[rows] = chunk_ka, chunk % features
        first = key != np.r_[last_key, key[:-1]]
        new_a[rows] = first | (chunk_ka != np.r_[last_ka, chunk_ka[:-1]])
        found_starts.append((np.flatnonzero(first) + s).astype(index_type))
        last_key, last_ka = int(key[-1]), int(chunk_ka[-1])
    starts = np.concatenate(found_starts) if found_starts else np.empty(0, index_type)
    del found_starts
    votes = np.add.reduceat(new_a, starts, dtype=np.int32) if m else np.empty(0, np.int32)
    del new_a
    g = len(starts)
    a, b = np.empty(g, np.int32), np.empty(g, np.int32)
    orient = np.empty(g, np.int8)
    for s in range(0, g, part):
        keys = codes[starts[s : s + part]] // square
        a[s : s + part], b[s : s + part] = keys // (2 * n), (keys // 2) % n
        orient[s : s + part] = keys % 2
    ends = np.empty(g, index_type)
    ends[:-1], ends[-1:] = starts[1:], m
    return Matches(a=a, b=b, orient=orient, votes=votes, starts=starts, ends=ends, ka=ka, kb=kb)


def candidates(matches: Matches, settings: FamilySettings) -> list[int]:
    """Groups of ``matches`` worth a geometric check: for each image (on either side of a
    pair) its ``candidates`` partners with the most matched keypoints (at least
    ``min_votes``), each pair once, in the orientation with the most matches (the first
    taken of equals). Worked out on arrays: at 30,000 images there are tens of millions of
    such groups, whose Python lists were the detector's peak of memory."""
    strong = np.flatnonzero(matches.votes >= settings.min_votes).astype(np.int32)
    image = np.r_[matches.a[strong], matches.b[strong]]
    group = np.r_[strong, strong]
    del strong
    ranked = np.lexsort((-matches.votes[group], image))
    image, group = image[ranked], group[ranked]
    del ranked
    # the first ``candidates`` of each image, in that order (an image's best-voted first)
    taken = group[_rank_within(image) < settings.candidates]
    del image, group
    n = int(max(matches.a.max(initial=0), matches.b.max(initial=0))) + 1
    pair = matches.a[taken].astype(np.int64) * n + matches.b[taken]
    # per pair, the most votes, the first taken of equals
    order = np.lexsort((np.arange(len(taken)), -matches.votes[taken], pair))
    first = np.r_[True, pair[order][1:] != pair[order][:-1]] if len(order) else order
    return np.unique(taken[order[first.astype(bool)]]).tolist()


def _rank_within(sorted_keys: np.ndarray) -> np.ndarray:
    """Each element's position within its run of equal keys (``sorted_keys`` sorted)."""
    if not len(sorted_keys):
        return sorted_keys
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    lengths = np.diff(np.r_[starts, len(sorted_keys)])
    return np.arange(len(sorted_keys)) - np.repeat(starts, lengths)
