"""The run folder's lock: one ``run`` or ``report`` at a time, held by the operating
system, so no stale lock outlives the process that took it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import loads
from ..errors import MpxEvalError
from .layout import RunPaths

#: Folders this process holds the lock of (resolved path -> [descriptor, depth]); ``run``
#: renders its report under the lock it already holds.
_HELD: dict[Path, list[int]] = {}


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(fd, 1 << 20, os.SEEK_SET)  # a byte past the holder's description
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        info = loads(path.read_text(encoding="utf-8"))
        command = " ".join(map(str, info.get("command") or []))
        return f"pid {info['pid']} on {info['host']}" + (f": {command}" if command else "")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "holder unknown"


@contextmanager
def locked(out: Path, *, command: Sequence[str] | None = None) -> Iterator[None]:
    """Hold an exclusive OS lock on ``out`` (which must exist) for the ``with`` block.

    The operating system releases it when the process ends, however it ends (kill -9
    included), so no stale lock outlives its holder. A second process is refused with one
    line naming the holder, which the lock file describes.
    """
    key = out.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    path = RunPaths(out).lock
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MpxEvalError(
            f"cannot write in {out} ({exc.strerror}); mpx_eval needs a writable run folder"
        ) from None
    try:
        if not _try_lock(fd):
            raise MpxEvalError(
                f"{out} is in use by another mpx_eval process ({_holder(path)}); wait for it "
                "to finish, or choose another --out"
            )
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": list(command or []),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):  # only the description; the lock is held
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder).encode("utf-8"))
        _HELD[key] = [fd, 1]
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def holds_lock(out: Path) -> bool:
    return out.resolve() in _HELD
