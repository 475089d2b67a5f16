"""Image families: copies of one photo under each transform found, distinct photos kept apart,
the chaining guard, images with too few details."""

from __future__ import annotations

import dataclasses
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from mpx_eval.data.demo import demo_dataset
from mpx_eval.data.families import Families, FamilySettings, Link, find_families, looks
from mpx_eval.data.families.candidates import Matches
from mpx_eval.data.families.describe import (
    describe,
    describe_finely,
    describe_set,
    sift,
    working_copies,
)
from mpx_eval.data.families.join import Pieces, join
from mpx_eval.data.families.looks import between_pieces, last_look, second_look
from mpx_eval.data.families.notes import refusal_notes
from mpx_eval.data.families.verify import match_score, pooled_score
from mpx_eval.data.images import FAMILY_SIZE, family_view, load_image_set

SETTINGS = FamilySettings()


def _photo(seed: int, size: int = 160) -> Image.Image:
    """A photo-like image: a smooth tinted background, blotches of several sizes and fine
    grain, so that it has corners at many scales as a skin photo does."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([160 + 40 * xx, 120 + 30 * yy, 100 + 20 * xx * yy], axis=-1) + rng.normal(
        0, 4, (size, size, 3)
    )
    for _ in range(70):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(2, 12)
        ax = rng.uniform(0.5, 1.5)
        mask = ((xx * size - cx) * ax) ** 2 + ((yy * size - cy) / ax) ** 2 < r * r
        img[mask] = img[mask] * 0.3 + rng.uniform(30, 230, 3) * 0.7
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _affine(img: Image.Image, *, angle=0.0, zoom=1.0, shear=0.0, shift=(0.0, 0.0), fill="black"):
    """``img`` rotated by ``angle`` degrees, zoomed, sheared and shifted about its centre."""
    w, h = img.size
    a = np.deg2rad(angle)
    forward = zoom * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    forward = forward @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    centre = np.array([w / 2, h / 2])
    pad = w if fill == "reflect" else 0
    offset = centre - inverse @ (centre + np.array(shift) * (w, h)) + pad
    if pad:
        img = Image.fromarray(np.pad(np.asarray(img), ((pad, pad), (pad, pad), (0, 0)), "reflect"))
    coeffs = (*inverse[0], offset[0], *inverse[1], offset[1])
    return img.transform((w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)


def _hue(img: Image.Image, shift: int) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + shift) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _noise(img: Image.Image, sigma: float) -> Image.Image:
    noisy = np.asarray(img, float) + np.random.default_rng(1).normal(0, sigma, (*img.size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


TRANSFORMS = {
    "flip-horizontal": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "flip-vertical": lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "turn-90": lambda im: im.rotate(90),
    "turn-270-flipped": lambda im: im.rotate(270).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rotate-45-fill": lambda im: _affine(im, angle=45),
    "rotate-minus-30-reflect": lambda im: _affine(im, angle=-30, fill="reflect"),
    "rotate-20-crop": lambda im: _affine(im, angle=20, zoom=1.3),
    "zoom-70-percent": lambda im: _affine(im, zoom=1 / 0.7),
    "shift": lambda im: _affine(im, shift=(0.12, -0.08)),
    "shear": lambda im: _affine(im, shear=0.2),
    "brightness": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "contrast": lambda im: ImageEnhance.Contrast(im).enhance(0.7),
    "saturation": lambda im: ImageEnhance.Color(im).enhance(0.4),
    "hue": lambda im: _hue(im, 25),
    "blur": lambda im: im.filter(ImageFilter.GaussianBlur(1.5)),
    "noise": lambda im: _noise(im, 10),
    "jpeg-quality-30": lambda im: _jpeg(im, 30),
    "resize-half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.BILINEAR),
    "mix": lambda im: _hue(
        _affine(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), angle=-35, zoom=1.25, shear=0.1),
        -15,
    ).filter(ImageFilter.GaussianBlur(0.8)),
}


def _tree(root: Path, images: dict[str, Image.Image]) -> Path:
    """Write ``{"Class/name.png": image}`` as a class-per-folder tree (lossless PNG, so the
    test decides where compression happens)."""
    for rel, img in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / rel)
    return root


def _family_of(found: Families, paths: list[str]) -> dict[str, int]:
    return dict(zip(paths, found.family.tolist(), strict=True))


def _pieces(n: int, *groups: list[int]) -> Pieces:
    """Pieces of ``n`` rows: each of ``groups`` joined into one."""
    parts = Pieces(n)
    for group in groups:
        for i in group[1:]:
            parts.join(group[0], i)
    return parts


def _votes(pairs: list[tuple[int, int, int, int]]) -> Matches:
    """Index votes for the looks to start from: (row, row, orientation, votes) per pair of
    images, with no keypoint matches behind them."""
    i, j, orient, votes = (np.array(column) for column in zip(*pairs, strict=True))
    none = np.zeros(len(pairs), dtype=np.int64)
    a, b = np.minimum(i, j), np.maximum(i, j)
    return Matches(a, b, orient, votes, none, none, none[:0], none[:0])


def _join(n: int, links: list[Link], paths: list[str], *, labels: np.ndarray | None = None):
    """The pieces, the links used and the refusal notes of the guarded join, as
    ``find_families`` makes them."""
    pieces, used, refused = join(n, links, SETTINGS, labels=labels)
    return pieces, used, refusal_notes(pieces, refused, paths, SETTINGS)


def _keypoints(images):
    """The keypoints of every image of ``images``, described on one thread."""
    views = working_copies(images, SETTINGS)
    return describe_set(images, views, SETTINGS, 1, lambda steps: None)[0]


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_each_transform_is_found(tmp_path, name):
    original = _photo(0)
    files = {"A/original.png": original, "B/copy.png": TRANSFORMS[name](original)}
    files.update({f"{'AB'[k % 2]}/other{k}.png": _photo(10 + k) for k in range(4)})
    images = load_image_set(_tree(tmp_path, files))
    found = find_families(images)
    family = _family_of(found, images.paths)
    assert family["A/original.png"] == family["B/copy.png"], found.links
    assert found.members() == [
        sorted([images.paths.index("A/original.png"), images.paths.index("B/copy.png")])
    ]
    (link,) = found.links
    assert link.kind in ("geometric", "near") and link.a < link.b


def test_distinct_photos_stay_apart(tmp_path):
    files = {f"{'AB'[k % 2]}/p{k:02d}.png": _photo(100 + k) for k in range(30)}
    images = load_image_set(_tree(tmp_path, files))
    found = find_families(images)
    assert found.family.tolist() == list(range(30))
    assert found.links == [] and found.members() == [] and found.notes == []


def test_families_are_numbered_by_first_row_and_progress_reaches_the_total(tmp_path):
    a, b = _photo(1), _photo(2)
    files = {
        "A/1.png": b,
        "A/2.png": a,
        "A/3.png": TRANSFORMS["rotate-45-fill"](b),
        "B/4.png": TRANSFORMS["flip-vertical"](a),
        "B/5.png": _photo(3),
        "B/6.png": a,  # the same bytes as A/2.png
    }
    images = load_image_set(_tree(tmp_path, files))
    calls = []
    found = find_families(images, progress=lambda done, total: calls.append((done, total)))
    assert found.family.tolist() == [0, 1, 0, 1, 2, 1]
    assert found.members() == [[0, 2], [1, 3, 5]]
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(d1 <= d2 for (d1, _), (d2, _) in itertools.pairwise(calls))
    kinds = {(link.a, link.b): link.kind for link in found.links}
    assert kinds[(1, 5)] == "exact" and len(found.links) == 3


def test_guard_refuses_one_link_between_two_large_families():
    paths = [f"x{i}.jpg" for i in range(10)]
    inside = [Link(i, i + 1, "geometric", 40.0) for i in (0, 1, 2, 3, 5, 6, 7, 8)]
    bridge = Link(4, 5, "geometric", 30.0)
    parts, used, notes = _join(10, [*inside, bridge], paths)
    assert parts.root(0) != parts.root(9)
    assert bridge not in used and len(used) == 8
    assert len(notes) == 1 and "x4.jpg" in notes[0] and "x5.jpg" in notes[0]
    # several links through distinct images on both sides do join them
    support = [Link(3 - k, 6 + k, "geometric", 20.0) for k in range(SETTINGS.guard_links)]
    parts, used, notes = _join(10, [*inside, bridge, *support], paths)
    assert parts.root(0) == parts.root(9) and notes == []


def test_guard_refuses_a_hub_image_that_links_two_families():
    """One image matching many members of another family is not several independent links."""
    paths = [f"x{i}.jpg" for i in range(8)]
    inside = [Link(i, i + 1, "geometric", 40.0) for i in (0, 1, 2, 4, 5, 6)]
    hub = [Link(3, 4 + k, "geometric", float(SETTINGS.sure_inliers)) for k in range(4)]
    parts, _, notes = _join(8, [*inside, *hub], paths)
    assert parts.root(0) != parts.root(7) and len(notes) == 1


def test_a_weak_link_adds_a_lone_image_but_does_not_join_two_families():
    paths = [f"x{i}.jpg" for i in range(6)]
    pairs = [Link(0, 1, "geometric", 40.0), Link(2, 3, "geometric", 40.0)]
    weak = float(SETTINGS.sure_inliers - 1)
    parts, used, notes = _join(6, [*pairs, Link(1, 2, "geometric", weak)], paths)
    assert parts.root(0) != parts.root(3) and len(used) == 2
    assert notes == []  # weak evidence between like-labelled pieces: nothing to look at
    parts, used, _ = _join(6, [*pairs, Link(3, 4, "geometric", weak)], paths)
    assert parts.root(2) == parts.root(4) and len(used) == 3
    # two links through distinct images on both sides are independent support
    support = [Link(1, 2, "geometric", weak), Link(0, 3, "geometric", weak)]
    parts, _, _ = _join(6, [*pairs, *support], paths)
    assert parts.root(0) == parts.root(3)


def test_a_label_conflict_needs_a_sure_link_or_independent_support():
    """On the demo's drawings one fit of 11 inliers joined a Monkeypox image to a family of
    Others images: a false label conflict."""
    paths = ["A/m.jpg", "B/o1.jpg", "B/o2.jpg", "B/o3.jpg"]
    labels = np.array([0, 1, 1, 1])
    family = [Link(1, 2, "geometric", 70.0), Link(1, 3, "geometric", 70.0)]
    weak = [Link(0, 1, "geometric", 11.0)]
    parts, _, notes = _join(4, [*family, *weak], paths, labels=labels)
    assert parts.root(0) != parts.root(1)
    (note,) = notes
    assert "A/m.jpg" in note and "label conflict" in note
    # without labels (or with one label) the same link adds the lone image
    parts, _, notes = _join(4, [*family, *weak], paths)
    assert parts.root(0) == parts.root(1) and notes == []
    # a sure fit makes the conflict: it is reported, not hidden
    sure = [Link(0, 1, "geometric", float(SETTINGS.sure_inliers))]
    parts, _, notes = _join(4, [*family, *sure], paths, labels=labels)
    assert parts.root(0) == parts.root(1) and notes == []
    # a lone image has one image on its side, so weak links (a hash match is weak too) to
    # two members are still no independent support
    near = [Link(0, 1, "near", 4.0), Link(0, 2, "geometric", 9.0)]
    parts, _, _ = _join(4, [*family, *near], paths, labels=labels)
    assert parts.root(0) != parts.root(1)


def test_exact_duplicates_always_join():
    paths = [f"x{i}.jpg" for i in range(8)]
    links = [Link(i, i + 1, "geometric", 40.0) for i in (0, 1, 2, 4, 5, 6)]
    parts, _, notes = _join(8, [*links, Link(3, 4, "exact", 1.0)], paths)
    assert parts.root(0) == parts.root(7) and notes == []


def test_tiny_and_uniform_images_are_noted_not_linked(tmp_path):
    rng = np.random.default_rng(0)
    files = {
        "A/grey.png": Image.new("RGB", (120, 120), (128, 128, 128)),
        "A/white.png": Image.new("RGB", (120, 120), (250, 250, 250)),
        "B/tiny.png": Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)),
        "A/photo.png": _photo(5),
        "B/photo-turned.png": TRANSFORMS["turn-90"](_photo(5)),
        "B/other.png": _photo(6),
    }
    images = load_image_set(_tree(tmp_path, files))
    found = find_families(images)
    family = _family_of(found, images.paths)
    assert family["A/photo.png"] == family["B/photo-turned.png"]
    assert family["B/other.png"] not in {family[p] for p in files if p != "B/other.png"}
    assert family["B/tiny.png"] not in (family["A/photo.png"], family["B/other.png"])
    assert family["A/grey.png"] != family["A/white.png"]  # plain: no hash says they are one
    (note,) = [n for n in found.notes if "too small or have too few distinct details" in n]
    assert note.startswith("1 image(s)") and "B/tiny.png" in note
    (plain,) = [n for n in found.notes if "plain" in n]
    assert plain.startswith("2 image(s)") and "only as identical files" in plain


def test_a_set_of_copies_of_one_photo_is_one_family_and_says_so(tmp_path):
    original = _photo(7)
    files = {
        f"{'AB'[k % 2]}/{name}.png": t(original)
        for k, (name, t) in enumerate(sorted(TRANSFORMS.items()))
    }
    images = load_image_set(_tree(tmp_path, files))
    found = find_families(images)
    assert set(found.family.tolist()) == {0}
    assert len(found.links) == len(images) - 1
    assert any(f"holds all {len(images)} images" in note for note in found.notes)


def test_empty_and_single_image_sets(tmp_path):
    images = load_image_set(_tree(tmp_path, {"A/a.png": _photo(8), "B/b.png": _photo(9)}))
    found = find_families(images)
    assert found.family.tolist() == [0, 1] and found.members() == []


def test_msld_photos_and_their_copies(msld_dir, tmp_path):
    originals = sorted(msld_dir.glob("*/*.jpg"))[::12]
    files = {}
    for k, path in enumerate(originals):
        img = Image.open(path).convert("RGB")
        files[f"{path.parent.name}/{path.stem}.png"] = img
        if k < 6:
            name = sorted(TRANSFORMS)[(3 * k) % len(TRANSFORMS)]
            files[f"{path.parent.name}/copy{k}.png"] = TRANSFORMS["mix"](TRANSFORMS[name](img))
    images = load_image_set(_tree(tmp_path, files))
    found = find_families(images)
    family = _family_of(found, images.paths)
    for k, path in enumerate(originals[:6]):
        assert (
            family[f"{path.parent.name}/{path.stem}.png"]
            == family[f"{path.parent.name}/copy{k}.png"]
        ), path.name
    assert len(found.members()) == 6


def _dark_turned(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(_affine(img, angle=35, zoom=1.3)).enhance(0.6)


def test_last_look_describes_a_copy_still_alone_more_finely(msld_dir, tmp_path, monkeypatch):
    """A smooth MSLD photo darkened and turned: its usual keypoints give no fit with the
    other copies, so the second look leaves it alone; the last look's finer descriptions
    (more, weaker keypoints, on the enlarged copy) link it to its family."""
    photo = Image.open(msld_dir / "Others" / "80_1.jpg").convert("RGB")
    views = {
        name: family_view(img) for name, img in (("photo", photo), ("dark", _dark_turned(photo)))
    }
    assert (
        match_score(describe(views["photo"], SETTINGS), describe(views["dark"], SETTINGS), SETTINGS)
        == 0
    )
    fine = zip(
        describe_finely(views["photo"], SETTINGS),
        describe_finely(views["dark"], SETTINGS),
        strict=True,
    )
    assert max(match_score(a, b, SETTINGS) for a, b in fine) >= 2 * SETTINGS.min_inliers

    easy = ("brightness", "contrast", "shear")  # copies with no usual fit to the dark one
    files = {"Others/dark.png": _dark_turned(photo)}
    files.update({f"Others/{name}.png": TRANSFORMS[name](photo) for name in easy})
    files["Monkeypox/other.png"] = Image.open(msld_dir / "Monkeypox" / "P9_1.jpg").convert("RGB")
    images = load_image_set(_tree(tmp_path, files))
    row = {path: i for i, path in enumerate(images.paths)}
    dark, other = row["Others/dark.png"], row["Monkeypox/other.png"]
    family = [row[f"Others/{name}.png"] for name in easy]
    parts = _pieces(len(images), family)
    # index votes from the dark copy and from another photo to every member of the family
    matches = _votes([(k, j, 0, 8) for k in (dark, other) for j in family])
    points = _keypoints(images)
    assert second_look(points, matches, parts, SETTINGS, 1) == []  # the usual keypoints give no fit
    links = last_look(images.family_view, matches, parts, SETTINGS, 1)
    assert links and all(dark in (link.a, link.b) for link in links)
    assert all(link.kind == "geometric" and link.score >= 8 for link in links)
    # a budget of described images: the dark copy and two members fit, no more
    described = []
    budget = dataclasses.replace(SETTINGS, last_budget_min=3, last_budget_one_in=len(images))
    monkeypatch.setattr(
        looks, "describe_finely", lambda view, settings: described.append(view) or []
    )
    last_look(images.family_view, matches, parts, budget, 1)
    assert len(described) == 3
    # a set mostly of lone images (3 of 5 in families here) is no augmented set: no look
    described.clear()
    picky = dataclasses.replace(budget, last_look_share=0.7)
    assert last_look(images.family_view, matches, parts, picky, 1) == [] and described == []
    # a piece of two is not alone: the last look leaves it to the earlier passes
    parts.join(dark, other)
    described.clear()
    assert last_look(images.family_view, matches, parts, budget, 1) == [] and described == []


def test_last_look_pools_the_descriptions_of_a_copy_brightened_nearly_to_white(msld_dir, tmp_path):
    """A smooth MSLD photo brightened by 30 % is white in almost all its working copy. No
    single description fits it to a copy of its photo, but each finds a few true matches,
    and pooled they make one fit; stretched to its full range it has nearly twice the keypoints.
    Only some copies fit, and not the ones the votes prefer: the last look checks every
    member of an image's best-voted piece."""
    photo = Image.open(msld_dir / "Monkeypox" / "P9_1.jpg").convert("RGB")
    white = ImageEnhance.Brightness(photo).enhance(1.3)
    contrast = TRANSFORMS["contrast"](photo)
    views = {name: family_view(img) for name, img in (("white", white), ("contrast", contrast))}
    assert (views["white"] >= 250).mean() > 0.9
    usual = match_score(
        describe(views["white"], SETTINGS), describe(views["contrast"], SETTINGS), SETTINGS
    )
    fine = [describe_finely(views[name], SETTINGS) for name in ("white", "contrast")]
    single = max(match_score(a, b, SETTINGS) for a, b in zip(*fine, strict=True))
    assert usual == 0 and single == 0
    assert pooled_score(*fine, 0, SETTINGS) >= SETTINGS.min_inliers
    plain = sift(views["white"], SETTINGS.fine_contrast, SETTINGS.fine_features, SETTINGS)
    assert len(fine[0][0][0]) > 1.5 * len(plain[0])  # the stretched description

    unfit = ("shift", "noise", "shear", "zoom-70-percent")
    fit = ("contrast", "hue", "jpeg-quality-30")  # some of these fit
    files = {"Monkeypox/white.png": white}
    files.update({f"Monkeypox/{name}.png": TRANSFORMS[name](photo) for name in unfit + fit})
    files["Others/other.png"] = Image.open(msld_dir / "Others" / "80_1.jpg").convert("RGB")
    images = load_image_set(_tree(tmp_path, files))
    row = {path: i for i, path in enumerate(images.paths)}
    lone = row["Monkeypox/white.png"]
    family = [row[f"Monkeypox/{name}.png"] for name in unfit + fit]
    parts = _pieces(len(images), family)
    votes = [3] * len(unfit) + [1] * len(fit)  # the copies that fit have the fewest votes
    matches = _votes([(lone, j, 0, v) for j, v in zip(family, votes, strict=True)])
    links = last_look(images.family_view, matches, parts, SETTINGS, 1)
    fitting = {row[f"Monkeypox/{name}.png"] for name in fit}
    assert links and all({link.a, link.b} - {lone} <= fitting for link in links)
    # the four best-voted members alone: no fit
    assert all(link.score >= SETTINGS.min_inliers for link in links)
    lead = dataclasses.replace(SETTINGS, last_lead_members=SETTINGS.last_members)
    assert last_look(images.family_view, matches, parts, lead, 1) == []


