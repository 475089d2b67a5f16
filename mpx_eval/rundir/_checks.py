"""The checks a reader of the run folder applies to a file before it is used: every problem
becomes an ``MpxEvalError`` whose one line names the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import MpxEvalError


def damaged(path: Path, message: str) -> MpxEvalError:
    """The error of a file that is there but cannot be used as it is."""
    return MpxEvalError(f"{path} {message}; it may be truncated or written by another version")


def require_keys(value: Any, keys: tuple[str, ...], path: Path, where: str = "") -> dict:
    """``value`` as a dict holding ``keys``, or an error naming ``path`` and what is missing."""
    place = f"{where} " if where else ""
    if not isinstance(value, dict):
        raise damaged(path, f"{place or 'top level '}is not a JSON object")
    missing = [k for k in keys if k not in value]
    if missing:
        raise damaged(path, f"{place}lacks key(s) {', '.join(missing)}")
    return value


def require_list(value: Any, path: Path, where: str) -> list:
    if not isinstance(value, list):
        raise damaged(path, f"{where} is not a list")
    return value


def require_numeric(frame: pd.DataFrame, columns, path: Path) -> None:
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0]) + 2  # header is line 1
            raise damaged(path, f"has an empty or non-numeric '{column}' on line {row}")
