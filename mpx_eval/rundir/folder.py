"""The run folder (``--out``): the one module that knows its layout and writes it.

It owns whose a folder is and what in it mpx_eval may touch (the marker, the lock, clearing),
the file and unit folder names, writing the run's files, a unit's files and the thumbnails,
the resume and mismatch checks, and aggregation (the run-level tables and metrics.json from
the finished units). A run folder carries a marker file from its creation on; mpx_eval writes
only into empty folders or marked ones, removes only what it wrote, and holds an OS lock on it
while working. The report reads the folder and never writes into it but for its page, its
figures and, when they are missing or damaged, the aggregates (through this module).

The atomic CSV/JSON reading and writing stays in :mod:`mpx_eval.atomic`: ``splits --out``,
``predict`` and the kept model files use it for files outside any run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import json_text, read_csv, read_json, write_bytes, write_csv, write_json, write_text
from ..errors import MpxEvalError
from .layout import HISTORY_COLUMNS, PREDICTION_KEYS

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..data.images import ImageSet

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

#: The class a run reports sensitivity, PPV, ... of when the data set has it; the metrics
#: library has no domain default, so a run names it (else the second of two classes).
RUN_POSITIVE_CLASS = "Monkeypox"


def folder_stem(model: str) -> str:
    """The part of a unit's folder name that comes from its model (``a.b:c`` -> ``a.b_c``)."""
    return re.sub(r"[^\w.-]", "_", model)


def unit_name(model: str, scheme: str, fold: int) -> str:
    """A unit's name (``t4-cv-3``), as runinfo.json and unit.json record it."""
    return f"{model}-{scheme}-{fold}"


def unit_dirname(model: str, scheme: str, fold: int) -> str:
    """A unit's folder under ``units/``: its name with the model made safe for a file name."""
    return f"{folder_stem(model)}-{scheme}-{fold}"


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


def take_folder(
    out: Path, stack: contextlib.ExitStack, command, done: dict, damaged: dict, *, overwrite: bool
) -> dict:
    """Clear (``--overwrite``), create, lock and mark the run folder, move damaged units
    aside; return the finished units that still count."""
    if overwrite:
        clear_run(out)
        done = {}
    out.mkdir(parents=True, exist_ok=True)
    if not holds_lock(out):
        stack.enter_context(locked(out, command=command))
        check_owned(out)  # another process may have filled it since the start
        if set(finished_units(out)) - set(done):
            raise MpxEvalError(
                f"another process wrote units into {out} while this run started; run the "
                "same command again to resume from them"
            )
    if not (out / MARKER).is_file():
        write_marker(out)
    for name, (dirname, reason) in damaged.items():
        moved = move_aside(out / "units" / dirname)
        print(
            f"mpx_eval: unit {name} was damaged ({reason}); moved it aside to {moved} and "
            "training it again",
            file=sys.stderr,
        )
    return done


# --------------------------------------------------------------------------- resume


def finished_units(out: str | Path) -> dict[str, dict]:
    """unit.json of every complete unit folder under ``out/units``, by unit name.

    A folder without a readable unit.json is unfinished (it is retrained by ``run``).
    """
    found: dict[str, dict] = {}
    units_dir = Path(out) / "units"
    if not units_dir.is_dir():
        return found
    for child in sorted(units_dir.iterdir()):
        marker = child / "unit.json"
        if not marker.is_file():
            continue
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        # a folder moved aside as damaged keeps its unit.json but no longer its name
        if (
            isinstance(info, dict)
            and isinstance(info.get("unit"), str)
            and info.get("dirname") == child.name
        ):
            found[info["unit"]] = info
    return found


