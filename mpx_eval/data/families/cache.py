"""The family cache: each image's description, keyed by its content, and whole detection
results of unchanged sets, kept in a user cache folder so that no image is described twice.

Layout (``<root>`` is ``$MPX_EVAL_FAMILY_CACHE``, else mpx_eval's cache folder, as for the
demo set: ``$MPX_EVAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/mpx_eval``, else
``~/.cache/mpx_eval``; ``MPX_EVAL_FAMILY_CACHE=off`` turns the cache off)::

    <root>/families/<version>-<settings digest>/points/<xx>.npz   descriptions, by key prefix
    <root>/families/<version>-<settings digest>/results/<key>.json whole results

Every file is written to a temporary sibling and renamed over its name; every file read is
checked (shapes, types, ranges) and ignored when anything is off, so a damaged or foreign
file costs a recomputation, never a failure. Nothing is unpickled. The folder is bounded to
``MAX_BYTES``: the least recently used files go first. Deleting ``<root>/families`` clears it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import stat
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from ..demo import cache_root as user_cache
from ..images import ImageSet
from .describe import Description
from .result import Families, Link
from .settings import FamilySettings

#: Changes whenever what is cached, or how it is computed, changes: older entries are ignored.
FORMAT_VERSION = "families-v1"

#: The environment variable naming the family cache's own folder (``off``: no cache).
CACHE_ENV = "MPX_EVAL_FAMILY_CACHE"

#: Bytes the family cache may hold; about 27 kB a described image, so some 70,000 images.
MAX_BYTES = 2 * 1024**3

_SHARD_HEX = 2  # 256 files of descriptions: a 30,000-image set puts about 120 in each
_LINK_KINDS = ("exact", "near", "geometric")
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile)


def cache_root() -> Path | None:
    """``$MPX_EVAL_FAMILY_CACHE``, else mpx_eval's cache folder (``data.demo.cache_root``);
    None when ``$MPX_EVAL_FAMILY_CACHE`` is ``off``."""
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen.lower() == "off":
        return None
    return Path(chosen) if chosen else user_cache()


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def settings_digest(settings: FamilySettings) -> str:
    """A digest of every field of ``settings`` and the format version."""
    fields = json.dumps(dataclasses.asdict(settings), sort_keys=True, default=list)
    return _digest(FORMAT_VERSION.encode(), fields.encode())


def image_keys(images: ImageSet, views: np.ndarray) -> list[str]:
    """One key per image: its file's content hash and the working copy it is described on
    (a set built by hand, or one whose copies come from its arrays, is keyed right too)."""
    return [
        _digest(sha.encode(), np.ascontiguousarray(view).tobytes())
        for sha, view in zip(images.sha256, views, strict=True)
    ]


def result_key(images: ImageSet, keys: list[str]) -> str:
    """The key of a whole result: everything of the set that detection reads, in order."""
    meta = json.dumps(
        {
            "paths": list(images.paths),
            "labels": np.asarray(images.labels).tolist(),
            "sizes": [list(size) for size in images.original_sizes],
            "texture": np.asarray(images.hash_texture).tolist(),
            "keys": keys,
        }
    )
    return _digest(meta.encode(), np.ascontiguousarray(images.phash).tobytes())


class FamilyCache:
    """The cache of one detection setting under ``root`` (see the module's docstring)."""

    def __init__(self, root: Path, settings: FamilySettings) -> None:
        self.root = Path(root)
        self.settings = settings
        self.parts = ("families", f"{FORMAT_VERSION}-{settings_digest(settings)}")

    @classmethod
    def from_environment(cls, settings: FamilySettings) -> FamilyCache | None:
        """The cache in the user cache folder (``cache_root``), or None when it is off."""
        root = cache_root()
        return None if root is None else cls(root, settings)

    # ------------------------------------------------------------------ descriptions

    def descriptions(self, keys: list[str]) -> dict[str, Description]:
        """The cached descriptions of the images of ``keys`` that have one."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for key in keys:
            wanted[key[:_SHARD_HEX]].add(key)
        found: dict[str, Description] = {}
        for shard, shard_keys in wanted.items():
            path = self._path("points", f"{shard}.npz")
            entries = self._read_shard(path)
            hits = [k for k in shard_keys if k in entries]
            found.update((k, entries[k]) for k in hits)
            if hits:
                _touch(path)
        return found

    def store_descriptions(self, described: dict[str, Description]) -> None:
        """Add ``described`` (key -> description) to the cache, one rewrite per shard."""
        by_shard: dict[str, dict[str, Description]] = defaultdict(dict)
        for key, description in described.items():
            by_shard[key[:_SHARD_HEX]][key] = description
        for shard, new in by_shard.items():
            path = self._path("points", f"{shard}.npz")
            packed = _packed({**self._read_shard(path), **new})
            self._write(path, functools.partial(_save_npz, arrays=packed))
        self._bound()

    def _read_shard(self, path: Path) -> dict[str, Description]:
        try:
            _require_file(path)
            with np.load(path, allow_pickle=False) as data:
                return _unpacked(data, self.settings.features)
        except _READ_ERRORS:
            return {}

    # ------------------------------------------------------------------ whole results

    def result(self, key: str, n: int) -> Families | None:
        """The cached families of the set of ``key`` (``n`` images), if any."""
        path = self._path("results", f"{key}.json")
        try:
            _require_file(path)
            with open(path, encoding="utf-8") as fh:
                found = _families_from(json.load(fh), n)
        except (*_READ_ERRORS, UnicodeDecodeError, RecursionError):
            return None
        if found is not None:
            _touch(path)
        return found

    def store_result(self, key: str, families: Families) -> None:
        """Keep ``families`` as the result of the set of ``key``."""
        data = {
            "format": FORMAT_VERSION,
            "family": families.family.tolist(),
            "links": [[k.a, k.b, k.kind, float(k.score)] for k in families.links],
            "notes": list(families.notes),
        }
        text = json.dumps(data).encode()
        self._write(self._path("results", f"{key}.json"), lambda fh: fh.write(text))
        self._bound()

    # ------------------------------------------------------------------ files

    def _path(self, *parts: str) -> Path:
        return self.root.joinpath(*self.parts, *parts)

    def _folder(self, path: Path) -> Path | None:
        """``path``'s folder, made where missing; None when a link lies below the root
        (nothing is written through one)."""
        current = self.root
        for part in path.relative_to(self.root).parts[:-1]:
            current = current / part
            if current.is_symlink():
                return None
            try:
                current.mkdir(parents=True, exist_ok=True)
            except OSError:
                return None
        return current

    def _write(self, path: Path, write: Callable[[IO[bytes]], object]) -> None:
        """Write ``path`` through a temporary sibling renamed over it (which replaces a
        link there, never follows it); a cache that cannot be written is left alone."""
        folder = self._folder(path)
        if folder is None:
            return
        try:
            handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        except OSError:
            return
        try:
            with os.fdopen(handle, "wb") as fh:
                write(fh)
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def _files(self) -> Iterator[tuple[float, int, Path]]:
        top = self.root / self.parts[0]
        if top.is_symlink():
            return
        for folder, dirs, names in os.walk(top):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            for name in names:
                path = Path(folder, name)
                with contextlib.suppress(OSError):
                    info = path.lstat()
                    yield info.st_mtime, info.st_size, path

    def _bound(self, limit: int | None = None) -> None:
        """Remove the least recently written or used files until the cache fits ``limit``
        bytes (None: ``MAX_BYTES``)."""
        limit = MAX_BYTES if limit is None else limit
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size


def _require_file(path: Path) -> None:
    """Raise OSError unless ``path`` is a regular file (a FIFO would block a reader)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(f"{path} is not a regular file")


def _touch(path: Path) -> None:
    """Mark ``path`` used now, so that it is among the last to be evicted (a link's own
    time, never its target's)."""
    if os.utime in os.supports_follow_symlinks:
        with contextlib.suppress(OSError):
            os.utime(path, follow_symlinks=False)


def _save_npz(fh: IO[bytes], *, arrays: dict[str, np.ndarray]) -> None:
    np.savez(fh, **arrays)


def _packed(entries: dict[str, Description]) -> dict[str, np.ndarray]:
    keys = sorted(entries)
    xy = [entries[k][0] for k in keys]
    raw = [entries[k][1] for k in keys]
    return {
        "keys": np.frombuffer(b"".join(bytes.fromhex(k) for k in keys), np.uint8).reshape(-1, 16),
        "counts": np.array([len(p) for p in xy], dtype=np.int32),
        "xy": np.concatenate(xy).astype(np.float32) if keys else np.empty((0, 2), np.float32),
        "raw": np.concatenate(raw).astype(np.uint8) if keys else np.empty((0, 128), np.uint8),
    }


def _unpacked(data, features: int) -> dict[str, Description]:
    """The entries of one shard, or none when anything about it is off."""
    keys, counts, xy, raw = data["keys"], data["counts"], data["xy"], data["raw"]
    valid = (
        keys.dtype == np.uint8
        and keys.ndim == 2
        and keys.shape[1] == 16
        and counts.dtype == np.int32
        and counts.shape == keys.shape[:1]
        and xy.dtype == np.float32
        and raw.dtype == np.uint8
        and xy.ndim == 2
        and xy.shape[1] == 2
        and raw.shape == (len(xy), 128)
        and bool(np.all((counts >= 0) & (counts <= features)))
        and int(counts.sum()) == len(xy)
        and bool(np.isfinite(xy).all())
    )
    if not valid:
        return {}
    ends = np.cumsum(counts)
    return {
        key.tobytes().hex(): (xy[end - c : end], raw[end - c : end])
        for key, c, end in zip(keys, counts.tolist(), ends.tolist(), strict=True)
    }


def _families_from(data: object, n: int) -> Families | None:
    """The families of a cached result, or None when it is not one for ``n`` images."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return None
    family, links, notes = data.get("family"), data.get("links"), data.get("notes")
    if not (isinstance(family, list) and isinstance(links, list) and isinstance(notes, list)):
        return None
    if len(family) != n or not all(type(f) is int and 0 <= f < n for f in family):
        return None
    if not all(isinstance(note, str) for note in notes):
        return None
    parsed = []
    for link in links:
        if not (isinstance(link, list) and len(link) == 4):
            return None
        a, b, kind, score = link
        if not (type(a) is int and type(b) is int and 0 <= a < b < n):
            return None
        if kind not in _LINK_KINDS or type(score) not in (int, float):
            return None
        parsed.append(Link(a, b, kind, float(score)))
    return Families(family=np.array(family, dtype=np.int64), links=parsed, notes=list(notes))
