"""Reading and writing CSV, JSON and other files atomically: a temporary file in the same
folder, flushed and fsync'ed, then renamed over the target, so a reader never sees half a file.
Writing, removing and renaming here stay inside a :func:`confined` folder: never through a
link below it.

Generic on purpose: the run folder's layout lives in :mod:`mpx_eval.rundir.folder`; ``splits``,
``predict`` and the kept model files write through here too.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd

from .errors import MpxEvalError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Artefacts get the permissions a plain open() would give them (mkstemp makes them 0600).
_FILE_MODE = 0o666 & ~_current_umask()


# --------------------------------------------------------------------------- confinement

#: Folders whose files are touched only inside them (see :func:`confined`): absolute path
#: as given -> ``(st_dev, st_ino)`` of the folder it named on entry.
_CONFINED: dict[Path, tuple[int, int]] = {}


def _absolute(path: str | Path) -> Path:
    """``path`` made absolute without following links (``..`` is resolved by name)."""
    return Path(os.path.abspath(path))


def folder_identity(path: str | Path) -> tuple[int, int]:
    """What a path names, as ``(st_dev, st_ino)``: equal for the same folder however it is
    reached, different once the name is given to another."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def names_folder(path: str | Path, identity: tuple[int, int]) -> bool:
    """Whether ``path`` still names the folder of ``identity`` (False once it is gone)."""
    try:
        return folder_identity(path) == identity
    except OSError:
        return False


@contextmanager
def confined(root: str | Path, identity: tuple[int, int] | None = None) -> Iterator[None]:
    """For the ``with`` block, every write, removal and rename of this module below ``root``
    stays inside it: none goes through a symbolic link below ``root`` (the file itself
    included), and none happens once ``root`` names another folder than the one it named on
    entry (``identity``, as :func:`folder_identity` gives it; taken now when None).

    ``root`` itself may be a link (an output folder kept on another disk); what lies below
    it is mpx_eval's, and a link there could lead anywhere, the data folder included. Entered
    again for the same folder, the outer block's identity stands.
    """
    key = _absolute(root)
    if key in _CONFINED:
        yield
        return
    _CONFINED[key] = identity or folder_identity(key)
    try:
        yield
    finally:
        del _CONFINED[key]


def link_error(link: Path, root: Path) -> MpxEvalError:
    """The refusal to touch anything through ``link``, a symbolic link below ``root``."""
    target = Path(os.path.realpath(link))
    real_root = Path(os.path.realpath(root))
    where = "in" if real_root == target or real_root in target.parents else "out of"
    return MpxEvalError(
        f"{link} is a link to {target}; mpx_eval never writes or deletes through a link "
        f"{where} the run folder: remove the link"
    )


def refuse_link(path: str | Path, root: str | Path) -> None:
    """Raise :func:`link_error` when ``path``, or a folder between ``root`` and it, is a
    symbolic link (``root`` itself may be one)."""
    root = _absolute(root)
    current = root
    for part in _absolute(path).relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise link_error(current, root)


def check_confined(path: str | Path) -> None:
    """Refuse to touch ``path`` when it lies in a :func:`confined` folder and a link lies on
    the way to it, or that folder's name now leads elsewhere."""
    absolute = _absolute(path)
    for root, identity in _CONFINED.items():
        if root != absolute and root not in absolute.parents:
            continue
        if not names_folder(root, identity):
            raise MpxEvalError(
                f"{root} is no longer the folder mpx_eval started to work in (it was moved, "
                "removed or replaced while mpx_eval worked); nothing more is written there: "
                "run the command again"
            )
        refuse_link(absolute, root)


def remove(path: str | Path) -> None:
    """Delete the file ``path`` when it is there."""
    check_confined(path)
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:
        raise MpxEvalError(
            f"cannot delete {path}: {exc.strerror or exc}; delete it by hand"
        ) from None


def remove_folder_if_empty(folder: str | Path) -> None:
    """Delete ``folder`` when it is empty; one still holding files (someone else's) stays."""
    check_confined(folder)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def rename(source: str | Path, target: str | Path) -> None:
    """Rename ``source`` to ``target`` (a name that is free, in the same file system)."""
    check_confined(source)
    check_confined(target)
    try:
        os.rename(source, target)
    except OSError as exc:
        raise MpxEvalError(
            f"cannot rename {source} to {Path(target).name}: {exc.strerror or exc}"
        ) from None


# --------------------------------------------------------------------------- writing


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    A failing write (a full disk, a read-only folder, a folder where the file should be)
    leaves ``path`` as it was and becomes an MpxEvalError naming it. In a :func:`confined`
    folder, a link on the way to ``path`` is refused before anything is written, and again
    before the rename.
    """
    path = Path(path)
    check_confined(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.fchmod(fd, _FILE_MODE)
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        check_confined(path)  # nothing on the way became a link while the file was written
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_error(path: Path, exc: OSError) -> MpxEvalError:
    if path.is_dir():
        return MpxEvalError(f"cannot write {path}: it is a folder; move it away")
    reason = exc.strerror or str(exc)
    return MpxEvalError(f"cannot write {path}: {reason}; nothing of it was written")


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def _json_safe(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def json_text(data: Any) -> str:
    """``data`` as the JSON text :func:`write_json` writes."""
    return json.dumps(_json_safe(data), indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json_text(data))


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as the CSV text :func:`write_csv` writes."""
    return frame.to_csv(index=False, lineterminator="\n")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    write_text(path, csv_text(frame))


def loads(text: str) -> Any:
    """``json.loads``, except that text nested too deeply to parse (a damaged or hostile
    file of 200,000 nested arrays) is a ``json.JSONDecodeError`` like any other bad JSON,
    not a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply to read", text[:80], 0) from None


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MpxEvalError(f"{path} is not valid JSON ({exc}); it may be truncated") from None


#: Columns that always hold text, even when every value looks like a number (group "17").
TEXT_COLUMNS = ("model", "scheme", "checkpoint", "path", "label", "group", "role")


def read_csv(path: str | Path, *, required: tuple[str, ...] = ()) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(
            path,
            keep_default_na=False,
            na_values=[""],
            dtype={c: str for c in TEXT_COLUMNS},
        )
    except FileNotFoundError:
        raise MpxEvalError(f"{path} is missing") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MpxEvalError(f"{path} cannot be read as CSV ({exc}); it may be truncated") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MpxEvalError(f"{path} lacks column(s) {', '.join(missing)}; it may be truncated")
    return frame
