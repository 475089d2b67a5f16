"""Image sets: scan a class-per-folder tree like Keras does, decode every file once with Pillow.

Owns file order, labels, group ids, the dataset fingerprint, perceptual hashes and the
in-memory uint8 arrays.
No Keras import here.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy.fft import dctn

from ..config import compile_group_pattern
from ..errors import MpxEvalError
from ..system import usable_cpus
from .patterns import first_groups

#: The extensions ``keras.utils.image_dataset_from_directory`` accepts (compared lower-cased).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
THUMBNAIL_SIZE = 96
#: Side of the grey working copy that family detection compares (see ``families``). SIFT
#: doubles it internally; 128 px found as many copies of MSLD photos as 192 px, in half the time.
FAMILY_SIZE = 128


@dataclass(frozen=True)
class ScannedFile:
    path: str  # relative to the data folder, with '/' separators
    label: int


@dataclass
class ImageSet:
    """A decoded image set. Row ``i`` of every array describes ``paths[i]``.

    ``scan_index[i]`` is the file's position in the Keras-order scan (which also counts files
    skipped as unreadable), so the seed split can reproduce Keras's membership exactly.
    """

    root: Path
    class_names: list[str]
    paths: list[str]
    labels: np.ndarray
    groups: np.ndarray
    scan_index: np.ndarray
    n_scanned: int
    original_sizes: list[tuple[int, int]]
    sha256: list[str]
    phash: np.ndarray  # (n, 8) packed perceptual hashes
    hash_texture: np.ndarray  # (n,) hash bits decided by a clear margin (``perceptual_hash``)
    arrays: dict[int, np.ndarray]
    thumbnails: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    demo: bool = False
    family_view: np.ndarray | None = None  # (n, FAMILY_SIZE, FAMILY_SIZE) uint8 grey
    unread: list[str] = field(default_factory=list)  # files of extensions not read

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over every used file's relative path and content hash, in scan order."""
        digest = hashlib.sha256()
        for path, file_hash in zip(self.paths, self.sha256, strict=True):
            digest.update(path.encode("utf-8") + b"\0" + file_hash.encode("ascii") + b"\n")
        return digest.hexdigest()

    @property
    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(self.class_names)}

    @property
    def sizes_seen(self) -> dict[str, int]:
        """How many files had each original width x height, most common first."""
        tally: dict[str, int] = {}
        for w, h in self.original_sizes:
            key = f"{w}x{h}"
            tally[key] = tally.get(key, 0) + 1
        return dict(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))

    def grouped(self) -> bool:
        """True when some group holds more than one image."""
        return len(set(self.groups.tolist())) < len(self.paths)

    def describe(self) -> dict:
        return {
            "root": str(self.root),
            "classes": list(self.class_names),
            "counts": self.counts,
            "n_images": len(self),
            "n_groups": len(set(self.groups.tolist())),
            "fingerprint": self.fingerprint,
            "sizes_seen": self.sizes_seen,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "unread": list(self.unread),
            "demo": self.demo,
        }


def scan_directory(root: str | Path) -> tuple[list[str], list[ScannedFile]]:
    """List class names and image files in the order ``image_dataset_from_directory`` uses.

    Class names are the sorted sub-folder names (hidden ones skipped); each class folder is
    walked recursively without following directory links, folders and files sorted by name.
    """
    root = Path(root)
    class_names = _class_folders(root)
    files = [
        ScannedFile(rel, label)
        for label, name in enumerate(class_names)
        for rel, filename in _walk(root, name)
        if filename.lower().endswith(IMAGE_EXTENSIONS)
    ]
    for name in class_names:
        require_utf8(name, root / name, "class folder")
    for f in files:
        require_utf8(f.path, root / f.path, "image")
    per_class = {i: 0 for i in range(len(class_names))}
    for f in files:
        per_class[f.label] += 1
    empty = [class_names[i] for i, n in per_class.items() if n == 0]
    if not files:
        raise MpxEvalError(
            f"data folder {root} holds no image files ({', '.join(IMAGE_EXTENSIONS)}) "
            f"in its class folders {', '.join(class_names)}"
        )
    if empty:
        raise MpxEvalError(
            f"class folder {root / empty[0]} holds no image files "
            f"({', '.join(IMAGE_EXTENSIONS)}); remove it or add images"
        )
    if len(class_names) < 2:
        raise MpxEvalError(
            f"data folder {root} has one class ({class_names[0]}); at least two class "
            "sub-folders are needed"
        )
    return class_names, files


