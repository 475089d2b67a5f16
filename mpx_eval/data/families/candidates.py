"""Candidate pairs: the descriptor index's matches (``index.py``) grouped by pair of images,
and the pairs among them worth a geometric check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .describe import Keypoints, release_freed_memory
from .index import search
from .settings import FamilySettings

_PART = 1 << 20  # codes (and pairs) worked through at once while grouping


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
    """The matches of the descriptor index (``index.search``), grouped by pair (one
    progress step per image)."""
    grouped = _grouped(
        search(points, settings, workers, tick), len(points.counts), settings.features
    )
    release_freed_memory()  # the codes, gone: at 30,000 images 600 MB
    return grouped


def _grouped(codes: np.ndarray, n: int, features: int) -> Matches:
    """The matches of ``index.search`` grouped by image pair and orientation. Matches found from
    either image of a pair count for it: the index returns only the nearest neighbours, so
    with many copies of one photo in the set either direction alone holds only part of
    them. Worked through in parts, every array kept in the smallest type that holds it, so
    that no int64 copy of all the matches or of all the pairs is made (at 30,000 images
    that grouping was the detector's peak)."""
    m, square, part = len(codes), features * features, _PART
    small = np.uint8 if features <= 256 else np.uint16
    index_type = index_type_for(m)
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


def index_type_for(count: int) -> type:
    """The smallest integer type that numbers ``count`` things (int32 or int64)."""
    return np.int32 if count < 2**31 else np.int64


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
