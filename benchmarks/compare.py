"""Time mpx_eval against the blog's own script on the same machine, data, split and epochs.

Throughput: the blog's script (``blog_t4.py``, A) and ``mpx_eval run --folds 0 --models t4``
(B) train T4 on the blog's seed-123 split, alternated A B A B. With ``--protocol`` it also
times the whole default protocol (``--folds 5``, T3 and T4) against (k + 1) x 2 runs of the
blog's script (T4 at 224 px and T3 at 180 px, k + 1 runs each).

    python benchmarks/compare.py --data-dir path/to/msld-original
    python benchmarks/compare.py --data-dir path/to/msld-original --protocol
    KERAS_BACKEND=jax python benchmarks/compare.py --data-dir DIR --skip-blog --backend jax

Images per second trained = training images x epochs / training seconds, where training
seconds run from building the model to the end of its last epoch, per-epoch evaluation
included (the blog validates and checkpoints every epoch, mpx_eval predicts its validation
and test parts): ``train_seconds`` as ``blog_t4.py`` prints it, the sum of the units'
``seconds`` in mpx_eval's ``unit.json`` files. Start-up, decoding and the report are outside
it; they are in the end-to-end wall time, which is reported too. Nothing here imports
TensorFlow or Keras, so the script runs where TensorFlow is not installed (``--skip-blog``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, child_env, mpx_eval_run

sys.path.insert(0, str(REPO))
from mpx_eval.system import cpu_has_bf16  # the standard library only

HERE = Path(__file__).resolve().parent
#: Without bfloat16 instructions a CPU trains in float32 (auto), with them mixed_bfloat16:
#: every figure says which kind of CPU it was measured on.
BF16 = "CPU bf16: " + ("yes" if cpu_has_bf16() else "no")
BLOG_SIZES = {"t4": 224, "t3": 180}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", required=True, help="one sub-folder of images per class")
    parser.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="epochs of every run, both tools (default 50, the blog's)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="A B rounds of the throughput comparison (default 2)"
    )
    parser.add_argument(
        "--protocol",
        action="store_true",
        help="also time the whole protocol against (k + 1) x 2 blog runs",
    )
    parser.add_argument("--folds", type=int, default=5, help="k of the protocol (default 5)")
    parser.add_argument(
        "--backend",
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="KERAS_BACKEND for mpx_eval (default: $KERAS_BACKEND or tensorflow);"
        " the blog's script always uses TensorFlow",
    )
    parser.add_argument("--precision", help="mpx_eval's --precision (default: its own, auto)")
    parser.add_argument("--device", help="mpx_eval's --device (default: its own, auto)")
    parser.add_argument(
        "--skip-blog",
        action="store_true",
        help="run mpx_eval only (no TensorFlow needed for the blog's tf.data)",
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=None,
        metavar="L",
        help="before each run, wait (up to 10 minutes) until the 1-minute load "
        "average is below L; the load at each start is printed either way",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.rounds < 1 or args.folds < 2:
        parser.error("--epochs and --rounds must be at least 1, --folds at least 2")
    return args


def load_average() -> float | None:
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            return float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_for_quiet(limit: float | None, patience: float = 600.0) -> float | None:
    """Wait until the 1-minute load average is below ``limit``; return the load at start."""
    load = load_average()
    deadline = time.monotonic() + patience
    while limit is not None and load is not None and load >= limit:
        if time.monotonic() > deadline:
            print(f"  (load still {load:.2f} after {patience:.0f} s; running anyway)")
            break
        time.sleep(5)
        load = load_average()
    return load


def run_child(command: list[str], env: dict[str, str], log: Path) -> float:
    """Run ``command``, its output to ``log``; return its wall time in seconds."""
    started = time.perf_counter()
    with log.open("w") as fh:
        done = subprocess.run(command, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
    return seconds


def run_blog(args, scratch: Path, model: str = "t4", max_load: float | None = None) -> dict:
    load = wait_for_quiet(max_load)
    out = Path(tempfile.mkdtemp(prefix="blog-", dir=scratch))
    command = [
        sys.executable,
        str(HERE / "blog_t4.py"),
        "--data-dir",
        args.data_dir,
        "--epochs",
        str(args.epochs),
        "--out",
        str(out),
        "--model",
        model,
    ]
    log = out / "log.txt"
    wall = run_child(command, child_env("tensorflow"), log)
    figures = json.loads(log.read_text().strip().splitlines()[-1])
    return {**figures, "tool": "blog", "end_to_end_seconds": round(wall, 2), "load": load}


def run_mpx(args, scratch: Path, *, folds: int, models: str, max_load=None) -> dict:
    load = wait_for_quiet(max_load)
    out = Path(tempfile.mkdtemp(prefix="mpx-", dir=scratch))
    command = mpx_eval_run(
        "--folds",
        str(folds),
        "--models",
        models,
        "--data-dir",
        args.data_dir,
        "--epochs",
        str(args.epochs),
        "--out",
        str(out),
        "--quiet",
    )
    for option in ("precision", "device"):
        if getattr(args, option):
            command += [f"--{option}", getattr(args, option)]
    wall = run_child(command, child_env(args.backend), out / "log.txt")
    units = [json.loads(p.read_text()) for p in sorted(out.glob("units/*/unit.json"))]
    runinfo = json.loads((out / "runinfo.json").read_text())
    train_seconds = sum(u["seconds"] for u in units)
    images = sum(u["n_train"] * u["epochs"] for u in units)
    device = runinfo["device"]
    return {
        "tool": "mpx_eval",
        "models": models,
        "folds": folds,
        "units": len(units),
        "backend": runinfo["backend"],
        "device": device.get("name", device.get("kind")),
        "precision_policy": runinfo["precision_policy"],
        "train_images": units[0]["n_train"] if len(units) == 1 else None,
        "epochs": args.epochs,
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round(images / train_seconds, 2),
        "wall_seconds": runinfo.get("wall_seconds"),
        "end_to_end_seconds": round(wall, 2),
        "load": load,
    }


def show(row: dict) -> None:
    label = (
        row["tool"]
        if row["tool"] == "blog"
        else (f"mpx_eval ({row['backend']}, {row['device']}, {row['precision_policy']})")
    )
    load = "n/a" if row["load"] is None else f"{row['load']:.2f}"
    print(
        f"  {label:<48} {row['train_images'] or '':>5} x {row['epochs']:<3} "
        f"train {row['train_seconds']:8.1f} s  {row['images_per_second']:7.1f} img/s  "
        f"end-to-end {row['end_to_end_seconds']:7.1f} s  load {load}  {BF16}",
        flush=True,
    )


def throughput(args, scratch: Path) -> dict:
    print(
        f"Throughput: T4 on the seed-123 split, {args.epochs} epochs per run, "
        f"{args.rounds} round(s) {'B' if args.skip_blog else 'A B'}"
    )
    rows = []
    for _ in range(args.rounds):
        if not args.skip_blog:
            rows.append(run_blog(args, scratch, max_load=args.max_load))
            show(rows[-1])
        rows.append(run_mpx(args, scratch, folds=0, models="t4", max_load=args.max_load))
        show(rows[-1])
    result: dict = {"runs": rows}
    mpx = [r["images_per_second"] for r in rows if r["tool"] == "mpx_eval"]
    result["mpx_images_per_second"] = statistics.median(mpx)
    if not args.skip_blog:
        blog = [r["images_per_second"] for r in rows if r["tool"] == "blog"]
        ratios = [b / a for a, b in zip(blog, mpx, strict=True)]
        # whole processes: the blog's wall time over mpx_eval's, start-up and report included
        blog_wall = [r["end_to_end_seconds"] for r in rows if r["tool"] == "blog"]
        mpx_wall = [r["end_to_end_seconds"] for r in rows if r["tool"] == "mpx_eval"]
        walls = [a / b for a, b in zip(blog_wall, mpx_wall, strict=True)]
        result |= {
            "blog_images_per_second": statistics.median(blog),
            "ratio_per_round": [round(r, 3) for r in ratios],
            "ratio": round(statistics.median(ratios), 3),
            "wall_ratio_per_round": [round(r, 3) for r in walls],
            "wall_ratio": round(statistics.median(walls), 3),
        }
        print(
            f"  median images/s: blog {result['blog_images_per_second']:.1f}, mpx_eval "
            f"{result['mpx_images_per_second']:.1f}; mpx_eval / blog = {result['ratio']:.2f} "
            f"(per round: {', '.join(f'{r:.2f}' for r in ratios)}); {BF16}"
        )
        print(
            f"  whole process, blog time / mpx_eval time = {result['wall_ratio']:.2f} "
            f"(per round: {', '.join(f'{r:.2f}' for r in walls)}); {BF16}"
        )
    else:
        print(f"  median images/s: mpx_eval {result['mpx_images_per_second']:.1f}; {BF16}")
    return result


def protocol(args, scratch: Path) -> dict:
    runs_each = args.folds + 1
    print(
        f"Whole protocol: mpx_eval --folds {args.folds} --models t3,t4 vs {runs_each} x 2 "
        f"runs of the blog's script (t4 at 224 px, t3 at 180 px), {args.epochs} epochs each"
    )
    result: dict = {"epochs": args.epochs, "folds": args.folds}
    if not args.skip_blog:
        blog = [
            run_blog(args, scratch, model, max_load=args.max_load)
            for model in BLOG_SIZES
            for _ in range(runs_each)
        ]
        result["blog_runs"] = blog
        result["blog_seconds"] = round(sum(r["end_to_end_seconds"] for r in blog), 1)
        print(
            f"  blog, {len(blog)} runs: {result['blog_seconds']:.1f} s end to end "
            f"(training {sum(r['train_seconds'] for r in blog):.1f} s); {BF16}",
            flush=True,
        )
    mpx = run_mpx(args, scratch, folds=args.folds, models="t3,t4", max_load=args.max_load)
    result["mpx"] = mpx
    result["mpx_seconds"] = mpx["end_to_end_seconds"]
    print(
        f"  mpx_eval ({mpx['backend']}, {mpx['device']}, {mpx['precision_policy']}), "
        f"{mpx['units']} units: {mpx['end_to_end_seconds']:.1f} s end to end "
        f"(training {mpx['train_seconds']:.1f} s); {BF16}"
    )
    if not args.skip_blog:
        result["ratio"] = round(result["mpx_seconds"] / result["blog_seconds"], 3)
        print(f"  mpx_eval / blog time = {result['ratio']:.2f}; {BF16}")
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    print(
        f"Data {args.data_dir}; mpx_eval backend {args.backend}; epochs {args.epochs}; "
        f"load average now {load_average()}"
    )
    figures: dict = {"epochs": args.epochs, "backend": args.backend, "cpu_bf16": cpu_has_bf16()}
    with tempfile.TemporaryDirectory(prefix="mpx-bench-") as scratch:
        figures["throughput"] = throughput(args, Path(scratch))
        if args.protocol:
            figures["protocol"] = protocol(args, Path(scratch))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
