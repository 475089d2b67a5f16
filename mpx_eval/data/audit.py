"""Leakage audit: exact duplicates, near-duplicates and shared groups that straddle a split.

A duplicate on both sides of a split lets a model be graded on an image it trained on (or
chose its checkpoint on); the audit finds such pairs and says where they fall.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from .images import HASH_BITS, ImageSet
from .shortcuts import shortcut_lines
from .splits import Split

#: Hamming distance (of 63 perceptual-hash bits) at or under which two images count as
#: near-duplicates. On MSLD the closest distinct photos differ in 14 bits (1 % of pairs in
#: fewer than 22), while re-compressed, downsized, brightened or 4-pixel-cropped copies of
#: its photos differ in at most 8.
NEAR_DUPLICATE_BITS = 10

#: Hash bits an image needs decided by a clear margin (``images.HASH_MARGIN``) for a hash match
#: to count: a plain colour or a gradient decides at most 10, so any two of them shared a hash
#: (40 one-pixel images of distinct colours made 780 pairs 0 bits apart), while MSLD photos
#: decide 48 or more, 1,710 augmented copies of them 46 or more (none lost a hash match),
#: and copies with a fifth of the contrast 21 or more.
MIN_HASH_TEXTURE = 16

#: Duplicate sets and pairs listed one by one in the terminal summary: an augmented image set
#: holds thousands, and the audit file lists them all.
SUMMARY_PAIRS_SHOWN = 20

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def hamming_matrix(hashes: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """Pairwise Hamming distances between packed bit strings (rows of ``hashes``)."""
    n = len(hashes)
    out = np.empty((n, n), dtype=np.uint16)
    for start in range(0, n, chunk):
        xor = hashes[start : start + chunk, None, :] ^ hashes[None, :, :]
        out[start : start + chunk] = _POPCOUNT[xor].sum(axis=-1)
    return out


def find_duplicates(
    images: ImageSet, *, max_bits: int = NEAR_DUPLICATE_BITS
) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """Exact duplicate sets (same bytes) and near-duplicate pairs ``(i, j, distance)``.

    A pair of exact duplicates is not listed again as near-duplicates. An image with too
    little texture for its hash (under ``MIN_HASH_TEXTURE`` decided bits) is in no
    near-duplicate pair: it is a duplicate only of identical files.
    """
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(images.sha256):
        by_hash[digest].append(i)
    exact = sorted(members for members in by_hash.values() if len(members) > 1)
    same_bytes = {(a, b) for members in exact for a, b in combinations(members, 2)}
    textured = np.flatnonzero(images.hash_texture >= MIN_HASH_TEXTURE)
    near = [
        (i, j, d)
        for i, j, d in _close_pairs(images.phash[textured], textured, max_bits)
        if (i, j) not in same_bytes
    ]
    return exact, near


def _bit_counts(words: np.ndarray) -> np.ndarray:
    """The set bits of each element of a uint64 array."""
    if hasattr(np, "bitwise_count"):  # numpy 2: about twice as fast as the table
        return np.bitwise_count(words)
    return _POPCOUNT[words.view(np.uint8).reshape(*words.shape, 8)].sum(axis=-1)


def _close_pairs(
    hashes: np.ndarray, rows: np.ndarray, max_bits: int, *, chunk: int = 1024
) -> list[tuple[int, int, int]]:
    """Pairs ``(rows[a], rows[b], distance)``, ``a < b``, of packed ``hashes`` (8 bytes
    each) at most ``max_bits`` apart, a block of ``chunk`` hashes at a time, so that memory
    stays linear in the set: the full distance matrix of 20,000 images took 800 MB, and
    the blocks find its pairs in about 2 s."""
    words = np.ascontiguousarray(hashes).view(np.uint64)[:, 0]
    found = []
    for start in range(0, len(words), chunk):
        dist = _bit_counts(words[start : start + chunk, None] ^ words[None, start:])
        a, b = np.nonzero(dist <= max_bits)
        keep = b > a  # the block against itself and the rows after it
        found += zip(
            rows[start + a[keep]].tolist(),
            rows[start + b[keep]].tolist(),
            dist[a[keep], b[keep]].tolist(),
            strict=True,
        )
    return found


def audit(images: ImageSet, plan: list[Split], *, max_bits: int = NEAR_DUPLICATE_BITS) -> dict:
    """Everything the report's data-audit section and the terminal warning need, as JSON data."""
    exact, near = find_duplicates(images, max_bits=max_bits)
    multi = defaultdict(list)
    for i, g in enumerate(images.groups.tolist()):
        multi[g].append(i)
    multi = {g: members for g, members in multi.items() if len(members) > 1}

    leaks: list[dict] = []
    for split in plan:
        role = split.roles(len(images))

        def straddles(members: list[int], role=role) -> bool:
            return len({role[i] for i in members if role[i]}) > 1

        def items(members: list[int], role=role) -> list[dict]:
            return [{"path": images.paths[i], "role": role[i]} for i in members]

        where = {"split": split.name, "scheme": split.scheme, "fold": split.fold}
        for members in exact:
            if straddles(members):
                leaks.append({"kind": "exact", **where, "items": items(members)})
        for i, j, d in near:
            if straddles([i, j]):
                leaks.append({"kind": "near", **where, "distance": d, "items": items([i, j])})
        for g, members in sorted(multi.items()):
            if straddles(members):
                leaks.append({"kind": "group", **where, "group": g, "items": items(members)})

    def describe(i: int) -> dict:
        return {"path": images.paths[i], "group": images.groups[i], "index": i}

    return {
        "hash_bits": HASH_BITS,
        "near_duplicate_bits": max_bits,
        "n_images": len(images),
        "n_multi_image_groups": len(multi),
        "exact_duplicates": [[describe(i) for i in members] for members in exact],
        "near_duplicates": [
            {"a": describe(i), "b": describe(j), "distance": d} for i, j, d in near
        ],
        "leaks": leaks,
    }


