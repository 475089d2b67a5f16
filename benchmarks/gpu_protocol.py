"""GPU figures: T4 training throughput per precision, and the whole default protocol
(5 folds + the seed split, T3 and T4, 50 epochs) on a synthetic 2,000-image set, once per
engine (sequential, then batched: JAX only).

Run by hand on a machine with a GPU, with either backend::

    KERAS_BACKEND=jax python benchmarks/gpu_protocol.py --work /tmp/gpu-bench
    python benchmarks/gpu_protocol.py --work /tmp/gpu-bench --protocol-precision mixed

It prints the figures and leaves the run's artefacts (runinfo.json, metrics.json) under
``--work``. Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import child_env, mpx_eval_run, synthetic_set


def throughput(data: Path, precision: str, epochs: int = 4) -> tuple[float, dict]:
    """Images per second of T4 training at 224 px, batch 32 (first epoch, which compiles,
    excluded)."""
    from mpx_eval.data.images import load_image_set
    from mpx_eval.data.splits import make_plan
    from mpx_eval.training.backend import load_training, precision_policy

    train_mod, models_mod, info = load_training("auto")
    images = load_image_set(data, sizes=(224,))
    split = make_plan(images, folds=0)[0]
    seconds: list[float] = []
    train_mod.train_unit(
        models_mod.resolve_model("t4"),
        images.arrays[224],
        images.labels,
        train=split.train,
        val=split.val,
        test=split.val[:0],
        num_classes=2,
        epochs=epochs,
        batch_size=32,
        learning_rate=1e-4,
        seed=1,
        policy=precision_policy(precision, info),
        on_epoch=lambda row, s: seconds.append(s),
    )
    steady = seconds[1:]
    return len(split.train) / (sum(steady) / len(steady)), info


def fit_throughput(data: Path, epochs: int = 4) -> float:
    """The same T4 training through plain ``model.fit`` on the arrays, for reference."""
    import keras

    from mpx_eval.data.images import load_image_set
    from mpx_eval.data.splits import make_plan
    from mpx_eval.training.models import build, resolve_model

    images = load_image_set(data, sizes=(224,))
    split = make_plan(images, folds=0)[0]
    x, y = images.arrays[224][split.train], images.labels[split.train]
    model = build(resolve_model("t4"), 224, 2)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=epochs - 1, shuffle=True, verbose=0)
    return len(x) * (epochs - 1) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--protocol-precision", default="auto")
    parser.add_argument(
        "--engines",
        default="sequential,batched",
        help="comma-separated --engine values, one protocol run each (default both)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--compare-fit", action="store_true", help="also time plain model.fit, for reference"
    )
    args = parser.parse_args()

    data = synthetic_set(args.work / "data", args.images)
    print(f"backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}, {args.images} images")
    if not args.skip_throughput:
        for precision in ("float32", "mixed"):
            rate, info = throughput(data, precision)
            print(f"T4 training, {precision:8s}: {rate:8.0f} img/s on {info['name']}", flush=True)
        if args.compare_fit:
            print(f"T4 via plain model.fit, float32: {fit_throughput(data):8.0f} img/s", flush=True)

    for engine in args.engines.split(","):
        protocol(args, data, engine)
    return 0


def protocol(args, data: Path, engine: str) -> None:
    """One whole default-protocol run with ``--engine engine``: its wall time and the
    aggregate training throughput (every unit's images x epochs over the training time;
    a batched unit's seconds are its share of its chunk's)."""
    out = args.work / f"run-{engine}"
    command = mpx_eval_run(
        "--data-dir",
        str(data),
        "--folds",
        str(args.folds),
        "--epochs",
        str(args.epochs),
        "--precision",
        args.protocol_precision,
        "--engine",
        engine,
        "--out",
        str(out),
        "--overwrite",
    )
    started = time.perf_counter()
    subprocess.run(command, check=True, env=child_env())
    wall = time.perf_counter() - started
    runinfo = json.loads((out / "runinfo.json").read_text())
    train_seconds = sum(u["seconds"] for u in runinfo["units"].values())
    units = [json.loads(p.read_text()) for p in sorted(out.glob("units/*/unit.json"))]
    images = sum(u["n_train"] * u["epochs"] for u in units)
    print(
        f"whole protocol, {engine} engine ({args.folds} folds + seed split, t3 and t4, "
        f"{args.epochs} epochs, precision {runinfo['precision_policy']}): {wall:.1f} s wall, "
        f"{train_seconds:.1f} s in training units, {images / train_seconds:,.0f} img/s "
        f"trained in aggregate, device {runinfo['device']['name']}",
        flush=True,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for name, model in metrics["models"].items():
        print(f"  {name}: cv accuracy {model['cv']['mean']['accuracy']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
