"""A complete run folder written without training: every artefact the report reads.

The numbers are plausible (probabilities that favour the true class, curves that rise) and
deterministic for a given ``seed``; every file is written through ``mpx_eval.rundir``, which
stores the run folder, and aggregated by ``mpx_eval.assessment`` as a finished run is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from mpx_eval.assessment.aggregate import aggregate_run, read_sources
from mpx_eval.config import RunConfig
from mpx_eval.rundir import folder as run_folder
from mpx_eval.rundir import records
from mpx_eval.rundir import units as unit_files
from mpx_eval.rundir.layout import RunPaths, unit_dirname, unit_name

XSS = "<img src=x onerror=alert(1)>"

_LAYERS = {
    "t3": [
        "Rescaling",
        "Conv2D",
        "AveragePooling2D",
        "Conv2D",
        "AveragePooling2D",
        "Conv2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ],
    "t4": [
        "Rescaling",
        "Conv2D",
        "AveragePooling2D",
        "Conv2D",
        "AveragePooling2D",
        "Dropout",
        "Conv2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ],
}
_QUALITY = {"t3": 0.72, "t4": 0.78}


def _layers(model: str, size: int, n_classes: int) -> list[dict]:
    kinds = _LAYERS.get(model, ["Rescaling", "Conv2D", "GlobalAveragePooling2D", "Dense"])
    side, channels, convs, out = size, 3, 0, []
    for i, kind in enumerate(kinds):
        params = 0
        if kind == "Conv2D":
            convs += 1
            params = 9 * channels * 16 * convs + 16 * convs
            channels, side = 16 * convs, side - 2
        elif kind == "AveragePooling2D":
            side //= 2
        if kind in ("Flatten", "GlobalAveragePooling2D"):
            shape = [None, side * side * channels if kind == "Flatten" else channels]
        elif kind == "Dense":
            units = n_classes if i == len(kinds) - 1 else 32
            params = shape[1] * units + units
            shape = [None, units]
        else:
            shape = [None, side, side, channels]
        out.append(
            {"name": f"{kind.lower()}_{i}", "type": kind, "output_shape": shape, "params": params}
        )
    return out


def _thumbnail(colour: tuple[int, int, int], index: int) -> np.ndarray:
    image = Image.new("RGB", (96, 96), colour)
    draw = ImageDraw.Draw(image)
    x = 8 + (index * 13) % 60
    draw.ellipse((x, 20, x + 26, 46), fill=(120, 40, 40))
    draw.rectangle((10, 70, 10 + (index * 7) % 70, 80), fill=(250, 240, 230))
    return np.asarray(image)


def _history(rng, epochs: int, quality: float, with_test: bool) -> dict[str, np.ndarray]:
    e = np.arange(1, epochs + 1)
    rise = 1 - np.exp(-e / 2.5)
    out = {
        "epoch": e,
        "loss": 0.7 - 0.45 * rise + rng.normal(0, 0.02, epochs),
        "accuracy": 0.5 + (quality - 0.45) * rise + rng.normal(0, 0.03, epochs),
        "val_loss": 0.7 - 0.35 * rise + rng.normal(0, 0.04, epochs),
        "val_accuracy": np.round(0.5 + (quality - 0.5) * rise + rng.normal(0, 0.05, epochs), 3),
    }
    if with_test:
        out["test_loss"] = 0.7 - 0.3 * rise + rng.normal(0, 0.04, epochs)
        out["test_accuracy"] = np.round(
            0.5 + (quality - 0.5) * rise + rng.normal(0, 0.05, epochs), 3
        )
    else:
        out["test_loss"] = np.full(epochs, np.nan)
        out["test_accuracy"] = np.full(epochs, np.nan)
    return {k: np.clip(v, 0.0, 1.0) if "accuracy" in k else v for k, v in out.items()}


def _probabilities(rng, labels: np.ndarray, classes: list[str], quality: float) -> np.ndarray:
    k = len(classes)
    codes = np.array([classes.index(c) for c in labels])
    scores = rng.normal(0, 1, (len(labels), k))
    scores[np.arange(len(labels)), codes] += 3.5 * (quality - 0.5) + rng.normal(
        0.6, 0.8, len(labels)
    )
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def _images(classes: list[str], n_per_class: int, odd_file: bool):
    """Paths, labels and groups: two photos per patient, class by class."""
    paths, labels, groups = [], [], []
    for c_index, cls in enumerate(classes):
        for i in range(n_per_class):
            group = f"P{c_index}{i // 2:02d}"
            paths.append(f"{cls}/{group}_{i % 2 + 1}.jpg")
            labels.append(cls)
            groups.append(group)
    if odd_file:
        paths[1] = f"{classes[0]}/{XSS}.jpg"
    return np.array(paths, object), np.array(labels, object), np.array(groups, object)


def _roles(rng, groups: np.ndarray, folds: int) -> dict[tuple[str, int], np.ndarray]:
    """Each split's role per image: the seed split ignores groups (as the blog did), the
    folds keep each group on one side and take every eighth training image for validation."""
    n = len(groups)
    seed_role = np.full(n, "train", dtype=object)
    seed_role[rng.permutation(n)[: n // 5]] = "val"
    fold_of_group = {g: i % max(folds, 1) + 1 for i, g in enumerate(sorted(set(groups)))}
    fold_of = np.array([fold_of_group[g] for g in groups])
    roles_by_split = {("seed", 0): seed_role.copy()}
    for fold in range(1, folds + 1):
        roles = np.where(fold_of == fold, "test", "train").astype(object)
        roles[np.flatnonzero(roles == "train")[::8]] = "val"
        roles_by_split[("cv", fold)] = roles
    return roles_by_split


def _split_rows(paths, labels, groups, roles_by_split) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "path": paths[i],
                "label": labels[i],
                "group": groups[i],
                "scheme": scheme,
                "fold": fold,
                "role": roles[i],
            }
            for (scheme, fold), roles in roles_by_split.items()
            for i in range(len(paths))
        ]
    )


def _audit(paths, groups, roles_by_split) -> dict:
    """One exact duplicate set, one near-duplicate pair, and the groups that straddle."""
    n = len(paths)
    exact = [[0, n - 1]]
    near = [(2, n - 3, 7)]
    unique_groups = sorted(set(groups))
    leaks = []
    for (scheme, fold), roles in roles_by_split.items():
        where = {"split": f"{scheme}-{fold}", "scheme": scheme, "fold": fold}

        def items(members, roles=roles):
            return [{"path": paths[i], "role": roles[i]} for i in members]

        for members in exact:
            if len({roles[i] for i in members}) > 1:
                leaks.append({"kind": "exact", **where, "items": items(members)})
        for a, b, d in near:
            if roles[a] != roles[b]:
                leaks.append({"kind": "near", **where, "distance": d, "items": items([a, b])})
        for g in unique_groups:
            members = list(np.flatnonzero(groups == g))
            if len({roles[i] for i in members}) > 1:
                leaks.append({"kind": "group", **where, "group": g, "items": items(members)})

    def describe(i):
        return {"path": paths[i], "group": groups[i], "index": int(i)}

    return {
        "hash_bits": 63,
        "near_duplicate_bits": 10,
        "n_images": n,
        "n_multi_image_groups": len(unique_groups),
        "exact_duplicates": [[describe(i) for i in members] for members in exact],
        "near_duplicates": [
            {"a": describe(a), "b": describe(b), "distance": d} for a, b, d in near
        ],
        "leaks": leaks,
    }


def _models_info(models, sizes: dict[str, int], n_classes: int) -> dict:
    info = {}
    for name in models:
        layers = _layers(name, sizes[name], n_classes)
        info[name] = {
            "builder": name if ":" in name else f"mpx_eval.training.models:{name}",
            "input_shape": [sizes[name], sizes[name], 3],
            "params": int(sum(layer["params"] for layer in layers)),
            "layers": layers,
        }
    return info


def _unit_probabilities(rng, model, fold, labels, classes, quality, *, constant, all_negative):
    """One checkpoint's probabilities for the scored images of a unit."""
    probs = _probabilities(rng, labels, classes, quality)
    if model in constant:
        # the same scores for every image, the last class the most probable
        weights = np.linspace(1.0, 1.5, len(classes))
        return np.tile(weights / weights.sum(), (len(labels), 1))
    if fold in (all_negative or {}).get(model, ()):
        # swap each row's highest probability into the last class
        index = np.arange(len(labels))
        top = probs.argmax(axis=1)
        highest = probs[index, top].copy()
        probs[index, top] = probs[:, -1]
        probs[:, -1] = highest
    return probs