def test_families_of_one_photo_are_checked_against_each_other(tmp_path):
    """A photo published twice, each version with copies of its own: every image's
    candidates are its own version's copies, so the two families meet only when they are
    checked against each other; they join on independent links, a family of another photo
    that the votes also point to does not."""
    photo = _photo(21)
    crop = _affine(photo, zoom=1.2, shift=(0.05, 0.0))  # the photo published again, cropped
    kinds = ("shift", "blur", "hue", "flip-horizontal")
    files = {f"A/p{k}.png": TRANSFORMS[t](photo) for k, t in enumerate(kinds)}
    files.update({f"A/c{k}.png": TRANSFORMS[t](crop) for k, t in enumerate(kinds)})
    files.update({f"B/d{k}.png": TRANSFORMS[t](_photo(22)) for k, t in enumerate(kinds)})
    images = load_image_set(_tree(tmp_path, files))
    row = {path: i for i, path in enumerate(images.paths)}
    pieces = [[row[f"{c}/{x}{k}.png"] for k in range(len(kinds))] for c, x in ("Ap", "Ac", "Bd")]
    parts = _pieces(len(images), *pieces)
    # index votes from the first family to every member of the two others, upright
    matches = _votes([(i, j, 0, 7) for i in pieces[0] for j in pieces[1] + pieces[2]])
    points = _keypoints(images)
    links = between_pieces(points, matches, parts, SETTINGS, 1)
    assert len(links) <= 2 * SETTINGS.partner_pairs  # two partner families, their best pairs only
    assert not any({link.a, link.b} & set(pieces[2]) for link in links)
    side_a = {link.a if link.a in pieces[0] else link.b for link in links}
    side_b = {link.b if link.b in pieces[1] else link.a for link in links}
    assert min(len(side_a), len(side_b)) >= SETTINGS.guard_links
    within = [Link(p[0], i, "exact", 1.0) for p in pieces for i in p[1:]]
    joined, _, _ = _join(len(images), within + links, images.paths)
    assert joined.root(pieces[0][0]) == joined.root(pieces[1][0])
    assert joined.root(pieces[0][0]) != joined.root(pieces[2][0])
    # no families of several images: nothing to look at
    assert between_pieces(points, matches, Pieces(len(images)), SETTINGS, 1) == []


