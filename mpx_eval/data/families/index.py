"""The descriptor index: every keypoint's nearest neighbours among the whole set's keypoints,
found in cells of like descriptors (an inverted file), as distinct match codes.

The descriptors (RootSIFT, projected on their ``dims`` principal axes) are split into cells
by a two-level k-means quantizer: ``coarse_cells`` cells, each split again so that a cell
holds about ``cell_size`` descriptors. A keypoint is compared with every descriptor of its
own cell, exactly, as it is and as it would be in the mirror image (the mirrored descriptor
falls in a cell of its own). The cells are searched a few at a time, each a product of two
small matrices, so the search costs about ``cell_size`` distances per keypoint whatever the
size of the set, and nothing but the cells' row lists is kept beside the descriptors: each
cell's projections are made again when it is searched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .describe import MIRROR, Keypoints, root_sift
from .settings import FamilySettings

_PROJECTED_ROWS = 65536  # descriptors projected at once: bounds the float copies' memory
_BLOCK = 1 << 22  # distances computed at once within a cell (16 MB of float32)
_CELLS_PER_TASK = 64  # cells one worker searches before handing its matches over
_MERGE_ROWS = 1 << 21  # codes of one range gathered before their first merge
_BUCKETS = 16  # ranges of lower image rows whose distinct codes are merged apart


def search(
    points: Keypoints, settings: FamilySettings, workers: int, tick: Callable[[int], None]
) -> np.ndarray:
    """The sorted distinct codes (``code``) of every keypoint's matches: its ``neighbours``
    + 1 nearest in its cell, upright and mirrored, those of another image under
    ``max_distance``; a match found from either image of its pair is one code.
    ``tick(k)``: ``k`` more of the set's images' worth of cells searched."""
    projection = _Projection.fit(points.raw, settings)
    cells = _Cells.fit(projection, points.raw, settings)
    upright = cells.assign_all(projection, points.raw, mirrored=False)
    mirrored = cells.assign_all(projection, points.raw, mirrored=True)
    n = len(points.counts)
    found = _Distinct(n, settings.features)
    searcher = _CellSearch(points, projection, settings)
    tasks = list(_tasks(upright, mirrored, cells.count))
    done = 0
    # each worker multiplies small matrices: the BLAS library's own threads would only
    # compete with the workers
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=workers) as pool:
        for t, codes in enumerate(pool.map(lambda task: searcher.run(*task), tasks), start=1):
            found.add(codes, distinct=True)
            reached = n * t // len(tasks)
            tick(reached - done)
            done = reached
    return found.codes()


@dataclass
class _Projection:
    """Mean and ``dims`` principal axes of the RootSIFT descriptors."""

    mean: np.ndarray
    basis: np.ndarray

    @classmethod
    def fit(cls, raw: np.ndarray, settings: FamilySettings) -> _Projection:
        """Fitted on about ``pca_sample`` descriptors, evenly spaced over the set."""
        sample = root_sift(raw[:: max(1, len(raw) // settings.pca_sample)])
        mean = sample.mean(axis=0)
        axes = np.linalg.eigh(np.cov(sample - mean, rowvar=False))[1]
        basis = np.ascontiguousarray(axes[:, ::-1][:, : settings.dims], dtype=np.float32)
        return cls(mean=mean.astype(np.float32), basis=basis)

    def __call__(self, raw: np.ndarray, mirrored: bool = False) -> np.ndarray:
        """The projected descriptors of ``raw`` (uint8 SIFT), of its mirror image when
        ``mirrored``."""
        return (root_sift(raw[:, MIRROR] if mirrored else raw) - self.mean) @ self.basis

    def chunks(self, raw: np.ndarray, mirrored: bool = False) -> Iterator[np.ndarray]:
        """``self(raw)`` in parts of ``_PROJECTED_ROWS`` rows."""
        for s in range(0, len(raw), _PROJECTED_ROWS):
            yield self(raw[s : s + _PROJECTED_ROWS], mirrored)


def _nearest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The row of the nearest of ``centres`` for each of ``vectors``."""
    squares = (centres**2).sum(axis=1)
    out = np.empty(len(vectors), np.int32)
    for s in range(0, len(vectors), 16384):
        out[s : s + 16384] = np.argmin(squares - 2 * vectors[s : s + 16384] @ centres.T, axis=1)
    return out


