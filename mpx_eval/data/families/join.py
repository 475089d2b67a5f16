"""The guarded join: the pieces that the links connect, strongest links first, with guards
against chaining and weak evidence; and the family ids of the final pieces."""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import numpy as np

from .result import Link
from .settings import FamilySettings

# hash matches last: on augmented sets a few copies of distinct photos share a hash, and by
# then the guards weigh them against the pieces the checked links have built
_KIND_ORDER = {"exact": 0, "geometric": 1, "near": 2}


class Pieces:
    """Union-find over rows: the pieces, their sizes and the labels each piece holds."""

    def __init__(self, n: int, labels: np.ndarray | None = None) -> None:
        self.parent = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)
        given = labels if labels is not None else np.zeros(n, dtype=np.int64)
        self.labels = [frozenset([int(v)]) for v in given]

    def root(self, i: int) -> int:
        """The root of row ``i``'s piece."""
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return int(i)

    def roots(self) -> np.ndarray:
        """Every row's root: the piece it is in."""
        return np.array([self.root(i) for i in range(len(self.parent))], dtype=np.int64)

    def join(self, a: int, b: int) -> None:
        """Make the pieces of rows ``a`` and ``b`` one."""
        a, b = self.root(a), self.root(b)
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        self.labels[a] = self.labels[a] | self.labels[b]


class Joined(NamedTuple):
    """The pieces the links make, the links used (a spanning tree of each piece), and the
    held links still refused."""

    pieces: Pieces
    used: list[Link]
    refused: list[Link]


def weak(link: Link, settings: FamilySettings) -> bool:
    """A link with little evidence: a hash match, or a geometric fit under ``sure_inliers``."""
    return link.kind == "near" or (link.kind == "geometric" and link.score < settings.sure_inliers)


def _held(pieces: Pieces, link: Link, ra: int, rb: int, settings: FamilySettings) -> bool:
    """Whether a link must wait for independent support (``_supported``). A link joining
    two pieces of ``guard_size`` images or more could chain unrelated photos. A weak link
    may add a lone image to a piece, but joining two pieces of several images, or putting
    differently labelled images in one family (a label conflict is a strong claim), needs
    more: on the demo's drawings of like spots, fits of 8 to 11 inliers chained unrelated
    images and joined a Monkeypox image to an Others family."""
    if link.kind == "exact":
        return False
    smaller = min(pieces.size[ra], pieces.size[rb])
    if not weak(link, settings):
        return smaller >= settings.guard_size
    return smaller >= 2 or pieces.labels[ra] != pieces.labels[rb]


def between(pieces: Pieces, links: list[Link]) -> dict[tuple[int, int], list[Link]]:
    """``links`` by the pair of distinct pieces (lower root first) they connect."""
    found: dict[tuple[int, int], list[Link]] = defaultdict(list)
    for link in links:
        ra, rb = pieces.root(link.a), pieces.root(link.b)
        if ra != rb:
            found[(min(ra, rb), max(ra, rb))].append(link)
    return found


def _independent(pieces: Pieces, ra: int, rb: int, links: list[Link]) -> int:
    """How many of ``links`` between pieces ``ra`` and ``rb`` are independent: the fewer of
    their distinct images on either side."""
    side_a = {link.a if pieces.root(link.a) == ra else link.b for link in links}
    side_b = {link.b if pieces.root(link.b) == rb else link.a for link in links}
    return min(len(side_a), len(side_b))


def _supported(
    pieces: Pieces, held: list[Link], used: list[Link], settings: FamilySettings
) -> list[Link]:
    """Joins the pieces that held links connect through ``guard_links`` links or more with
    distinct images on both sides, round after round; returns the links still refused."""
    changed = True
    while changed and held:
        changed = False
        connecting = between(pieces, held)
        held = []
        for (ra, rb), group in connecting.items():
            if pieces.root(ra) != ra or pieces.root(rb) != rb:
                held.extend(group)  # one side grew this round: weigh it again next round
            elif _independent(pieces, ra, rb, group) >= settings.guard_links:
                pieces.join(ra, rb)
                used.append(group[0])
                changed = True
            else:
                held.extend(group)
    return held


def join(
    n: int, links: list[Link], settings: FamilySettings, *, labels: np.ndarray | None = None
) -> Joined:
    """The pieces of ``n`` rows that the links connect, strongest first, with two guards
    (``_held``): a link between two pieces of ``guard_size`` images or more, or a weak link
    between differently labelled pieces, is held back, and the two pieces join only when
    ``guard_links`` links with distinct images on both sides support it. Exact duplicates
    always join."""
    ranked = sorted(
        links, key=lambda k: (_KIND_ORDER[k.kind], k.score if k.kind == "near" else -k.score)
    )
    pieces = Pieces(n, labels)
    used: list[Link] = []
    held: list[Link] = []
    for link in ranked:
        ra, rb = pieces.root(link.a), pieces.root(link.b)
        if ra == rb:
            continue
        if _held(pieces, link, ra, rb, settings):
            held.append(link)
            continue
        pieces.join(ra, rb)
        used.append(link)
    return Joined(pieces, used, _supported(pieces, held, used, settings))


def numbered(pieces: Pieces) -> np.ndarray:
    """Family id per row, 0..F-1 in order of each family's first row."""
    ids: dict[int, int] = {}
    out = np.empty(len(pieces.parent), dtype=np.int64)
    for i in range(len(out)):
        out[i] = ids.setdefault(pieces.root(i), len(ids))
    return out