def _previous_identity(out: Path) -> dict | None:
    from ..config import config_from_toml_text

    path = out / "config.toml"
    if not path.is_file():
        return None
    try:
        values = config_from_toml_text(path.read_text(encoding="utf-8"))
    except Exception:  # an unreadable old config: the unit markers still protect results
        return None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def refuse_mismatch(cfg: RunConfig, out: Path, done: dict[str, dict]) -> None:
    """Finished units of a run whose recorded settings differ from ``cfg`` stay theirs."""
    from ..config import LATER_DEFAULTS, RESULT_FIELDS

    if not done:
        return
    previous = _previous_identity(out)
    if previous is None:
        return
    current = cfg.identity()

    def value(values: dict, key: str):
        return values.get(key, LATER_DEFAULTS.get(key))

    changed = [
        f"{key} {value(previous, key)!r} -> {value(current, key)!r}"
        for key in RESULT_FIELDS
        if value(previous, key) != value(current, key)
    ]
    if changed:
        raise MpxEvalError(
            f"{out} holds {len(done)} finished unit(s) of a run with other settings "
            f"({'; '.join(changed)}); use a new --out, or --overwrite to discard them"
        )


def refuse_stale(out: Path, done: dict, identity: str) -> None:
    """Finished units of other data or settings cannot be mixed into this run."""
    stale = [n for n, info in done.items() if info.get("identity") != identity]
    if stale:
        raise MpxEvalError(
            f"{out} holds finished unit(s) ({', '.join(stale[:3])}) trained on other data or "
            "settings; use a new --out, or --overwrite to discard them"
        )


def refuse_other_precision(cfg: RunConfig, out: Path, done: dict, policy: str) -> None:
    """Locally trained units of another precision cannot be mixed into this run."""
    used = {info.get("precision_policy") for info in done.values()} - {None}
    if used and used != {policy} and cfg.executor == "local":
        raise MpxEvalError(
            f"{out} holds units trained in {', '.join(sorted(used))}, but --precision "
            f"{cfg.precision} means {policy} on this machine; pass --precision explicitly, "
            "use a new --out, or --overwrite"
        )


# --------------------------------------------------------------------------- the run's files


def write_header(
    out: Path, *, config: str, splits: pd.DataFrame, audit: dict, models: dict
) -> None:
    """What a run knows before it trains, written again by every invocation: the resolved
    config (TOML text), the split plan, its audit and the models' descriptions."""
    write_text(out / "config.toml", config)
    write_csv(splits, out / "splits.csv")
    write_json(out / "audit.json", audit)
    write_json(out / "models.json", models)


def runinfo_header(
    cfg: RunConfig, out: Path, command, done: dict, device_info, policy, engine, images
):
    """runinfo.json as a run starts (a resumed run keeps its first start)."""
    from ..config import DEMO_SETTINGS
    from ..data.demo import DEMO_LABEL
    from ..system import versions

    info = images.describe()
    previous: dict = {}
    if done and (out / "runinfo.json").is_file():
        try:
            previous = read_json(out / "runinfo.json")
        except MpxEvalError:
            previous = {}  # damaged: this invocation's start stands in
    return {
        "mpx_eval": __version__,
        "command": command or ["python", "-m", "mpx_eval", "run"],
        "started": previous.get("started")
        or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumed": datetime.now(timezone.utc).isoformat(timespec="seconds") if done else None,
        "finished": None,
        "backend": device_info["backend"],
        "device": device_info,
        "precision_policy": policy,
        "engine": engine,
        "versions": versions(),
        "dataset": info,
        "demo": {"label": DEMO_LABEL, "settings": DEMO_SETTINGS} if cfg.demo else None,
    }


def write_runinfo(out: Path, runinfo: dict) -> None:
    write_json(out / "runinfo.json", runinfo)


