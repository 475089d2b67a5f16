"""Peak memory (resident set size) of an mpx_eval run on a synthetic set of 2,142 images.

Writes 2,142 JPEGs of 224 x 224 pixels (noise and coloured spots, two classes) into a
temporary folder, runs ``python -m mpx_eval run`` on them (T3 and T4 by default, so both
input sizes are decoded and held) and reports the child's peak RSS as the kernel counts it.

    python benchmarks/memory.py                      # 5 folds + seed split, 1 epoch
    python benchmarks/memory.py --folds 2 --epochs 2

More epochs repeat the same work in the same memory (batches are sliced from the decoded
arrays, and each unit's memory is reused by the next), so the default runs the default
protocol's 12 units for one epoch each. Only the standard library, numpy and Pillow are
imported here (the images come from ``_common.synthetic_set``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import child_env, mpx_eval_run, synthetic_set

BUILTIN_SIZES = {"t3": 180, "t4": 224}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2142, help="images in all (default 2142)")
    parser.add_argument("--size", type=int, default=224, help="side of the JPEGs (default 224)")
    parser.add_argument("--folds", type=int, default=5, help="mpx_eval --folds (default 5)")
    parser.add_argument("--epochs", type=int, default=1, help="mpx_eval --epochs (default 1)")
    parser.add_argument("--models", default="t3,t4", help="mpx_eval --models (default t3,t4)")
    parser.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="KERAS_BACKEND of the run (default: $KERAS_BACKEND or tensorflow)",
    )
    parser.add_argument("--precision", help="mpx_eval's --precision (default: its own, auto)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="write the images and the run here and "
        "keep them (default: a temporary folder, removed afterwards)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mpx-memory-"))
    try:
        data, out = root / "images", root / "run"
        started = time.perf_counter()
        synthetic_set(data, args.images, args.size)
        print(
            f"{args.images} synthetic {args.size}x{args.size} JPEGs in {data} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        command = mpx_eval_run(
            "--data-dir",
            str(data),
            "--folds",
            str(args.folds),
            "--epochs",
            str(args.epochs),
            "--models",
            args.models,
            "--out",
            str(out),
            "--quiet",
            "--overwrite",
        )
        if args.precision:
            command += ["--precision", args.precision]
        env = child_env(args.backend)
        print("$ " + " ".join(command), flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"mpx_eval failed with exit code {done.returncode}", file=sys.stderr)
            return 1
        # the only child this process waited for: its peak is the run's (Linux counts KiB)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        sizes = sorted({BUILTIN_SIZES[m] for m in args.models.split(",") if m in BUILTIN_SIZES})
        arrays = sum(args.images * s * s * 3 for s in sizes) / 1e9
        print(
            f"backend {args.backend}; {args.models} on {args.images} images, "
            f"--folds {args.folds} --epochs {args.epochs}: {seconds:.0f} s"
        )
        if sizes:
            print(f"decoded uint8 arrays ({', '.join(map(str, sizes))} px): {arrays:.2f} GB")
        print(f"peak RSS {peak_kib / 1024**2:.2f} GiB ({peak_kib * 1024 / 1e9:.2f} GB)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