def test_sets_without_a_working_copy_use_the_decoded_arrays(tmp_path):
    original = _photo(4)
    files = {
        "A/a.png": original,
        "B/b.png": TRANSFORMS["turn-270-flipped"](original),
        "B/c.png": _photo(5),
    }
    images = load_image_set(_tree(tmp_path, files), sizes=(160,))
    assert images.family_view.shape == (3, FAMILY_SIZE, FAMILY_SIZE)
    found = find_families(dataclasses.replace(images, family_view=None))
    assert found.family.tolist() == [0, 0, 1]


def test_second_look_links_a_copy_that_the_index_matched_too_thinly(tmp_path):
    """Among many copies of one photo the index returns each keypoint's neighbours from a
    few copies only; an image left alone is checked directly against the best-voted members
    of the larger piece its votes point to."""
    original = _photo(11)
    upright = ("shift", "blur", "hue", "contrast")
    files = {f"A/c{k}.png": TRANSFORMS[t](original) for k, t in enumerate(upright)}
    files["A/lone.png"] = TRANSFORMS["mix"](original)  # mirrored, turned, recoloured
    files["B/other.png"] = _photo(12)
    images = load_image_set(_tree(tmp_path, files))
    points = _keypoints(images)
    lone, other = images.paths.index("A/lone.png"), images.paths.index("B/other.png")
    members = [i for i in range(len(images)) if i not in (lone, other)]
    parts = _pieces(len(images), members)
    # a few index votes from the lone copy (as a mirror image) and the other photo to the family
    pairs = [(lone, j, 1, 4) for j in members]
    pairs += [(other, j, o, 4) for j in members for o in (0, 1)]
    matches = _votes(pairs)
    links = second_look(points, matches, parts, SETTINGS, 1)
    assert links and all(lone in (link.a, link.b) for link in links)
    assert all(link.kind == "geometric" and link.score >= 8 for link in links)
    assert len(links) <= min(len(members), SETTINGS.second_lone_members)  # of the one larger piece
    # nothing to look at when no piece of several images was found
    assert second_look(points, matches, Pieces(len(images)), SETTINGS, 1) == []


