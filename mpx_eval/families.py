"""Image families: photos that are copies of one another, linked into connected pieces.

This version links exact duplicates (same bytes) and perceptual-hash near-duplicates only;
copies that are rotated, flipped or zoomed are not found by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .audit import find_duplicates
from .data import ImageSet


@dataclass(frozen=True)
class Link:
    """Why rows ``a < b`` are one family: ``kind`` is "exact", "near" or "geometric";
    ``score`` is 1.0 (exact), the Hamming distance (near) or the verification score."""

    a: int
    b: int
    kind: str
    score: float


@dataclass
class Families:
    """Family id per row (0..F-1 in order of first row; singletons included), the links
    that made them and plain-language notes for the user."""

    family: np.ndarray
    links: list[Link]
    notes: list[str]

    def members(self) -> list[list[int]]:
        """Rows of each family of several images, sorted, in family-id order."""
        order: dict[int, list[int]] = {}
        for row, fam in enumerate(self.family.tolist()):
            order.setdefault(fam, []).append(row)
        return [rows for _, rows in sorted(order.items()) if len(rows) > 1]


def find_families(
    images: ImageSet, *, progress: Callable[[int, int], None] | None = None
) -> Families:
    """Link exact and near duplicates of ``images`` and return the connected pieces."""
    n = len(images)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    exact, near = find_duplicates(images)
    links = [Link(a, b, "exact", 1.0) for rows in exact for a in rows for b in rows if a < b]
    links += [Link(min(i, j), max(i, j), "near", float(d)) for i, j, d in near]
    for link in links:
        ra, rb = root(link.a), root(link.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    ids: dict[int, int] = {}
    family = np.array([ids.setdefault(root(i), len(ids)) for i in range(n)], dtype=np.int64)
    if progress is not None:
        progress(n, n)
    notes = [
        "families link exact and perceptual-hash near-duplicates only; rotated, flipped or "
        "zoomed copies are not detected"
    ]
    return Families(family=family, links=links, notes=notes)
