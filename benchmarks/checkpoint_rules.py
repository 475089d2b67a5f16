"""Which checkpoint rule to use: every honest rule against the test folds of real runs.

Trains T3 and T4 across 5 folds on four image sets, for two seeds each, with every epoch's
inner-validation and test-fold figures recorded (one run gives every rule: a rule only reads
the inner-validation curves, so it can be applied afterwards), then prints, per data set and
rule, the pooled test-fold accuracy for each seed and model, and their mean and spread.

    python benchmarks/checkpoint_rules.py --work DIR            # build, train, then the table
    python benchmarks/checkpoint_rules.py --work DIR --table    # the table of runs already there

The four sets: the built-in demo (120 drawn images, 64 px, batch 8, as ``--demo`` runs);
MSLD's 228 originals (96 px, the blog's batch 32; and once, seed 123 only, at the blog's
sizes: T4 224 px, T3 180 px); an augmented MSLD set, three augmented
copies of every original under names that carry no family (684 images, 64 px), so that the
families the run finds decide the folds; and a four-class drawn set (pustules, macules,
vesicles, clear skin; 240 images, 64 px, batch 8). 50 epochs each, as the blog trains.
The images are written under ``--work`` and stay out of the repository.

The criterion was fixed before the first measurement: the default is the rule with the best
mean pooled test-fold accuracy over data sets, seeds and models; within 0.01 of it, the one
with the smaller mean spread of the fold accuracies within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _common import REPO, child_env, mpx_eval_run

MSLD_DEFAULT = REPO.parent / "shared" / "datasets" / "msld-original"
SEEDS = (123, 7)
MULTI_CLASSES = ("Clear", "Macular", "Pustular", "Vesicular")

#: data set -> run options besides data, seed and output
SETS: dict[str, tuple[str, ...]] = {
    "demo": ("--demo",),
    "msld": ("--image-size", "96"),
    "msld-blog-size": (),  # each model at its own size: T4 224 px, T3 180 px
    "msld-augmented": ("--image-size", "64"),
    "four-class": ("--image-size", "64", "--batch-size", "8", "--group-pattern", r"^([^_]+)_"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", required=True, help="folder for the image sets and the runs")
    parser.add_argument(
        "--data",
        default=os.environ.get("MPX_EVAL_MSLD", str(MSLD_DEFAULT)),
        help="the MSLD originals (default: $MPX_EVAL_MSLD or the shared data set)",
    )
    parser.add_argument("--epochs", type=int, default=50, help="epochs per unit (default 50)")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated data sets")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument(
        "--seeds", default=",".join(map(str, SEEDS)), help="comma-separated run seeds"
    )
    return parser.parse_args(argv)


#: Per class of the four-class set: (painter, lesion count range, radius range in pixels).
MULTI_LESIONS = {
    "Clear": None,
    "Macular": ("macule", (60, 120), (3, 7)),
    "Pustular": ("pustule", (12, 24), (8, 15)),
    "Vesicular": ("vesicle", (10, 20), (8, 14)),
}


def four_class_set(out: Path, per_class: int = 60) -> Path:
    """Drawn skin with one kind of lesion per class (or none), one to three photos per
    'patient' (the file name's prefix), using the demo's painters; a rash's red flush on
    the macular class only."""
    from mpx_eval.data import demo

    if out.is_dir():
        return out
    for label, name in enumerate(MULTI_CLASSES):
        folder = out / name
        folder.mkdir(parents=True)
        written, patient = 0, 1
        while written < per_class:
            rng = np.random.default_rng([label, patient])
            tone = demo._SKIN_TONES[rng.integers(len(demo._SKIN_TONES))]
            lesions = []
            if MULTI_LESIONS[name] is not None:
                kind, (low, high), (r_low, r_high) = MULTI_LESIONS[name]
                for _ in range(int(rng.integers(low, high))):
                    x, y = rng.uniform(8, demo.SIDE - 8, 2)
                    lesions.append((kind, x, y, rng.uniform(r_low, r_high)))
            for shot in range(1, min(int(rng.integers(1, 4)), per_class - written) + 1):
                shot_rng = np.random.default_rng([label, patient, shot])
                img = demo._photo(shot_rng, name != "Macular", tone, lesions)
                img.save(folder / f"{name[0]}{patient:02d}_{shot}.jpg", quality=90)
                written += 1
            patient += 1
    return out


def augmented_msld(originals: Path, out: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from families import build_set

    if not out.is_dir():
        n = sum(1 for p in originals.glob("*/*.jpg"))
        build_set(originals, out, 3 * n, seed=0)
    return out


def data_options(name: str, work: Path, originals: Path) -> list[str]:
    if name == "demo":
        return []
    if name in ("msld", "msld-blog-size"):
        return ["--data-dir", str(originals), "--group-pattern", r"^([^_]+)_"]
    if name == "msld-augmented":
        return ["--data-dir", str(augmented_msld(originals, work / "sets" / name))]
    return ["--data-dir", str(four_class_set(work / "sets" / name))]


def train(args: argparse.Namespace, work: Path) -> None:
    for name in args.sets.split(","):
        for seed in map(int, args.seeds.split(",")):
            out = work / "runs" / f"{name}-{seed}"
            command = mpx_eval_run(
                *data_options(name, work, Path(args.data)),
                *SETS[name],
                "--seed", str(seed),
                "--folds", "5",
                "--epochs", str(args.epochs),
                "--save-models", "none",
                "--out", str(out),
                "--quiet",
            )  # fmt: skip
            print(f"{name}, seed {seed}: training", flush=True)
            subprocess.run(command, env=child_env(), check=True)


def rule_scores(run: Path) -> list[dict]:
    """Per model and rule: the pooled test-fold accuracy, the mean and spread of the fold
    accuracies, and the chosen epochs (plus the test fold's own best epoch, for scale)."""
    from mpx_eval.summary.checkpoints import RULES, chosen_epochs

    history = pd.read_csv(run / "history.csv")
    history = history.loc[history["scheme"] == "cv"]
    sizes = {}
    for info in run.glob("units/*/unit.json"):
        unit = json.loads(info.read_text())
        if unit["scheme"] == "cv":
            sizes[(unit["model"], int(unit["fold"]))] = int(unit["n_test"])
    rows = []
    for model, h in history.groupby("model"):
        test = h.set_index(["fold", "epoch"])["test_accuracy"]
        picks = {name: chosen_epochs(h, name) for name in RULES}
        picks["best on the test fold"] = chosen_epochs(
            h.assign(val_accuracy=h["test_accuracy"]), "val-accuracy"
        )
        for name, epochs in picks.items():
            accuracy = np.array([test[(f, e)] for f, e in sorted(epochs.items())])
            n = np.array([sizes[(model, f)] for f in sorted(epochs)])
            rows.append(
                {
                    "model": model,
                    "rule": name,
                    "pooled": float((accuracy * n).sum() / n.sum()),
                    "fold_sd": float(accuracy.std(ddof=1)),
                    "epochs": [epochs[f] for f in sorted(epochs)],
                }
            )
    return rows


def table(work: Path, sets: list[str], seeds: list[int]) -> None:
    results = []
    for name in sets:
        for seed in seeds:
            run = work / "runs" / f"{name}-{seed}"
            if (run / "history.csv").is_file():
                for row in rule_scores(run):
                    results.append({"set": name, "seed": seed, **row})
    frame = pd.DataFrame(results)
    if frame.empty:
        print("no finished runs under", work / "runs")
        return
    print("pooled test-fold accuracy per run (model/seed), then the mean over runs and the")
    print("mean within-run fold SD; chosen epochs per fold for the first seed's T4")
    for name, part in frame.groupby("set", sort=False):
        print(f"\n{name}")
        part = part.assign(run=part["model"] + " seed " + part["seed"].astype(str))
        runs = part.pivot_table(index="rule", columns="run", values="pooled")
        runs["mean"] = runs.mean(axis=1)
        runs["fold SD"] = part.groupby("rule")["fold_sd"].mean()
        order = [*[r for r in part["rule"].unique()]]
        print(runs.loc[order].round(3).to_string())
        first = part["seed"].iloc[0]
        t4 = part.loc[(part["model"] == "t4") & (part["seed"] == first)]
        for _, row in t4.iterrows():
            print(f"  t4 seed {first} {row['rule']:>22}: epochs {row['epochs']}")
    honest = frame.loc[frame["rule"] != "best on the test fold"]
    overall = honest.groupby("rule").agg(
        mean=("pooled", "mean"), spread=("pooled", "std"), fold_sd=("fold_sd", "mean")
    )
    per_set = honest.pivot_table(index="rule", columns="set", values="pooled", aggfunc="mean")
    overall = per_set.join(overall).sort_values("mean", ascending=False)
    print("\nover every set, seed and model (the criterion: best mean; within 0.01, least fold SD)")
    print(overall.round(3).to_string())
    close = overall.loc[overall["mean"] >= overall["mean"].max() - 0.01]
    print(f"\nby the criterion: {close['fold_sd'].idxmin()}")


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    if not args.table:
        train(args, work)
    table(work, args.sets.split(","), [int(s) for s in args.seeds.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