def test_second_look_weighs_pieces_by_their_best_matched_members(tmp_path):
    """A large family collects a few chance votes from many of its members; summed over all
    members they outweighed the lone copy's own, smaller family, which was then never
    checked. Pieces are ranked by their best-voted members."""
    original = _photo(11)
    upright = ("shift", "blur", "hue", "contrast")
    files = {f"A/c{k}.png": TRANSFORMS[t](original) for k, t in enumerate(upright)}
    files["A/lone.png"] = TRANSFORMS["mix"](original)
    decoys = SETTINGS.second_pieces  # as many large pieces of other photos as the second look takes
    for d in range(decoys):
        for k in range(6):
            files[f"B/d{d}_{k}.png"] = _photo(100 + 6 * d + k)
    images = load_image_set(_tree(tmp_path, files))
    points = _keypoints(images)
    row = {path: i for i, path in enumerate(images.paths)}
    lone = row["A/lone.png"]
    family = [row[f"A/c{k}.png"] for k in range(len(upright))]
    pieces = [[row[f"B/d{d}_{k}.png"] for k in range(6)] for d in range(decoys)]
    parts = _pieces(len(images), family, *pieces)
    # the family: two members with 5 votes, two with 1 (12 in all, 11 for the best three);
    # each decoy piece: 3 votes from each of 6 members (18 in all, 9 for the best three)
    votes = {j: v for j, v in zip(family, (5, 5, 1, 1), strict=True)}
    votes.update({j: 3 for piece in pieces for j in piece})
    matches = _votes([(lone, j, 1, v) for j, v in votes.items()])
    links = second_look(points, matches, parts, SETTINGS, 1)
    assert any({link.a, link.b} & set(family) for link in links)
    assert all(lone in (link.a, link.b) for link in links)
    assert not any({link.a, link.b} & set(itertools.chain(*pieces)) for link in links)


