"""Section 1, "Data, protocol and run": the data set, the protocol as the run recorded it,
the backend and device, the units with their times, and sample images."""

from __future__ import annotations

from datetime import datetime

from .. import curves as C
from .. import text as T
from ..run import Run

#: Thumbnails per class in the sample grid: enough to see the classes, a small page.
SAMPLES_PER_CLASS = 6


def _elapsed(started, units) -> str | None:
    """Time from the run's start to its last finished unit (the report is first rendered
    before the run records its own wall time)."""
    try:
        start = datetime.fromisoformat(str(started))
        ends = [
            datetime.fromisoformat(str(u["finished_at"])) for u in units if u.get("finished_at")
        ]
        return T.seconds((max(ends) - start).total_seconds()) if ends else None
    except (TypeError, ValueError):
        return None


def _grouping(run: Run) -> str:
    dataset = run.runinfo["dataset"]
    by = []
    if run.audit.get("family_detection") == "on":
        by.append("image families (copies of one photo)")
    if run.config.group_pattern:
        by.append(f"the pattern {run.config.group_pattern} on file names")
    if not by:
        return "none: every image is its own group"
    return (
        f"by {' joined with '.join(by)}: {dataset.get('n_groups', 'n/a')} groups, "
        f"{run.audit.get('n_multi_image_groups', 'n/a')} of them with several images"
    )


def _cross_validation(run: Run) -> str:
    config = run.config
    if not config.folds:
        return "none (folds 0): only the seed split was run"
    text = f"{config.folds} stratified folds; each fold is the test set once"
    if config.repeats > 1:
        text += (
            f"; repeated {config.repeats} times with split seeds {config.seed} to "
            f"{config.seed + config.repeats - 1} ({config.folds * config.repeats} folds in all)"
        )
    return text


def _protocol(run: Run) -> list[tuple[str, str]]:
    config = run.config
    sizes = {name: "×".join(str(s) for s in m["input_shape"]) for name, m in run.models.items()}
    return [
        ("Cross-validation", _cross_validation(run)),
        (
            "Seed split (the blog's procedure)",
            f"seed {config.seed}, {T.fraction(config.validation_split)} of the images held "
            "out for validation",
        ),
        ("Patient/group grouping", _grouping(run)),
        ("Inner validation part", f"{T.fraction(config.inner_fraction)} of each training fold"),
        ("Epochs", str(config.epochs)),
        ("Batch size", str(config.batch_size)),
        ("Learning rate (Adam)", str(config.learning_rate)),
        ("Input size", ", ".join(f"{n}: {s}" for n, s in sizes.items())),
        (
            "Checkpoint rule",
            "the weights of the epoch with the highest accuracy on the inner validation part "
            "(the first such epoch on ties); the test fold never influences the choice. On the "
            "seed split the validation images both choose the epoch and score it, as in the blog.",
        ),
    ]


def _runtime(run: Run) -> list[tuple[str, str]]:
    info = run.runinfo
    device = info.get("device") or {}
    where = device.get("name", "n/a")
    if device.get("threads"):
        where += f", {device['threads']} threads"
    # units finished before engines existed were trained one after another
    engines = sorted({str(u.get("engine", "sequential")) for u in run.units.values()})
    return [
        ("Backend", str(info.get("backend", "n/a"))),
        ("Device", f"{str(device.get('kind', 'n/a')).upper()} ({where})"),
        ("Precision", str(info.get("precision_policy", "n/a"))),
        ("Engine", ", ".join(engines) or str(info.get("engine", "n/a"))),
        ("Executor", str(run.config.executor)),
        ("Started", str(info.get("started") or "n/a")),
        *([("Resumed", str(info["resumed"]))] if info.get("resumed") else []),
        ("Finished", str(info.get("finished") or "not recorded yet")),
        (
            "Versions",
            ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items()) or "n/a",
        ),
    ]


def _unit_row(name: str, unit: dict | None) -> dict:
    if unit is None:
        return {"name": name, "finished": False}
    diverged = unit.get("status") == "diverged"
    return {
        "name": name,
        "finished": True,
        "model": unit.get("model"),
        "split": "seed split" if unit.get("scheme") == "seed" else f"fold {unit.get('fold')}",
        "n_train": unit.get("n_train"),
        "n_val": unit.get("n_val"),
        "n_test": unit.get("n_test") if unit.get("scheme") == "cv" else "—",
        "epochs": unit.get("epochs"),
        "best_epoch": f"diverged at epoch {unit.get('diverged_at')}"
        if diverged
        else unit.get("best_epoch"),
        "seconds": T.seconds(unit.get("seconds")),
        "per_epoch": T.seconds(unit.get("seconds_per_epoch")),
    }


def _dataset(run: Run) -> list[tuple[str, str]]:
    dataset = run.runinfo["dataset"]
    counts = dataset["counts"]
    sizes = dataset.get("sizes_seen") or {}
    return [
        ("Folder", str(dataset.get("root", "n/a"))),
        ("Fingerprint", str(dataset["fingerprint"])),
        ("Images", f"{dataset['n_images']} in {len(run.classes)} classes"),
        ("Classes", ", ".join(f"{c}: {counts.get(c, 0)}" for c in run.classes)),
        ("Image sizes seen", ", ".join(f"{size}: {n}" for size, n in sizes.items()) or "n/a"),
    ]


def overview(run: Run) -> dict:
    """Everything section 1 shows."""
    info = run.runinfo
    dataset = info["dataset"]
    planned = list(info.get("units_planned") or run.units)
    names = planned + sorted(set(run.units) - set(planned))
    total = 0.0
    for name in names:
        if name in run.units:
            total += float(run.units[name].get("seconds") or 0.0)
    samples = C.sample_paths(run.splits, run.classes, SAMPLES_PER_CLASS)
    return {
        "dataset": _dataset(run),
        "skipped": list(dataset.get("skipped") or []),
        "unread": [str(p) for p in dataset.get("unread") or []],
        "protocol": _protocol(run),
        "runtime": _runtime(run),
        "units": [_unit_row(name, run.units.get(name)) for name in names],
        "training_total": T.seconds(total),
        "wall": T.seconds(info.get("wall_seconds")) if info.get("wall_seconds") else None,
        "resumed": info.get("resumed"),
        "elapsed": _elapsed(info.get("started"), run.units.values()),
        "samples": [
            {
                "label": cls,
                "count": dataset["counts"].get(cls, 0),
                "images": [run.thumbnail(p) for p in paths],
            }
            for cls, paths in samples.items()
        ],
    }