def shown_name(path: str | os.PathLike) -> str:
    """``path`` as it can be printed and written: bytes of a name that is not valid UTF-8
    (which Python keeps as lone surrogates) shown as ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def require_utf8(name: str, where: Path, what: str) -> None:
    """Refuse a data folder, class folder or image (``what``) whose ``name`` (``where`` on
    disk) is not valid UTF-8: it could not be written to the run's CSV, JSON and TOML
    files, nor read back from them."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise MpxEvalError(
            f"{what} {shown_name(where)}: the path is not valid UTF-8 (its odd bytes shown as "
            "\\x escapes, as an older system's encoding leaves them); rename it with UTF-8 "
            "characters only and run again"
        ) from None


def _class_folders(root: Path) -> list[str]:
    """The sorted names of ``root``'s visible sub-folders, or an error saying what is wrong."""
    if not root.exists():
        raise MpxEvalError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise MpxEvalError(f"data folder {root} is a file, not a folder of class sub-folders")
    try:
        entries = sorted(os.listdir(root))
    except PermissionError:
        raise MpxEvalError(f"data folder {root} cannot be read (permission denied)") from None
    class_names = [name for name in entries if (root / name).is_dir() and not name.startswith(".")]
    if not class_names:
        raise MpxEvalError(
            f"data folder {root} has no class sub-folders; expected e.g. {root}/Monkeypox/*.jpg "
            f"and {root}/Others/*.jpg"
        )
    return class_names


def _walk(root: Path, class_name: str) -> Iterable[tuple[str, str]]:
    """Every file of a class folder as (path relative to ``root`` with '/', file name), in
    Keras's order: folders by path, files by name, directory links not followed."""
    for dirpath, _, filenames in sorted(os.walk(root / class_name), key=lambda item: item[0]):
        for filename in sorted(filenames):
            yield Path(dirpath, filename).relative_to(root).as_posix(), filename


def unread_files(root: str | Path, class_names: Sequence[str]) -> list[str]:
    """Files in the class folders whose extension mpx_eval (like Keras) does not read, e.g.
    .webp or .tif photos, so that leaving them out is said, not silent. Hidden files are
    not listed."""
    root = Path(root)
    return [
        shown_name(rel)
        for name in class_names
        for rel, filename in _walk(root, name)
        if not filename.startswith(".") and not filename.lower().endswith(IMAGE_EXTENSIONS)
    ]


def describe_unread(unread: Sequence[str], *, show: int = 5) -> str | None:
    """One line: how many files were not read, by extension, and the first few."""
    if not unread:
        return None
    tally: dict[str, int] = {}
    for path in unread:
        ext = Path(path).suffix.lower() or "(no extension)"
        tally[ext] = tally.get(ext, 0) + 1
    kinds = ", ".join(f"{ext} {n}" for ext, n in sorted(tally.items()))
    more = f", and {len(unread) - show} more" if len(unread) > show else ""
    return (
        f"left out {len(unread)} file(s) whose extension mpx_eval does not read ({kinds}; "
        f"it reads {', '.join(IMAGE_EXTENSIONS)}): {', '.join(unread[:show])}{more}"
    )


def group_ids(paths: Sequence[str], pattern: str | None) -> np.ndarray:
    """Group id per file: the pattern's first capture group on the file stem.

    Without a pattern every image is its own group. A stem the pattern does not match keeps
    its whole stem as group id (``17.jpg`` and ``17_2.jpg`` both become ``17`` with
    ``'^([^_]+)_'``). A pattern that matches no file at all is an error, and so is one that
    takes longer than ``patterns.PATTERN_SECONDS`` (see ``patterns.first_groups``).
    """
    if pattern is None:
        return np.array(list(paths), dtype=object)
    compile_group_pattern(pattern, "--group-pattern")
    stems = [Path(path).stem for path in paths]
    found = first_groups(pattern, stems, what="--group-pattern")
    if not any(found):
        example = stems[0] if stems else ""
        raise MpxEvalError(
            f"--group-pattern {pattern!r} matches no file name (e.g. {example!r}); "
            "it is applied to the file name without extension"
        )
    return np.array([group or stem for group, stem in zip(found, stems, strict=True)], dtype=object)


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB view of any Pillow mode: 16-bit grey is scaled, not clipped; alpha is dropped."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(np.rint(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if img.mode in ("P", "PA") or (img.mode == "L" and "transparency" in img.info):
        img = img.convert("RGBA")
    return img.convert("RGB") if img.mode != "RGB" else img