def test_last_look_goes_further_down_the_votes_for_images_still_alone(tmp_path, monkeypatch):
    """Chance votes (from the fill edges of turned copies, say) can outweigh a smooth
    photo's few votes for its own family: a second round checks the images the first left
    alone against the pieces ranked after the first ``last_pieces``, and no others again."""
    original = _photo(11)
    upright = ("shift", "blur", "hue")
    files = {f"A/c{k}.png": TRANSFORMS[t](original) for k, t in enumerate(upright)}
    files["A/lone.png"] = TRANSFORMS["mix"](original)
    for d in range(2):  # two pieces of other photos with more votes than the family
        for k in range(3):
            files[f"B/d{d}_{k}.png"] = _photo(100 + 3 * d + k)
    images = load_image_set(_tree(tmp_path, files))
    row = {path: i for i, path in enumerate(images.paths)}
    lone = row["A/lone.png"]
    family = [row[f"A/c{k}.png"] for k in range(len(upright))]
    pieces = [[row[f"B/d{d}_{k}.png"] for k in range(3)] for d in range(2)]
    parts = _pieces(len(images), family, *pieces)

    def voted(votes: dict[int, int]) -> Matches:
        return _votes([(lone, j, 1, v) for j, v in votes.items()])

    decoys = {j: 9 for piece in pieces for j in piece}
    two = dataclasses.replace(SETTINGS, last_pieces=2)  # the two decoy pieces fill the first round
    described = []
    monkeypatch.setattr(
        looks,
        "describe_finely",
        lambda view, settings: described.append(1) or describe_finely(view, settings),
    )
    links = last_look(images.family_view, voted({j: 3 for j in family} | decoys), parts, two, 1)
    assert links and all(lone in (link.a, link.b) for link in links)
    assert all({link.a, link.b} - {lone} <= set(family) for link in links)
    assert len(described) == len(images)  # each image described once over both rounds
    # with its family among the first pieces, a linked image is not looked at again
    described.clear()
    assert last_look(images.family_view, voted({j: 20 for j in family} | decoys), parts, two, 1)
    assert len(described) == 1 + len(family) + 3  # the lone copy, its family, one decoy piece


