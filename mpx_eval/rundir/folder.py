"""Whose a run folder is and what mpx_eval may touch in it: the marker, the refusal of
foreign or misplaced folders, clearing what a run wrote, and moving damaged units aside.

A run folder carries a marker file from its creation on; mpx_eval writes only into empty
folders or marked ones, removes only what it wrote, and never writes, deletes or renames
through a link below the folder (:func:`mpx_eval.atomic.confined`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..atomic import (
    confined,
    loads,
    refuse_link,
    remove,
    remove_folder_if_empty,
    rename,
    write_json,
)
from ..errors import MpxEvalError
from .layout import (
    FIGURES,
    LOCK,
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
    a run folder whose known entries have the wrong kind (``figures`` a file...) or are
    links."""
    if not out.is_dir():
        return
    refuse_links(out)
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


def _entries(out: Path) -> Iterator[Path]:
    """The entries of ``out`` that mpx_eval writes, deletes or renames (those that exist)."""
    for name in (MARKER, LOCK, UNITS, FIGURES, *RUN_FILES):
        if os.path.lexists(out / name):
            yield out / name
    units = out / UNITS
    if units.is_dir() and not units.is_symlink():
        yield from (child for child in units.iterdir() if UNIT_DIR.match(child.name))


def refuse_links(out: Path) -> None:
    """Refuse a run folder where an entry mpx_eval touches is a symbolic link (``units/``,
    a unit's folder, ``figures/``, the lock, a run file), before anything is touched."""
    for path in _entries(out):
        refuse_link(path, out)


def _temporaries(folder: Path, *, of: str = "") -> Iterator[Path]:
    """What interrupted atomic writes left in ``folder`` (of files whose names end in
    ``of``)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        found = TEMPORARY.match(path.name)
        if found and found["name"].endswith(of) and not path.is_dir():
            yield path


def replace_figures(folder: Path, drawn: Sequence[str]) -> None:
    """Record the figures just written (by stem) and delete those mpx_eval wrote before and
    no longer draws, and what an interrupted rendering left half-written; a PNG it did not
    write stays."""
    out = folder.parent
    before = read_marker(out).get("figures")
    before = before if isinstance(before, list) else []
    gone = [folder / f"{Path(stem).name}.png" for stem in set(map(str, before)) - set(drawn)]
    with confined(out):
        for path in [*gone, *_temporaries(folder, of=".png")]:
            remove(path)
        write_marker(out, figures=sorted(drawn))


def _unit_folders(units: Path) -> list[Path]:
    if not units.is_dir():
        return []
    return [child for child in units.iterdir() if child.is_dir() and UNIT_DIR.match(child.name)]


def _written(out: Path) -> Iterator[Path]:
    """The files mpx_eval wrote in ``out`` (those ``--overwrite`` removes)."""
    paths = RunPaths(out)
    yield from (out / name for name in RUN_FILES)
    for child in _unit_folders(paths.units):
        yield from (p for p in child.iterdir() if p.name in UNIT_FILES or TEMPORARY.match(p.name))
    if paths.figures.is_dir():
        stems = read_marker(out).get("figures")
        for stem in stems if isinstance(stems, list) else []:
            yield paths.figures / f"{Path(str(stem)).name}.png"
        yield from _temporaries(paths.figures, of=".png")
    yield from _temporaries(out)


def clear_run(out: Path) -> None:
    """``--overwrite``: remove what mpx_eval wrote in ``out`` (its files, unit folders and
    figures); anything else stays, and so do folders still holding it. A link on the way to
    any of them is refused before anything is removed."""
    if not out.is_dir():
        return
    refuse_links(out)
    doomed = list(_written(out))
    for path in doomed:
        refuse_link(path, out)
    paths = RunPaths(out)
    with confined(out):
        for path in doomed:
            remove(path)
        for folder in [*_unit_folders(paths.units), paths.units, paths.figures]:
            remove_folder_if_empty(folder)
        if paths.marker.is_file():
            write_marker(out, figures=[])


def move_aside(folder: Path) -> Path:
    """Rename a damaged unit folder (``units/NAME``) to ``NAME.damaged-<UTC time>`` (kept,
    never deleted)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = folder.with_name(f"{folder.name}.damaged-{stamp}")
    n = 1
    while os.path.lexists(target):
        target = folder.with_name(f"{folder.name}.damaged-{stamp}-{n}")
        n += 1
    with confined(folder.parent.parent):
        rename(folder, target)
    return target