HASH_BITS = 63  # an 8x8 block of DCT coefficients without the constant term


#: How far (in grey levels: the DCT is orthonormal) a hash's frequency must lie from their
#: median for its bit to count as decided. Measured at this margin: the 228 MSLD photos have
#: 48 to 63 decided bits, their copies with the contrast cut to a fifth 21 or more; a plain
#: colour has none, a linear gradient (faint or strong, JPEG-saved too) at most 10.
HASH_MARGIN = 2.0


def perceptual_hash(img: Image.Image) -> tuple[np.ndarray, int]:
    """64-bit perceptual hash (pHash), as packed bits: which of the lowest 8x8 spatial
    frequencies of a 32x32 grey thumbnail lie above their median (the constant term left
    out, so 63 bits count). Stable under re-compression, resizing and small crops, where
    difference hashes of smooth skin photos flip many bits.

    Also returns the hash's texture: how many of its bits are decided by ``HASH_MARGIN``.
    An image without texture (a plain colour, a gradient) has frequencies at or near zero
    whose bits say nothing about it, so any two such images share a hash.
    """
    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BILINEAR), float)
    low = dctn(grey, norm="ortho")[:8, :8].ravel()[1:]
    median = np.median(low)
    return np.packbits(low > median), int(np.sum(np.abs(low - median) >= HASH_MARGIN))


def family_view(img: Image.Image, size: int = FAMILY_SIZE) -> np.ndarray:
    """The copy family detection compares: grey (luma) at ``size`` square. The HSV value
    (largest of R, G, B), which hue changes leave alone, saturated on light skin once
    brightened, and cost more copies than hue changes do in luma."""
    return np.asarray(img.convert("L").resize((size, size), Image.Resampling.BILINEAR))


@dataclass
class _Decoded:
    sha256: str
    size: tuple[int, int]
    phash: np.ndarray
    hash_texture: int
    arrays: dict[int, np.ndarray]
    thumbnail: np.ndarray
    family_view: np.ndarray


class BadImage(Exception):
    """A file with an image extension that Pillow cannot decode."""


_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)