def _unit_predictions(rng, key, scored, paths, labels, groups, classes, **options):
    """The best and last checkpoints' prediction rows of one unit."""
    model, scheme, fold = key
    blocks = []
    for checkpoint in ("best", "last"):
        probs = _unit_probabilities(
            rng, model, fold, labels[scored], classes, _QUALITY.get(model, 0.7), **options
        )
        block = pd.DataFrame(
            {
                "model": model,
                "scheme": scheme,
                "fold": fold,
                "checkpoint": checkpoint,
                "path": paths[scored],
                "label": labels[scored],
                "group": groups[scored],
            }
        )
        for c_index, cls in enumerate(classes):
            block[f"prob_{cls}"] = probs[:, c_index]
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def _write_unit(out, rng, key, m_index, roles, images, classes, models_info, epochs, options):
    """Write one unit through the run folder's writers and return its timing entry for
    runinfo."""
    model, scheme, fold = key
    paths, labels, groups = images
    scored = np.flatnonzero(roles == ("test" if scheme == "cv" else "val"))
    dirname = unit_dirname(model, scheme, fold)
    folder = RunPaths(out).unit(dirname)
    h = _history(rng, epochs, _QUALITY.get(model, 0.7), scheme == "cv")
    history = pd.DataFrame({"model": model, "scheme": scheme, "fold": fold, **h})
    predictions = _unit_predictions(rng, key, scored, paths, labels, groups, classes, **options)
    unit_files.write_unit_tables(folder, history, predictions)
    seconds = round(1.5 + 0.3 * m_index + 0.05 * fold, 3)
    info = {
        "unit": unit_name(model, scheme, fold),
        "dirname": dirname,
        "model": model,
        "scheme": scheme,
        "fold": fold,
        "identity": "0123456789abcdef",
        "input_size": models_info[model]["input_shape"][0],
        "n_train": int((roles == "train").sum()),
        "n_val": int((roles == "val").sum()),
        "n_test": int((roles == "test").sum()),
        "best_epoch": int(np.argmax(h["val_accuracy"])) + 1,
        "epochs": epochs,
        "params": models_info[model]["params"],
        "seconds": seconds,
        "seconds_per_epoch": round(seconds / epochs, 4),
        "finished_at": "2026-01-02T03:04:05+00:00",
        "executor": "local",
        "device": "CPU",
    }
    unit_files.finish_unit(folder, info)
    return {k: info[k] for k in ("seconds", "seconds_per_epoch", "finished_at")}


