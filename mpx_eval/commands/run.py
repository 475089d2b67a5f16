"""A run: plan the units (model x split), train the unfinished ones, write every artefact.

A unit's folder is complete once its ``unit.json`` exists (written last, atomically); the
same command again skips complete units, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import BUILTIN_MODELS, RunConfig
from ..data.audit import audit_lines
from ..data.external import ExternalImages, external_lines, require_folders
from ..data.grouping import family_lines
from ..data.images import ImageSet
from ..data.splits import Split
from ..errors import MpxEvalError
from ..progress import Progress, format_seconds
from ..rundir import folder, lock, records
from ..rundir.layout import RunPaths, unit_dirname, unit_name
from ..rundir.units import Units, is_diverged, write_unit
from ..training import backend
from ..training.executors import Executor, check_available, make_executor
from . import guards
from .inputs import join_external_rows, load_external_for, load_for, plan_and_audit

# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """One model trained and evaluated on one split."""

    model: str
    split: Split
    size: int

    @property
    def name(self) -> str:
        return unit_name(self.model, self.split.scheme, self.split.fold)

    @property
    def dirname(self) -> str:
        return unit_dirname(self.model, self.split.scheme, self.split.fold)

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
    folder.check_writable(out)
    folder.refuse_inside_data(out, None if cfg.demo else Path(cfg.data_dir))
    folder.check_owned(out)
    guards.check_unit_folders(cfg.models)
    for root in require_folders(cfg.external):  # an external set is data too
        folder.refuse_inside_data(out, root)
    with contextlib.ExitStack() as stack:
        if out.is_dir():
            stack.enter_context(lock.locked(out, command=command))
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

    done: Units  # finished units that still count
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
    external: ExternalImages | None = None  # --external: the images every unit also predicts


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
    done = _take_folder(out, stack, command, ready, overwrite=overwrite)
    units = plan_units(ready.sizes, ready.plan)
    runinfo = _write_header(cfg, out, ready, units, done, command)
    if not quiet:
        _announce(ready, done, units, out, keep_contaminated=cfg.keep_contaminated)
    if not _train(out, ready, units, done, epochs=cfg.epochs, quiet=quiet):
        return 130
    return _finish(out, runinfo, done, ready.executor.failures, started_wall, quiet=quiet)


def _prepare(
    cfg: RunConfig, out: Path, *, overwrite: bool, quiet: bool, retrain_diverged: bool
) -> _Prepared:
    """Every check a run makes before it writes: the finished units that still count, the
    images and their plan, the device and precision, the executor, the models built once."""
    done = Units(out) if overwrite else Units.scan(out)
    guards.refuse_mismatch(cfg, out, done)
    if retrain_diverged:
        done = done.where(name for name, info in done.items() if not is_diverged(info))
    check_available(cfg)

    training = None
    if any(m not in BUILTIN_MODELS for m in cfg.models):
        # a user model's input size is known only once its module is imported
        training = backend.load_training(cfg.device, threads=cfg.threads)
    specs, sizes = _input_sizes(cfg, training.models if training else None)
    guards.check_builtin_sizes(sizes)

    images, notes = load_for(cfg, sizes.values(), show_progress=not quiet)
    # before the plan: family detection frees the grey copies that the contamination needs
    external = load_external_for(cfg, images, sizes.values(), quiet=quiet)
    plan, found = plan_and_audit(cfg, images, quiet=quiet)
    guards.check_training_classes(images, plan)
    damaged = guards.damaged_units(done, images.class_names)
    done = done.where(name for name in done if name not in damaged)
    identity = _identity_hash(
        {
            **cfg.identity(),
            "fingerprint": images.fingerprint,
            **({"external": external.fingerprint} if external is not None else {}),
        }
    )
    if not overwrite:
        guards.refuse_stale(out, done, identity)

    if training is None:
        training = backend.load_training(cfg.device, threads=cfg.threads)
    policy = backend.precision_policy(cfg.precision, training.device_info)
    from ..training.batched import resolve_engine

    engine = resolve_engine(cfg.engine, training.device_info, policy)
    if not overwrite:
        guards.refuse_other_precision(cfg, out, done, policy)
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
        external=external,
    )


def _take_folder(
    out: Path, stack: contextlib.ExitStack, command, ready: _Prepared, *, overwrite: bool
) -> Units:
    """Clear (``--overwrite``), create, lock and mark the run folder, move damaged units
    aside; return the finished units that still count."""
    done = ready.done
    if overwrite:
        folder.clear_run(out)
        done = Units(out)
    out.mkdir(parents=True, exist_ok=True)
    if not lock.holds_lock(out):
        stack.enter_context(lock.locked(out, command=command))
        folder.check_owned(out)  # another process may have filled it since the start
        if set(Units.scan(out)) - set(done):
            raise MpxEvalError(
                f"another process wrote units into {out} while this run started; run the "
                "same command again to resume from them"
            )
    if not RunPaths(out).marker.is_file():
        folder.write_marker(out)
    for name, (dirname, reason) in ready.damaged.items():
        moved = folder.move_aside(RunPaths(out).unit(dirname))
        print(
            f"mpx_eval: unit {name} was damaged ({reason}); moved it aside to {moved} and "
            "training it again",
            file=sys.stderr,
        )
    return done


def _write_header(cfg: RunConfig, out: Path, ready: _Prepared, units, done: Units, command) -> dict:
    """The run's own files, written before any unit trains: its config, plan, audit, models,
    thumbnails and runinfo.json (returned, to be completed at the finish)."""
    images = ready.images
    records.write_header(
        out,
        config=cfg.to_toml(),
        splits=records.splits_table(images, ready.plan),
        audit=ready.found,
        models=ready.models_info,
    )
    records.write_thumbnails(out, images)
    records.write_external(out, ready.external)
    if ready.external is not None:
        join_external_rows(images, ready.external)
    # in thumbnails.zip now (59 MB at 2,142 images); a fresh empty array, since a slice would
    # keep the whole buffer alive
    images.thumbnails = np.empty((0, *images.thumbnails.shape[1:]), dtype=np.uint8)
    runinfo = records.runinfo_header(
        cfg, out, command, done, ready.device_info, ready.policy, ready.engine, images
    )
    runinfo["identity"] = ready.identity
    runinfo["units_planned"] = [u.name for u in units]
    records.write_runinfo(out, runinfo)
    return runinfo


def _train(out: Path, ready: _Prepared, units, done: Units, *, epochs: int, quiet: bool) -> bool:
    """Train the units not finished yet, writing each as it finishes (and adding it to
    ``done``); False when Ctrl-C stopped it."""
    images = ready.images
    pending = [u for u in units if u.name not in done]
    progress = Progress(units, done, epochs, quiet=quiet)
    external = ready.external.paths if ready.external is not None else None
    try:
        for unit, result, extra in ready.executor.execute(pending, images, progress):
            info = write_unit(out, unit, result, images, ready.identity, extra, external)
            done.add(info)
            _record_unit(unit, result, progress, quiet=quiet)
    except KeyboardInterrupt:
        progress.close()
        _say_interrupted(out, progress, len(units))
        return False
    progress.close()
    images.arrays.clear()  # training is over: give the decoded images back before the report
    return True


def _input_sizes(cfg: RunConfig, models_mod) -> tuple[dict, dict[str, int]]:
    """Each model's input size (``--image-size``, else the model's own), and the specs of
    the user models resolved for it (a built-in model's size needs no Keras import)."""
    specs = {
        name: models_mod.resolve_model(name) for name in cfg.models if name not in BUILTIN_MODELS
    }
    sizes = {
        name: cfg.image_size
        or (specs[name].default_size if name in specs else BUILTIN_MODELS[name])
        for name in cfg.models
    }
    return specs, sizes


def _record_unit(unit, result, progress, *, quiet: bool) -> None:
    """Tell the progress line that a unit is written (and, when it diverged, the user)."""
    progress.unit_done(unit, result.seconds)
    if getattr(result, "diverged_at", None) and not quiet:
        print(
            f"unit {unit.name} diverged at epoch {result.diverged_at} (non-finite "
            "loss); recorded as diverged, the other units go on",
            file=sys.stderr,
        )


def _say_interrupted(out: Path, progress, n_units: int) -> None:
    finished = len(Units.scan(out))
    where = f" during {progress.current}" if progress.current else ""
    print(
        f"Interrupted{where}. {finished} of {n_units} units are finished and kept in "
        f"{out / 'units'}; run the same command again to resume.",
        file=sys.stderr,
    )


def _announce(ready: _Prepared, done: dict, units, out: Path, *, keep_contaminated: bool) -> None:
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
    for line in [*audit_lines(ready.found), *family_lines(ready.found)]:
        print(line, file=sys.stderr)
    if ready.external is not None:
        for line in external_lines(ready.external, keep_contaminated=keep_contaminated):
            print(line, file=sys.stderr)
    if done:
        print(
            f"Resuming: {len(done)} of {len(units)} units already finished in {out}",
            file=sys.stderr,
        )


def _finish(
    out: Path, runinfo: dict, done: Units, failed: dict, started_wall: float, *, quiet: bool
) -> int:
    """Record the finish, aggregate the units, render the report, print the summary; the
    exit code."""
    from .. import report
    from ..assessment.aggregate import aggregate_run, read_sources
    from .terminal import print_summary

    records.record_finish(out, runinfo, time.perf_counter() - started_wall, done)
    sources = read_sources(out, done)
    metrics = aggregate_run(sources)
    page = report.render_run(out, sources=sources, metrics=metrics)
    print_summary(metrics, page)
    diverged = done.diverged()
    if diverged:
        which = ", ".join(f"{n} at epoch {epoch}" for n, epoch in diverged.items())
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
