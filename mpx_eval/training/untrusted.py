"""Reading what a folder someone sent holds, without trusting it: names shown as text that
prints anywhere, what a path is before anything opens it, and small records read under a
size limit. Nothing here imports Keras."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from ..data.images import shown_name
from ..errors import MpxEvalError

#: Largest model.json / unit.json read (mpx_eval writes about 1 kB).
RECORD_BYTES = 1 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(name: str | os.PathLike) -> str:
    """``name`` as text that prints and writes anywhere: bytes that are not UTF-8 (a file
    named on a system with another encoding) as ``\\xe9``, control characters as ``\\n``."""
    try:
        text = shown_name(name)
    except UnicodeEncodeError:  # a lone surrogate that no file name decodes to (JSON text)
        text = os.fspath(name).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def is_clean(text: str) -> bool:
    """True for text that names something as it is: not empty, no control character, no
    lone surrogate."""
    return bool(text) and shown(text) == text


def not_a_file(path: Path) -> str | None:
    """Why ``path`` is not a regular file one can read (following links), in words that
    follow its name; None when it is one. Nothing is opened: a FIFO would block a reader."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is a link to nothing" if os.path.islink(path) else "does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a link loop"
        return f"cannot be read ({exc.strerror or exc})"
    kinds = (
        (stat.S_ISDIR, "is a folder"),
        (stat.S_ISFIFO, "is a FIFO (a named pipe)"),
        (stat.S_ISCHR, "is a device"),
        (stat.S_ISBLK, "is a device"),
        (stat.S_ISSOCK, "is a socket"),
    )
    for test, words in kinds:
        if test(mode):
            return words
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def read_small(path: Path, limit: int = RECORD_BYTES) -> str:
    """The text of a small JSON record, or an error naming it (not a file, too large for
    what it should be, not UTF-8)."""
    problem = not_a_file(path)
    if problem is not None:
        raise MpxEvalError(f"{shown(path)} {problem}; it should be a JSON file mpx_eval wrote")
    size = path.stat().st_size
    if size > limit:
        raise MpxEvalError(
            f"{shown(path)} is {size:,} bytes, far more than the record mpx_eval writes; "
            "it is not one of its files"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MpxEvalError(f"{shown(path)} cannot be read ({exc})") from None