def record_finish(out: Path, runinfo: dict, wall_seconds: float) -> dict:
    """runinfo.json once training is over: when, how long, and each finished unit's times.
    Returns the finished units."""
    done = finished_units(out)
    runinfo["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    runinfo["wall_seconds"] = round(wall_seconds, 1)
    runinfo["units"] = {
        name: {k: done[name][k] for k in ("seconds", "seconds_per_epoch", "finished_at")}
        for name in runinfo["units_planned"]
        if name in done
    }
    write_runinfo(out, runinfo)
    return done


def write_thumbnails(out: Path, images: ImageSet) -> None:
    """Small JPEGs of every image for the report (which never reads the data folder);
    kept as they are when they already show this data set."""
    import zipfile

    path = out / "thumbnails.zip"
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                if zf.comment.decode() == images.fingerprint:
                    return
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError):
            pass
    write_thumbnail_zip(out, zip(images.paths, images.thumbnails, strict=True), images.fingerprint)


def write_thumbnail_zip(out: Path, thumbnails, fingerprint: str) -> None:
    """thumbnails.zip from ``(image path, RGB array)`` pairs, the data set's fingerprint as
    its comment; fixed entry dates, so the same images give the same bytes."""
    import io
    import zipfile

    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.comment = fingerprint.encode()
        for rel, thumb in thumbnails:
            jpeg = io.BytesIO()
            Image.fromarray(thumb).save(jpeg, format="JPEG", quality=85)
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, jpeg.getvalue())
    write_bytes(out / "thumbnails.zip", buf.getvalue())


# --------------------------------------------------------------------------- a unit's files


