"""Reading and writing CSV, JSON and other files atomically: a temporary file in the same
folder, flushed and fsync'ed, then renamed over the target, so a reader never sees half a file.

Generic on purpose: the run folder's layout lives in :mod:`mpx_eval.rundir.folder`; ``splits``,
``predict`` and the kept model files write through here too.
"""

from __future__ import annotations

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


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    A failing write (a full disk, a read-only folder, a folder where the file should be)
    leaves ``path`` as it was and becomes an MpxEvalError naming it.
    """
    path = Path(path)
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
