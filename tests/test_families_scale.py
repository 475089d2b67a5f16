"""Family detection at scale: the index's matches merged by range and grouped in small types
give what the plain whole-array computation gave, and the progress line moves through every
step in proportion to its time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mpx_eval.data.families import candidates
from mpx_eval.data.families.candidates import _code, _Distinct, _grouped
from mpx_eval.data.families.pipeline import _WEIGHTS, _Progress


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
    monkeypatch.setattr(candidates, "_MERGE_ROWS", 50)  # merge often, as a large set does
    rng = np.random.default_rng(n)
    features = 200
    batches = _random_batches(rng, max(n, 2), features, 30)
    found = _Distinct(max(n, 2), features)
    for batch in batches:
        found.add(batch)
    expected = np.unique(np.concatenate(batches))
    assert np.array_equal(found.codes(), expected)


def test_grouping_in_parts_and_small_types_matches_the_whole_array_grouping(monkeypatch):
    monkeypatch.setattr(candidates, "_PROJECTED_ROWS", 4)  # parts of 64 codes
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
