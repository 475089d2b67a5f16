"""Family detection on generated photos alone: each photo's copies make one family, distinct
photos never share one, every run gives the same result, and the settings given are used."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from mpx_eval.data.families import Families, FamilySettings, find_families
from mpx_eval.data.images import ImageSet, load_image_set

PHOTOS = 6
SIZE = 176


def _photo(seed: int) -> Image.Image:
    """A textured photo-like image: a tinted gradient, grain, and ellipses and lines of many
    sizes and colours, so that it has corners at every scale."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    tint = rng.uniform(80, 180, 3)
    base = tint + np.stack([50 * xx, 40 * yy, 30 * xx * yy], axis=-1)
    base += rng.normal(0, 5, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y = rng.uniform(0, SIZE, 2)
        rx, ry = rng.uniform(2, 14, 2)
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=colour)
    for _ in range(12):
        x0, y0, x1, y1 = rng.uniform(0, SIZE, 4)
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 4)))
    return img


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _crop(img: Image.Image, share: float) -> Image.Image:
    """The central ``share`` of each side, enlarged back to the full size."""
    margin = round(img.width * (1 - share) / 2)
    box = (margin, margin, img.width - margin, img.height - margin)
    return img.crop(box).resize(img.size, Image.Resampling.BILINEAR)


COPIES = {
    "flipped": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "turned": lambda im: im.rotate(90),
    "rotated": lambda im: _crop(im.rotate(20, resample=Image.Resampling.BILINEAR), 0.75),
    "cropped": lambda im: _crop(im, 0.8),
    "brightened": lambda im: ImageEnhance.Brightness(im).enhance(1.25),
    "recompressed": lambda im: _jpeg(im, 35),
    "resized": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.BILINEAR),
}


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageSet, dict[str, int]]:
    """A class-per-folder set of ``PHOTOS`` generated photos, each with one copy per kind of
    ``COPIES``, under names that do not sort by photo; and the photo of every path."""
    root = tmp_path_factory.mktemp("copies")
    photo_of = {}
    for p in range(PHOTOS):
        original = _photo(300 + p)
        made = {"original": original} | {kind: copy(original) for kind, copy in COPIES.items()}
        for k, (kind, img) in enumerate(made.items()):
            rel = f"{'AB'[p % 2]}/{(p * 37 + k * 11) % 97:02d}_{kind}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            img.save(root / rel)
            photo_of[rel] = p
    return load_image_set(root), photo_of


@pytest.fixture(scope="module")
def found(copies: tuple[ImageSet, dict[str, int]]) -> Families:
    return find_families(copies[0])


def _photos_per_family(
    images: ImageSet, found: Families, photo_of: dict[str, int]
) -> dict[int, set[int]]:
    families: dict[int, set[int]] = {}
    for path, family in zip(images.paths, found.family.tolist(), strict=True):
        families.setdefault(family, set()).add(photo_of[path])
    return families


def test_every_photo_s_copies_are_one_family_and_distinct_photos_are_apart(copies, found):
    images, photo_of = copies
    families = _photos_per_family(images, found, photo_of)
    assert all(len(photos) == 1 for photos in families.values()), families
    assert len(families) == PHOTOS
    assert len(found.links) == len(images) - PHOTOS  # one spanning tree per family
    assert found.notes == []


def test_the_same_set_gives_the_same_families(copies, found):
    again = find_families(copies[0])
    assert again.family.tolist() == found.family.tolist()
    assert again.links == found.links and again.notes == found.notes


def test_the_settings_passed_in_are_the_ones_used(copies, found):
    """No step keeps a threshold of its own: with fits needing more inliers than any image
    has keypoints, no geometric link is made, and the turned and flipped copies, which no
    hash match finds, fall out of their families."""
    images, photo_of = copies
    strict = dataclasses.replace(FamilySettings(), min_inliers=10**6)
    apart = find_families(images, settings=strict)
    assert {link.kind for link in apart.links} <= {"exact", "near"}
    assert len(set(apart.family.tolist())) > len(set(found.family.tolist()))
    family = dict(zip(images.paths, apart.family.tolist(), strict=True))

    def of_kind(kind: str) -> dict[int, int]:
        return {photo_of[p]: family[p] for p in images.paths if p.endswith(f"_{kind}.png")}

    originals, turned, flipped = (of_kind(k) for k in ("original", "turned", "flipped"))
    assert all(turned[p] != originals[p] != flipped[p] for p in range(PHOTOS))
