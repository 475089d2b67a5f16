"""Peak memory (resident set size) and speed of ``mpx_eval predict`` on a folder of PNGs.

Writes N synthetic PNGs (default 10,000 of 224 x 224 pixels) into a temporary folder, saves
an untrained T4 at their size as a run saves a unit's model (``model.keras`` and
``model.json``, through ``mpx_eval.training.keep.model_bytes``), runs
``python -m mpx_eval predict --model UNIT FOLDER --out predictions.csv`` and reports the
peak RSS of that command as the kernel counts it, its wall time and images per second
(start-up and model loading included).

    python benchmarks/predict_memory.py                  # 10,000 images at 224 px
    python benchmarks/predict_memory.py --images 3000

The model is saved, and predict measured, each in a child of its own: this process imports
only the standard library, numpy and Pillow, and a measuring child waits for predict alone,
so ``RUSAGE_CHILDREN`` there is predict's peak and no one else's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _common import child_env
from PIL import Image, ImageDraw


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="PNGs (default 10,000)")
    parser.add_argument("--size", type=int, default=224, help="side of the PNGs (default 224)")
    parser.add_argument(
        "--model-size",
        type=int,
        default=224,
        help="input size of the saved T4 (default 224: no resizing beyond decoding)",
    )
    parser.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="KERAS_BACKEND of predict (default: $KERAS_BACKEND or tensorflow)",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="write the images, the model and the table here and keep them (default: a "
        "temporary folder, removed afterwards); images already there are reused",
    )
    parser.add_argument("--save-model", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_pngs(folder: Path, n: int, size: int) -> None:
    """``n`` PNGs of ``size`` pixels: a colour gradient with a few discs, different in each
    (deterministic); kept when ``folder`` already holds ``n`` of them."""
    if folder.is_dir() and sum(1 for _ in folder.glob("*.png")) == n:
        return
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(60, 200, size)

    def draw(i: int) -> None:
        rng = np.random.default_rng(i)
        base = np.stack([np.add.outer(ramp, ramp * c) / (1 + c) for c in rng.random(3)], -1)
        img = Image.fromarray(base.astype(np.uint8))
        pen = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 10))):
            x, y, r = *rng.uniform(0, size, 2), rng.uniform(3, size / 12)
            pen.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.integers(0, 255, 3).tolist()))
        img.save(folder / f"img{i:05d}.png")

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(draw, range(n)))


def save_model(folder: Path, size: int) -> int:
    """Child: an untrained T4 for ``size`` px and 2 classes, saved as a run saves a unit's
    model. Imports mpx_eval (and so Keras) here only."""
    from mpx_eval.atomic import write_bytes, write_json
    from mpx_eval.training.keep import model_bytes
    from mpx_eval.training.models import ModelSpec, build, t4

    spec = ModelSpec("t4", t4, size)
    model = build(spec, size, 2)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes(folder / "model.keras", model_bytes(model, spec))
    record = {"unit": "t4-seed-0", "model": "t4", "class_names": ["Monkeypox", "Others"]}
    write_json(folder / "model.json", {**record, "input_size": size, "outputs": "logits"})
    return 0


def measure(command: list[str]) -> int:
    """Child: run ``command`` (its output hidden) and print its peak RSS and wall time as
    JSON; it is the only process this one waits for."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return done.returncode
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    print(json.dumps({"peak_bytes": peak_kib * 1024, "seconds": seconds}))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.save_model:
        return save_model(Path(args.save_model), args.model_size)
    if args.measure:
        return measure(args.command)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mpx-predict-"))
    env = child_env(args.backend)
    try:
        images, unit, table = root / "images", root / "unit", root / "predictions.csv"
        started = time.perf_counter()
        write_pngs(images, args.images, args.size)
        print(
            f"{args.images:,} PNGs of {args.size} px in {images} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        saver = [sys.executable, __file__, "--save-model", str(unit)]
        subprocess.run([*saver, "--model-size", str(args.model_size)], env=env, check=True)
        predict = [sys.executable, "-m", "mpx_eval", "predict", "--model", str(unit)]
        predict += [str(images), "--out", str(table)]
        print("$ " + " ".join(predict), flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--measure", "--", *predict],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        rows = sum(1 for _ in table.open(encoding="utf-8")) - 1
        peak, seconds = figures["peak_bytes"], figures["seconds"]
        print(
            f"backend {args.backend}; T4 at {args.model_size} px on {args.images:,} PNGs of "
            f"{args.size} px ({rows:,} rows written)"
        )
        print(f"peak RSS {peak / 1024**3:.2f} GiB ({peak / 1e9:.2f} GB)")
        print(f"{seconds:.0f} s, {args.images / seconds:.0f} images/s (start-up included)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
