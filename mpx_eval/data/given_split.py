"""A split made elsewhere: a CSV that assigns images of a data folder to parts (train, val,
test; fold numbers; any labels of one's own), read and checked line by line, then matched to
the decoded images. mpx_eval's own splits.csv is read too (its cv folds, or its seed split).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import MpxEvalError
from .images import ImageSet

#: Part names read as roles (compared lower-cased); the role decides which side of the
#: split a part is on. Any other name makes the parts folds (see :func:`part_scheme`).
ROLE_NAMES: dict[str, str] = {
    **dict.fromkeys(("train", "training", "trn"), "train"),
    **dict.fromkeys(("val", "valid", "validation", "dev", "development", "tune"), "val"),
    **dict.fromkeys(("test", "testing", "tst", "holdout", "hold-out", "heldout"), "test"),
}
ROLE_ORDER = ("train", "val", "test")

#: The columns of a split file, and those of mpx_eval's own splits.csv.
GIVEN_COLUMNS = ("path", "part")
PLAN_COLUMNS = ("path", "scheme", "fold", "role")

#: How a file was read (``GivenSplit.layout``).
GIVEN_LAYOUT = "path,part"
PLAN_CV = "mpx_eval splits.csv: the test fold of each image in the cv folds of the first repeat"
PLAN_SEED = "mpx_eval splits.csv without cv folds: the seed split's train and val parts"

_FOLD_NUMBER = re.compile(r"-?\d+")
_DRIVE = re.compile(r"^[A-Za-z]:")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class GivenSplit:
    """The part of every image path a split file names, in file order.

    ``lines`` holds the line of each path's first row; ``repeated`` the paths given again
    with the same part, with all their lines (kept once); ``layout`` says how the file was
    read.
    """

    source: Path
    layout: str
    parts: dict[str, str]
    lines: dict[str, int]
    repeated: list[dict] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The part names: roles in train, val, test order; folds in numeric order."""
        return ordered_parts(set(self.parts.values()))


def role_of(name: str) -> str | None:
    """ "train", "val" or "test" for a part name that is one of :data:`ROLE_NAMES`, else None."""
    return ROLE_NAMES.get(name.strip().lower())


def part_scheme(names: set[str] | list[str]) -> str:
    """ "roles" when every part name is a role, "folds" otherwise (fold numbers, sites, any
    labels: every part is then held out in turn against the others)."""
    return "roles" if names and all(role_of(n) for n in names) else "folds"


def _natural(name: str) -> list:
    """A sort key that puts ``cv-2`` before ``cv-10``: text and numbers alternate."""
    return [int(piece) if k % 2 else piece for k, piece in enumerate(_DIGITS.split(name))]