def _runinfo(out, *, classes, labels, groups, folds, demo, fingerprint, units_planned) -> dict:
    n = len(labels)
    return {
        "mpx_eval": "0.1.0",
        "command": [
            *("python", "-m", "mpx_eval", "run", "--demo", "--folds", str(folds)),
            *("--out", str(out)),
        ],
        "started": "2026-01-02T03:00:00+00:00",
        "finished": None,
        "backend": "tensorflow",
        "device": {
            "backend": "tensorflow",
            "requested": "auto",
            "kind": "cpu",
            "name": "CPU",
            "threads": 2,
        },
        "precision_policy": "float32",
        "versions": {"python": "3.11.7", "keras": "3.3.0", "tensorflow": "2.16.1"},
        "dataset": {
            "root": "/data/synthetic",
            "classes": classes,
            "counts": {cls: int((labels == cls).sum()) for cls in classes},
            "n_images": n,
            "n_groups": len(set(groups)),
            "fingerprint": fingerprint,
            "sizes_seen": {"224x224": n - 1, "160x160": 1},
            "skipped": [{"path": f"{classes[-1]}/broken.jpg", "reason": "cannot be decoded"}],
            "demo": demo,
        },
        "demo": {
            "label": "synthetic demo data — not medical images",
            "settings": {"image_size": 64, "batch_size": 8, "group_pattern": "^([^_]+)_"},
        }
        if demo
        else None,
        "identity": "0123456789abcdef",
        "units_planned": units_planned,
    }


