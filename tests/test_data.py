"""Scanning and decoding image folders (mpx_eval.data.images)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from mpx_eval.data.images import group_ids, load_image_set, scan_directory
from mpx_eval.errors import MpxEvalError


def test_scan_matches_keras_file_order(make_tree, tmp_path):
    keras_utils = pytest.importorskip("keras.src.utils.dataset_utils")
    root = make_tree({"Others": 5, "Monkeypox": 4})
    nested = root / "Others" / "sub"
    nested.mkdir()
    Image.new("RGB", (8, 8)).save(nested / "deep.PNG")
    (root / "Others" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    classes, files = scan_directory(root)
    paths, labels, names = keras_utils.index_directory(
        str(root),
        "inferred",
        formats=(".bmp", ".gif", ".jpeg", ".jpg", ".png"),
        shuffle=False,
    )
    assert classes == names == ["Monkeypox", "Others"]
    assert [f.path for f in files] == [os.path.relpath(p, root) for p in paths]
    assert [f.label for f in files] == list(labels)


def test_decode_once_to_uint8_arrays_per_size(make_tree):
    root = make_tree({"A": 3, "B": 2}, size=50)
    images = load_image_set(root, sizes=(16, 32))
    assert set(images.arrays) == {16, 32}
    assert images.arrays[32].shape == (5, 32, 32, 3)
    assert images.arrays[32].dtype == np.uint8
    assert images.counts == {"A": 3, "B": 2}
    assert images.sizes_seen == {"50x50": 5}
    assert images.thumbnails.shape[1:] == (96, 96, 3)


def test_memory_is_one_uint8_array_per_size(make_tree):
    images = load_image_set(make_tree({"A": 4, "B": 4}), sizes=(224,))
    # 2,142 images at 224 px would be 2142 * 224 * 224 * 3 bytes = 322 MB
    assert images.arrays[224].nbytes == 8 * 224 * 224 * 3


def test_fingerprint_follows_paths_and_bytes(make_tree, tmp_path):
    root = make_tree({"A": 3, "B": 3})
    first = load_image_set(root).fingerprint
    assert load_image_set(root).fingerprint == first
    victim = next((root / "A").iterdir())
    Image.new("RGB", (40, 40), (1, 2, 3)).save(victim)
    assert load_image_set(root).fingerprint != first


def test_group_pattern_first_capture_group_of_stem():
    paths = ["Monkeypox/P13_1.jpg", "Monkeypox/P13_2.jpg", "Others/17.jpg", "Others/17_2.jpg"]
    assert list(group_ids(paths, r"^([^_]+)_")) == ["P13", "P13", "17", "17"]
    assert list(group_ids(paths, None)) == paths


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("(", "does not compile"), ("^P", "capture group"), (r"^(zzz)_", "matches no file")],
)
def test_group_pattern_errors(pattern, message):
    with pytest.raises(MpxEvalError, match=message):
        group_ids(["A/P1_1.jpg"], pattern)


def _save(img: Image.Image, path, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)


def test_odd_but_valid_images_decode(tmp_path):
    root = tmp_path / "odd"
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    _save(rgb.convert("RGBA"), root / "A" / "alpha.png")
    _save(rgb.convert("L"), root / "A" / "grey.png")
    _save(rgb.convert("P"), root / "A" / "palette.gif")
    _save(rgb.convert("CMYK"), root / "A" / "cmyk.jpg")
    ramp = (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16)
    _save(Image.fromarray(ramp), root / "B" / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    _save(Image.new("RGB", (40, 20), (255, 0, 0)), root / "B" / "rotated.jpg", exif=exif)
    _save(rgb, root / "B" / "name with spaces, 'quotes' & <html>.bmp")
    _save(rgb, root / "B" / "ünïcødé_名前.jpeg")
    images = load_image_set(root, sizes=(16,))
    assert len(images) == 8
    by_name = dict(zip(images.paths, images.original_sizes, strict=True))
    assert by_name["B/rotated.jpg"] == (20, 40)  # upright as a viewer shows it
    sixteen = images.arrays[16][images.paths.index("B/sixteen.png")]
    assert 0 < sixteen.mean() < 255  # scaled from 16 bits, not clipped to white
    assert sixteen.max() > 200


def test_large_photo_is_reduced_right_after_decoding(tmp_path):
    root = tmp_path / "big"
    big = Image.new("RGB", (4872, 3248), (120, 60, 30))
    _save(big, root / "A" / "big.jpg", quality=80)
    _save(Image.new("RGB", (50, 50)), root / "B" / "small.jpg")
    images = load_image_set(root, sizes=(64,))
    assert images.original_sizes[0] == (4872, 3248)
    assert images.arrays[64].shape == (2, 64, 64, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is text, not a JPEG", "not a readable image"),
        ("truncated", "cannot be decoded"),
    ],
)
def test_bad_image_names_the_file(tmp_path, content, message):
    root = tmp_path / "bad"
    rng = np.random.default_rng(0)
    for cls in ("A", "B"):
        for i in range(2):
            _save(
                Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)),
                root / cls / f"{i}.jpg",
            )
    if content == "truncated":
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        content = buf.getvalue()[: len(buf.getvalue()) // 2]
    (root / "A" / "broken.jpg").write_bytes(content)
    with pytest.raises(MpxEvalError, match=message) as info:
        load_image_set(root)
    assert "A/broken.jpg" in str(info.value)
    assert "--skip-bad-images" in str(info.value)
    kept = load_image_set(root, skip_bad_images=True)
    assert "A/broken.jpg" not in kept.paths
    assert [p for p, _ in kept.skipped] == ["A/broken.jpg"]
    assert list(kept.scan_index) == [0, 1, 3, 4]  # positions in the full scan are kept


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "does not exist"),
        ("file", "is a file"),
        ("empty", "no class sub-folders"),
        ("one-class", "one class"),
        ("empty-class", "holds no image files"),
        ("no-images", "holds no image files"),
    ],
)
def test_bad_folders(tmp_path, layout, message):
    root = tmp_path / "d"
    img = Image.new("RGB", (8, 8))
    if layout == "file":
        root.write_text("x")
    elif layout == "empty":
        root.mkdir()
    elif layout == "one-class":
        _save(img, root / "A" / "1.jpg")
    elif layout == "empty-class":
        _save(img, root / "A" / "1.jpg")
        (root / "B").mkdir()
    elif layout == "no-images":
        (root / "A").mkdir(parents=True)
        (root / "A" / "readme.txt").write_text("x")
        (root / "B").mkdir()
        (root / "B" / "data.csv").write_text("x")
    with pytest.raises(MpxEvalError, match=message):
        scan_directory(root)


def test_decompression_bomb_is_refused_by_name(tmp_path):
    import struct
    import zlib

    root = tmp_path / "bomb"
    _save(Image.new("RGB", (8, 8)), root / "A" / "ok.png")
    _save(Image.new("RGB", (8, 8)), root / "B" / "ok.png")

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    # a PNG header that declares 40,000 x 40,000 pixels: refused before any decoding
    header = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    (root / "B" / "huge.png").write_bytes(png)
    with pytest.raises(MpxEvalError, match=r"B/huge\.png.*decompression bomb"):
        load_image_set(root)
