"""Family detection at scale: the index's search within cells is the exact search where the
cell holds everything, its cells hold about what they should, its matches merged by range
and grouped in small types give what the plain whole-array computation gave, and the
progress line moves through every step in proportion to its time."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from mpx_eval.data.families import candidates, index
from mpx_eval.data.families.candidates import _grouped
from mpx_eval.data.families.describe import MIRROR, Keypoints
from mpx_eval.data.families.index import _Distinct
from mpx_eval.data.families.index import code as _code
from mpx_eval.data.families.pipeline import _WEIGHTS, _Progress
from mpx_eval.data.families.settings import FamilySettings


def _plain_grouped(codes: np.ndarray, n: int, features: int) -> dict[str, np.ndarray]:
    """The grouping as it was done on whole int64 arrays."""
    kb, ka = codes % features, (codes // features) % features
    key = codes // (features * features)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    new_a = np.r_[True, (key[1:] != key[:-1]) | (ka[1:] != ka[:-1])]
    votes = np.add.reduceat(new_a.astype(np.int64), starts)
    keys = key[starts]
    return {
        "a": keys // (2 * n),
        "b": (keys // 2) % n,
        "orient": keys % 2,
        "votes": votes,
        "starts": starts,
        "ends": np.r_[starts[1:], len(key)],
        "ka": ka,
        "kb": kb,
    }


def _random_batches(rng: np.random.Generator, n: int, features: int, batches: int):
    """Batches of match codes as the index search makes them: each match may be found from
    both of its images, and in either orientation."""
    out = []
    for _ in range(batches):
        m = int(rng.integers(0, 400))
        i, j = rng.integers(0, n, m), rng.integers(0, n, m)
        keep = i != j
        ki, kj = rng.integers(0, 6, m), rng.integers(0, 6, m)  # few keypoints: repeats
        o = int(rng.integers(0, 2))
        codes = _code(i[keep], ki[keep], j[keep], kj[keep], o, n, features)
        out.append(np.r_[codes, codes[: len(codes) // 2]])
    return out


@pytest.mark.parametrize("n", [1, 3, 17, 40])
def test_matches_merged_by_range_are_the_distinct_matches(monkeypatch, n):
    monkeypatch.setattr(index, "_MERGE_ROWS", 50)  # merge often, as a large set does
    rng = np.random.default_rng(n)
    features = 200
    batches = _random_batches(rng, max(n, 2), features, 30)
    found = _Distinct(max(n, 2), features)
    for batch in batches:
        found.add(batch)
    expected = np.unique(np.concatenate(batches))
    assert np.array_equal(found.codes(), expected)


def test_grouping_in_parts_and_small_types_matches_the_whole_array_grouping(monkeypatch):
    monkeypatch.setattr(candidates, "_PART", 64)
    rng = np.random.default_rng(0)
    n, features = 30, 200
    codes = np.unique(np.concatenate(_random_batches(rng, n, features, 20)))
    grouped = _grouped(codes, n, features)
    for name, values in _plain_grouped(codes, n, features).items():
        assert np.array_equal(getattr(grouped, name), values), name
    assert grouped.a.dtype == np.int32 and grouped.ka.dtype == np.uint8
    empty = _grouped(np.empty(0, np.int64), n, features)
    assert len(empty.a) == len(empty.votes) == len(empty.ka) == 0


def test_progress_reaches_each_step_in_proportion_to_its_weight():
    calls: list[tuple[int, int]] = []
    n = 10
    tick = _Progress(sum(_WEIGHTS.values()) * n, lambda done, total: calls.append((done, total)))
    describe = tick.counted(_WEIGHTS["describe"] * n, n)
    for _ in range(n):
        describe(1)
    assert calls[-1] == (_WEIGHTS["describe"] * n, sum(_WEIGHTS.values()) * n)
    search = tick.counted(_WEIGHTS["search"] * n, n)
    search(n // 2)
    assert calls[-1][0] == _WEIGHTS["describe"] * n + _WEIGHTS["search"] * n // 2
    # a step with nothing to report counts as done once the next one starts
    tick.part(_WEIGHTS["verify"] * n)(0, 1)
    assert calls[-1][0] == (_WEIGHTS["describe"] + _WEIGHTS["search"]) * n
    tick.finish()
    assert calls[-1][0] == calls[-1][1]
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))


def _keypoints(raw: np.ndarray, counts: list[int]) -> Keypoints:
    """A ``Keypoints`` of the given descriptors, ``counts[i]`` of them image ``i``'s."""
    sizes = np.array(counts, dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    return Keypoints(
        xy=np.zeros((len(raw), 2), np.float32),
        raw=raw,
        owner=np.repeat(np.arange(len(sizes)), sizes),
        local=np.arange(len(raw)) - np.repeat(starts, sizes),
        counts=sizes,
        starts=starts,
    )


def _random_sift(rng: np.random.Generator, photos: int, per_photo: int) -> np.ndarray:
    """SIFT-like uint8 descriptors: a few bins of each strong, as on real keypoints."""
    raw = rng.integers(0, 20, (photos * per_photo, 128))
    strong = rng.integers(0, 128, (photos * per_photo, 12))
    np.put_along_axis(raw, strong, rng.integers(60, 200, strong.shape), axis=1)
    return raw.astype(np.uint8)


def _noisy_copy(rng: np.random.Generator, raw: np.ndarray) -> np.ndarray:
    return np.clip(raw.astype(np.int64) + rng.integers(-3, 4, raw.shape), 0, 255).astype(np.uint8)


def _photos_and_copies(seed: int, photos: int, per_photo: int) -> Keypoints:
    """The keypoints of ``photos`` images and, after them, a noisy copy of each."""
    rng = np.random.default_rng(seed)
    raw = _random_sift(rng, photos, per_photo)
    return _keypoints(np.concatenate([raw, _noisy_copy(rng, raw)]), [per_photo] * 2 * photos)


def _brute_force_codes(points: Keypoints, settings: FamilySettings) -> np.ndarray:
    """Every keypoint's ``neighbours`` + 1 nearest among all keypoints, upright and mirrored,
    those of another image under ``max_distance``: what the search does in one cell."""
    projection = index._Projection.fit(points.raw, settings)
    base = projection(points.raw).astype(np.float64)
    n, k = len(points.counts), settings.neighbours + 1
    codes = []
    for orientation in (0, 1):
        queries = projection(points.raw, mirrored=bool(orientation)).astype(np.float64)
        dist = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(axis=2)
        near = np.argsort(dist, axis=1, kind="stable")[:, :k]
        qi = np.repeat(np.arange(len(base)), k)
        bi = near.ravel()
        keep = (np.take_along_axis(dist, near, axis=1).ravel() < settings.max_distance**2) & (
            points.owner[qi] != points.owner[bi]
        )
        qi, bi = qi[keep], bi[keep]
        codes.append(
            _code(
                points.owner[qi],
                points.local[qi],
                points.owner[bi],
                points.local[bi],
                orientation,
                n,
                settings.features,
            )
        )
    return np.unique(np.concatenate(codes))


def test_search_in_one_cell_is_the_exact_nearest_neighbour_search():
    rng = np.random.default_rng(0)
    photos = _random_sift(rng, 6, 30)
    raw = np.concatenate([photos, _noisy_copy(rng, photos), _noisy_copy(rng, photos[:, MIRROR])])
    points = _keypoints(raw, [30] * 18)
    settings = FamilySettings(cell_size=len(raw))
    ticks: list[int] = []
    found = index.search(points, settings, 2, ticks.append)
    assert np.array_equal(found, _brute_force_codes(points, settings))
    assert sum(ticks) == 18
    # a copy is matched keypoint for keypoint; a mirrored copy in the mirrored orientation
    grouped = _grouped(found, 18, settings.features)
    pairs = set(zip(grouped.a.tolist(), grouped.b.tolist(), grouped.orient.tolist(), strict=True))
    assert {(i, i + 6, 0) for i in range(6)} <= pairs
    assert {(i, i + 12, 1) for i in range(6)} <= pairs


def test_cells_hold_about_cell_size_descriptors_and_copies_share_them():
    points = _photos_and_copies(seed=1, photos=40, per_photo=100)
    settings = FamilySettings(cell_size=100, coarse_cells=8, small_set_distances=0)
    projection = index._Projection.fit(points.raw, settings)
    cells = index._Cells.fit(projection, points.raw, settings)
    assert cells.count == 80  # 8,000 descriptors: 8 first-level cells split in 10
    # a small set gets larger cells, as many descriptors as its distance budget allows
    roomy = dataclasses.replace(settings, small_set_distances=8000 * 2 * 400)
    assert index._Cells.fit(projection, points.raw, roomy).count == 24  # 8 split in 3
    upright = cells.assign_all(projection, points.raw, mirrored=False)
    sizes = np.bincount(upright, minlength=cells.count)
    assert sizes.max() < 8 * 100
    # a keypoint and its copy's mostly fall in one cell (random descriptors, spread evenly,
    # are cut by more cell borders than those of photos)
    assert np.mean(upright[:4000] == upright[4000:]) > 0.8
    mirrored = cells.assign_all(projection, points.raw[:, MIRROR], mirrored=True)
    assert np.array_equal(mirrored, upright)  # mirroring twice is the identity


def test_search_gives_the_same_matches_every_time_and_with_any_workers():
    points = _photos_and_copies(seed=2, photos=20, per_photo=50)
    settings = FamilySettings(cell_size=40, coarse_cells=4, small_set_distances=0)
    first = index.search(points, settings, 1, lambda k: None)
    assert np.array_equal(first, index.search(points, settings, 2, lambda k: None))
    grouped = _grouped(first, 40, settings.features)
    strong = grouped.votes >= settings.min_votes
    pairs = set(zip(grouped.a[strong].tolist(), grouped.b[strong].tolist(), strict=True))
    assert {(i, i + 20) for i in range(20)} <= pairs  # every copy is a candidate
