"""Peak extra memory and time of the bootstrap of every summary metric, 10^6 images x 2,000.

Runs ``bootstrap_prediction_metrics`` (two classes, 2,000 resamples, seed 0, as a run does)
on synthetic predictions in a child process and reports, from inside that child:

- the extra resident memory: the kernel's peak RSS once the call is over, less the RSS just
  before it (the predictions and mpx_eval already loaded);
- the peak of the memory allocated during the call as ``tracemalloc`` counts it (numpy
  reports its arrays there), with ``--trace``; tracing slows the call a little;
- the wall time of the call.

Drawn all at once, the resample counts of 10^6 images x 2,000 resamples took 24 GB (int64
draws, then int32 counts); in blocks the extra memory no longer grows with the number of
resamples.

    python benchmarks/bootstrap_memory.py                      # 10^6 images, 2,000 resamples
    python benchmarks/bootstrap_memory.py --images 100000 --resamples 500 --trace

Only the standard library and numpy are imported here; the child imports mpx_eval.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from _common import child_env


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--resamples", type=int, default=2000, help="default 2,000")
    parser.add_argument("--stratify", action="store_true", help="stratify by label")
    parser.add_argument("--trace", action="store_true", help="also trace allocations")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _rss_bytes() -> int:
    """The current resident set size (Linux), from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _predictions(n: int):
    rng = np.random.default_rng(0)
    y = np.where(rng.random(n) < 0.45, "Monkeypox", "Others")
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (y == "Monkeypox"))))
    return y, np.column_stack([p, 1 - p])


def child(args: argparse.Namespace) -> int:
    import tracemalloc

    from mpx_eval.metrics import bootstrap_prediction_metrics

    y, prob = _predictions(args.images)
    before = _rss_bytes()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    if args.trace:
        tracemalloc.start()
    started = time.perf_counter()
    cis = bootstrap_prediction_metrics(
        y,
        prob,
        labels=["Monkeypox", "Others"],
        positive_class="Monkeypox",
        stratify=args.stratify,
        n_resamples=args.resamples,
        random_state=0,
    )
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if args.trace else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    auc = cis["roc_auc"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_before": before,
                "extra_rss": peak - before,
                "peak_hidden": peak <= peak_before,
                "traced_peak": traced,
                "auc": [auc.estimate, auc.low, auc.high],
            }
        )
    )
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    command = [sys.executable, __file__, "--child", "--images", str(args.images)]
    command += ["--resamples", str(args.resamples)]
    command += ["--stratify"] * args.stratify + ["--trace"] * args.trace
    print("$ " + " ".join(command), flush=True)
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    whole = args.images * args.resamples * 12 / 1e9  # int64 draws + int32 counts, at once
    print(
        f"bootstrap_prediction_metrics, {args.images:,} images x {args.resamples:,} resamples"
        f"{', stratified' if args.stratify else ''}: {figures['seconds']:.1f} s"
    )
    print(f"RSS before the call: {figures['rss_before'] / 1e6:.0f} MB")
    hidden = " (the peak came before the call)" if figures["peak_hidden"] else ""
    print(f"peak extra RSS during the call: {figures['extra_rss'] / 1e6:.0f} MB{hidden}")
    if figures["traced_peak"] is not None:
        traced = figures["traced_peak"] / 1e6
        print(f"peak allocated during the call (tracemalloc): {traced:.0f} MB")
    print(f"the resample counts drawn all at once would take {whole:.1f} GB")
    print("ROC AUC {:.4f} (95 % CI {:.4f}-{:.4f})".format(*figures["auc"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
