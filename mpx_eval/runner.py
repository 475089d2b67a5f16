"""A run: plan the units (model x split), train the unfinished ones, write every artefact.

A unit's folder is complete once its ``unit.json`` exists (written last, atomically); the
same command again skips complete units, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, backend, guards, outdir
from .audit import summary_lines
from .config import (
    BUILTIN_MODELS,
    DEMO_SETTINGS,
    LATER_DEFAULTS,
    RESULT_FIELDS,
    RunConfig,
    config_from_toml_text,
)
from .data import ImageSet
from .demo import DEMO_LABEL
from .errors import MpxEvalError
from .executors import Executor, check_available, make_executor
from .grouping import family_summary_lines
from .inputs import load_for, plan_and_audit
from .keptfiles import PREPROCESSING, write_kept
from .progress import Progress, format_seconds
from .results import (
    HISTORY_COLUMNS,
    finished_units,
    read_json,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)
from .splits import Split, plan_frame
from .system import versions

# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """One model trained and evaluated on one split."""

    model: str
    split: Split
    size: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.split.scheme}-{self.split.fold}"

    @property
    def dirname(self) -> str:
        return guards.folder_stem(self.model) + f"-{self.split.scheme}-{self.split.fold}"

    def seed(self, run_seed: int) -> int:
        """Seed of initialisation, shuffling and dropout: fixed by the run seed and the split,
        so a resumed or re-run unit trains exactly as it did (and models on one split share
        their shuffling order)."""
        return zlib.crc32(f"{run_seed}/{self.split.name}".encode()) & 0x7FFFFFFF


def plan_units(models: dict[str, int], plan: list[Split]) -> list[Unit]:
    """Split-major order, so a partial run already compares the models on the same splits."""
    return [Unit(model, split, size) for split in plan for model, size in models.items()]


def _identity_hash(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- output folder


def _check_writable(folder: Path) -> None:
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


def _previous_identity(out: Path) -> dict | None:
    path = out / "config.toml"
    if not path.is_file():
        return None
    try:
        values = config_from_toml_text(path.read_text(encoding="utf-8"))
    except Exception:  # an unreadable old config: the unit markers still protect results
        return None
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def _refuse_mismatch(cfg: RunConfig, out: Path, done: dict[str, dict]) -> None:
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


def _clear_run(out: Path) -> None:
    outdir.clear_run(out)


# --------------------------------------------------------------------------- artefacts


def unit_frames(unit: Unit, result, images: ImageSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """history and predictions tables of one trained unit."""
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


def write_unit(out: Path, unit: Unit, result, images: ImageSet, identity: str, extra: dict) -> dict:
    """A diverged unit keeps its history up to the epoch that diverged and has no
    predictions: there is no model left to predict with."""
    folder = out / "units" / unit.dirname
    diverged_at = getattr(result, "diverged_at", None)
    if diverged_at:
        result.probs_best = result.probs_last = np.empty((0, len(images.class_names)))
        result.eval_index = np.empty(0, dtype=np.int64)
    history, predictions = unit_frames(unit, result, images)
    write_csv(history, folder / "history.csv")
    if diverged_at:
        (folder / "predictions.csv").unlink(missing_ok=True)  # of an earlier attempt
    else:
        write_csv(predictions, folder / "predictions.csv")
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
    write_json(folder / "unit.json", info)  # last: marks the unit complete
    return info


def saved_model_info(unit: Unit, images: ImageSet) -> dict:
    """What model.json records beside a saved model: enough to use it without the run."""
    return {
        "unit": unit.name,
        "model": unit.model,
        "class_names": list(images.class_names),
        "input_size": unit.size,
        "preprocessing": PREPROCESSING,
        "dataset_fingerprint": images.fingerprint,
        "mpx_eval": __version__,
    }


def write_thumbnails(out: Path, images: ImageSet) -> None:
    """Small JPEGs of every image for the report (which never reads the data folder)."""
    import io
    import zipfile

    from PIL import Image

    path = out / "thumbnails.zip"
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                if zf.comment.decode() == images.fingerprint:
                    return
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError):
            pass
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.comment = images.fingerprint.encode()
        for rel, thumb in zip(images.paths, images.thumbnails, strict=True):
            jpeg = io.BytesIO()
            Image.fromarray(thumb).save(jpeg, format="JPEG", quality=85)
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, jpeg.getvalue())
    write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- run


def run(
    cfg: RunConfig,
    *,
    overwrite: bool = False,
    quiet: bool = False,
    command: list[str] | None = None,
    retrain_diverged: bool = False,
) -> int:
    """Train every unit of ``cfg`` that is not finished in ``cfg.out``; write all artefacts.

    Only into a new, empty or mpx_eval's own folder outside the data folder, and under an
    exclusive lock on it (taken at once when the folder exists, else when it is created).
    """
    out = Path(cfg.out)
    _check_writable(out)
    outdir.refuse_inside_data(out, None if cfg.demo else Path(cfg.data_dir))
    outdir.check_owned(out)
    guards.check_unit_folders(cfg.models)
    with contextlib.ExitStack() as stack:
        if out.is_dir():
            stack.enter_context(outdir.locked(out, command=command))
        return _run(
            cfg,
            stack,
            overwrite=overwrite,
            quiet=quiet,
            command=command,
            retrain_diverged=retrain_diverged,
        )


@dataclass
class _Prepared:
    """What a run has checked and loaded before it writes anything."""

    done: dict  # finished units that still count
    damaged: dict  # unit name -> (folder name, reason): to move aside and train again
    images: ImageSet
    notes: list[str]  # what to tell the user about the images
    plan: list[Split]
    found: dict  # the plan's leakage audit
    sizes: dict[str, int]  # model -> input size
    identity: str
    device_info: dict
    policy: str
    engine: str
    executor: Executor
    models_info: dict  # models.json


def _run(
    cfg: RunConfig,
    stack: contextlib.ExitStack,
    *,
    overwrite: bool,
    quiet: bool,
    command: list[str] | None,
    retrain_diverged: bool,
) -> int:
    started_wall = time.perf_counter()
    out = Path(cfg.out)
    ready = _prepare(cfg, out, overwrite=overwrite, quiet=quiet, retrain_diverged=retrain_diverged)
    # ---- everything is valid: from here on the output folder is written
    done = _take_folder(out, stack, command, ready.done, ready.damaged, overwrite=overwrite)
    units = plan_units(ready.sizes, ready.plan)
    runinfo = _write_header(cfg, out, ready, units, done, command)
    if not quiet:
        _announce(ready, done, units, out)
    if not _train(out, ready, units, done, epochs=cfg.epochs, quiet=quiet):
        return 130
    return _finish(out, runinfo, ready.executor.failures, started_wall, quiet=quiet)


def _prepare(
    cfg: RunConfig, out: Path, *, overwrite: bool, quiet: bool, retrain_diverged: bool
) -> _Prepared:
    """Every check a run makes before it writes: the finished units that still count, the
    images and their plan, the device and precision, the executor, the models built once."""
    done = {} if overwrite else finished_units(out)
    _refuse_mismatch(cfg, out, done)
    if retrain_diverged:
        done = {name: info for name, info in done.items() if info.get("status") != "diverged"}
    check_available(cfg)

    training = None
    if any(m not in BUILTIN_MODELS for m in cfg.models):
        # a user model's input size is known only once its module is imported
        training = backend.load_training(cfg.device, threads=cfg.threads)
    specs, sizes = _input_sizes(cfg, training.models if training else None)

    images, notes = load_for(cfg, sizes.values())
    plan, found = plan_and_audit(cfg, images, quiet=quiet)
    guards.check_training_classes(images, plan)
    damaged = guards.damaged_units(out, done, images.class_names)
    done = {name: info for name, info in done.items() if name not in damaged}
    identity = _identity_hash({**cfg.identity(), "fingerprint": images.fingerprint})
    if not overwrite:
        _refuse_stale(out, done, identity)

    if training is None:
        training = backend.load_training(cfg.device, threads=cfg.threads)
    policy = backend.precision_policy(cfg.precision, training.device_info)
    from .batched import resolve_engine

    engine = resolve_engine(cfg.engine, training.device_info, policy)
    if not overwrite:
        _refuse_other_precision(cfg, out, done, policy)
    specs = {name: specs.get(name) or training.models.resolve_model(name) for name in cfg.models}
    executor = make_executor(cfg, training=training, specs=specs, policy=policy, engine=engine)
    models_info = executor.describe_models(sizes, len(images.class_names))
    return _Prepared(
        done=done,
        damaged=damaged,
        images=images,
        notes=notes,
        plan=plan,
        found=found,
        sizes=sizes,
        identity=identity,
        device_info=training.device_info,
        policy=policy,
        engine=engine,
        executor=executor,
        models_info=models_info,
    )


def _write_header(cfg: RunConfig, out: Path, ready: _Prepared, units, done: dict, command) -> dict:
    """The run's own files, written before any unit trains: its config, plan, audit, models,
    thumbnails and runinfo.json (returned, to be completed at the finish)."""
    images = ready.images
    write_text(out / "config.toml", cfg.to_toml())
    write_csv(plan_frame(images, ready.plan), out / "splits.csv")
    write_json(out / "audit.json", ready.found)
    write_json(out / "models.json", ready.models_info)
    write_thumbnails(out, images)
    # in thumbnails.zip now (59 MB at 2,142 images); a fresh empty array, since a slice would
    # keep the whole buffer alive
    images.thumbnails = np.empty((0, *images.thumbnails.shape[1:]), dtype=np.uint8)
    runinfo = _runinfo_header(cfg, out, command, done, ready)
    runinfo["identity"] = ready.identity
    runinfo["units_planned"] = [u.name for u in units]
    write_json(out / "runinfo.json", runinfo)
    return runinfo


def _train(out: Path, ready: _Prepared, units, done: dict, *, epochs: int, quiet: bool) -> bool:
    """Train the units not finished yet, writing each as it finishes; False when Ctrl-C
    stopped it."""
    images = ready.images
    pending = [u for u in units if u.name not in done]
    progress = Progress(units, done, epochs, quiet=quiet)
    try:
        for unit, result, extra in ready.executor.execute(pending, images, progress):
            _record_unit(out, unit, result, images, ready.identity, extra, progress, quiet=quiet)
    except KeyboardInterrupt:
        progress.close()
        _say_interrupted(out, progress, len(units))
        return False
    progress.close()
    images.arrays.clear()  # training is over: give the decoded images back before the report
    return True


def _input_sizes(cfg: RunConfig, models_mod) -> tuple[dict, dict[str, int]]:
    """Each model's input size, and the specs of the user models resolved for it."""
    specs = {}
    sizes: dict[str, int] = {}
    for name in cfg.models:
        if name in BUILTIN_MODELS:
            sizes[name] = cfg.image_size or BUILTIN_MODELS[name]
        else:
            specs[name] = models_mod.resolve_model(name)
            sizes[name] = cfg.image_size or specs[name].default_size
    return specs, sizes


