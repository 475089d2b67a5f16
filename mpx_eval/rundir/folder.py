"""Whose a run folder is and what mpx_eval may touch in it: the marker, the refusal of
foreign or misplaced folders, clearing what a run wrote, and moving damaged units aside.

A run folder carries a marker file from its creation on; mpx_eval writes only into empty
folders or marked ones and removes only what it wrote.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..atomic import loads, write_json
from ..errors import MpxEvalError
from .layout import (
    FIGURES,
    MARKER,
    PLACEHOLDERS,
    RUN_FILES,
    RUNINFO,
    TEMPORARY,
    UNIT_DIR,
    UNIT_FILES,
    UNITS,
    RunPaths,
)


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


def check_writable(folder: Path) -> None:
    """Fail before any work if ``folder`` (or the nearest existing parent) is not writable."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise MpxEvalError(f"output {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise MpxEvalError(f"output folder {probe} is not writable; choose another --out")


def is_run_folder(out: Path) -> bool:
    """Marked by mpx_eval, or a run folder of a version before the marker (which always
    wrote runinfo.json)."""
    return (out / MARKER).is_file() or (out / RUNINFO).is_file()


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
    for name in (UNITS, FIGURES):
        if (out / name).exists() and not (out / name).is_dir():
            raise MpxEvalError(f"{out / name} is a file where mpx_eval keeps a folder; move it")
    for name in RUN_FILES:
        if (out / name).is_dir():
            raise MpxEvalError(f"{out / name} is a folder where mpx_eval writes a file; move it")


def read_marker(out: Path) -> dict:
    try:
        data = loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_marker(out: Path, **changes) -> None:
    """Create or update the marker; one already saying so is left as it is (a report
    rendered again touches nothing but its page and figures)."""
    before = read_marker(out)
    marker = dict(before)
    marker.setdefault("mpx_eval", __version__)
    marker.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    marker.update(changes)
    if marker != before or not (out / MARKER).is_file():
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
    units = RunPaths(out).units
    if units.is_dir():
        for child in units.iterdir():
            if child.is_dir() and UNIT_DIR.match(child.name):
                for path in child.iterdir():
                    if path.is_file() and (path.name in UNIT_FILES or TEMPORARY.match(path.name)):
                        path.unlink()
                _remove_if_empty(child)
        _remove_if_empty(units)
    figures = RunPaths(out).figures
    if figures.is_dir():
        written = read_marker(out).get("figures")
        for stem in written if isinstance(written, list) else []:
            (figures / f"{Path(str(stem)).name}.png").unlink(missing_ok=True)
        _remove_if_empty(figures)
    for path in out.iterdir():
        if path.is_file() and TEMPORARY.match(path.name):
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