def _on_both_sides(n: int) -> str:
    if n == 1:
        return "1 duplicate or group on both sides of a split"
    return f"{n} duplicates or groups on both sides of a split"


def audit_lines(report: dict) -> list[str]:
    """A short terminal summary: what was found and which splits it leaks across."""
    lines = []
    n_exact = len(report["exact_duplicates"])
    n_near = len(report["near_duplicates"])
    by_kind_split: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for leak in report["leaks"]:
        by_kind_split[(leak["kind"], leak["split"])].append(leak)

    def straddled(kind: str, paths: list[str]) -> str:
        splits = sorted(
            {
                leak["split"]
                for leak in report["leaks"]
                if leak["kind"] == kind and [it["path"] for it in leak["items"]] == paths
            }
        )
        return f"on both sides of {', '.join(splits)}" if splits else "never on both sides"

    for members in report["exact_duplicates"][:SUMMARY_PAIRS_SHOWN]:
        paths = [m["path"] for m in members]
        lines.append(f"exact duplicate: {' = '.join(paths)} ({straddled('exact', paths)})")
    if n_exact > SUMMARY_PAIRS_SHOWN:
        lines.append(f"... and {n_exact - SUMMARY_PAIRS_SHOWN} more exact-duplicate sets")
    for pair in report["near_duplicates"][:SUMMARY_PAIRS_SHOWN]:
        paths = [pair["a"]["path"], pair["b"]["path"]]
        lines.append(
            f"near-duplicate ({pair['distance']} of {report['hash_bits']} bits differ): "
            f"{' ~ '.join(paths)} ({straddled('near', paths)})"
        )
    if n_near > SUMMARY_PAIRS_SHOWN:
        lines.append(
            f"... and {n_near - SUMMARY_PAIRS_SHOWN} more near-duplicate pairs (all in the "
            "audit file)"
        )
    group_leaks = defaultdict(int)
    for (kind, split), found in by_kind_split.items():
        if kind == "group":
            group_leaks[split] += len(found)
    for split, count in sorted(group_leaks.items()):
        lines.append(
            f"{split}: {count} of {report['n_multi_image_groups']} multi-image groups have "
            "images on both sides"
        )
    lines += report.get("plan_notes") or []  # how the plan departs from what was asked
    lines += shortcut_lines(report.get("shortcuts"))
    head = (
        f"Leakage audit: {n_exact} exact-duplicate set(s), {n_near} near-duplicate pair(s), "
        f"{_on_both_sides(len(report['leaks']))}"
    )
    return [head, *("  ! " + line for line in lines)]
