"""Command line: ``python -m mpx_eval {run,splits,report,predict}``.

Translates arguments into calls; the package's own errors become one line on stderr and an
exit code (2: usage or data, 1: internal, 3: ``splits --audit --fail-on-leak`` found a leak,
130: interrupted).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .errors import MpxEvalError
from .training.usercode import watching_ctrl_c


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line instead of the whole usage text, and
    takes no abbreviations (a mistyped --epoch must not silently mean --epochs)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise MpxEvalError(f"{message} (see {self.prog} --help)")


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")
    return value == "on"


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data-dir",
        help="folder with one sub-folder of images per class (default from the config: data/)",
    )
    g.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="use the built-in synthetic image set (not medical images)",
    )
    g.add_argument(
        "--group-pattern",
        metavar="REGEX",
        help="regex whose first capture group, applied to the file name without "
        "extension, is the patient/group id, e.g. '^([^_]+)_'",
    )
    g.add_argument(
        "--families",
        type=_on_off,
        metavar="on|off",
        help="find copies of one photo (image families) and keep each on one side of every "
        "cv split, joined with --group-pattern groups (default on)",
    )
    g.add_argument(
        "--skip-bad-images",
        action="store_true",
        default=None,
        help="leave out unreadable image files (listed) instead of stopping",
    )
    g.add_argument("--config", metavar="FILE.toml", help="TOML preset, e.g. configs/quick.toml")


def _add_protocol_options(p: argparse.ArgumentParser, *, folds_default: int | None) -> None:
    from .config import CHECKPOINT_RULES, RunConfig

    g = p.add_argument_group("protocol")
    g.add_argument(
        "--folds",
        type=int,
        default=folds_default,
        help="cross-validation folds K (0: the seed split alone; default 5)",
    )
    g.add_argument(
        "--repeats",
        type=int,
        help="run the K folds R times with different split seeds (default 1)",
    )
    g.add_argument("--seed", type=int, help="seed of every split and of training (default 123)")
    g.add_argument(
        "--validation-split",
        type=float,
        help="fraction held out by the blog's seed split (default 0.2)",
    )
    g.add_argument(
        "--inner-fraction",
        type=float,
        help="part of each training fold that chooses the checkpoint (default 1/8)",
    )
    g.add_argument(
        "--target-sensitivity",
        type=float,
        metavar="S",
        help="also report an operating point: in each fold the threshold reaching "
        "sensitivity S on the inner validation part, applied to the test fold",
    )
    g.add_argument(
        "--target-specificity",
        type=float,
        metavar="S",
        help="the same for a specificity S (one of the two targets)",
    )
    g.add_argument(
        "--checkpoint",
        metavar="RULE",
        help="how each fold's epoch is chosen from its inner-validation curve: "
        f"{', '.join(CHECKPOINT_RULES)} (default {RunConfig.checkpoint}; docs/checkpoints.md)",
    )


def _add_images_option(p: argparse.ArgumentParser, default: str) -> None:
    from .config import IMAGES

    p.add_argument(
        "--images",
        choices=IMAGES,
        help="photos in index.html: all (thumbnails of families, findings, mistakes and "
        "Grad-CAM) or none, for a report to share beyond the data's approval "
        f"(default {default})",
    )


def _add_external_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("external validation")
    g.add_argument(
        "--external",
        action="append",
        metavar="DIR",
        help="another data set (one sub-folder per class, named as the training classes) "
        "that every trained model also predicts; repeat for several",
    )
    g.add_argument(
        "--external-map",
        action="append",
        metavar="FOLDER=CLASS",
        help="read an external class folder as one of the training classes, e.g. "
        "Chickenpox=Others; repeat for several",
    )
    g.add_argument(
        "--keep-contaminated",
        action="store_true",
        default=None,
        help="count external images that have a copy among the training images in the "
        "external figures too (default: left out, counted and listed)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mpx_eval",
        description="Cross-validated evaluation and reporting for small Keras image classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"mpx_eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="train every model on every split, then write metrics and the HTML report",
        description="Train T3/T4 (or your models) on the blog's seed-123 split and on K "
        "stratified folds, choosing each checkpoint on an inner validation part, then write "
        "artefacts and OUT/index.html. Re-running the same command resumes.",
    )
    _add_data_options(run)
    _add_protocol_options(run, folds_default=None)
    t = run.add_argument_group("training")
    t.add_argument(
        "--models", help="comma-separated: t3, t4, or package.module:function (default t3,t4)"
    )
    t.add_argument("--epochs", type=int, help="epochs per unit (default 50)")
    t.add_argument("--batch-size", type=int, help="batch size (default 32)")
    t.add_argument("--learning-rate", type=float, help="Adam learning rate (default 1e-4)")
    t.add_argument(
        "--image-size",
        type=int,
        help="square input size for every model (default: each model's own)",
    )
    r = run.add_argument_group("runtime")
    r.add_argument("--out", help="output folder (default reports)")
    r.add_argument("--device", help="auto, cpu or gpu (default auto)")
    r.add_argument("--precision", help="auto, float32 or mixed (default auto)")
    r.add_argument(
        "--threads",
        type=int,
        help="CPU threads each unit trains with, whichever executor runs it "
        "(default: every usable core of the machine that trains it)",
    )
    r.add_argument(
        "--engine",
        help="sequential (one unit after another), batched (every unit of a model at once; "
        "Keras on JAX) or auto: batched with JAX on a GPU (default auto)",
    )
    r.add_argument("--executor", help="local or ray (default local)")
    r.add_argument(
        "--ray-address",
        help="Ray cluster to join ('auto': the running one; default: start a local instance)",
    )
    r.add_argument(
        "--ray-cpus-per-task",
        type=int,
        help="CPUs each unit asks of a cluster without GPUs (default 1)",
    )
    r.add_argument(
        "--max-retries",
        type=int,
        help="times a failed unit is retried by the ray executor (default 2)",
    )
    r.add_argument(
        "--save-models",
        help="which units keep their chosen checkpoint as OUT/units/UNIT/model.keras: none, "
        "seed (the seed split's, per model) or all (default seed)",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the previous run's artefacts in --out and start afresh",
    )
    r.add_argument(
        "--retrain-diverged",
        action="store_true",
        help="train again the units recorded as diverged (kept as results otherwise)",
    )
    r.add_argument("--quiet", action="store_true", help="print only errors and the final summary")
    _add_external_options(run)
    _add_images_option(run, "all")
    run.set_defaults(handler=_cmd_run)

    splits = sub.add_parser(
        "splits",
        help="write the split plan (seed split and K folds) and audit it for leakage, or "
        "audit a split made elsewhere (--audit)",
        description="Write which image is in which split, one row per (image, split), and "
        "report duplicates and groups that fall on both sides of a split. With --audit, "
        "audit a given split instead (a CSV of path,part) without training: families, "
        "duplicates and patient groups across its parts, label conflicts, shortcuts, and "
        "which test images have a copy in training (docs/split-audit.md).",
    )
    _add_data_options(splits)
    _add_protocol_options(splits, folds_default=None)
    splits.add_argument(
        "--out",
        metavar="FILE.csv|DIR",
        help="where to write the plan (FILE.csv; its audit goes to FILE.audit.json); with "
        "--audit, the folder for audit.json and index.html (default: FILE-audit/ beside "
        "the split file)",
    )
    a = splits.add_argument_group("auditing a given split")
    a.add_argument(
        "--audit",
        metavar="FILE.csv",
        help="audit this split instead of planning one: a CSV with columns path (relative "
        "to the data folder, '/' between names) and part (train/val/test, fold numbers or "
        "names of your own), or mpx_eval's own splits.csv",
    )
    a.add_argument(
        "--fail-on-leak",
        action="store_true",
        help=f"with --audit: exit with code {_LEAK_EXIT} when a copy, duplicate or patient "
        "group crosses the parts (default: 0 whenever the audit ran)",
    )
    a.add_argument(
        "--images",
        choices=("all", "none"),
        help="with --audit: thumbnails of the crossing copies on the page (all) or no photo "
        "(none), for a page to share beyond the data's approval (default all)",
    )
    splits.set_defaults(handler=_cmd_splits)

    report = sub.add_parser(
        "report",
        help="render OUT/index.html again from a finished or partial run (no training)",
    )
    report.add_argument(
        "--out", default="reports", help="the run's output folder (default reports)"
    )
    _add_images_option(report, "what the run recorded")
    report.set_defaults(handler=_cmd_report)

    predict = sub.add_parser(
        "predict",
        help="class probabilities of new images from saved models (several: also their mean)",
        description="Apply saved models to image files or folders of images, decoded as in "
        "training; print one row per image and model with the probability of each class, "
        "and with several models also their mean (an ensemble).",
    )
    predict.add_argument(
        "--model",
        required=True,
        nargs="+",
        action="extend",
        metavar="PATH",
        help="a unit folder of a run (OUT/units/t4-seed-0) or a .keras file; several make an "
        "ensemble (the list ends at the first path that is neither)",
    )
    predict.add_argument("images", nargs="*", metavar="IMAGE_OR_FOLDER")
    predict.add_argument("--out", metavar="FILE.csv", help="also write the table to FILE.csv")
    predict.add_argument(
        "--trust-model-code",
        action="store_true",
        help="let loading the models run code outside Keras: their own layers (importing the "
        "module model.json names) and Python lambdas; only for model folders you trust "
        "(docs/predict.md)",
    )
    predict.set_defaults(handler=_cmd_predict)
    return parser


def _overrides(args: argparse.Namespace, *, skip: Sequence[str] = ()) -> dict[str, Any]:
    """The config fields the command line set (an option is named after its field)."""
    from .config import SECTIONS

    return {
        key: getattr(args, key)
        for keys in SECTIONS.values()
        for key in keys
        if key not in skip and getattr(args, key, None) is not None
    }


def _cmd_run(args: argparse.Namespace) -> int:
    from .commands.run import run
    from .config import resolve

    cfg = resolve(config_file=args.config, overrides=_overrides(args))
    argv = getattr(args, "argv", None)
    return run(
        cfg,
        overwrite=args.overwrite,
        quiet=args.quiet,
        command=argv,
        retrain_diverged=args.retrain_diverged,
    )


#: ``splits --audit --fail-on-leak``'s exit code when a copy, duplicate or patient group
#: crosses the parts: apart from 2 (usage or data) and 1 (internal), for a script to tell.
_LEAK_EXIT = 3
#: Options of ``splits`` that make a plan, and mean nothing to ``--audit``.
_PLAN_OPTIONS = (
    "folds",
    "repeats",
    "seed",
    "validation_split",
    "inner_fraction",
    "target_sensitivity",
    "target_specificity",
    "checkpoint",
)


def _cmd_splits(args: argparse.Namespace) -> int:
    from .config import resolve

    if args.audit is None:
        from .commands.splits import split_command

        given = [f"--{k.replace('_', '-')}" for k in ("fail_on_leak", "images") if getattr(args, k)]
        if given:
            raise MpxEvalError(f"{given[0]} works with --audit FILE.csv only (see splits --help)")
        if args.out is None:
            raise MpxEvalError("splits needs --out FILE.csv, or --audit FILE.csv to audit a split")
        cfg = resolve(config_file=args.config, overrides=_overrides(args, skip=("out",)))
        return split_command(cfg, args.out)
    from .commands.split_audit import audit_command

    planning = [k for k in _PLAN_OPTIONS if getattr(args, k, None) is not None]
    if planning:
        raise MpxEvalError(
            f"--{planning[0].replace('_', '-')} plans a split and means nothing with --audit, "
            "which audits the split the file gives; leave it out"
        )
    cfg = resolve(config_file=args.config, overrides=_overrides(args, skip=("out",)))
    found = audit_command(cfg, args.audit, args.out)
    # the audit is a report: it ran, so 0, unless asked to fail a build on a leak
    return _LEAK_EXIT if args.fail_on_leak and found["verdict"]["leaks"] else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import render_run

    path = render_run(args.out, images=args.images)
    print(f"Report written to {path}")
    return 0


def _is_model(path: str) -> bool:
    from pathlib import Path

    from .rundir.layout import MODEL_FILE, UNIT_INFO

    p = Path(path)
    return p.suffix == ".keras" or (p / MODEL_FILE).exists() or (p / UNIT_INFO).exists()


def _cmd_predict(args: argparse.Namespace) -> int:
    models, images = list(args.model), list(args.images)
    if not images:  # "--model A B img/": the models end where the first non-model begins
        cut = next((i for i, p in enumerate(models) if not _is_model(p)), len(models))
        models, images = models[:cut], models[cut:]
    if not models:
        raise MpxEvalError(f"--model {args.model[0]} is not a unit folder or a .keras file")
    from .training.backend import load_training

    load_training("auto")  # TensorFlow's start-up notices stay hidden, as in a run
    from .training.predict import predict_command

    return predict_command(models, images, out=args.out, trust_code=args.trust_model_code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting (testable in-process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        args.argv = ["python", "-m", "mpx_eval", *argv]
        with watching_ctrl_c():
            return args.handler(args)
    except MpxEvalError as exc:
        print(f"mpx_eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mpx_eval: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused (a permission, a full disk, a name)
        if os.environ.get("MPX_EVAL_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"mpx_eval: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal failure: one line, the traceback on request
        if os.environ.get("MPX_EVAL_DEBUG"):
            raise
        print(
            f"mpx_eval: internal error: {type(exc).__name__}: {exc} "
            "(set MPX_EVAL_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1