def _refuse_stale(out: Path, done: dict, identity: str) -> None:
    """Finished units of other data or settings cannot be mixed into this run."""
    stale = [n for n, info in done.items() if info.get("identity") != identity]
    if stale:
        raise MpxEvalError(
            f"{out} holds finished unit(s) ({', '.join(stale[:3])}) trained on other data or "
            "settings; use a new --out, or --overwrite to discard them"
        )


def _refuse_other_precision(cfg: RunConfig, out: Path, done: dict, policy: str) -> None:
    """Locally trained units of another precision cannot be mixed into this run."""
    used = {info.get("precision_policy") for info in done.values()} - {None}
    if used and used != {policy} and cfg.executor == "local":
        raise MpxEvalError(
            f"{out} holds units trained in {', '.join(sorted(used))}, but --precision "
            f"{cfg.precision} means {policy} on this machine; pass --precision explicitly, "
            "use a new --out, or --overwrite"
        )


def _record_unit(out, unit, result, images, identity, extra, progress, *, quiet: bool) -> None:
    """Write a unit that just finished training and tell the progress line (and, when it
    diverged, the user)."""
    write_unit(out, unit, result, images, identity, extra)
    progress.unit_done(unit, result.seconds)
    if getattr(result, "diverged_at", None) and not quiet:
        print(
            f"unit {unit.name} diverged at epoch {result.diverged_at} (non-finite "
            "loss); recorded as diverged, the other units go on",
            file=sys.stderr,
        )


