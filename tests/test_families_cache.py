"""The family cache: a second detection of an unchanged set is read back, a changed set
describes only its new images, changed settings start afresh, and a damaged, foreign or
linked cache file is never trusted, followed or fatal."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from mpx_eval.data.families import FamilySettings, cache, describe, find_families
from mpx_eval.data.families.cache import FamilyCache, cache_root
from mpx_eval.data.grouping import DetectionProgress
from mpx_eval.data.images import load_image_set

from .test_families import TRANSFORMS, _photo, _tree


def _set(root: Path, extra: int = 0):
    """Two photos with a copy each, and ``extra`` more photos."""
    files = {
        "A/p1.png": _photo(1),
        "A/p1-copy.png": TRANSFORMS["rotate-45-fill"](_photo(1)),
        "B/p2.png": _photo(2),
        "B/p2-copy.png": TRANSFORMS["flip-horizontal"](_photo(2)),
    }
    files.update({f"B/x{k}.png": _photo(20 + k) for k in range(extra)})
    return load_image_set(_tree(root, files))


@pytest.fixture
def described(monkeypatch) -> list[int]:
    """Counts the images described (one entry per call of ``describe``)."""
    calls: list[int] = []
    original = describe.describe

    def counting(view, settings):
        calls.append(1)
        return original(view, settings)

    monkeypatch.setattr(describe, "describe", counting)
    return calls


def _same(a, b) -> None:
    assert a.family.tolist() == b.family.tolist()
    assert a.links == b.links and a.notes == b.notes


def test_an_unchanged_set_is_read_back_whole(tmp_path, described):
    images = _set(tmp_path / "data")
    first = find_families(images)
    assert len(described) == 4 and first.members() == [[0, 1], [2, 3]]
    heard = []

    class Progress:
        def __call__(self, done, total):
            raise AssertionError("a cached result does no work to report")

        def from_cache(self, n):
            heard.append(n)

    again = find_families(images, progress=Progress())
    _same(first, again)
    assert len(described) == 4 and heard == [4]
    # without the cache the same families are found again
    _same(first, find_families(images, cache=False))
    assert len(described) == 8


def test_a_changed_set_describes_only_its_new_images(tmp_path, described):
    first = find_families(_set(tmp_path / "data"))
    assert len(described) == 4
    grown = _set(tmp_path / "data", extra=2)
    found = find_families(grown)
    assert len(described) == 6  # the two new photos only
    assert found.members() == first.members()
    _same(found, find_families(grown, cache=False))


def test_changed_settings_start_afresh(tmp_path, described):
    images = _set(tmp_path / "data")
    find_families(images)
    stricter = dataclasses.replace(FamilySettings(), contrast=0.02)
    find_families(images, settings=stricter)
    assert len(described) == 8
    root = cache_root()
    assert root is not None and len(list((root / "families").iterdir())) == 2


def test_the_cache_is_off_when_asked(tmp_path, monkeypatch, described):
    monkeypatch.setenv("MPX_EVAL_FAMILY_CACHE", "off")
    assert cache_root() is None
    images = _set(tmp_path / "data")
    find_families(images)
    find_families(images)
    assert len(described) == 8


def test_the_default_folder_is_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("MPX_EVAL_FAMILY_CACHE")
    monkeypatch.setenv("MPX_EVAL_CACHE_DIR", str(tmp_path / "shared"))
    assert cache_root() == tmp_path / "shared"  # the demo set's cache folder too
    monkeypatch.delenv("MPX_EVAL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mpx_eval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "mpx_eval"


def _files(kind: str) -> list[Path]:
    root = cache_root()
    assert root is not None
    return sorted((root / "families").glob(f"*/{kind}/*"))


def _garbage() -> list[bytes]:
    """Damaged and foreign contents for a cache file."""
    pickled = io.BytesIO()
    np.savez(pickled, keys=np.array([object()], dtype=object), counts=np.zeros(1, np.int32))
    wrong_shapes = io.BytesIO()
    np.savez(
        wrong_shapes,
        keys=np.zeros((1, 16), np.uint8),
        counts=np.array([5], np.int32),
        xy=np.zeros((2, 2), np.float32),
        raw=np.zeros((2, 128), np.uint8),
    )
    return [
        b"",
        b"PK\x03\x04 not a zip",
        pickled.getvalue(),
        wrong_shapes.getvalue(),
        b'{"format": "families-v1", "family": [0, 0], "links": [], "notes": []}',
        b'{"format": "families-v1", "family": [0, 0, 1, 1], "links": [[3, 1, "exact", 1]], '
        b'"notes": []}',
        b"[" * 100_000,
        b"\xff\xfe not text",
    ]


@pytest.mark.parametrize("garbage", range(len(_garbage())))
def test_damaged_or_foreign_cache_files_are_ignored(tmp_path, described, garbage):
    images = _set(tmp_path / "data")
    first = find_families(images)
    for path in [*_files("points"), *_files("results")]:
        content = _garbage()[garbage]
        path.write_bytes(content if content else path.read_bytes()[:100])
    again = find_families(images)
    _same(first, again)
    assert len(described) == 8  # described again: nothing read from the damaged files
    described.clear()
    _same(first, find_families(images))  # the files were written anew
    assert not described


def test_a_truncated_description_shard_is_ignored(tmp_path, described):
    images = _set(tmp_path / "data")
    first = find_families(images)
    for path in _files("points"):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    for path in _files("results"):
        path.unlink()
    _same(first, find_families(images))
    assert len(described) == 8


def test_writes_replace_a_link_and_never_follow_it(tmp_path):
    images = _set(tmp_path / "data")
    first = find_families(images)
    (result,) = _files("results")
    outside = tmp_path / "outside.json"
    outside.write_text("keep me")
    result.unlink()
    result.symlink_to(outside)
    _same(first, find_families(images))
    assert outside.read_text() == "keep me"
    assert not result.is_symlink() and json.loads(result.read_text())["format"]


def test_nothing_is_written_through_a_linked_folder(tmp_path):
    root = cache_root()
    assert root is not None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir(parents=True, exist_ok=True)
    (root / "families").symlink_to(elsewhere, target_is_directory=True)
    images = _set(tmp_path / "data")
    found = find_families(images)
    assert found.members() == [[0, 1], [2, 3]]
    assert not any(elsewhere.rglob("*"))


def test_the_cache_keeps_to_its_size_bound(tmp_path, monkeypatch):
    images = _set(tmp_path / "data")
    find_families(images)
    sizes = {p: p.stat().st_size for p in [*_files("points"), *_files("results")]}
    oldest = min(sizes, key=lambda p: p.stat().st_mtime)
    os.utime(oldest, (1, 1))
    monkeypatch.setattr(cache, "MAX_BYTES", sum(sizes.values()) - 1)
    FamilyCache(cache_root(), FamilySettings())._bound()
    assert not oldest.exists()
    assert all(p.exists() for p in sizes if p != oldest)


def test_a_cache_hit_says_so():
    log = io.StringIO()
    DetectionProgress(3192, stream=log).from_cache(3192)
    assert log.getvalue() == "Image families: from the cache (3,192 images)\n"


def test_a_fifo_in_the_cache_is_never_read(tmp_path):
    images = _set(tmp_path / "data")
    first = find_families(images)
    (result,) = _files("results")
    shard = _files("points")[0]
    for path in (result, shard):
        path.unlink()
        os.mkfifo(path)
    found = []
    worker = threading.Thread(target=lambda: found.append(find_families(images)), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "reading a FIFO in the cache blocked detection"
    _same(first, found[0])