def test_smooth_photos_are_described_again_at_a_lower_contrast_threshold():
    """A smooth, low-contrast photo has few keypoints at the usual threshold, too few for
    its copies to be verified; it is described again at a lower one. A textured photo
    keeps the keypoints it had."""
    smooth = ImageEnhance.Contrast(_photo(7).filter(ImageFilter.GaussianBlur(2))).enhance(0.2)
    textured = _photo(8)
    view = {
        name: np.asarray(img.convert("L").resize((FAMILY_SIZE, FAMILY_SIZE)))
        for name, img in (("smooth", smooth), ("textured", textured))
    }
    adaptive = {name: describe(v, SETTINGS)[0] for name, v in view.items()}
    once = dataclasses.replace(SETTINGS, few_keypoints=0)
    single = {name: describe(v, once)[0] for name, v in view.items()}
    assert len(single["smooth"]) < SETTINGS.few_keypoints
    assert len(adaptive["smooth"]) > len(single["smooth"])
    assert len(single["textured"]) >= SETTINGS.few_keypoints
    np.testing.assert_array_equal(adaptive["textured"], single["textured"])


def test_the_demo_drawings_make_no_false_label_conflict(tmp_path):
    """Single weak fits between drawings of like spots joined Monkeypox/M25_1.jpg to the
    family of Others/O20_1-3 and chained unrelated drawings."""
    images = load_image_set(demo_dataset(root=tmp_path))
    found = find_families(images)
    family = _family_of(found, images.paths)
    assert family["Monkeypox/M25_1.jpg"] != family["Others/O20_1.jpg"]
    for rows in found.members():
        assert len(set(images.labels[rows].tolist())) == 1, [images.paths[i] for i in rows]
    assert max(len(rows) for rows in found.members()) <= 6
    # the planted copies are still found
    assert family["Others/O03_1.jpg"] == family["Others/O90_1.jpg"]
    assert family["Monkeypox/M02_1.jpg"] == family["Monkeypox/M90_1.jpg"]