def _say_interrupted(out: Path, progress, n_units: int) -> None:
    finished = len(finished_units(out))
    where = f" during {progress.current}" if progress.current else ""
    print(
        f"Interrupted{where}. {finished} of {n_units} units are finished and kept in "
        f"{out / 'units'}; run the same command again to resume.",
        file=sys.stderr,
    )


def _take_folder(
    out: Path, stack: contextlib.ExitStack, command, done: dict, damaged: dict, *, overwrite: bool
) -> dict:
    """Clear (``--overwrite``), create, lock and mark the run folder, move damaged units
    aside; return the finished units that still count."""
    if overwrite:
        _clear_run(out)
        done = {}
    out.mkdir(parents=True, exist_ok=True)
    if not outdir.holds_lock(out):
        stack.enter_context(outdir.locked(out, command=command))
        outdir.check_owned(out)  # another process may have filled it since the start
        if set(finished_units(out)) - set(done):
            raise MpxEvalError(
                f"another process wrote units into {out} while this run started; run the "
                "same command again to resume from them"
            )
    if not (out / outdir.MARKER).is_file():
        outdir.write_marker(out)
    for name, (dirname, reason) in damaged.items():
        moved = outdir.move_aside(out / "units" / dirname)
        print(
            f"mpx_eval: unit {name} was damaged ({reason}); moved it aside to {moved} and "
            "training it again",
            file=sys.stderr,
        )
    return done


