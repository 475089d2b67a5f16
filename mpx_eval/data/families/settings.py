"""The settings of family detection: every threshold and size the steps use, each with why it
is there and what it was measured to do, and the table of them that docs/families.md shows."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..images import FAMILY_SIZE


def _setting(default: Any, why: str, effect: str = "") -> Any:
    """A field of ``FamilySettings``: its default, what it is for and, where one was
    measured, what it did."""
    metadata = {"why": why, "effect": effect} if effect else {"why": why}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FamilySettings:
    """Every threshold and size of family detection, in the order of the steps.

    The defaults were chosen on augmented sets built from the 228 MSLD photos
    (``benchmarks/families.py``); the measured effects are from those sets. A *piece* is a
    group of images that the links found so far connect; the pieces of all links, joined
    under the guards, are the families.
    """

    # describing each image
    side: int = _setting(
        FAMILY_SIZE,
        "side of the square grey working copy that keypoints are found on "
        "(`ImageSet.family_view` is made at this size)",
    )
    min_side: int = _setting(
        32,
        "images with a shorter side in the file get no keypoints: an upscaled thumbnail's "
        "keypoints sit on its pixel grid, which any two such share",
    )
    flat_window: int = _setting(
        5, "side of the window in which the grey-level variance decides whether an area is flat"
    )
    flat_variance: float = _setting(
        0.2,
        "grey-level variance under which an area is flat and gets no keypoints: the fill of a "
        "rotated copy has straight edges and corners that would match between any two "
        "rotated photos",
    )
    flat_margin: int = _setting(
        9, "side of the square by which flat areas are grown before keypoints are masked there"
    )
    clahe_clip: float = _setting(
        2.0,
        "clip limit of the local contrast equalisation (CLAHE) done before SIFT, so that "
        "brightness and contrast changes move few keypoints",
    )
    clahe_tiles: int = _setting(
        4, "tiles per side of the working copy over which CLAHE equalises the contrast"
    )
    features: int = _setting(
        200,
        "keypoints kept per image, the strongest first (also the radix of the codes that "
        "number the index's matches)",
    )
    contrast: float = _setting(
        0.015,
        "SIFT's contrast threshold for the usual description",
        "smooth skin has few strong corners: at OpenCV's default of 0.04 many copies kept "
        "under a dozen keypoints",
    )
    few_keypoints: int = _setting(
        120,
        "images with fewer keypoints than this are described again at `contrast_low`",
        "smooth, low-texture photos, whose copies had 16 to 60 keypoints, get two to three "
        "times as many, enough for a fit to verify; textured photos, most of the set, keep "
        "their strongest corners and cost nothing more",
    )
    contrast_low: float = _setting(
        0.008, "SIFT's contrast threshold for an image with under `few_keypoints` keypoints"
    )

    # the index and its candidate pairs
    dims: int = _setting(
        48,
        "principal axes the RootSIFT descriptors are projected on for the index, which keeps "
        "its cells' distance products small",
    )
    pca_sample: int = _setting(
        20000, "about this many descriptors, evenly spaced over the set, fit the projection's axes"
    )
    cell_size: int = _setting(
        300,
        "descriptors per cell of the index, on average: each keypoint is compared with every "
        "descriptor of its cell (upright and mirrored), so this is the search's effort per "
        "keypoint, whatever the size of the set",
        "on 30,000 augmented images the search took about 56 s where the kd-tree index it "
        "replaced took about 8 min; on 3,192 it found 5.6 million distinct matches in 5.4 s, "
        "the kd-tree 4.8 million in 21.8 s",
    )
    small_set_distances: int = _setting(
        750_000_000,
        "distances the search may compute on a smaller set, whose cells are made larger than "
        "`cell_size` while it stays under this: more matches where they cost little (at "
        "3,192 augmented images cells of about 600, from 10,000 on `cell_size`)",
        "at 3,192 augmented images, over augmentation seeds 0, 1 and 2, pair recall against "
        "the originals 0.9994, 0.9976 and 0.9963 (cells of 300: 0.9994, 0.9945, 0.9950; the "
        "kd-tree index before: 0.9987, 0.9994, 0.9957) for 1 s more",
    )
    small_set_cell_size: int = _setting(
        1000,
        "largest cell a small set gets (`small_set_distances`): bounds the search's time "
        "on sets of a few hundred images",
        "on the 120 drawn demo images cells of 2,000 took 7.1 s and those of 1,000 2.5 s "
        "(300: 2.1 s); on the 228 MSLD originals cells of 1,000 joined 60 of them, as the "
        "kd-tree index had, those of 300 58",
    )
    coarse_cells: int = _setting(
        256,
        "cells of the index's first level; each is split again into as many cells as make "
        "`cell_size`, so that finding a descriptor's cell costs a few hundred distances",
    )
    kmeans_sample: int = _setting(
        32, "descriptors per cell, evenly spaced over the set, that fit the cells' centres"
    )
    kmeans_iterations: int = _setting(8, "Lloyd iterations of each k-means that fits the cells")
    neighbours: int = _setting(
        8,
        "nearest neighbours kept per descriptor among those of its cell (besides itself); a "
        "set with no more keypoints than this gets no index",
    )
    max_distance: float = _setting(
        0.4,
        "descriptor distance (projected RootSIFT, Euclidean) above which a neighbour is no match",
    )
    min_votes: int = _setting(
        6,
        "matched keypoints (counted once per keypoint) that make a pair of images a candidate, "
        "and the least weight of a piece that the second and last looks check against",
    )
    candidates: int = _setting(
        12, "candidate partners per image, most matches first, that get the geometric check"
    )

    # checking a pair of images
    min_inliers: int = _setting(
        8,
        "RANSAC inliers (distinct keypoints on both sides) an affine fit needs to link two "
        "images; images with fewer keypoints are too small or plain to compare",
    )
    ransac_pixels: float = _setting(
        4.0, "reprojection error, in pixels of the working copy, under which a match is an inlier"
    )
    ransac_iterations: int = _setting(1000, "most RANSAC iterations of one affine fit")
    ransac_confidence: float = _setting(
        0.995, "confidence at which RANSAC stops drawing before `ransac_iterations`"
    )
    min_scale: float = _setting(
        0.3, "smallest scale of a fit's affine map: a fit squashed further is no copy"
    )
    max_scale: float = _setting(
        3.5, "largest scale of a fit's affine map: a fit stretched further is no copy"
    )
    max_stretch: float = _setting(
        3.0,
        "largest ratio of a fit's two scales: zoom, shear and resizing do not stretch one "
        "direction more",
    )
    min_spread: float = _setting(
        0.15,
        "share of the working copy's side that a fit's inliers must span in both directions: "
        "inliers all in one small spot are no copy",
    )
    ratio: float = _setting(
        0.8,
        "Lowe's ratio: a direct match counts when it is this much closer than the second best",
        "a keypoint on a repeated pattern (a rash of like spots) has several near-equal "
        "matches, and chance affine fits among them linked drawings of the demo set",
    )
    sure_inliers: int = _setting(
        16,
        "RANSAC inliers from which a link is sure evidence; a weaker fit, or a hash match, is "
        "weak and joins two pieces of several images, or differently labelled ones, only "
        "with independent support",
        "on the demo's drawings of like spots, single fits of 8 to 11 inliers chained "
        "unrelated drawings and joined a Monkeypox image to an Others family",
    )

    # the second look
    second_size: int = _setting(
        5,
        "images in pieces of fewer images get a second look, with direct matches, against "
        "the larger pieces their index matches point to",
        "among many copies of one photo the index returns a keypoint's neighbours from a few "
        "of them only, which left about 2 % of the copies alone (14 copies per MSLD photo); "
        "a set of distinct photos has few pieces to look at, so there it costs little",
    )
    second_pieces: int = _setting(
        6, "best-voted larger pieces that the second look checks an image against"
    )
    second_members: int = _setting(
        3, "best-voted members of each such piece that the second look checks"
    )
    second_lone_members: int = _setting(
        8,
        "best-voted members of each piece that the second look checks for an image still "
        "alone, whose index matches are thinnest",
    )
    weigh_members: int = _setting(
        3,
        "a piece (or a pair of pieces) weighs by the votes of this many of its best-voted "
        "members (or pairs of members), not of all",
        "summed over all members, the few chance votes of a large piece outweighed the piece "
        "of a lone copy's own photo, which was then never checked",
    )

    # the last look
    last_look_share: float = _setting(
        0.5,
        "the last look runs only in a set with at least this share of its images in pieces of "
        "`guard_size` or more (an augmented set), where a lone image is likely a missed copy",
        "on the 228 distinct MSLD photos the last look tripled the detection time (11.1 s "
        "against 3.1 s) for no link",
    )
    last_target: int = _setting(
        2,
        "the last look checks an image still alone against pieces of this many images or "
        "more: families of augmented sets with few copies per photo are small",
    )
    last_pieces: int = _setting(
        10,
        "best-voted pieces the last look checks a lone image against, per round; a second "
        "round takes the next ones for the images the first left alone",
        "chance votes (from the fill edges of turned copies, say) can outweigh a smooth "
        "photo's few votes for the piece of its own copies: with augmentation seed 1, a turned "
        "copy of Others/33_1.jpg ranked that piece 11th",
    )
    last_members: int = _setting(4, "best-voted members of each piece that the last look checks")
    last_lead_members: int = _setting(
        14,
        "members checked of the best-voted piece: the members a lone copy's few votes prefer "
        "are not always those that fit",
        "a copy of Monkeypox/P9_1.jpg brightened nearly to white had one or two votes for each "
        "of 13 copies of its photo, and fitted only two, each of which it had a single vote for",
    )
    last_budget_one_in: int = _setting(
        8,
        "the last look describes at most one image in this many of the set again (at least "
        "`last_budget_min`, over both rounds), those most strongly matched to a piece first: "
        "a finer description costs about five usual ones",
        "on 1,710 images (half the MSLD photos with 14 copies each, half alone) the last look "
        "took about 35 s without the budget (detection 62.5 s) and 5.7 s with it (32.7 s)",
    )
    last_budget_min: int = _setting(
        200, "images the last look may describe again, whatever the size of the set"
    )
    fine_contrast: float = _setting(
        0.004, "SIFT's contrast threshold for the last look's finer descriptions"
    )
    fine_features: int = _setting(400, "keypoints kept per finer description")
    fine_stretch: tuple[float, float] = _setting(
        (1, 99),
        "percentiles of the working copy made black and white for the stretched description: "
        "a copy brightened nearly to white keeps its detail in a few grey levels",
        "of the 9 copies the second look left alone among 3,192 images, the last look linked "
        "8 without the stretched description and 9 with it; the plain working copy, which it "
        "stands for on photos that span the grey scale, added none",
    )
    fine_side: int = _setting(
        192,
        "side the working copy is enlarged to for the enlarged description",
        "of the same 9 copies, 7 linked without the enlarged description",
    )
    fine_smooth: float = _setting(
        1.0,
        "Gaussian (px) the working copy is smoothed by for the smoothed description, against noise",
        "of the same 9 copies, 8 linked without the smoothed description",
    )
    pool_cell: float = _setting(
        2.0,
        "side (px) of the squares in which the pooled fit of the finer descriptions counts "
        "its inliers, so that a keypoint found by several descriptions counts once",
        "among all 25,878 pairs of distinct MSLD photographs, pooled fits linked only "
        "a4_1/a4_2 (73 inliers), P9_2/P9_4 (27) and P37_3 with P38_1 and P38_2 (12): two "
        "photos of one scene, or one photograph cropped, each",
    )

    # the look between pieces
    partner_pieces: int = _setting(
        3,
        "each piece of `guard_size` images or more is checked against this many best-voted "
        "partner pieces: a photo published twice, each version with its own copies, makes "
        "two pieces that the index rarely links",
        "on 3,192 images it joined 12 of the 13 pairs of families that were one photograph "
        "published twice, and no two distinct photos among 500 pairs of pieces checked "
        "(3,000 direct checks, under 2 s)",
    )
    partner_pairs: int = _setting(
        6, "best-voted pairs of members checked between a piece and each partner piece"
    )

    # the guarded join
    guard_size: int = _setting(
        3,
        "two pieces of this many images or more join only on `guard_links` independent links: "
        "one link could chain unrelated photos",
    )
    guard_links: int = _setting(
        2,
        "links with distinct images on both sides that a held join needs (two large pieces, "
        "weak evidence between pieces of several images, or a label conflict)",
    )

    # the notes
    giant_min_set: int = _setting(
        3, "sets of fewer images get no note about a family that holds most of them"
    )
    giant_size: int = _setting(
        20,
        "a family of more images than this and than one in `giant_one_in` of the set, or one "
        "holding the whole set, gets a note: every split keeps it on one side",
    )
    giant_one_in: int = _setting(
        5, "a family needs more than one image in this many of the set (see `giant_size`)"
    )


def settings_table(settings: FamilySettings | None = None) -> str:
    """The markdown table of ``settings`` (the defaults when None): name, value, why, and
    measured effect, one row per field in the order of the steps."""
    settings = FamilySettings() if settings is None else settings
    rows = [
        "| setting | value | why | measured effect |",
        "| --- | --- | --- | --- |",
    ]
    for f in fields(settings):
        why, effect = f.metadata["why"], f.metadata.get("effect", "")
        rows.append(f"| `{f.name}` | `{getattr(settings, f.name)!r}` | {why} | {effect} |")
    return "\n".join(rows) + "\n"