def make_run(
    out: Path,
    *,
    classes=("Monkeypox", "Others"),
    models=("t3", "t4"),
    folds: int = 3,
    n_per_class: int = 18,
    epochs: int = 6,
    drop_units=(),
    odd_file: bool = False,
    demo: bool = True,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    all_negative: dict[str, tuple[int, ...]] | None = None,
    constant: tuple[str, ...] = (),
) -> Path:
    """Write a run folder at ``out`` and return it.

    ``sizes`` gives models their own input sizes (default 64 px for all); ``all_negative``
    makes a model predict the last class for every image of the listed folds (0: the seed
    split); the models in ``constant`` give every image the same probabilities.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_folder.write_marker(out)
    rng = np.random.default_rng(seed)
    classes = list(classes)
    size = 64
    paths, labels, groups = _images(classes, n_per_class, odd_file)
    roles_by_split = _roles(rng, groups, folds)

    palette = [(230, 190, 160), (200, 120, 100), (160, 170, 210), (150, 200, 150)]
    thumbnails = (
        (path, _thumbnail(palette[classes.index(labels[i]) % len(palette)], i))
        for i, path in enumerate(paths)
    )
    fingerprint = "f" * 64
    records.write_thumbnail_zip(out, thumbnails, fingerprint)

    sizes = {name: (sizes or {}).get(name, size) for name in models}
    models_info = _models_info(models, sizes, len(classes))
    cfg = RunConfig(
        demo=demo,
        folds=folds,
        models=tuple(models),
        epochs=epochs,
        batch_size=8,
        image_size=None if len(set(sizes.values())) > 1 else size,
        group_pattern=r"^([^_]+)_",
        out=str(out),
    )
    records.write_header(
        out,
        config=cfg.to_toml(),
        splits=_split_rows(paths, labels, groups, roles_by_split),
        audit=_audit(paths, groups, roles_by_split),
        models=models_info,
    )

    options = {"constant": constant, "all_negative": all_negative}
    unit_times = {}
    for (scheme, fold), roles in roles_by_split.items():
        for m_index, model in enumerate(models):
            name = unit_name(model, scheme, fold)
            if name not in drop_units:
                unit_times[name] = _write_unit(
                    out,
                    rng,
                    (model, scheme, fold),
                    m_index,
                    roles,
                    (paths, labels, groups),
                    classes,
                    models_info,
                    epochs,
                    options,
                )

    runinfo = _runinfo(
        out,
        classes=classes,
        labels=labels,
        groups=groups,
        folds=folds,
        demo=demo,
        fingerprint=fingerprint,
        units_planned=[unit_name(m, s, f) for s, f in roles_by_split for m in models],
    )
    if not drop_units:
        runinfo["finished"] = "2026-01-02T03:05:00+00:00"
        runinfo["wall_seconds"] = 321.0
        runinfo["units"] = unit_times
    records.write_runinfo(out, runinfo)
    aggregate_run(read_sources(out))
    return out