def _runinfo_header(cfg: RunConfig, out: Path, command, done: dict, ready: _Prepared) -> dict:
    """runinfo.json as a run starts (a resumed run keeps its first start)."""
    info = ready.images.describe()
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
        "backend": ready.device_info["backend"],
        "device": ready.device_info,
        "precision_policy": ready.policy,
        "engine": ready.engine,
        "versions": versions(),
        "dataset": info,
        "demo": {"label": DEMO_LABEL, "settings": DEMO_SETTINGS} if cfg.demo else None,
    }


def _announce(ready: _Prepared, done: dict, units, out: Path) -> None:
    """What a run found and will do, on stderr, before training."""
    device_info = ready.device_info
    print("\n".join(ready.notes), file=sys.stderr)
    where = device_info["name"] + (
        f", {device_info['threads']} threads" if device_info.get("threads") else ""
    )
    print(
        f"Backend {device_info['backend']} on {device_info['kind'].upper()} ({where}), "
        f"precision {ready.policy}, {ready.engine} engine",
        file=sys.stderr,
    )
    for line in [*summary_lines(ready.found), *family_summary_lines(ready.found)]:
        print(line, file=sys.stderr)
    if done:
        print(
            f"Resuming: {len(done)} of {len(units)} units already finished in {out}",
            file=sys.stderr,
        )


def _finish(out: Path, runinfo: dict, failed: dict, started_wall: float, *, quiet: bool) -> int:
    """Record the finish, render the report, print the summary; the exit code."""
    done = finished_units(out)
    runinfo["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    runinfo["wall_seconds"] = round(time.perf_counter() - started_wall, 1)
    runinfo["units"] = {
        name: {k: done[name][k] for k in ("seconds", "seconds_per_epoch", "finished_at")}
        for name in runinfo["units_planned"]
        if name in done
    }
    write_json(out / "runinfo.json", runinfo)

    from .report import render_run
    from .terminal import print_summary

    report = render_run(out)
    metrics = read_json(out / "metrics.json")
    print_summary(metrics, report)
    diverged = {n: i for n, i in done.items() if i.get("status") == "diverged"}
    if diverged:
        which = ", ".join(f"{n} at epoch {i.get('diverged_at')}" for n, i in diverged.items())
        print(
            f"mpx_eval: {len(diverged)} unit(s) diverged and are left out of the statistics "
            f"({which}); --retrain-diverged trains them again",
            file=sys.stderr,
        )
    if failed:
        for name, reason in failed.items():
            print(f"mpx_eval: unit {name} failed: {reason}", file=sys.stderr)
        print(
            f"mpx_eval: {len(failed)} unit(s) failed; run the same command again to retry them",
            file=sys.stderr,
        )
        return 1
    if not quiet:
        print(f"Finished in {format_seconds(time.perf_counter() - started_wall)}.", file=sys.stderr)
    return 0
