"""The notes family detection leaves for the user: images too small or plain to compare,
joins the guards refused, and a family that holds most of the set."""

from __future__ import annotations

import numpy as np

from ..audit import MIN_HASH_TEXTURE
from .join import Pieces, between, weak
from .result import Link
from .settings import FamilySettings


def few_keypoints_note(
    counts: np.ndarray, texture: np.ndarray, paths: list[str], settings: FamilySettings
) -> list[str]:
    """Lines about images with fewer than ``min_inliers`` keypoints: those whose hash has
    texture (``texture``, its decided bits) join a family only as exact or near
    duplicates, the plain ones (a single colour, a gradient) only as identical files."""
    few = counts < settings.min_inliers
    plain = texture < MIN_HASH_TEXTURE
    notes = []
    small = np.flatnonzero(few & ~plain)
    if len(small):
        notes.append(
            f"{len(small)} image(s) are too small or have too few distinct details to compare "
            f"(e.g. {paths[small[0]]}); they join a family only as exact or near duplicates"
        )
    flat = np.flatnonzero(few & plain)
    if len(flat):
        notes.append(
            f"{len(flat)} image(s) are plain, a single colour or a smooth gradient (e.g. "
            f"{paths[flat[0]]}); they join a family only as identical files"
        )
    return notes


def _images(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''}"


def refusal_notes(
    pieces: Pieces, refused: list[Link], paths: list[str], settings: FamilySettings
) -> list[str]:
    """One line per pair of pieces that refused links connect but the guards did not join;
    weak evidence between like-labelled pieces goes unmentioned."""
    notes = []
    for (ra, rb), group in between(pieces, refused).items():
        link = max(group, key=lambda k: k.score)
        conflict = pieces.labels[ra] != pieces.labels[rb]
        if weak(link, settings) and not conflict:
            continue  # nothing to look at
        size_a, size_b = pieces.size[pieces.root(link.a)], pieces.size[pieces.root(link.b)]
        why = "too few distinct images on both sides"
        if conflict:
            why += f" for a label conflict on fits under {settings.sure_inliers} inliers"
        notes.append(
            f"not joined: the family of {paths[link.a]} ({_images(size_a)}) and that of "
            f"{paths[link.b]} ({_images(size_b)}) share {len(group)} checked link(s), {why} "
            f"(best: {link.kind}, score {link.score:g}); look at them if they are copies of "
            "one photo"
        )
    return notes


def giant_family_note(family: np.ndarray, paths: list[str], settings: FamilySettings) -> list[str]:
    """A line when one family holds the whole set, or more than ``giant_size`` images and
    one in ``giant_one_in`` of the set."""
    n = len(family)
    if n < settings.giant_min_set:
        return []
    sizes = np.bincount(family)
    largest = sizes.max()
    if not (largest == n or largest > max(settings.giant_size, n // settings.giant_one_in)):
        return []
    first = int(np.flatnonzero(family == sizes.argmax())[0])
    share = f"all {n}" if largest == n else f"{largest} of {n}"
    return [
        f"one family holds {share} images (the family of {paths[first]}): every split keeps "
        "it on one side; if these are not copies of one photo, turn family detection off "
        "and group by patient instead"
    ]
