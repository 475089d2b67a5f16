"""Data-side failures a user can meet with odd inputs: a group pattern that backtracks
forever, plain images that share a perceptual hash, file names that are not UTF-8, long
family detection without progress, and cv training parts too small for the inner part."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mpx_eval.cli import main
from mpx_eval.data import grouping, patterns
from mpx_eval.data.audit import _close_pairs, find_duplicates, hamming_matrix
from mpx_eval.data.families import find_families
from mpx_eval.data.families import pipeline as family_pipeline
from mpx_eval.data.images import group_ids, load_image_set
from mpx_eval.data.splits import inner_part_note, make_plan
from mpx_eval.errors import MpxEvalError


def _noise(seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def _write(root: Path, images: dict[str, Image.Image]) -> Path:
    for rel, img in images.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / rel)
    return root


# ---- the group pattern


def test_backtracking_group_pattern_stops_within_seconds_naming_the_file(
    tmp_path, monkeypatch, capsys
):
    # '^(a+)+$' on 30 a's and a non-matching tail takes about a minute in Python's re
    monkeypatch.setattr(patterns, "PATTERN_SECONDS", 1.0)
    root = _write(
        tmp_path / "data",
        {"A/x_1.png": _noise(0), f"A/{'a' * 30}X.png": _noise(1), "B/y_1.png": _noise(2)},
    )
    started = time.perf_counter()
    code = main(
        ["splits", "--data-dir", str(root), "--folds", "0", "--families", "off",
         "--group-pattern", "^(a+)+$", "--out", str(tmp_path / "s.csv")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert time.perf_counter() - started < 10
    assert code == 2
    assert len(err) == 1 and "took over 1 s" in err[0] and f"{'a' * 30}X" in err[0]
    assert "nested repetition" in err[0] and "'^([^_]+)_'" in err[0]


def test_ordinary_group_patterns_keep_their_groups():
    paths = ["A/P13_1.jpg", "A/P13_2.jpg", "B/17.jpg", "B/P2x_4.png"]
    assert list(group_ids(paths, r"^([^_]+)_")) == ["P13", "P13", "17", "P2x"]
    assert list(group_ids(paths, r"^(P\d+)")) == ["P13", "P13", "17", "P2"]


# ---- plain images and the perceptual hash


def test_plain_images_of_distinct_colours_are_no_copies(tmp_path):
    # 40 one-pixel images of distinct colours once made 780 near-duplicate pairs (0 of 63
    # bits apart), one family and a false label conflict
    rng = np.random.default_rng(0)
    files = {
        f"{'AB'[k % 2]}/p{k}.png": Image.new("RGB", (1, 1), tuple(map(int, c)))
        for k, c in enumerate(rng.integers(0, 256, (40, 3)))
    }
    images = load_image_set(_write(tmp_path, files))
    exact, near = find_duplicates(images)
    assert exact == [] and near == []
    found = find_families(images)
    assert found.members() == []
    assert any("40 image(s) are plain" in note for note in found.notes)


def test_flat_images_and_gradients_link_only_as_identical_files(tmp_path):
    ramp = np.linspace(0, 1, 64)
    files = {
        "A/red-small.png": Image.new("RGB", (20, 20), (200, 30, 30)),
        "B/red-large.png": Image.new("RGB", (90, 90), (200, 30, 30)),
        "B/red-small-again.png": Image.new("RGB", (20, 20), (200, 30, 30)),
    }
    for k, (low, high, across) in enumerate([(100, 110, True), (30, 45, True), (90, 99, False)]):
        grey = low + (high - low) * (ramp[None, :] if across else ramp[:, None])
        grey = np.broadcast_to(grey, (64, 64)).astype(np.uint8)
        files[f"{'AB'[k % 2]}/ramp{k}.png"] = Image.fromarray(grey).convert("RGB")
    images = load_image_set(_write(tmp_path, files))
    exact, near = find_duplicates(images)
    row = {path: i for i, path in enumerate(images.paths)}
    assert exact == [sorted([row["A/red-small.png"], row["B/red-small-again.png"]])]
    assert near == []
    families = find_families(images).members()
    assert families == [sorted([row["A/red-small.png"], row["B/red-small-again.png"]])]


def test_textured_copies_stay_near_duplicates(tmp_path):
    photo = _noise(3, 80).resize((160, 160), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=60)
    files = {
        "A/photo.png": photo,
        "B/photo-small.png": photo.resize((100, 100), Image.Resampling.BILINEAR),
        "B/photo-jpeg.png": Image.open(io.BytesIO(buf.getvalue())).convert("RGB"),
        "A/other.png": _noise(4, 80).resize((160, 160), Image.Resampling.BICUBIC),
    }
    images = load_image_set(_write(tmp_path, files))
    _, near = find_duplicates(images)
    paired = {frozenset((images.paths[a], images.paths[b])) for a, b, _ in near}
    assert paired == {
        frozenset(p)
        for p in [
            ("A/photo.png", "B/photo-small.png"),
            ("A/photo.png", "B/photo-jpeg.png"),
            ("B/photo-small.png", "B/photo-jpeg.png"),
        ]
    }


def test_near_pairs_found_in_blocks_equal_the_full_matrix():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, (700, 8), dtype=np.uint8)
    hashes[300] = hashes[5]
    hashes[300, 0] ^= 3  # two bits apart
    dist = hamming_matrix(hashes)
    rows, cols = np.nonzero(np.triu(dist <= 22, k=1))
    expected = [(int(i), int(j), int(dist[i, j])) for i, j in zip(rows, cols, strict=True)]
    assert (5, 300, 2) in expected
    assert _close_pairs(hashes, np.arange(700), 22, chunk=64) == expected


# ---- file names that are not UTF-8


def _odd_name(folder: Path, raw: bytes) -> Path:
    """``folder`` / a name made of ``raw`` bytes; skips where the file system refuses it."""
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + raw))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        path.unlink()
    except OSError:
        pytest.skip("this file system does not take names that are not UTF-8")
    return path


@pytest.mark.parametrize("command", ["splits", "run"])
def test_an_image_name_that_is_not_utf8_is_refused_by_name(make_tree, tmp_path, command, capsys):
    root = make_tree({"A": 4, "B": 4})
    _noise(5).save(_odd_name(root / "A", b"caf\xe9.png"), "PNG")
    out = tmp_path / ("s.csv" if command == "splits" else "run")
    code = main(
        [command, "--data-dir", str(root), "--folds", "0", "--families", "off",
         "--out", str(out)]
        + (["--epochs", "1", "--image-size", "32", "--models", "t3"] if command == "run" else [])
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("mpx_eval: error: image ")
    assert "A/caf\\xe9.png" in err[-1] and "not valid UTF-8" in err[-1] and "rename" in err[-1]


def test_class_folder_and_data_folder_names_that_are_not_utf8(tmp_path, capsys):
    root = tmp_path / "data"
    for folder in (_odd_name(root, b"Caf\xe9"), root / "B"):
        for k in range(3):
            folder.mkdir(parents=True, exist_ok=True)
            _noise(k).save(folder / f"x{k}.png")
    args = ["splits", "--folds", "0", "--families", "off", "--out", str(tmp_path / "s.csv")]
    assert main([*args, "--data-dir", str(root)]) == 2
    err = capsys.readouterr().err
    assert "class folder " in err and "data/Caf\\xe9" in err and "not valid UTF-8" in err
    odd_root = _odd_name(tmp_path, b"d\xe9ta")
    os.rename(root, odd_root)
    assert main([*args, "--data-dir", str(odd_root)]) == 2
    err = capsys.readouterr().err
    assert "data folder " in err and "d\\xe9ta" in err and "not valid UTF-8" in err


def test_an_unread_file_with_an_odd_name_is_listed_escaped(make_tree):
    root = make_tree({"A": 3, "B": 3})
    _odd_name(root / "A", b"notes\xe9.txt").write_text("not an image")
    assert load_image_set(root).unread == ["A/notes\\xe9.txt"]


# ---- progress of long family detection


def test_family_detection_reports_progress_through_the_looks(tmp_path, monkeypatch):
    # the looks after the candidate checks took 45 of 150 s on 1,710 augmented photos,
    # while the line already said 100 %
    photo = _noise(6, 60).resize((160, 160), Image.Resampling.BICUBIC)
    files = {f"{'AB'[k % 2]}/c{k}.png": photo.rotate(90 * k) for k in range(4)}
    files |= {f"A/o{k}.png": _noise(10 + k, 60).resize((160, 160)) for k in range(4)}
    images = load_image_set(_write(tmp_path, files))
    calls: list[tuple[int, int]] = []
    at_start: list[float] = []
    for name in ("second_look", "last_look", "between_pieces"):
        look = getattr(family_pipeline, name)

        def watched(*args, _look=look, **kwargs):
            done, total = calls[-1]
            at_start.append(done / total)
            return _look(*args, **kwargs)

        monkeypatch.setattr(family_pipeline, name, watched)
    find_families(images, progress=lambda done, total: calls.append((done, total)))
    assert len(at_start) == 3
    assert at_start == sorted(set(at_start)) and at_start[-1] < 0.95
    assert calls[-1][0] == calls[-1][1]


def test_detection_progress_writes_a_line_now_and_then_in_a_log(monkeypatch):
    monkeypatch.setattr(grouping, "LOG_EVERY_SECONDS", 0.0)
    log = io.StringIO()
    progress = grouping.DetectionProgress(100, stream=log)
    for done in (100, 200, 300):
        progress(done, 300)
    lines = log.getvalue().splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == ["33%", "67%", "100%"]
    assert "ETA" in lines[0]


# ---- small grouped sets and the inner validation part


GROUPS = r"^(A00(?=[01]_)|[^_]+)"  # one pair shares a group: the set is grouped


def _tiny_grouped(make_tree, per_class: int):
    return load_image_set(make_tree({"A": per_class, "B": per_class}), group_pattern=GROUPS)


def test_an_adapted_inner_part_is_said(make_tree, tmp_path, capsys):
    images = _tiny_grouped(make_tree, 16)
    plan = make_plan(images, folds=2, inner_fraction=0.001)
    note = inner_part_note(images, plan, 0.001)
    assert note is not None and note.startswith("--inner-fraction 0.001 adapted: 2 of 2")
    assert "set --inner-fraction 0.12 or more" in note
    assert inner_part_note(images, make_plan(images, folds=2), 0.125) is None

    args = ["splits", "--data-dir", str(images.root), "--folds", "2", "--families", "off"]
    args += ["--group-pattern", GROUPS, "--inner-fraction", "0.001"]
    assert main([*args, "--out", str(tmp_path / "s.csv")]) == 0
    assert "  ! --inner-fraction 0.001 adapted" in capsys.readouterr().err
    audit = json.loads((tmp_path / "s.audit.json").read_text())
    assert audit["plan_notes"] == [note]


def test_a_training_part_too_small_to_split_is_refused_in_one_line(make_tree, tmp_path, capsys):
    # 2 and 3 images in 2 folds: a training part of one image per class once raised
    # sklearn's "n_splits=2 cannot be greater than the number of members in each class"
    root = make_tree({"A": 2, "B": 3})
    with pytest.raises(MpxEvalError, match="too small to set an inner validation part aside"):
        make_plan(load_image_set(root), folds=2)
    args = ["splits", "--data-dir", str(root), "--folds", "2", "--families", "off"]
    assert main([*args, "--out", str(tmp_path / "s.csv")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("mpx_eval: error: a cv training part of 2 images (A 1, B 1)")
    assert "use fewer --folds (--folds 0: the seed split alone)" in line


# --------------------------------------------------------------------------- group hint


def test_the_group_pattern_hint_names_files_and_ignores_camera_prefixes():
    from mpx_eval.commands.inputs import _repeated_prefixes

    patients = [f"C/p{i:02d}_{shot}.jpg" for i in range(10) for shot in (1, 2)]
    assert _repeated_prefixes(patients) == ["p00_1.jpg", "p00_2.jpg", "p01_1.jpg"]
    camera = [f"C/IMG_{4400 + i}.jpg" for i in range(20)] + [f"C/x{i}.jpg" for i in range(5)]
    assert _repeated_prefixes(camera) == []  # IMG_ holds most of the set: a camera, not a patient
    assert _repeated_prefixes([f"C/{i}.jpg" for i in range(20)]) == []