def decode_file(path: Path, sizes: Iterable[int], thumbnail_size: int = THUMBNAIL_SIZE) -> _Decoded:
    """Read one file once: its hash, its original size, its pHash and one array per size.

    The photo is upright as a viewer shows it (EXIF orientation applied). Large JPEGs are
    decoded at a reduced scale that still covers the largest requested size.
    """
    try:
        # a FIFO or device named *.jpg would block or never end: regular files only (a
        # symbolic link counts as its target)
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise BadImage("not a regular file (a FIFO, device or socket)")
        data = path.read_bytes()
    except OSError as exc:
        raise BadImage(exc.strerror or str(exc)) from None
    if not data:
        raise BadImage("empty file (0 bytes)")
    sizes = sorted(set(sizes), reverse=True)
    largest = max([thumbnail_size, *sizes])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if img.getexif().get(0x0112) in _SWAPPING_ORIENTATIONS:
                width, height = height, width
            if img.format == "JPEG":
                img.draft("RGB", (2 * largest, 2 * largest))
            img.load()
            img = _to_rgb(ImageOps.exif_transpose(img))
    except Image.DecompressionBombError as exc:
        raise BadImage(f"refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise BadImage("not a readable image (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(f"cannot be decoded ({exc})") from None
    arrays = {
        size: np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
        for size in sizes
    }
    thumb = img.resize((thumbnail_size, thumbnail_size), Image.Resampling.BILINEAR)
    phash, texture = perceptual_hash(img)
    return _Decoded(
        sha256=hashlib.sha256(data).hexdigest(),
        size=(width, height),
        phash=phash,
        hash_texture=texture,
        arrays=arrays,
        thumbnail=np.asarray(thumb, dtype=np.uint8),
        family_view=family_view(img),
    )


@dataclass
class _Buffers:
    """What an image set is decoded into, filled in place as the images come."""

    arrays: dict[int, np.ndarray]
    thumbnails: np.ndarray
    views: np.ndarray
    meta: list[tuple[str, tuple[int, int], np.ndarray, int] | None]

    @classmethod
    def empty(cls, n: int, sizes: tuple[int, ...]) -> _Buffers:
        return cls(
            arrays={size: np.empty((n, size, size, 3), dtype=np.uint8) for size in sizes},
            thumbnails=np.empty((n, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3), dtype=np.uint8),
            views=np.empty((n, FAMILY_SIZE, FAMILY_SIZE), dtype=np.uint8),
            meta=[None] * n,
        )

    def store(self, i: int, result: _Decoded) -> None:
        for size, array in self.arrays.items():
            array[i] = result.arrays[size]
        self.thumbnails[i] = result.thumbnail
        self.views[i] = result.family_view
        self.meta[i] = (result.sha256, result.size, result.phash, result.hash_texture)

    def keep(self, rows: list[int]) -> None:
        """Only these rows (the images that decoded), in this order."""
        index = np.array(rows, dtype=np.int64)
        self.arrays = {size: array[index] for size, array in self.arrays.items()}
        self.thumbnails = self.thumbnails[index]
        self.views = self.views[index]


def _decode_all(
    root: Path,
    files: list[ScannedFile],
    sizes: tuple[int, ...],
    *,
    skip_bad_images: bool,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[_Buffers, list[tuple[int, str]]]:
    """Every file decoded into the buffers, on ``workers`` threads; the files that would not
    decode (with ``skip_bad_images``; else the first one stops the load, named)."""
    n = len(files)
    buffers = _Buffers.empty(n, sizes)
    bad: list[tuple[int, str]] = []

    def work(i: int) -> tuple[int, _Decoded | str]:
        try:
            return i, decode_file(root / files[i].path, sizes)
        except BadImage as exc:
            return i, str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (i, result) in enumerate(pool.map(work, range(n)), start=1):
            if isinstance(result, str) and not skip_bad_images:
                pool.shutdown(cancel_futures=True)
                raise MpxEvalError(
                    f"{root / files[i].path}: {result}; fix or remove the file, "
                    "or pass --skip-bad-images to leave such files out"
                )
            if isinstance(result, str):
                bad.append((i, result))
            else:
                buffers.store(i, result)
            if progress is not None:
                progress(done, n)
    return buffers, bad


def _require_every_class(root, class_names, files, keep: list[int], bad) -> None:
    kept_labels = {files[i].label for i in keep}
    for label, name in enumerate(class_names):
        if label not in kept_labels:
            raise MpxEvalError(
                f"class folder {root / name} has no readable images "
                f"({sum(1 for i, _ in bad if files[i].label == label)} unreadable, skipped)"
            )


def load_image_set(
    root: str | Path,
    *,
    sizes: Iterable[int] = (),
    group_pattern: str | None = None,
    skip_bad_images: bool = False,
    demo: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImageSet:
    """Scan ``root`` and decode every image once, to RGB uint8 at each requested square size.

    Memory is one ``(n, size, size, 3)`` uint8 array per size (2,142 images at 224 px are
    322 MB), filled in place, plus 96 px thumbnails; each photo is resized right after
    decoding, so large photos never accumulate. Unreadable files stop the load with the file
    named, or with ``skip_bad_images`` are left out and listed in ``ImageSet.skipped``.
    """
    root = Path(root)
    sizes = tuple(sorted(set(sizes)))
    class_names, files = scan_directory(root)
    groups = group_ids([f.path for f in files], group_pattern)
    buffers, bad = _decode_all(
        root,
        files,
        sizes,
        skip_bad_images=skip_bad_images,
        workers=workers or min(8, usable_cpus()),
        progress=progress,
    )
    meta = buffers.meta
    keep = [i for i in range(len(files)) if meta[i] is not None]
    _require_every_class(root, class_names, files, keep, bad)
    if bad:
        buffers.keep(keep)
    return ImageSet(
        root=root,
        class_names=class_names,
        paths=[files[i].path for i in keep],
        labels=np.array([files[i].label for i in keep], dtype=np.int64),
        groups=groups[keep],
        scan_index=np.array(keep, dtype=np.int64),
        n_scanned=len(files),
        original_sizes=[meta[i][1] for i in keep],
        sha256=[meta[i][0] for i in keep],
        phash=np.array([meta[i][2] for i in keep], dtype=np.uint8).reshape(len(keep), -1),
        hash_texture=np.array([meta[i][3] for i in keep], dtype=np.int64),
        arrays=buffers.arrays,
        thumbnails=buffers.thumbnails,
        skipped=[(files[i].path, reason) for i, reason in sorted(bad)],
        demo=demo,
        family_view=buffers.views,
        unread=unread_files(root, class_names),
    )
