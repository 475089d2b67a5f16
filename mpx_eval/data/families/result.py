"""What family detection returns: the link that puts two images in one family, and the
families of a set's rows with the links that joined them and notes for the user."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Link:
    """Why two images (row indices, ``a < b``) are in one family.

    ``score`` is 1.0 for an exact duplicate, the perceptual-hash Hamming distance for a near
    duplicate, and the number of RANSAC inliers (matched keypoints that one affine map
    carries onto each other) for a geometric link.
    """

    a: int
    b: int
    kind: str  # "exact" | "near" | "geometric"
    score: float


@dataclass
class Families:
    """The family of every row of a set, the links that made them, and notes for the user."""

    family: np.ndarray  # (n,) int64 family id per row, numbered in order of first row
    links: list[Link]  # the links that joined images: one spanning tree per family
    notes: list[str] = field(default_factory=list)

    def members(self) -> list[list[int]]:
        """Rows of each multi-image family, sorted, in family-id order."""
        rows: dict[int, list[int]] = defaultdict(list)
        for i, f in enumerate(self.family.tolist()):
            rows[f].append(i)
        return [rows[f] for f in sorted(rows) if len(rows[f]) > 1]