def _kmeans(sample: np.ndarray, k: int, iterations: int) -> np.ndarray:
    """``k`` centres of ``sample`` by Lloyd's iterations, started from evenly spaced rows
    (no randomness: the same set gives the same cells). ``k`` is at most ``len(sample)``."""
    centres = sample[np.linspace(0, len(sample) - 1, k).astype(np.int64)].copy()
    for _ in range(iterations):
        nearest = _nearest(sample, centres)
        sizes = np.bincount(nearest, minlength=k)
        sums = np.stack(
            [np.bincount(nearest, weights=column, minlength=k) for column in sample.T], axis=1
        )
        kept = sizes > 0
        centres[kept] = sums[kept] / sizes[kept, None]
    return centres


@dataclass
class _Cells:
    """A two-level quantizer: ``top`` centres, each with ``fine`` centres of its own; cell
    ``t * per_top + f`` holds the descriptors nearest to top centre ``t`` and, among its
    centres, to ``fine[t][f]``."""

    top: np.ndarray
    fine: list[np.ndarray]
    per_top: int

    @property
    def count(self) -> int:
        return len(self.top) * self.per_top

    @classmethod
    def fit(cls, projection: _Projection, raw: np.ndarray, settings: FamilySettings) -> _Cells:
        """Cells of about ``cell_size`` descriptors (more, up to ``small_set_cell_size``, on
        a set small enough that the search stays under ``small_set_distances``), fitted on
        ``kmeans_sample`` evenly spaced descriptors a cell."""
        m = len(raw)
        roomy = min(settings.small_set_distances // max(1, 2 * m), settings.small_set_cell_size)
        size = max(settings.cell_size, roomy)
        wanted = max(1, -(-m // size))
        top_count = min(settings.coarse_cells, wanted)
        per_top = -(-wanted // top_count)
        rows = np.arange(0, m, max(1, m // (wanted * settings.kmeans_sample)))
        sample = np.concatenate(list(projection.chunks(raw[rows])))
        top = _kmeans(sample, min(top_count, len(sample)), settings.kmeans_iterations)
        nearest = _nearest(sample, top)
        fine = []
        for t in range(len(top)):
            own = sample[nearest == t]
            if len(own) == 0:
                own = top[t : t + 1]
            fine.append(_kmeans(own, min(per_top, len(own)), settings.kmeans_iterations))
        return cls(top=top, fine=fine, per_top=per_top)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The cell of each of ``vectors``."""
        top = _nearest(vectors, self.top)
        out = np.empty(len(vectors), np.int32)
        for t in np.unique(top):
            rows = np.flatnonzero(top == t)
            out[rows] = t * self.per_top + _nearest(vectors[rows], self.fine[t])
        return out

    def assign_all(self, projection: _Projection, raw: np.ndarray, mirrored: bool) -> np.ndarray:
        """The cell of every descriptor of ``raw``, upright or mirrored."""
        parts = [self.assign(v) for v in projection.chunks(raw, mirrored)]
        return np.concatenate(parts) if parts else np.empty(0, np.int32)


def _tasks(
    upright: np.ndarray, mirrored: np.ndarray, count: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The work in parts of ``_CELLS_PER_TASK`` cells: for each, the bounds of its cells in
    the descriptors sorted by upright cell and those sorted by mirrored cell, and both
    orders."""
    by_up = np.argsort(upright, kind="stable")
    by_mirror = np.argsort(mirrored, kind="stable")
    up_bounds = np.searchsorted(upright[by_up], np.arange(count + 1))
    mirror_bounds = np.searchsorted(mirrored[by_mirror], np.arange(count + 1))
    for first in range(0, count, _CELLS_PER_TASK):
        last = min(count, first + _CELLS_PER_TASK) + 1
        yield by_up, up_bounds[first:last], by_mirror, mirror_bounds[first:last]


class _CellSearch:
    """Exact nearest-neighbour search within cells."""

    def __init__(
        self, points: Keypoints, projection: _Projection, settings: FamilySettings
    ) -> None:
        self.points, self.projection, self.settings = points, projection, settings
        self.n = len(points.counts)

    def run(
        self,
        by_up: np.ndarray,
        up_bounds: np.ndarray,
        by_mirror: np.ndarray,
        mirror_bounds: np.ndarray,
    ) -> np.ndarray:
        """The sorted distinct codes of the matches of the cells whose bounds are given
        (``_tasks``)."""
        found = []
        for c in range(len(up_bounds) - 1):
            base = by_up[up_bounds[c] : up_bounds[c + 1]]
            if not len(base):
                continue
            vectors = self.projection(self.points.raw[base])
            found += self._matches(base, vectors, base, vectors, 0)
            queries = by_mirror[mirror_bounds[c] : mirror_bounds[c + 1]]
            if len(queries):
                flipped = self.projection(self.points.raw[queries], mirrored=True)
                found += self._matches(queries, flipped, base, vectors, 1)
        return _distinct(np.concatenate(found)) if found else np.empty(0, np.int64)

    def _matches(
        self,
        queries: np.ndarray,
        qv: np.ndarray,
        base: np.ndarray,
        bv: np.ndarray,
        orientation: int,
    ) -> list[np.ndarray]:
        """The codes of each query's ``neighbours`` + 1 nearest of ``base`` (itself among
        them when upright), those of another image under ``max_distance``."""
        owner, local, s = self.points.owner, self.points.local, self.settings
        squares = (bv**2).sum(axis=1)
        k, limit = s.neighbours + 1, s.max_distance**2
        step = max(1, _BLOCK // len(base))
        out = []
        for start in range(0, len(queries), step):
            q = qv[start : start + step]
            dist = q @ bv.T
            dist *= -2
            dist += squares
            dist += (q**2).sum(axis=1)[:, None]
            rows, cols = _nearest_under(dist, k, limit)
            qi, bi = queries[start + rows], base[cols]
            keep = owner[qi] != owner[bi]
            qi, bi = qi[keep], bi[keep]
            out.append(
                code(owner[qi], local[qi], owner[bi], local[bi], orientation, self.n, s.features)
            )
        return out


def _nearest_under(dist: np.ndarray, k: int, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each row's ``k`` smallest entries of ``dist`` that are under
    ``limit`` (more where several equal the ``k``-th). A row with at most ``k`` entries
    under it keeps them all, found without partitioning the row: partitioning every row
    was the search's largest cost."""
    hit = dist < limit
    many = np.count_nonzero(hit, axis=1) > k
    dense = np.flatnonzero(many)
    hit[dense] = False
    rows, cols = np.nonzero(hit)
    if not len(dense):
        return rows, cols
    crowded = dist[dense]
    # the k-th smallest of each crowded row, and what is not larger (ties kept: no
    # arbitrary choice among equal distances)
    kth = np.partition(crowded, k - 1, axis=1)[:, k - 1 : k]
    near_rows, near_cols = np.nonzero(crowded <= kth)
    return np.r_[rows, dense[near_rows]], np.r_[cols, near_cols]


class _Distinct:
    """The distinct codes of many batches, merged as they come, in ``_BUCKETS`` ranges of
    the lower image row: a match is found from both of its images, so the batches hold
    most twice, and kept whole until the end they were the detector's largest memory
    (3.2 GB at 10,000 images); merged by range, only one range is ever copied at once."""

    def __init__(self, n: int, features: int) -> None:
        rows = -(-n // _BUCKETS)
        # the first code of each range: that of its first lower row (``code``)
        self.bounds = np.arange(1, _BUCKETS) * rows * n * 2 * features * features
        self.merged = [np.empty(0, np.int64) for _ in range(_BUCKETS)]
        self.pending: list[list[np.ndarray]] = [[] for _ in range(_BUCKETS)]
        self.rows = [0] * _BUCKETS

    def add(self, codes: np.ndarray, distinct: bool = False) -> None:
        """Add a batch of codes (already sorted and distinct when ``distinct``)."""
        distinct = codes if distinct else _distinct(codes)
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
        self.merged[b] = _distinct(merged, kind="stable")

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


def _distinct(codes: np.ndarray, kind: str | None = None) -> np.ndarray:
    """The distinct values of ``codes``, sorted (``codes`` is sorted in place)."""
    codes.sort(kind=kind)
    keep = np.empty(len(codes), dtype=bool)
    keep[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=keep[1:])
    return codes[keep]


def code(i, ki, j, kj, orientation: int, n: int, features: int) -> np.ndarray:
    """One int64 per match of keypoint ``ki`` of image ``i`` and ``kj`` of ``j``: the pair
    (lower row first) and orientation, then the two keypoint numbers (each under
    ``features``), so that sorting the codes groups the matches by pair and the same match
    found from both images is one code (eight bytes a match: the matches are the detector's
    largest array)."""
    swap = i > j
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    ka, kb = np.where(swap, kj, ki), np.where(swap, ki, kj)
    return (((a * n + b) * 2 + orientation) * features + ka) * features + kb