def ordered_parts(names: set[str]) -> list[str]:
    """Part names in reading order: by role, or by number, or by name with its numbers
    read as numbers."""
    if part_scheme(names) == "roles":
        return sorted(names, key=lambda n: (ROLE_ORDER.index(role_of(n) or "test"), n))
    if all(_FOLD_NUMBER.fullmatch(n) for n in names):
        return sorted(names, key=int)
    return sorted(names, key=_natural)


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The lower-cased header and (line, row) of every non-blank row; a file that is missing,
    not UTF-8 or not CSV, or a header without the columns of either layout, is an error
    naming the file."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            _check_header(path, columns)
            reader.fieldnames = columns
            return columns, [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise MpxEvalError(
            f"split file {path} does not exist; give a CSV with columns path,part"
        ) from None
    except IsADirectoryError:
        raise MpxEvalError(f"split file {path} is a folder; give a CSV file") from None
    except UnicodeDecodeError:
        raise MpxEvalError(
            f"split file {path} is not UTF-8 text; save it as UTF-8 CSV and run again"
        ) from None
    except csv.Error as exc:
        raise MpxEvalError(
            f"split file {path}: not readable as CSV ({exc}); fix the file and run again"
        ) from None


def _check_header(path: Path, columns: list[str]) -> None:
    if not columns:
        raise MpxEvalError(
            f"split file {path} is empty; expected a header line 'path,part' and one row per "
            "image, e.g. 'Monkeypox/M01_01.jpg,test'"
        )
    if set(GIVEN_COLUMNS) <= set(columns) or set(PLAN_COLUMNS) <= set(columns):
        return
    raise MpxEvalError(
        f"split file {path} line 1: the header names {', '.join(columns)}; expected the "
        "columns path and part (e.g. 'path,part'), or mpx_eval's own splits.csv; rename the "
        "columns and run again"
    )


def _clean_path(source: Path, line: int, raw: str | None) -> str:
    """A row's image path as mpx_eval's splits.csv writes it: relative to the data folder,
    '/' between names; anything else is an error naming the line."""
    text = (raw or "").strip()
    where = f"split file {source} line {line}"
    if not text:
        raise MpxEvalError(f"{where}: no path; give every row an image path and a part")
    if "\\" in text:
        raise MpxEvalError(
            f"{where}: path {text!r} uses '\\'; write paths relative to the data folder with "
            "'/' between names (Class/name.jpg)"
        )
    clean = PurePosixPath(text)
    if clean.is_absolute() or _DRIVE.match(text):
        raise MpxEvalError(
            f"{where}: path {text!r} is absolute; write it relative to the data folder "
            "(Class/name.jpg)"
        )
    if ".." in clean.parts:
        raise MpxEvalError(
            f"{where}: path {text!r} leaves the data folder ('..'); write it relative to the "
            "data folder (Class/name.jpg)"
        )
    return clean.as_posix()


def _assignments(source: Path) -> tuple[str, list[tuple[int, str | None, str | None]]]:
    """How the file is laid out, and (line, path, part) of each row that assigns an image."""
    columns, rows = _read(source)
    if "part" in columns:
        return GIVEN_LAYOUT, [(line, row["path"], row["part"]) for line, row in rows]
    return _plan_parts(source, rows)


def _plan_parts(
    source: Path, rows: list[tuple[int, dict]]
) -> tuple[str, list[tuple[int, str | None, str]]]:
    """An mpx_eval splits.csv as parts: the cv fold in which each image is tested (of the
    first repeat, whose folds have the lowest numbers), or, for a plan without cv folds, the
    seed split's roles."""
    seed: list[tuple[int, str | None, str]] = []
    tested: dict[str, tuple[int, int]] = {}
    for line, row in rows:
        scheme, fold, role = (str(row.get(k) or "").strip() for k in ("scheme", "fold", "role"))
        if scheme == "seed":
            seed.append((line, row.get("path"), role))
        elif scheme == "cv" and role == "test":
            if not _FOLD_NUMBER.fullmatch(fold):
                raise MpxEvalError(
                    f"split file {source} line {line}: fold {fold!r} is not a number; the "
                    "file looks like mpx_eval's splits.csv, which numbers its folds"
                )
            path = _clean_path(source, line, row.get("path"))
            if path not in tested or int(fold) < tested[path][1]:
                tested[path] = (line, int(fold))
    if tested:
        return PLAN_CV, [(line, path, f"cv-{fold}") for path, (line, fold) in tested.items()]
    return PLAN_SEED, seed


def read_given_split(path: str | Path) -> GivenSplit:
    """Read and check a split file: a CSV with columns ``path`` and ``part`` (others are
    ignored), or mpx_eval's own splits.csv.

    Raises
    ------
    MpxEvalError
        One line naming the file, the line and what to do: a missing or unreadable file, a
        header without the columns, a row without a path or part, a path that is absolute,
        uses '\\' or leaves the folder, an image put in two parts, part names that mix roles
        with other names, or fewer than two parts.
    """
    source = Path(path)
    layout, rows = _assignments(source)
    parts: dict[str, str] = {}
    lines: dict[str, int] = {}
    first_of_part: dict[str, int] = {}
    repeats: dict[str, list[int]] = {}
    for line, raw_path, raw_part in rows:
        image = _clean_path(source, line, raw_path)
        part = (raw_part or "").strip()
        if not part:
            raise MpxEvalError(
                f"split file {source} line {line}: no part for {image}; give every row a "
                "part (train, val, test, a fold number or a name of your own)"
            )
        if image in parts and parts[image] != part:
            raise MpxEvalError(
                f"split file {source} lines {lines[image]} and {line} put {image} in both "
                f"{parts[image]} and {part}: itself a leak; keep one row per image and run again"
            )
        if image in parts:
            repeats.setdefault(image, [lines[image]]).append(line)
            continue
        parts[image], lines[image] = part, line
        first_of_part.setdefault(part, line)
    _check_parts(source, first_of_part)
    repeated = [{"path": p, "part": parts[p], "lines": ls} for p, ls in repeats.items()]
    return GivenSplit(source, layout, parts, lines, repeated)


def _check_parts(source: Path, first_of_part: dict[str, int]) -> None:
    """Two parts or more, and role names not mixed with other names (a typo such as
    'tset' would otherwise turn a train/test split into three folds)."""
    names = list(first_of_part)
    if not names:
        raise MpxEvalError(
            f"split file {source} has a header but no rows; add one row per image "
            "(path,part), e.g. 'Monkeypox/M01_01.jpg,test'"
        )
    if len(names) < 2:
        raise MpxEvalError(
            f"split file {source} puts every image in one part ({names[0]}); an audit needs "
            "two parts or more"
        )
    roles = [n for n in names if role_of(n)]
    others = [n for n in names if not role_of(n)]
    if roles and others:
        odd = min(others, key=first_of_part.__getitem__)
        raise MpxEvalError(
            f"split file {source} line {first_of_part[odd]}: part {odd!r} is not a role name "
            f"while other rows use {', '.join(sorted(roles))}; rename it to train, val or test "
            "(or a synonym: docs/split-audit.md), or name every part by fold numbers or names "
            "of your own to audit the parts as folds"
        )


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Assignment:
    """A given split matched to a decoded image set.

    ``part[i]`` is the part of image row ``i`` ("" when the file does not assign it);
    ``missing`` the rows whose image is not in the set (path, part, line, reason);
    ``unassigned`` the images of the set that no row assigns.
    """

    part: np.ndarray
    names: list[str]
    scheme: str
    missing: list[dict]
    unassigned: list[str]

    def rows(self) -> np.ndarray:
        """Image rows that the file assigns to a part."""
        return np.flatnonzero(self.part != "")


def _why_missing(path: str, images: ImageSet) -> str:
    skipped = dict(images.skipped)
    if path in skipped:
        return f"unreadable, skipped: {skipped[path]}"
    if path in set(images.unread):
        return "an extension mpx_eval does not read"
    if (Path(images.root) / path).is_file():
        return "not in a class folder of the data folder"
    return "no such file in the data folder"


def assign(given: GivenSplit, images: ImageSet) -> Assignment:
    """Each image's part; rows without their image, and images without a row, listed.

    Raises
    ------
    MpxEvalError
        When no row names an image of the set (the paths are not relative to the data
        folder), or a part keeps none of its images.
    """
    row_of = {p: i for i, p in enumerate(images.paths)}
    part = np.full(len(images), "", dtype=object)
    missing = []
    for path, name in given.parts.items():
        if path in row_of:
            part[row_of[path]] = name
        else:
            line = given.lines[path]
            missing.append(
                {"path": path, "part": name, "line": line, "reason": _why_missing(path, images)}
            )
    if len(missing) == len(given.parts):
        first = missing[0]["path"]
        raise MpxEvalError(
            f"split file {given.source}: none of its {len(missing)} paths is an image of the "
            f"data folder {images.root} (e.g. line {given.lines[first]}: {first}); paths are "
            f"relative to the data folder, e.g. {images.paths[0]}"
        )
    kept = set(part.tolist())
    empty = [n for n in given.names if n not in kept]
    if empty:
        raise MpxEvalError(
            f"split file {given.source}: none of the images of part {empty[0]} is in the data "
            f"folder {images.root}; check the paths of that part"
        )
    unassigned = [images.paths[i] for i in np.flatnonzero(part == "")]
    return Assignment(part, given.names, part_scheme(given.names), missing, unassigned)
