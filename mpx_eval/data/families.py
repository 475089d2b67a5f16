"""Image families: the copies of one photo in a set (exact and near duplicates, and copies
under flips, turns, rotation, zoom, shear, colour changes, blur, noise and resizing).

Local features (SIFT keypoints on each image and on its mirror image) are pooled in one
approximate nearest-neighbour index; image pairs that share many descriptor matches become
candidates, and only candidates are checked geometrically (a RANSAC affine fit); images left
in small pieces get a second, direct check against the larger pieces their matches point to,
and images still alone a last one with finer descriptions.
Families are the connected pieces of the checked links, joined under guards against chaining
and against weak evidence.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..system import usable_cpus
from .images import FAMILY_SIZE, ImageSet

# The settings below were tuned on an augmented set built from the 228 MSLD photos
# (benchmarks/families.py); the figures quoted are from that set.

#: Side of the grey copy that keypoints are found on (``ImageSet.family_view``).
WORK = FAMILY_SIZE
#: Keypoints kept per image (the strongest), and SIFT's contrast threshold: smooth skin has
#: few strong corners, and the default threshold (0.04) left many copies with under a dozen.
FEATURES = 200
CONTRAST = 0.015
#: Images with fewer keypoints than this are described again at the lower contrast
#: threshold ``CONTRAST_LOW``: smooth, low-texture photos (their copies had 16 to 60
#: keypoints) get two to three times as many, enough for a fit to verify; textured photos,
#: most of the set, keep their strongest corners and cost nothing more.
FEW_KEYPOINTS = 120
CONTRAST_LOW = 0.008
#: Dimensions the RootSIFT descriptors are projected to (PCA over the set) for the index.
DIMS = 48
#: Nearest neighbours looked up per descriptor in the pooled index, and the search effort.
NEIGHBOURS = 8
TREES = 2
CHECKS = 32
#: Descriptor distance (projected RootSIFT, Euclidean) above which a neighbour is no match.
MAX_DISTANCE = 0.4
#: Matches two images must share (counted once per keypoint) to become a candidate pair.
MIN_VOTES = 6
#: Candidate partners per image, most matches first, that get the geometric check.
CANDIDATES = 12
#: Pieces smaller than this get a second look (``_rescue``) against larger ones: their
#: images are checked against the best-voted members of their best-voted larger pieces
#: (more members for an image still alone, whose index matches are thinnest).
RESCUE_SIZE = 5
RESCUE_PIECES = 6
RESCUE_MEMBERS = 3
RESCUE_LONE_MEMBERS = 8
#: Images still alone after the second look get a last one (``_last_look``) with finer
#: descriptions: SIFT at contrast threshold ``FINE_CONTRAST`` keeping up to ``FINE_FEATURES``
#: keypoints, on the working copy stretched between its ``FINE_STRETCH`` percentiles, on
#: it enlarged to ``FINE_SIDE`` and on it smoothed by a Gaussian of ``FINE_SMOOTH`` px. On
#: the MSLD benchmark the copies still alone were smooth photos heavily recoloured,
#: brightened, noised or turned, whose usual keypoints gave no fit with 8 inliers to any
#: copy of their photo; each description gave a few true matches where none gave 8, so
#: their matches are pooled into one fit (``_pooled_score``), inliers counted once per
#: ``POOL_CELL``-pixel square. Among all 25,878 pairs of distinct MSLD photographs such
#: pooled fits linked only a4_1/a4_2 (73 inliers), P9_2/P9_4 (27) and P37_3 with P38_1
#: and P38_2 (12): two photos of one scene, or one photograph, each pair.
FINE_CONTRAST = 0.004
FINE_FEATURES = 400
FINE_SIDE = 192
FINE_SMOOTH = 1.0
FINE_STRETCH = (1, 99)
POOL_CELL = 2.0
#: Best-voted pieces the last look checks an image against, and members of each.
LAST_PIECES = 10
LAST_MEMBERS = 4
#: ... and members of the best-voted piece. The members its votes prefer are not always
#: the ones that fit: one copy of a photo brightened nearly to white had one or two votes
#: for each of 13 copies of its photo, and fits to two it had one vote for.
LAST_LEAD_MEMBERS = 14
#: The last look describes at most one image in ``LAST_BUDGET_SHARE`` again (at least
#: ``LAST_BUDGET_MIN``): a description there costs about five usual ones.
LAST_BUDGET_SHARE = 8
LAST_BUDGET_MIN = 200
#: ... and looks only in a set with at least this share of its images in families of
#: ``GUARD_SIZE`` or more: on the 228 distinct MSLD photos it tripled the detection time
#: (11.1 s against 3.1 s) for no link.
LAST_LOOK_SHARE = 0.5
#: Families of ``GUARD_SIZE`` images or more are also checked against each other
#: (``_between_families``): each against its ``PARTNER_FAMILIES`` best-voted partners, on
#: the ``PARTNER_PAIRS`` best-voted pairs of members. A photo published twice (cropped or
#: recoloured), each version with its own copies, gave two families that the index rarely
#: linked: every image's candidates were its own copies.
PARTNER_FAMILIES = 3
PARTNER_PAIRS = 6
#: RANSAC inliers (distinct keypoints on both sides) an affine fit needs to link two images.
MIN_INLIERS = 8
#: Reprojection error, in pixels of the working copy, under which a match is an inlier.
RANSAC_PIXELS = 4.0
#: Lowe's ratio: a direct match counts when it is this much closer than the second best.
RATIO = 0.8
#: RANSAC inliers from which a geometric link is sure evidence; a weaker link (or a hash
#: match) joins two pieces of several images, or differently labelled ones, only with
#: independent support (``_held``).
SURE_INLIERS = 16
#: Images with a side shorter than this (in the file) are too small to compare by keypoints.
MIN_SIDE = 32
#: Families at least this large join another as large only on several independent links.
GUARD_SIZE = 3
#: Independent links (distinct images on both sides) that two large families need to join.
GUARD_LINKS = 2

_CHUNK = 64  # images per batch of index queries (one progress step each)


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
    family: np.ndarray  # (n,) int64 family id per row, numbered in order of first row
    links: list[Link]  # the links that joined images: one spanning tree per family
    notes: list[str] = field(default_factory=list)

    def members(self) -> list[list[int]]:
        """Rows of each multi-image family, sorted, in family-id order."""
        rows: dict[int, list[int]] = defaultdict(list)
        for i, f in enumerate(self.family.tolist()):
            rows[f].append(i)
        return [rows[f] for f in sorted(rows) if len(rows[f]) > 1]


def _views(images: ImageSet) -> np.ndarray:
    """The grey working copies, made from the largest decoded array when the set has none."""
    if images.family_view is not None:
        return images.family_view
    source = images.arrays[max(images.arrays)] if images.arrays else images.thumbnails
    out = np.empty((len(source), WORK, WORK), dtype=np.uint8)
    for i, img in enumerate(source):
        out[i] = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (WORK, WORK))
    return out


def _flat_mask(view: np.ndarray) -> np.ndarray:
    """Where keypoints may lie: away from flat areas such as the fill of a rotated copy,
    whose straight edges and corners would match between any two rotated photos."""
    f = view.astype(np.float32)
    mean = cv2.blur(f, (5, 5))
    var = cv2.blur(f * f, (5, 5)) - mean * mean
    flat = (var < 0.2).astype(np.uint8)
    flat = cv2.dilate(flat, np.ones((9, 9), np.uint8))
    return np.where(flat > 0, 0, 255).astype(np.uint8)


@dataclass
class _Keypoints:
    """The keypoints of the whole set, row ``owner[r]``'s keypoint number ``local[r]``."""

    xy: np.ndarray  # (m, 2) float32 positions in the working copy
    raw: np.ndarray  # (m, 128) uint8 SIFT descriptors
    owner: np.ndarray  # (m,) int64 image row
    local: np.ndarray  # (m,) int64 keypoint number within its image
    counts: np.ndarray  # (n,) keypoints per image