def unit_frames(unit, result, images: ImageSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """history and predictions tables of one trained unit (a ``runner.Unit``)."""
    history = pd.DataFrame(result.history)
    history.insert(0, "fold", unit.split.fold)
    history.insert(0, "scheme", unit.split.scheme)
    history.insert(0, "model", unit.model)
    history = history[list(HISTORY_COLUMNS)]
    rows = np.asarray(result.eval_index)
    blocks = []
    for checkpoint, probs in (("best", result.probs_best), ("last", result.probs_last)):
        block = pd.DataFrame(
            {
                "model": unit.model,
                "scheme": unit.split.scheme,
                "fold": unit.split.fold,
                "checkpoint": checkpoint,
                "path": [images.paths[i] for i in rows],
                "label": [images.class_names[images.labels[i]] for i in rows],
                "group": images.groups[rows],
            }
        )
        for c, name in enumerate(images.class_names):
            block[f"prob_{name}"] = probs[:, c]
        blocks.append(block)
    return history, pd.concat(blocks, ignore_index=True)


def unit_folder(out: Path, dirname: str) -> Path:
    return out / "units" / dirname


def write_unit_tables(
    folder: Path, history: pd.DataFrame, predictions: pd.DataFrame | None
) -> None:
    """A unit's history.csv and predictions.csv (None: a diverged unit, which has none, so
    that of an earlier attempt goes)."""
    write_csv(history[list(HISTORY_COLUMNS)], folder / "history.csv")
    if predictions is None:
        (folder / "predictions.csv").unlink(missing_ok=True)
    else:
        write_csv(predictions, folder / "predictions.csv")


def finish_unit(folder: Path, info: dict) -> None:
    """unit.json, written last: it marks the unit complete (resume rests on it)."""
    if info.get("dirname") != folder.name:
        raise ValueError(f"unit.json of {folder} names the folder {info.get('dirname')!r}")
    write_json(folder / "unit.json", info)


def write_unit(out: Path, unit, result, images: ImageSet, identity: str, extra: dict) -> dict:
    """Every file of a trained unit (a ``runner.Unit``), unit.json last.

    A diverged unit keeps its history up to the epoch that diverged and has no
    predictions: there is no model left to predict with."""
    from .kept import write_kept

    folder = unit_folder(out, unit.dirname)
    diverged_at = getattr(result, "diverged_at", None)
    if diverged_at:
        result.probs_best = result.probs_last = np.empty((0, len(images.class_names)))
        result.eval_index = np.empty(0, dtype=np.int64)
    history, predictions = unit_frames(unit, result, images)
    write_unit_tables(folder, history, None if diverged_at else predictions)
    kept = write_kept(
        folder, result.kept, paths=images.paths, model_info=saved_model_info(unit, images)
    )
    info = {
        "unit": unit.name,
        "dirname": unit.dirname,
        "model": unit.model,
        "scheme": unit.split.scheme,
        "fold": unit.split.fold,
        "identity": identity,
        "input_size": unit.size,
        "n_train": len(unit.split.train),
        "n_val": len(unit.split.val),
        "n_test": len(unit.split.test),
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "params": result.params,
        "seconds": round(result.seconds, 3),
        "seconds_per_epoch": round(float(np.mean(result.seconds_per_epoch)), 4),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "diverged" if diverged_at else "finished",
        **({"diverged_at": int(diverged_at)} if diverged_at else {}),
        **extra,
        **kept,
    }
    finish_unit(folder, info)
    return info


def saved_model_info(unit, images: ImageSet) -> dict:
    """What model.json records beside a saved model: enough to use it without the run."""
    from .kept import PREPROCESSING

    return {
        "unit": unit.name,
        "model": unit.model,
        "class_names": list(images.class_names),
        "input_size": unit.size,
        "preprocessing": PREPROCESSING,
        "dataset_fingerprint": images.fingerprint,
        "mpx_eval": __version__,
    }


# --------------------------------------------------------------------------- aggregation


def collect_units(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    """The finished units' history and predictions, concatenated in the run's planned order."""
    out = Path(out)
    done = finished_units(out)
    planned: list[str] = []
    if (out / "runinfo.json").is_file():
        planned = list(read_json(out / "runinfo.json").get("units_planned") or [])
    # a diverged unit has no predictions; its history stays in its own folder
    done = {n: info for n, info in done.items() if info.get("status") != "diverged"}
    names = [n for n in planned if n in done] + sorted(n for n in done if n not in planned)
    histories, predictions = [], []
    for name in names:
        folder = unit_folder(out, done[name]["dirname"])
        histories.append(read_csv(folder / "history.csv", required=HISTORY_COLUMNS))
        predictions.append(read_csv(folder / "predictions.csv", required=PREDICTION_KEYS))
    if not names:
        return (
            pd.DataFrame(columns=list(HISTORY_COLUMNS)),
            pd.DataFrame(columns=list(PREDICTION_KEYS)),
            {},
        )
    return (
        pd.concat(histories, ignore_index=True),
        pd.concat(predictions, ignore_index=True),
        {n: done[n] for n in names},
    )


def _folds_per_repeat(out: Path) -> int | None:
    """k of a run that repeats its k folds (from its config.toml), else None."""
    from ..config import config_from_toml_text, tomllib

    path = out / "config.toml"
    if not path.is_file():
        return None
    try:
        settings = config_from_toml_text(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MpxEvalError(f"{path} is not valid TOML ({exc})") from None
    return int(settings["folds"]) if settings.get("repeats", 1) > 1 else None


def _flat_config(path: Path) -> dict:
    """The resolved config as ``{field: value}``; empty when the run folder has none yet."""
    from ..config import config_from_toml_text

    try:
        return config_from_toml_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def aggregates_current(out: str | Path) -> bool:
    """True when history.csv and predictions.csv hold exactly what aggregating the finished
    units would write and metrics.json counts the same units; False when any is missing,
    unreadable or behind the units (an interrupted run, a unit trained or replaced since)."""
    out = Path(out)
    try:
        history, predictions, done = collect_units(out)
        metrics = read_json(out / "metrics.json")
        for frame, name in ((history, "history.csv"), (predictions, "predictions.csv")):
            if (out / name).read_bytes() != _csv_text(frame).encode("utf-8"):
                return False
    except (MpxEvalError, OSError):
        return False
    diverged = {n for n, i in finished_units(out).items() if i.get("status") == "diverged"}
    return (
        isinstance(metrics, dict)
        and metrics.get("units_finished") == len(done)
        and isinstance(metrics.get("units_diverged"), dict)
        and set(metrics["units_diverged"]) == diverged
    )


def aggregate_run(out: str | Path) -> dict:
    """Write the run-level metrics.json, history.csv and predictions.csv from the finished
    units (works on partial runs) and return the metrics as written.

    metrics.json is written first: an aggregation cut short leaves tables that no longer
    match the units, which :func:`aggregates_current` notices. A unit whose predictions the
    metrics library rejects is named in the error.
    """
    out = Path(out)
    runinfo = read_json(out / "runinfo.json")
    history, predictions, done = collect_units(out)
    try:
        metrics = _summarize(out, runinfo, history, predictions, done)
    except (ValueError, KeyError, TypeError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        culprit = _unit_at_fault(out, list(runinfo["dataset"]["classes"]))
        if culprit is not None:
            raise MpxEvalError(
                f"{culprit[0]} cannot be summarised ({culprit[1]}); it may be truncated or "
                "written by another version"
            ) from None
        raise MpxEvalError(
            f"{out / 'predictions.csv'} (gathered from the finished units) cannot be "
            f"summarised: {detail}"
        ) from None
    text = json_text(metrics)
    write_text(out / "metrics.json", text)
    write_csv(history, out / "history.csv")
    write_csv(predictions, out / "predictions.csv")
    return json.loads(text)  # as a reader of metrics.json sees it: NaN as null, keys as text


def _summarize(
    out: Path, runinfo: dict, history: pd.DataFrame, predictions: pd.DataFrame, done: dict
) -> dict:
    """metrics.json of the finished units' tables."""
    from ..assessment.headline import assess
    from ..summary import summarize_predictions

    models = read_json(out / "models.json")
    dataset = runinfo["dataset"]
    if predictions.empty:
        metrics: dict = {"classes": dataset["classes"], "models": {}, "comparisons": []}
    else:
        classes = dataset["classes"]
        positive = RUN_POSITIVE_CLASS if RUN_POSITIVE_CLASS in classes else None
        metrics = summarize_predictions(
            predictions,
            labels=classes,
            positive_class=positive if len(classes) == 2 else None,
            history=history,
            n_samples=dataset["n_images"],
            folds_per_repeat=_folds_per_repeat(out),
        )
    metrics["dataset"] = {
        key: dataset[key] for key in ("classes", "counts", "fingerprint", "n_images")
    }
    for name, info in models.items():
        entry = metrics["models"].setdefault(name, {"cv": None, "seed_split": None})
        entry["params"] = info["params"]
        entry["input_shape"] = info["input_shape"]
    if (out / "audit.json").is_file():
        from ..assessment.leakage import seed_leakage_metrics

        audit = read_json(out / "audit.json")
        metrics["seed_leakage"] = seed_leakage_metrics(predictions, audit, dataset["classes"])
    metrics["units_finished"] = len(done)
    metrics["units_diverged"] = {
        name: info.get("diverged_at")
        for name, info in finished_units(out).items()
        if info.get("status") == "diverged"
    }
    metrics["units_planned"] = len(runinfo.get("units_planned") or done)
    assess(metrics, predictions, _flat_config(out / "config.toml"))
    return metrics


def _unit_at_fault(out: Path, classes: list[str]) -> tuple[Path, str] | None:
    """The first unit whose predictions the metrics library rejects on their own, if any.

    Used after the run-level summary failed, to name a unit's file rather than the table
    gathered from all of them (problems between units stay with that table).
    """
    from ..summary import summarize_predictions

    for info in finished_units(out).values():
        if info.get("status") == "diverged":
            continue
        folder = unit_folder(out, str(info["dirname"]))
        predictions = read_csv(folder / "predictions.csv", required=PREDICTION_KEYS)
        history = read_csv(folder / "history.csv", required=HISTORY_COLUMNS)
        for path, history_part in (
            (folder / "predictions.csv", None),
            (folder / "history.csv", history),
        ):
            try:
                summarize_predictions(
                    predictions, labels=classes, history=history_part, n_resamples=2
                )
            except ValueError as exc:
                return path, str(exc)
    return None
