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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import guards, outdir
from .audit import audit, summary_lines
from .config import BUILTIN_MODELS, PATIENT_PATTERN, RunConfig
from .data import ImageSet, describe_unread, load_image_set
from .demo import demo_dataset
from .errors import MpxEvalError
from .grouping import apply_families, family_audit, family_summary_lines
from .progress import Progress, format_seconds
from .results import write_csv, write_json
from .splits import Split, make_plan, plan_frame

# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Unit:
    """One model trained and evaluated on one split."""

    model: str
    split: Split
    size: int

    @property
    def name(self) -> str:
        return outdir.unit_name(self.model, self.split.scheme, self.split.fold)

    @property
    def dirname(self) -> str:
        return outdir.unit_dirname(self.model, self.split.scheme, self.split.fold)

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


# --------------------------------------------------------------------------- data


def locate_data(cfg: RunConfig) -> Path:
    if cfg.demo:
        return demo_dataset()
    root = Path(cfg.data_dir)
    if not root.exists():
        raise MpxEvalError(
            f"data folder {root} does not exist: pass --data-dir DIR (one sub-folder of images "
            "per class), or try --demo for a synthetic set"
        )
    return root


def load_for(cfg: RunConfig, sizes: Iterable[int]) -> tuple[ImageSet, list[str]]:
    """Decode the run's images; also return what to tell the user about them, to be printed
    once every check has passed (an error stays one line)."""
    root = locate_data(cfg)
    sizes = sorted(set(sizes))
    started = time.perf_counter()
    images = load_image_set(
        root,
        sizes=sizes,
        group_pattern=cfg.group_pattern,
        skip_bad_images=cfg.skip_bad_images,
        demo=cfg.demo,
    )
    what = "synthetic demo images" if cfg.demo else "images"
    at = f" at {', '.join(f'{s}x{s}' for s in sizes)}" if sizes else ""
    counts = ", ".join(f"{k} {v}" for k, v in images.counts.items())
    notes = [
        f"Decoded {len(images)} {what} ({counts}) from {root}{at} in "
        f"{time.perf_counter() - started:.1f} s"
    ]
    notes += [f"  skipped {path}: {reason}" for path, reason in images.skipped]
    unread = describe_unread(images.unread)
    if unread:
        notes.append(f"  {unread}")
    if cfg.group_pattern is None and _looks_grouped(images.paths):
        notes.append(
            f"  hint: file names look like patient ids with several photos each; without "
            f"--group-pattern '{PATIENT_PATTERN}' one patient can sit on both sides of a split"
        )
    return images, notes


