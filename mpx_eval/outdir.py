"""The output folder: whose it is, what in it mpx_eval may touch, and who is writing it now.

A run folder carries a marker file from its creation on; mpx_eval writes only into empty
folders or marked ones, removes only what it wrote, and holds an OS lock on it while working.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import MpxEvalError

#: Written when mpx_eval creates (or adopts) a run folder; it also lists the figures written.
MARKER = ".mpx_eval"
#: Holds the OS lock while a ``run`` or ``report`` works in the folder.
LOCK = ".mpx_eval.lock"

#: Files a run writes at the top of its folder (what ``--overwrite`` removes there).
RUN_FILES = (
    "config.toml",
    "runinfo.json",
    "splits.csv",
    "audit.json",
    "models.json",
    "thumbnails.zip",
    "history.csv",
    "predictions.csv",
    "metrics.json",
    "index.html",
)
#: Files that do not make a folder someone else's (a repository's placeholder for an
#: output folder, a file manager's notes).
PLACEHOLDERS = frozenset({LOCK, ".gitignore", ".gitkeep", ".keep", ".DS_Store"})
#: Files a unit writes in its folder under ``units/``.
UNIT_FILES = (
    "history.csv",
    "predictions.csv",
    "unit.json",
    "model.keras",
    "model.json",
    "gradcam.npz",
)
#: A unit folder's name (``t4-cv-3``), or one moved aside as damaged.
UNIT_DIR = re.compile(r"^[\w.-]+-(seed|cv)-\d+(\.damaged-\d{8}T\d{6}Z(-\d+)?)?$")
#: What an interrupted atomic write leaves behind (see results.atomic_open).
_TEMPORARY = re.compile(r"^\..+\.tmp$")


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def refuse_inside_data(out: Path, data_dir: Path | None, *, option: str = "--out") -> None:
    """Nothing is ever written into the data folder: a run there would read its own output
    back as images (its figures became a class "reports")."""
    if data_dir is not None and data_dir.exists() and _inside(out, data_dir):
        raise MpxEvalError(
            f"{option} {out} is inside the data folder {data_dir}; mpx_eval never writes "
            "there: choose an output folder outside it"
        )


def is_run_folder(out: Path) -> bool:
    """Marked by mpx_eval, or a run folder of a version before the marker (which always
    wrote runinfo.json)."""
    return (out / MARKER).is_file() or (out / "runinfo.json").is_file()


def _first_file(folder: Path) -> Path:
    for path in sorted(folder.rglob("*")):
        if not path.is_dir() and path.name not in PLACEHOLDERS:
            return path
    return next(iter(sorted(folder.iterdir())))


def check_owned(out: Path) -> None:
    """Refuse a non-empty folder that mpx_eval did not create, naming one of its files, and
    a run folder whose known entries have the wrong kind (``figures`` a file...)."""
    if not out.is_dir():
        return
    if all(path.name in PLACEHOLDERS for path in out.iterdir()):
        return  # new, or just locked by this process before its first write
    if not is_run_folder(out):
        raise MpxEvalError(
            f"{out} is not empty and is not an mpx_eval run folder (it holds "
            f"{_first_file(out).relative_to(out)}); mpx_eval writes only into new, empty or "
            "its own folders: choose another --out"
        )
    for name in ("units", "figures"):
        if (out / name).exists() and not (out / name).is_dir():
            raise MpxEvalError(f"{out / name} is a file where mpx_eval keeps a folder; move it")
    for name in RUN_FILES:
        if (out / name).is_dir():
            raise MpxEvalError(f"{out / name} is a folder where mpx_eval writes a file; move it")


def read_marker(out: Path) -> dict:
    try:
        data = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_marker(out: Path, **changes) -> None:
    from .results import write_json

    marker = read_marker(out)
    marker.setdefault("mpx_eval", __version__)
    marker.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    marker.update(changes)
    write_json(out / MARKER, marker)


def replace_figures(folder: Path, drawn: Sequence[str]) -> None:
    """Record the figures just written (by stem) and delete those mpx_eval wrote before and
    no longer draws; a PNG it did not write stays."""
    out = folder.parent
    before = read_marker(out).get("figures")
    before = before if isinstance(before, list) else []
    for stem in set(map(str, before)) - set(drawn):
        (folder / f"{Path(stem).name}.png").unlink(missing_ok=True)
    write_marker(out, figures=sorted(drawn))


def clear_run(out: Path) -> None:
    """``--overwrite``: remove what mpx_eval wrote in ``out`` (its files, unit folders and
    figures); anything else stays, and so do folders still holding it."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    units = out / "units"
    if units.is_dir():
        for child in units.iterdir():
            if child.is_dir() and UNIT_DIR.match(child.name):
                for path in child.iterdir():
                    if path.is_file() and (path.name in UNIT_FILES or _TEMPORARY.match(path.name)):
                        path.unlink()
                _remove_if_empty(child)
        _remove_if_empty(units)
    figures = out / "figures"
    if figures.is_dir():
        written = read_marker(out).get("figures")
        for stem in written if isinstance(written, list) else []:
            (figures / f"{Path(str(stem)).name}.png").unlink(missing_ok=True)
        _remove_if_empty(figures)
    for path in out.iterdir():
        if path.is_file() and _TEMPORARY.match(path.name):
            path.unlink()
    if (out / MARKER).is_file():
        write_marker(out, figures=[])


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # it holds someone else's files
        folder.rmdir()


def move_aside(folder: Path) -> Path:
    """Rename a damaged unit folder to ``NAME.damaged-<UTC time>`` (kept, never deleted)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = folder.with_name(f"{folder.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        target = folder.with_name(f"{folder.name}.damaged-{stamp}-{n}")
        n += 1
    try:
        shutil.move(str(folder), str(target))
    except OSError as exc:
        raise MpxEvalError(f"cannot move damaged {folder} aside ({exc.strerror})") from None
    return target


# --------------------------------------------------------------------------- lock

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
        info = json.loads(path.read_text(encoding="utf-8"))
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
    path = out / LOCK
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
