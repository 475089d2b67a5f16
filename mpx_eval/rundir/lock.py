"""The run folder's lock: one ``run`` or ``report`` at a time, held by the operating
system, so no stale lock outlives the process that took it.

The lock is held on the folder itself (a descriptor opened on it), not on a file in it: a
file can be deleted behind its holder's back and locked afresh by another process, the folder
it works in cannot. ``.mpx_eval.lock`` only describes the holder. Where a folder cannot be
locked (Windows; a network file system that locks only files opened for writing) the lock
falls back on that file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import check_confined, confined, folder_identity, link_error, loads, names_folder
from ..errors import MpxEvalError
from .folder import check_owned
from .layout import RunPaths

#: Folders this process holds the lock of, by ``(st_dev, st_ino)``; ``run`` renders its
#: report under the lock it already holds.
_HELD: set[tuple[int, int]] = set()

#: What ``flock`` answers on a descriptor it cannot lock exclusively (NFS emulates it with
#: byte-range locks, which need a file opened for writing).
_CANNOT_LOCK = frozenset({errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP})
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _try_lock(fd: int) -> bool | None:
    """True once ``fd`` is locked, False while another process holds it, None when its file
    system cannot lock it."""
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
    except OSError as exc:
        if exc.errno in _CANNOT_LOCK:
            return None
        raise
    return True


def _open_folder(out: Path) -> int | None:
    """A descriptor on the folder ``out`` names now (``out`` itself may be a link); None on
    Windows, which opens no folder this way."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        return None
    return os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _open_description(out: Path) -> int:
    """The holder's description file (in the fallback, the file locked), opened without
    following a link."""
    path = RunPaths(out).lock
    check_confined(path)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise link_error(path, out) from None
        raise MpxEvalError(
            f"cannot write in {out} ({exc.strerror}); mpx_eval needs a writable run folder"
        ) from None


def _holder(out: Path) -> str:
    try:
        fd = os.open(RunPaths(out).lock, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            info = loads(fh.read(1 << 16).decode("utf-8"))
        command = " ".join(map(str, info.get("command") or []))
        return f"pid {info['pid']} on {info['host']}" + (f": {command}" if command else "")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "holder unknown"


def _describe(out: Path, file_fd: int | None, command: Sequence[str] | None) -> None:
    """Write who holds the lock into the description file (the locked one in the fallback)."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": list(command or []),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    fd = _open_description(out) if file_fd is None else file_fd
    try:
        with contextlib.suppress(OSError):  # only the description; the lock is held
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder).encode("utf-8"))
    finally:
        if fd != file_fd:
            os.close(fd)


def _check_folder(out: Path, key: tuple[int, int]) -> None:
    """The folder opened is the one ``out`` names (not one swapped in meanwhile), and it is
    empty or mpx_eval's."""
    if not names_folder(out, key):
        raise MpxEvalError(
            f"{out} changed while mpx_eval locked it (moved, removed or replaced by a link); "
            "nothing was written: run the command again"
        )
    check_owned(out)


def _acquire(out: Path, folder_fd: int | None, key: tuple[int, int]) -> int | None:
    """Lock the folder, else its description file, and check what was locked; the
    description file's descriptor when the lock fell back on it. Refuses while another
    process holds the lock."""
    got = _try_lock(folder_fd) if folder_fd is not None else None
    file_fd = None
    if got is None:
        _check_folder(out, key)  # before the description file is created in it
        file_fd = _open_description(out)
        got = _try_lock(file_fd)
    try:
        if got is None:
            raise MpxEvalError(
                f"cannot lock {out}: its file system offers no lock; choose another --out"
            )
        if not got:
            raise MpxEvalError(
                f"{out} is in use by another mpx_eval process ({_holder(out)}); wait for it "
                "to finish, or choose another --out"
            )
        _check_folder(out, key)
    except BaseException:
        if file_fd is not None:
            os.close(file_fd)
        raise
    return file_fd


@contextmanager
def locked(out: Path, *, command: Sequence[str] | None = None) -> Iterator[None]:
    """Hold an exclusive OS lock on ``out`` (which must exist) for the ``with`` block.

    The operating system releases it when the process ends, however it ends (kill -9
    included), so no stale lock outlives its holder. A second process is refused with one
    line naming the holder, which the lock file describes; deleting that file does not
    release the lock.

    The folder is opened once; what was opened is locked, then checked to be the folder
    ``out`` names and empty or mpx_eval's before anything is written in it. While the lock
    is held, mpx_eval's writes there are :func:`~mpx_eval.atomic.confined` to it.
    """
    try:
        folder_fd = _open_folder(out)
        identity = os.fstat(folder_fd) if folder_fd is not None else os.stat(out)
    except OSError as exc:
        raise MpxEvalError(
            f"cannot open {out} ({exc.strerror}); mpx_eval needs a writable run folder"
        ) from None
    key = (identity.st_dev, identity.st_ino)
    file_fd = None
    try:
        if key in _HELD:
            yield
            return
        with confined(out, key):
            file_fd = _acquire(out, folder_fd, key)
            _describe(out, file_fd, command)
            _HELD.add(key)
            try:
                yield
            finally:
                _HELD.discard(key)
    finally:
        for fd in (file_fd, folder_fd):
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the lock


def holds_lock(out: Path) -> bool:
    try:
        return folder_identity(out) in _HELD
    except OSError:
        return False