def _looks_grouped(paths: list[str]) -> bool:
    """True when 'patient_shot' file names repeat patients (at least a tenth of the set)."""
    from .data import group_ids

    try:
        groups = group_ids(paths, PATIENT_PATTERN)
    except MpxEvalError:
        return False
    return len(paths) - len(set(groups.tolist())) >= max(2, len(paths) // 10)


def plan_and_audit(
    cfg: RunConfig, images: ImageSet, *, quiet: bool = False
) -> tuple[list[Split], dict]:
    """The split plan of ``cfg`` and its leakage audit.

    With family detection on, ``images.groups`` becomes the group each image is split by
    (its family joined with its patient group) before the plan is made.
    """
    families = apply_families(images, enabled=cfg.families, quiet=quiet)
    try:
        plan = make_plan(
            images,
            folds=cfg.folds,
            seed=cfg.seed,
            validation_split=cfg.validation_split,
            inner_fraction=cfg.inner_fraction,
            repeats=cfg.repeats,
        )
    except MpxEvalError as exc:
        if families is None or not families.members() or "groups" not in str(exc):
            raise
        raise MpxEvalError(
            f"{exc} (a group here is a family of copies of one photo, joined with its "
            "patient group)"
        ) from None
    found = audit(images, plan)
    found.update(family_audit(images, plan, families, enabled=cfg.families))
    return plan, found


def split_command(cfg: RunConfig, out_csv: str | os.PathLike) -> int:
    """``mpx_eval splits``: write the plan and its audit, print a summary."""
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise MpxEvalError(
            f"splits --out {out_csv} is a folder; give a file name, e.g. {out_csv / 'splits.csv'}"
        )
    outdir.check_writable(out_csv.parent if str(out_csv.parent) else Path("."))
    outdir.refuse_inside_data(out_csv, None if cfg.demo else Path(cfg.data_dir))
    images, notes = load_for(cfg, ())
    plan, found = plan_and_audit(cfg, images)
    print("\n".join(notes), file=sys.stderr)
    frame = plan_frame(images, plan)
    write_csv(frame, out_csv)
    audit_path = out_csv.with_name(out_csv.stem + ".audit.json")
    write_json(audit_path, found)
    grouped = _grouping_text(cfg, images)
    print(f"Split plan ({grouped}, seed {cfg.seed}):")
    counts = frame.groupby(["scheme", "fold", "role"], sort=False).size()
    for split in plan:
        roles = counts.loc[(split.scheme, split.fold)]
        parts = ", ".join(
            f"{role} {roles[role]}" for role in ("train", "val", "test") if role in roles
        )
        print(f"  {split.name}: {parts}")
    for line in [*summary_lines(found), *family_summary_lines(found)]:
        print(line, file=sys.stderr if "!" in line else sys.stdout)
    print(f"Wrote {out_csv} and {audit_path}")
    return 0


def _grouping_text(cfg: RunConfig, images: ImageSet) -> str:
    """How the cv folds are grouped, for the plan's heading."""
    if not images.grouped():
        return "ungrouped: no image shares a group"
    by = ["image families"] if cfg.families else []
    by += [repr(cfg.group_pattern)] if cfg.group_pattern else []
    return "grouped by " + " and ".join(by)


# --------------------------------------------------------------------------- backend


def _load_training(device: str, *, threads: int | None = None):
    """Import the Keras side (models, train) quietly and choose the device.

    TensorFlow prints start-up notices on stderr before its logging is set up; they are
    hidden unless MPX_EVAL_DEBUG is set. Returns (train module, models module, device info).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # JAX's counterpart of TensorFlow's memory growth: take GPU memory as needed, so that
    # several units (Ray tasks) can share a GPU and a benchmark can run beside a run
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if os.environ.get("MPX_EVAL_DEBUG") or "keras" in sys.modules:
        from . import models, train

        return train, models, train.configure_device(device, threads=threads)
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        from . import models, train

        info = train.configure_device(device, threads=threads)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return train, models, info


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
    outdir.check_writable(out)
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
    done = {} if overwrite else outdir.finished_units(out)
    outdir.refuse_mismatch(cfg, out, done)
    if retrain_diverged:
        done = {name: info for name, info in done.items() if info.get("status") != "diverged"}
    from .executors import make_executor

    executor = make_executor(cfg)

    train_mod = models_mod = device_info = None
    if any(m not in BUILTIN_MODELS for m in cfg.models):
        # a user model's input size is known only once its module is imported
        train_mod, models_mod, device_info = _load_training(cfg.device, threads=cfg.threads)
    specs, sizes = _input_sizes(cfg, models_mod)

    images, notes = load_for(cfg, sizes.values())
    plan, found = plan_and_audit(cfg, images, quiet=quiet)
    guards.check_training_classes(images, plan)
    damaged = guards.damaged_units(out, done, images.class_names)
    done = {name: info for name, info in done.items() if name not in damaged}
    identity = _identity_hash({**cfg.identity(), "fingerprint": images.fingerprint})
    if not overwrite:
        outdir.refuse_stale(out, done, identity)

    if train_mod is None:
        train_mod, models_mod, device_info = _load_training(cfg.device, threads=cfg.threads)
    policy = train_mod.precision_policy(cfg.precision, device_info)
    from .batched import resolve_engine

    engine = resolve_engine(cfg.engine, device_info, policy)
    if not overwrite:
        outdir.refuse_other_precision(cfg, out, done, policy)
    models_info = _describe_models(cfg, specs, sizes, models_mod, len(images.class_names))

    # ---- everything is valid: from here on the output folder is written
    done = outdir.take_folder(out, stack, command, done, damaged, overwrite=overwrite)
    units = plan_units(sizes, plan)
    pending = [u for u in units if u.name not in done]
    outdir.write_header(
        out, config=cfg.to_toml(), splits=plan_frame(images, plan), audit=found, models=models_info
    )
    outdir.write_thumbnails(out, images)
    # in thumbnails.zip now (59 MB at 2,142 images); a fresh empty array, since a slice would
    # keep the whole buffer alive
    images.thumbnails = np.empty((0, *images.thumbnails.shape[1:]), dtype=np.uint8)
    runinfo = outdir.runinfo_header(cfg, out, command, done, device_info, policy, engine, images)
    runinfo["identity"] = identity
    runinfo["units_planned"] = [u.name for u in units]
    outdir.write_runinfo(out, runinfo)

    if not quiet:
        _announce(notes, device_info, policy, engine, found, done, units, out)

    progress = Progress(units, done, cfg.epochs, quiet=quiet)
    try:
        for unit, result, extra in executor.execute(
            pending,
            images,
            specs=specs,
            cfg=cfg,
            policy=policy,
            engine=engine,
            progress=progress,
            train_module=train_mod,
            device_info=device_info,
        ):
            _record_unit(out, unit, result, images, identity, extra, progress, quiet=quiet)
    except KeyboardInterrupt:
        progress.close()
        _say_interrupted(out, progress, len(units))
        return 130
    progress.close()
    images.arrays.clear()  # training is over: give the decoded images back before the report
    return _finish(out, runinfo, executor.failures, started_wall, quiet=quiet)


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


def _record_unit(out, unit, result, images, identity, extra, progress, *, quiet: bool) -> None:
    """Write a unit that just finished training and tell the progress line (and, when it
    diverged, the user)."""
    outdir.write_unit(out, unit, result, images, identity, extra)
    progress.unit_done(unit, result.seconds)
    if getattr(result, "diverged_at", None) and not quiet:
        print(
            f"unit {unit.name} diverged at epoch {result.diverged_at} (non-finite "
            "loss); recorded as diverged, the other units go on",
            file=sys.stderr,
        )


def _say_interrupted(out: Path, progress, n_units: int) -> None:
    finished = len(outdir.finished_units(out))
    where = f" during {progress.current}" if progress.current else ""
    print(
        f"Interrupted{where}. {finished} of {n_units} units are finished and kept in "
        f"{out / 'units'}; run the same command again to resume.",
        file=sys.stderr,
    )


def _describe_models(cfg: RunConfig, specs: dict, sizes: dict, models_mod, n_classes: int) -> dict:
    """models.json: each model's builder, input shape, parameter count and layer table (and
    ``specs`` completed with the built-in models)."""
    described = {}
    for name in cfg.models:
        spec = specs.get(name) or models_mod.resolve_model(name)
        specs[name] = spec
        model = models_mod.build(spec, sizes[name], n_classes)
        described[name] = {
            "builder": name if ":" in name else f"mpx_eval.models:{name}",
            "input_shape": [sizes[name], sizes[name], 3],
            "params": int(model.count_params()),
            "layers": models_mod.layer_table(model),
        }
        del model
    return described


def _announce(notes, device_info, policy, engine, found, done, units, out) -> None:
    """What a run found and will do, on stderr, before training."""
    print("\n".join(notes), file=sys.stderr)
    where = device_info["name"] + (
        f", {device_info['threads']} threads" if device_info.get("threads") else ""
    )
    print(
        f"Backend {device_info['backend']} on {device_info['kind'].upper()} ({where}), "
        f"precision {policy}, {engine} engine",
        file=sys.stderr,
    )
    for line in [*summary_lines(found), *family_summary_lines(found)]:
        print(line, file=sys.stderr)
    if done:
        print(
            f"Resuming: {len(done)} of {len(units)} units already finished in {out}",
            file=sys.stderr,
        )


def _finish(out: Path, runinfo: dict, failed: dict, started_wall: float, *, quiet: bool) -> int:
    """Record the finish, aggregate the units, render the report, print the summary; the
    exit code."""
    done = outdir.record_finish(out, runinfo, time.perf_counter() - started_wall)
    metrics = outdir.aggregate_run(out)

    from .report import render_run

    report = render_run(out)
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


def _leakage_text(leak: dict) -> str:
    def _fmt(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def part(entry: dict) -> str:
        ci = (
            f" (95% CI {_fmt(entry['low'])}-{_fmt(entry['high'])})"
            if entry.get("low") is not None
            else ""
        )
        return f"{_fmt(entry['accuracy'])}{ci} on {entry['n']}"

    return (
        "seed split accuracy on validation images with a copy or group member in training "
        f"{part(leak['with_sibling'])}, without one {part(leak['without_sibling'])}"
    )


def print_summary(metrics: dict, report: Path) -> None:
    """The headline per model on stdout: what a user reads first (``--quiet`` too: it
    silences progress, not the result)."""
    from .assessment import summary_lines

    lines = summary_lines(metrics)
    for name in metrics["models"]:
        leak = (metrics.get("seed_leakage") or {}).get(name)
        if leak and leak["with_sibling"]["n"]:
            lines.append(f"  {name}: {_leakage_text(leak)}")
    print("\n".join([*lines, f"Report: {report}"]))