# A SIFT descriptor is 4 x 4 cells of 8 orientation bins, laid out in the keypoint's own
# frame; mirroring the image mirrors that frame, which reverses the cell rows and the
# orientations. Measured on MSLD photos, the permuted descriptors match those computed on the
# mirrored photo (mean absolute bin difference 3.7 against 24 for unrelated keypoints), so a
# flipped copy is found without describing every image twice.
_MIRROR = np.arange(128).reshape(4, 4, 8)[::-1][:, :, (-np.arange(8)) % 8].ravel()


def _sift(view: np.ndarray, contrast: float, features: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions and SIFT descriptors of a grey image, at most ``features`` of them.

    Local contrast is equalised first (CLAHE), so brightness and contrast changes move
    few keypoints, and flat areas are masked (see ``_flat_mask``).
    """
    sift = cv2.SIFT_create(nfeatures=features, contrastThreshold=contrast)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))
    keypoints, desc = sift.detectAndCompute(clahe.apply(view), _flat_mask(view))
    if desc is None or not keypoints:
        return np.empty((0, 2), np.float32), np.empty((0, 128), np.uint8)
    xy = np.array([k.pt for k in keypoints[:features]], dtype=np.float32)
    return xy, np.clip(np.rint(desc[:features]), 0, 255).astype(np.uint8)


def _working(view: np.ndarray) -> np.ndarray:
    """``view`` at the working size (the set's own working copies already are)."""
    if view.shape[0] == WORK:
        return view
    return cv2.resize(view, (WORK, WORK), interpolation=cv2.INTER_AREA)


def _describe(view: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of one working copy (``_sift``): the strongest ``FEATURES`` at ``CONTRAST``,
    or at ``CONTRAST_LOW`` for a smooth photo with fewer than ``FEW_KEYPOINTS``."""
    view = _working(view)
    xy, desc = _sift(view, CONTRAST, FEATURES)
    if len(xy) < FEW_KEYPOINTS:
        xy, desc = _sift(view, CONTRAST_LOW, FEATURES)
    return xy, desc


def _describe_finely(view: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Finer keypoints of one working copy for the last look, at ``FINE_CONTRAST``: on the
    copy stretched to its full range (its ``FINE_STRETCH`` percentiles made black and
    white: a copy brightened nearly to white keeps its detail in a few grey levels, and a
    photo that spans the grey scale is left about as it is), on the copy enlarged to
    ``FINE_SIDE`` and on it smoothed (a Gaussian of ``FINE_SMOOTH`` px, against noise);
    positions in the copy's pixels."""
    view = _working(view)
    low, high = np.percentile(view, FINE_STRETCH)
    stretched = np.clip((view - low) * (255 / max(high - low, 1)), 0, 255).astype(np.uint8)
    enlarged = cv2.resize(view, (FINE_SIDE, FINE_SIDE), interpolation=cv2.INTER_CUBIC)
    smoothed = cv2.GaussianBlur(view, (0, 0), FINE_SMOOTH)
    found = []
    for copy in (stretched, enlarged, smoothed):
        xy, desc = _sift(copy, FINE_CONTRAST, FINE_FEATURES)
        found.append((xy * np.float32(WORK / len(copy)), desc))
    return found


def _root_sift(raw: np.ndarray) -> np.ndarray:
    """RootSIFT (Hellinger-normalised SIFT), which matches better under Euclidean distance."""
    desc = raw.astype(np.float32)
    return np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-7))


def _search(points: _Keypoints, workers: int, tick: Callable[[int], None]) -> np.ndarray:
    """Descriptor matches across the whole set from one pooled index of upright keypoints,
    queried with upright and mirrored descriptors: the sorted distinct codes (``_code``) of
    the matches under ``MAX_DISTANCE``, each found from either image of its pair.

    Descriptors are projected on their ``DIMS`` principal axes (fitted on a sample), which
    keeps the index small and the kd-tree search fast.
    """
    m = len(points.raw)
    sample = _root_sift(points.raw[:: max(1, m // 20000)])
    mean = sample.mean(axis=0)
    axes = np.linalg.eigh(np.cov(sample - mean, rowvar=False))[1]
    basis = np.ascontiguousarray(axes[:, ::-1][:, :DIMS], dtype=np.float32)
    mean = mean.astype(np.float32)
    cv2.setRNGSeed(0)  # the kd-trees are randomised: the same set gives the same families
    pooled = np.concatenate(
        [(_root_sift(points.raw[s : s + 65536]) - mean) @ basis for s in range(0, m, 65536)]
    )
    index = cv2.flann_Index(pooled, {"algorithm": 1, "trees": TREES})
    del pooled
    n = len(points.counts)
    k = min(NEIGHBOURS + 1, len(points.raw))
    bounds = np.searchsorted(points.owner, np.arange(0, n + _CHUNK, _CHUNK).clip(max=n))

    def run(chunk: int, orientation: int) -> np.ndarray:
        rows = np.arange(bounds[chunk], bounds[chunk + 1])
        raw = points.raw[rows]
        queries = (_root_sift(raw[:, _MIRROR] if orientation else raw) - mean) @ basis
        nearest, dist = index.knnSearch(queries, k, params={"checks": CHECKS})
        nearest, dist = nearest.astype(np.int64).ravel(), dist.ravel()
        qi, qk = np.repeat(points.owner[rows], k), np.repeat(points.local[rows], k)
        nj = points.owner[nearest]
        keep = (nj != qi) & (dist < MAX_DISTANCE**2)  # FLANN reports squared distances
        return _code(qi[keep], qk[keep], nj[keep], points.local[nearest[keep]], orientation, n)

    found = []
    jobs = [(c, o) for c in range(len(bounds) - 1) for o in (0, 1) if bounds[c + 1] > bounds[c]]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (chunk, orientation), part in zip(jobs, pool.map(lambda j: run(*j), jobs), strict=True):
            found.append(part)
            if orientation:
                tick(min(_CHUNK, n - chunk * _CHUNK))
    return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)


def _code(i, ki, j, kj, orientation: int, n: int) -> np.ndarray:
    """One int64 per match of keypoint ``ki`` of image ``i`` and ``kj`` of ``j``: the pair
    (lower row first) and orientation, then the two keypoint numbers, so that sorting the
    codes groups the matches by pair and the same match found from both images is one code
    (eight bytes a match: the matches are the detector's largest array)."""
    swap = i > j
    a, b = np.where(swap, j, i), np.where(swap, i, j)
    ka, kb = np.where(swap, kj, ki), np.where(swap, ki, kj)
    return (((a * n + b) * 2 + orientation) * FEATURES + ka) * FEATURES + kb


@dataclass
class _Matches:
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


def _pairs(codes: np.ndarray, n: int) -> _Matches:
    """The matches of ``_search`` grouped by image pair and orientation. Matches found from
    either image of a pair count for it: the index returns only the nearest neighbours, so
    with many copies of one photo in the set either direction alone holds only part of
    them."""
    kb, ka = codes % FEATURES, (codes // FEATURES) % FEATURES
    key = codes // (FEATURES * FEATURES)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    new_a = np.r_[True, (key[1:] != key[:-1]) | (ka[1:] != ka[:-1])]
    votes = np.add.reduceat(new_a.astype(np.int64), starts) if len(starts) else starts
    keys = key[starts]
    return _Matches(
        a=keys // (2 * n),
        b=(keys // 2) % n,
        orient=keys % 2,
        votes=votes,
        starts=starts,
        ends=np.r_[starts[1:], len(key)].astype(np.int64),
        ka=ka,
        kb=kb,
    )


def _candidates(matches: _Matches) -> list[int]:
    """Groups of ``matches`` worth a geometric check: for each image (on either side of a
    pair) its ``CANDIDATES`` partners with the most matched keypoints (at least
    ``MIN_VOTES``), each pair once, in the orientation with the most matches."""
    strong = np.flatnonzero(matches.votes >= MIN_VOTES)
    image = np.r_[matches.a[strong], matches.b[strong]]
    group = np.r_[strong, strong]
    ranked = np.lexsort((-matches.votes[group], image))
    best: dict[tuple[int, int], int] = {}
    taken: dict[int, int] = defaultdict(int)
    for i, g in zip(image[ranked].tolist(), group[ranked].tolist(), strict=True):
        if taken[i] >= CANDIDATES:
            continue
        taken[i] += 1
        pair = (int(matches.a[g]), int(matches.b[g]))
        if pair not in best or matches.votes[g] > matches.votes[best[pair]]:
            best[pair] = g
    return sorted(best.values())


def _verify(src: np.ndarray, dst: np.ndarray, qk: np.ndarray, nk: np.ndarray) -> int:
    """Inliers of a RANSAC affine fit from ``src`` to ``dst`` (distinct keypoints on both
    sides), or 0 when the fit is no plausible copy: squashed or stretched beyond what
    zoom, shear and resizing do, or all its inliers in one small spot."""
    if len(src) < MIN_INLIERS:
        return 0
    cv2.setRNGSeed(len(src))  # RANSAC draws from this thread's generator: keep it repeatable
    matrix, inliers = cv2.estimateAffine2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PIXELS,
        maxIters=1000,
        confidence=0.995,
        refineIters=0,
    )
    if matrix is None:
        return 0
    inl = inliers.ravel().astype(bool)
    count = min(len(np.unique(qk[inl])), len(np.unique(nk[inl])))
    if count < MIN_INLIERS:
        return 0
    s = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if s[1] < 0.3 or s[0] > 3.5 or s[0] > 3 * s[1]:
        return 0
    spread = np.ptp(dst[inl], axis=0)
    if spread.min() < 0.15 * WORK:
        return 0
    return count


def _ratio_matches(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], orientation: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint numbers (in ``a``, in ``b``) of the ratio-tested best descriptor matches of
    two images, each given as (keypoint positions, SIFT descriptors), the first taken upright
    (``orientation`` 0) or mirrored (1)."""
    if len(a[1]) < 2 or len(b[1]) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    raw = a[1][:, _MIRROR] if orientation else a[1]
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(_root_sift(raw), _root_sift(b[1]), k=2)
    # Lowe's ratio test: a keypoint on a repeated pattern (a rash of like spots) has
    # several near-equal matches, and chance affine fits among them linked drawings
    matches = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    qk = np.array([m.queryIdx for m in matches], dtype=np.int64)
    nk = np.array([m.trainIdx for m in matches], dtype=np.int64)
    return qk, nk


def _match_score(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], orientations=(0, 1)
) -> int:
    """``_verify`` on the ratio-tested best descriptor matches of two images, each given as
    (keypoint positions, SIFT descriptors), the first taken upright and/or mirrored."""
    best = 0
    for orientation in orientations:
        qk, nk = _ratio_matches(a, b, orientation)
        if len(qk):
            best = max(best, _verify(a[0][qk], b[0][nk], qk, nk))
    return best


def _cells(xy: np.ndarray) -> np.ndarray:
    """One number per ``POOL_CELL``-pixel square of the working copy that ``xy`` lies in."""
    cell = np.floor(xy / POOL_CELL).astype(np.int64)
    return cell[:, 0] * (WORK + 1) + cell[:, 1]


def _pooled_score(
    a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]], orientation: int
) -> int:
    """``_verify`` on the ratio-tested matches of several descriptions of two images (each
    description of ``a`` matched to the like one of ``b``), pooled into one fit. A keypoint
    found in several descriptions counts once: inliers are counted as distinct
    ``POOL_CELL``-pixel squares on both sides."""
    src, dst = [], []
    for x, y in zip(a, b, strict=True):
        qk, nk = _ratio_matches(x, y, orientation)
        src.append(x[0][qk])
        dst.append(y[0][nk])
    if not src:
        return 0
    src, dst = np.concatenate(src), np.concatenate(dst)
    return _verify(src, dst, _cells(src), _cells(dst))


def _pair_score(
    points: _Keypoints, start: np.ndarray, a: int, b: int, orientations: tuple[int, ...] = (0, 1)
) -> int:
    """``_match_score`` of two images of the set (for pairs whose index matches are too few
    or missing)."""
    rows_a = slice(start[a], start[a] + points.counts[a])
    rows_b = slice(start[b], start[b] + points.counts[b])
    return _match_score(
        (points.xy[rows_a], points.raw[rows_a]),
        (points.xy[rows_b], points.raw[rows_b]),
        orientations,
    )


class _Components:
    """Union-find over rows, with the sizes of the pieces and the labels each piece holds."""

    def __init__(self, n: int, labels: np.ndarray | None = None) -> None:
        self.parent = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)
        given = labels if labels is not None else np.zeros(n, dtype=np.int64)
        self.labels = [frozenset([int(v)]) for v in given]

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return int(i)

    def roots(self) -> np.ndarray:
        """Every row's root: the piece it is in."""
        return np.array([self.root(i) for i in range(len(self.parent))], dtype=np.int64)

    def join(self, a: int, b: int) -> None:
        a, b = self.root(a), self.root(b)
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        self.labels[a] = self.labels[a] | self.labels[b]


def _weak(link: Link) -> bool:
    """A link with little evidence: a hash match, or a geometric fit under ``SURE_INLIERS``."""
    return link.kind == "near" or (link.kind == "geometric" and link.score < SURE_INLIERS)


def _held(parts: _Components, link: Link, ra: int, rb: int) -> bool:
    """Whether a link must wait for independent support (``_supported``). A link joining
    two pieces of ``GUARD_SIZE`` images or more could chain unrelated photos. A weak link
    may add a lone image to a piece, but joining two pieces of several images, or putting
    differently labelled images in one family (a label conflict is a strong claim), needs
    more: on the demo's drawings of like spots, fits of 8 to 11 inliers chained unrelated
    images and joined a Monkeypox image to an Others family."""
    if link.kind == "exact":
        return False
    smaller = min(parts.size[ra], parts.size[rb])
    if not _weak(link):
        return smaller >= GUARD_SIZE
    return smaller >= 2 or parts.labels[ra] != parts.labels[rb]


def _supported(parts: _Components, held: list[Link], used: list[Link]) -> list[Link]:
    """Joins the pieces that held links connect through ``GUARD_LINKS`` links or more with
    distinct images on both sides, round after round; returns the links still refused."""
    changed = True
    while changed and held:
        changed = False
        between: dict[tuple[int, int], list[Link]] = defaultdict(list)
        for link in held:
            ra, rb = parts.root(link.a), parts.root(link.b)
            if ra != rb:
                between[(min(ra, rb), max(ra, rb))].append(link)
        held = []
        for (ra, rb), group in between.items():
            if parts.root(ra) != ra or parts.root(rb) != rb:
                held.extend(group)  # one side grew this round: weigh it again next round
                continue
            side_a = {link.a if parts.root(link.a) == ra else link.b for link in group}
            side_b = {link.b if parts.root(link.b) == rb else link.a for link in group}
            if min(len(side_a), len(side_b)) >= GUARD_LINKS:
                parts.join(ra, rb)
                used.append(group[0])
                changed = True
            else:
                held.extend(group)
    return held


def _refusal_notes(parts: _Components, held: list[Link], paths: list[str]) -> list[str]:
    """One line per pair of pieces that held links connect but did not join."""
    refused: dict[tuple[int, int], list[Link]] = defaultdict(list)
    for link in held:
        ra, rb = parts.root(link.a), parts.root(link.b)
        if ra != rb:
            refused[(min(ra, rb), max(ra, rb))].append(link)
    notes = []
    for (ra, rb), group in refused.items():
        link = max(group, key=lambda k: k.score)
        conflict = parts.labels[ra] != parts.labels[rb]
        if _weak(link) and not conflict:
            continue  # weak evidence between like-labelled pieces: nothing to look at
        size_a, size_b = parts.size[parts.root(link.a)], parts.size[parts.root(link.b)]
        why = "too few distinct images on both sides"
        if conflict:
            why += f" for a label conflict on fits under {SURE_INLIERS} inliers"
        images_a = f"{size_a} image{'s' if size_a != 1 else ''}"
        images_b = f"{size_b} image{'s' if size_b != 1 else ''}"
        notes.append(
            f"not joined: the family of {paths[link.a]} ({images_a}) and that of "
            f"{paths[link.b]} ({images_b}) share {len(group)} checked link(s), {why} "
            f"(best: {link.kind}, score {link.score:g}); look at them if they are copies of "
            "one photo"
        )
    return notes


def _join(
    n: int, links: list[Link], paths: list[str], *, labels: np.ndarray | None = None
) -> tuple[_Components, list[Link], list[str]]:
    """Connected pieces of the links, strongest first, with two guards (``_held``): a link
    between two pieces of ``GUARD_SIZE`` images or more, or a weak link between differently
    labelled pieces, is held back, and the two pieces join only when ``GUARD_LINKS`` links
    with distinct images on both sides support it. Exact duplicates always join. Returns
    the pieces, the links used, and a note per refusal."""
    # hash matches last: on augmented sets a few copies of distinct photos share a hash, and
    # by then the guard weighs them against the families the checked links have built
    order = {"exact": 0, "geometric": 1, "near": 2}
    ranked = sorted(links, key=lambda k: (order[k.kind], k.score if k.kind == "near" else -k.score))
    parts = _Components(n, labels)
    used: list[Link] = []
    held: list[Link] = []
    for link in ranked:
        ra, rb = parts.root(link.a), parts.root(link.b)
        if ra == rb:
            continue
        if _held(parts, link, ra, rb):
            held.append(link)
            continue
        parts.join(ra, rb)
        used.append(link)
    held = _supported(parts, held, used)
    return parts, used, _refusal_notes(parts, held, paths)


def _numbered(parts: _Components, n: int) -> np.ndarray:
    """Family id per row, 0..F-1 in order of each family's first row."""
    ids: dict[int, int] = {}
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = ids.setdefault(parts.root(i), len(ids))
    return out


def _keypoints(
    images: ImageSet, workers: int, tick: Callable[[int], None], views: np.ndarray | None = None
) -> _Keypoints:
    """Describe every image (one progress step each); images too small to compare get none."""
    xy, raw = [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for found_xy, found_raw in pool.map(_describe, _views(images) if views is None else views):
            xy.append(found_xy)
            raw.append(found_raw)
            tick(1)
    # an upscaled thumbnail's keypoints sit on its pixel grid, which any two such share
    for i, (w, h) in enumerate(images.original_sizes):
        if min(w, h) < MIN_SIDE:
            xy[i], raw[i] = xy[i][:0], raw[i][:0]
    counts = np.array([len(p) for p in xy], dtype=np.int64)
    return _Keypoints(
        xy=np.concatenate(xy) if xy else np.empty((0, 2), np.float32),
        raw=np.concatenate(raw) if raw else np.empty((0, 128), np.uint8),
        owner=np.repeat(np.arange(len(counts)), counts),
        local=np.concatenate([np.arange(c) for c in counts]) if xy else counts,
        counts=counts,
    )


def _geometric_links(
    points: _Keypoints, workers: int, tick: Callable[[int], None]
) -> tuple[list[Link], _Matches]:
    """Candidate pairs from the pooled index, each checked by a RANSAC affine fit; with
    the index's matches, for a second look (``_rescue``)."""
    n = len(points.counts)
    start = np.r_[0, np.cumsum(points.counts)[:-1]]
    matches = _pairs(_search(points, workers, tick), n)
    groups = _candidates(matches)

    def check(g: int) -> Link | None:
        i, j = int(matches.a[g]), int(matches.b[g])
        rows = slice(matches.starts[g], matches.ends[g])
        ki, kj = matches.ka[rows], matches.kb[rows]
        score = _verify(points.xy[start[i] + ki], points.xy[start[j] + kj], ki, kj)
        return Link(i, j, "geometric", float(score)) if score else None

    links = []
    per_step = max(1, len(groups) // max(n, 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for k, link in enumerate(pool.map(check, groups, chunksize=64), start=1):
            if link is not None:
                links.append(link)
            if k % per_step == 0 and k // per_step <= n:
                tick(1)
    return links, matches


def _second_look_checks(
    matches: _Matches,
    parts: _Components,
    smaller_than: int,
    best: int = RESCUE_PIECES,
    lone_members: int = RESCUE_LONE_MEMBERS,
    target: int = GUARD_SIZE,
    lead_members: int = 0,
    skip: int = 0,
) -> list[tuple[int, int, int]]:
    """The pairs (lower row, higher row, orientation) that a second look checks: for each
    image in a piece of under ``smaller_than`` that the index matched to a piece of
    ``target`` images or more, and larger than its own, the ``RESCUE_MEMBERS`` best-voted
    members (an image still alone: ``lone_members``, or in its best piece ``lead_members``
    when that is more) of its ``best`` best-voted pieces after the ``skip`` best, a piece
    weighed by the votes of its best-voted members; the images whose best piece weighs
    most come first."""
    roots = parts.roots()
    size = parts.size[roots]
    image = np.r_[matches.a, matches.b]
    other = np.r_[matches.b, matches.a]
    votes = np.r_[matches.votes, matches.votes]
    orient = np.r_[matches.orient, matches.orient]
    keep = np.flatnonzero(
        (size[image] < smaller_than) & (size[other] >= target) & (size[other] > size[image])
    )
    by_image: dict[int, dict[int, list[tuple[int, int, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for k in keep.tolist():
        by_image[int(image[k])][int(roots[other[k]])].append(
            (int(votes[k]), int(other[k]), int(orient[k]))
        )
    ranked: list[tuple[int, int, list[tuple[int, int, int]]]] = []
    for i, pieces in by_image.items():
        # a piece weighs by its best-voted members, not by all of them: summed over all,
        # the few chance votes of a large family outweighed the true family of a lone copy
        weight = {
            r: sum(sorted((v for v, _, _ in m), reverse=True)[:RESCUE_MEMBERS])
            for r, m in pieces.items()
        }
        members = lone_members if size[i] == 1 else RESCUE_MEMBERS
        lead = max(members, lead_members) if size[i] == 1 else members
        chosen = sorted(pieces, key=lambda r: -weight[r])[skip : skip + best]
        # a mirror relation holds both ways: the lower row's descriptors are mirrored
        mine = [
            (min(i, j), max(i, j), o)
            for rank, root in enumerate(chosen, start=skip)
            if weight[root] >= MIN_VOTES
            for _, j, o in sorted(pieces[root], reverse=True)[: lead if rank == 0 else members]
        ]
        ranked.append((-max(weight.values()), i, mine))
    checks = [check for *_, mine in sorted(ranked) for check in mine]
    return checks


def _rescue(points: _Keypoints, matches: _Matches, parts: _Components, workers: int) -> list[Link]:
    """A second look for images that the first pass left in a piece of under
    ``RESCUE_SIZE`` while the index matched them to a larger piece of several images
    (``_second_look_checks``): direct, ratio-tested descriptor matches (``_pair_score``),
    not the index's few nearest neighbours. Among many copies of one photo the index
    returns a keypoint's neighbours from a few of them only, which left about 2 % of
    copies alone (MSLD benchmark); a set of distinct photos has few pieces of several
    images, so there the second look costs little. Its links go through the same guards
    as the others."""
    start = np.r_[0, np.cumsum(points.counts)[:-1]]

    def check(job: tuple[int, int, int]) -> Link | None:
        a, b, o = job
        score = _pair_score(points, start, a, b, (o,))
        return Link(a, b, "geometric", float(score)) if score else None

    checks = _second_look_checks(matches, parts, RESCUE_SIZE)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [link for link in pool.map(check, checks, chunksize=16) if link is not None]


def _last_look(
    views: np.ndarray, matches: _Matches, parts: _Components, workers: int
) -> list[Link]:
    """The second look again for images still alone, against their ``LAST_PIECES``
    best-voted pieces (of two images or more: families of augmented sets with few copies
    per photo are small; of the best piece, ``LAST_LEAD_MEMBERS`` members), with finer
    descriptions of both images (``_describe_finely``: more, weaker keypoints on the copy
    stretched to its full range, enlarged and smoothed), their matches pooled into one fit
    (``_pooled_score``). A second round checks the images the first left alone against
    their next ``LAST_PIECES`` pieces. It looks only where a lone image is likely a missed
    copy, in a set with at least ``LAST_LOOK_SHARE`` of its images in families of
    ``GUARD_SIZE`` or more (an augmented set), and describes at most one image in
    ``LAST_BUDGET_SHARE`` of the set again (at least ``LAST_BUDGET_MIN``, over both rounds),
    the images with the strongest votes for a piece first: in a set of distinct photos, or
    where many stand alone beside families of copies, describing all their candidates
    would cost more than the rest of the detection."""
    whole = parts.size[parts.parent == np.arange(len(parts.parent))]  # one per piece
    if whole[whole >= GUARD_SIZE].sum() < LAST_LOOK_SHARE * len(parts.parent):
        return []
    budget = max(LAST_BUDGET_MIN, len(views) // LAST_BUDGET_SHARE)
    fine: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def check(job: tuple[int, int, int]) -> Link | None:
        a, b, o = job
        score = _pooled_score(fine[a], fine[b], o)
        return Link(a, b, "geometric", float(score)) if score else None

    found: list[Link] = []
    # a second round, further down the votes, for the images the first left alone: the
    # votes of a smooth photo are few, and chance votes (from the fill edges of turned
    # copies, say) can outweigh those for its own family
    for skip in (0, LAST_PIECES):
        pairs = _second_look_checks(
            matches,
            parts,
            2,
            best=LAST_PIECES,
            lone_members=LAST_MEMBERS,
            target=2,
            lead_members=LAST_LEAD_MEMBERS,
            skip=skip,
        )
        linked = {r for link in found for r in (link.a, link.b) if parts.size[parts.root(r)] == 1}
        checks, rows = [], set(fine)
        for a, b, o in pairs:
            if linked & {a, b}:
                continue
            wanted = {a, b} - rows
            if len(rows) + len(wanted) > budget:
                break
            rows |= wanted
            checks.append((a, b, o))
        new = sorted(rows - fine.keys())
        with ThreadPoolExecutor(max_workers=workers) as pool:
            fine.update(zip(new, pool.map(lambda i: _describe_finely(views[i]), new), strict=True))
            found += [link for link in pool.map(check, checks, chunksize=16) if link is not None]
    return found


def _rank_within(sorted_keys: np.ndarray) -> np.ndarray:
    """Each element's position within its run of equal keys (``sorted_keys`` sorted)."""
    if not len(sorted_keys):
        return sorted_keys
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(sorted_keys)), 0))
    return np.arange(len(sorted_keys)) - first


def _between_families(
    points: _Keypoints, matches: _Matches, parts: _Components, workers: int
) -> list[Link]:
    """A look between families of ``GUARD_SIZE`` images or more: for each, its
    ``PARTNER_FAMILIES`` best-voted partner families (a pair weighed by its best-voted
    pairs of members), and the ``PARTNER_PAIRS`` best-voted pairs of members of each,
    checked with direct matches (``_pair_score``). The links only add evidence: two
    families still join only through ``GUARD_LINKS`` links with distinct images on both
    sides (``_supported``). On the MSLD benchmark this joined 12 of the 13 pairs of
    families that were one photograph published twice, and no two distinct photos among
    500 pairs checked (3,000 direct checks, under 2 s)."""
    n = len(parts.parent)
    roots = parts.roots()
    large = parts.size[roots] >= GUARD_SIZE
    ra, rb = roots[matches.a], roots[matches.b]
    groups = np.flatnonzero(large[matches.a] & large[matches.b] & (ra != rb))
    if not len(groups):
        return []
    # the pairs of families as one number each, their member pairs best-voted first
    key = np.minimum(ra, rb)[groups] * n + np.maximum(ra, rb)[groups]
    order = np.lexsort((-matches.votes[groups], key))
    groups, key = groups[order], key[order]
    rank = _rank_within(key)
    families, first = np.unique(key, return_index=True)
    weight = np.add.reduceat(np.where(rank < RESCUE_MEMBERS, matches.votes[groups], 0), first)
    # each family's best-weighed partners
    side = np.r_[families // n, families % n]
    by_side = np.lexsort((-np.r_[weight, weight], side))
    best = by_side[_rank_within(side[by_side]) < PARTNER_FAMILIES] % max(len(families), 1)
    take = np.flatnonzero(np.isin(key, families[best]) & (rank < PARTNER_PAIRS))
    checks = list(
        zip(
            matches.a[groups[take]].tolist(),
            matches.b[groups[take]].tolist(),
            matches.orient[groups[take]].tolist(),
            strict=True,
        )
    )
    start = np.r_[0, np.cumsum(points.counts)[:-1]]

    def check(job: tuple[int, int, int]) -> Link | None:
        a, b, o = job
        score = _pair_score(points, start, a, b, (o,))
        return Link(a, b, "geometric", float(score)) if score else None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [link for link in pool.map(check, checks, chunksize=16) if link is not None]


def _giant_family_note(family: np.ndarray, paths: list[str]) -> list[str]:
    """A line when one family holds the whole set, or more than a fifth of a large one."""
    n = len(family)
    sizes = np.bincount(family) if n else np.zeros(0, np.int64)
    if n <= 2 or not (sizes.max() == n or sizes.max() > max(20, n // 5)):
        return []
    first = int(np.flatnonzero(family == sizes.argmax())[0])
    share = f"all {n}" if sizes.max() == n else f"{sizes.max()} of {n}"
    return [
        f"one family holds {share} images (the family of {paths[first]}): every split keeps "
        "it on one side; if these are not copies of one photo, turn family detection off "
        "and group by patient instead"
    ]


def find_families(
    images: ImageSet, *, progress: Callable[[int, int], None] | None = None
) -> Families:
    """Group the rows of ``images`` into families of copies of one photo.

    ``progress(done, total)`` is called as work proceeds (total: three steps per image, to
    describe it, to look up its matches and to check its candidate pairs). Images too small
    or too uniform to have keypoints join a family only as exact or near duplicates, and a
    note says so; so does a note for every join the guards refused (``_held``; refused
    weak links between like-labelled pieces go unmentioned) and for a family that holds
    most of the set. ``images.labels`` only decides how much evidence a join across labels
    needs.
    """
    # audit imports this module to report families, so its duplicate finder loads late
    from .audit import find_duplicates

    n = len(images)
    total, done = 3 * n, 0

    def tick(steps: int) -> None:
        nonlocal done
        done = min(total, done + steps)
        if progress is not None:
            progress(done, total)

    workers = max(1, usable_cpus())
    exact, near = find_duplicates(images)
    links = [Link(a, b, "exact", 1.0) for m in exact for a, b in itertools.pairwise(m)]
    views = _views(images)
    points = _keypoints(images, workers, tick, views)
    counts, start = points.counts, np.r_[0, np.cumsum(points.counts)[:-1]]
    notes = []
    few = np.flatnonzero(counts < MIN_INLIERS)
    if len(few):
        notes.append(
            f"{len(few)} image(s) are too small or have too few distinct details to compare "
            f"(e.g. {images.paths[few[0]]}); they join a family only as exact or near duplicates"
        )
    # On augmented sets of smooth skin photos, copies of distinct photos can share a
    # perceptual hash within the near-duplicate distance; a hash match links two images
    # only when their keypoints agree too, or when one has too few keypoints to tell.
    for a, b, d in near:
        few_points = min(counts[a], counts[b]) < MIN_INLIERS
        inliers = 0 if few_points else _pair_score(points, start, a, b)
        if few_points or inliers:
            links.append(Link(a, b, "near", float(d)))
        if inliers >= SURE_INLIERS:  # the guards weigh a hash match as weak: say it is sure
            links.append(Link(a, b, "geometric", float(inliers)))
    if counts.sum() > NEIGHBOURS:
        found, matches = _geometric_links(points, workers, tick)
        links += found

        def pieces() -> _Components:  # each look works on the pieces the links so far make
            return _join(n, links, images.paths, labels=images.labels)[0]

        links += _rescue(points, matches, pieces(), workers)
        links += _last_look(views, matches, pieces(), workers)
        links += _between_families(points, matches, pieces(), workers)
    parts, used, refused = _join(n, links, images.paths, labels=images.labels)
    family = _numbered(parts, n)
    notes += refused + _giant_family_note(family, images.paths)
    if progress is not None and done < total:
        progress(total, total)
    return Families(family=family, links=sorted(used, key=lambda k: (k.a, k.b)), notes=notes)
