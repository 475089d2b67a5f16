"""External validation's contamination check against ground truth, on the MSLD photos.

Splits the 228 MSLD originals by patient (the file-name prefix) into a training set (70 % of
the patients) and an external set (the other 30 %), and plants in the external set
``--copies`` augmented copies of training photos (the same random transforms as
``benchmarks/families.py``: flips, turns, rotation, zoom, shear, colour, blur, noise, JPEG,
resizing), under random names. Then runs the check ``run --external`` makes (family
detection across both sets) and prints:

- planted copies found (recall of the contamination check);
- held-out photos flagged, split into those that are one photograph with a training photo
  (MSLD publishes some photos twice under two patient ids: ``ONE_PHOTOGRAPH`` in
  ``benchmarks/families.py``, checked by eye), which are true contamination, and the rest,
  which are false alarms;
- wall time.

    python benchmarks/external.py                    # 40 planted copies, seed 0
    python benchmarks/external.py --copies 80 --seed 1
    python benchmarks/external.py --keep ext-sets     # keep the two folders, e.g. for
        # python -m mpx_eval run --data-dir ext-sets/training --external ext-sets/external

``--data`` (or ``$MPX_EVAL_MSLD``) is the folder holding ``Monkeypox/`` and ``Others/``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO
from families import MSLD_DEFAULT, ONE_PHOTOGRAPH, augment, photographs
from PIL import Image

PATIENT = re.compile(r"^([^_]+)_")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(os.environ.get("MPX_EVAL_MSLD", MSLD_DEFAULT)))
    p.add_argument("--copies", type=int, default=40, help="augmented training copies planted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--held-out", type=float, default=0.3, help="share of patients held out")
    p.add_argument("--keep", type=Path, help="build the two sets here and keep them")
    return p.parse_args(argv)


def _patient(rel: str) -> str:
    stem = Path(rel).stem
    found = PATIENT.match(stem)
    return f"{Path(rel).parent.name}/{found.group(1) if found else stem}"


def build(originals: Path, out: Path, args: argparse.Namespace) -> dict[str, str]:
    """The training and external folders under ``out``; returns each planted copy's
    external path and the training original it was made from."""
    rels = sorted(p.relative_to(originals).as_posix() for p in originals.glob("*/*.jpg"))
    if not rels:
        raise SystemExit(f"no MSLD images under {originals}: pass --data or set MPX_EVAL_MSLD")
    rng = np.random.default_rng(args.seed)
    patients = sorted({_patient(r) for r in rels})
    held = set(rng.choice(patients, int(len(patients) * args.held_out), replace=False).tolist())
    training = [r for r in rels if _patient(r) not in held]
    for rel in rels:
        side = "external" if _patient(rel) in held else "training"
        (out / side / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(originals / rel, out / side / rel)
    planted = {}
    for k in rng.choice(len(training), args.copies, replace=False).tolist():
        source = training[k]
        with Image.open(originals / source) as img:
            copy, quality = augment(img.convert("RGB"), np.random.default_rng([args.seed, k]))
        rel = f"{Path(source).parent.name}/{rng.integers(2**63):016x}.jpg"
        buf = io.BytesIO()
        copy.save(buf, "JPEG", quality=quality)
        (out / "external" / rel).write_bytes(buf.getvalue())
        planted[rel] = source
    return planted


def check(out: Path) -> tuple[dict, float]:
    """external.json's content for the two folders, and the check's wall time."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("MPX_EVAL_FAMILY_CACHE", "off")  # time the check, not the cache
    from mpx_eval.data.external import check_contamination, describe_sources, load_external
    from mpx_eval.data.images import load_image_set

    started = time.perf_counter()
    images = load_image_set(out / "training")
    joined, loaded, names = load_external(
        [str(out / "external")], classes=images.class_names, sizes=[]
    )
    found = check_contamination(
        images, joined, describe_sources(loaded, names, [str(out / "external")]), quiet=True
    )
    return found.describe(), time.perf_counter() - started


def score(found: dict, planted: dict[str, str], originals: Path) -> dict:
    """Recall on the planted copies; the held-out photos flagged, true (one photograph
    with a training photo) or false."""
    rels = sorted(p.relative_to(originals).as_posix() for p in originals.glob("*/*.jpg"))
    photo_of = photographs(rels)
    flagged = {i["path"].split("/", 1)[1]: i for i in found["images"] if i["contaminated"]}
    hits = [rel for rel in planted if rel in flagged]
    true_flags, false_flags = [], []
    for rel, image in flagged.items():
        if rel in planted:
            continue
        partners = {photo_of.get(c["path"]) for c in image["copies_in_training"]}
        (true_flags if photo_of.get(rel) in partners else false_flags).append(
            (rel, [c["path"] for c in image["copies_in_training"]])
        )
    held = [i for i in found["images"] if i["path"].split("/", 1)[1] not in planted]
    training = {c for c in rels if (originals / c).is_file()} - {
        i["path"].split("/", 1)[1] for i in held
    }
    trained_photos = {photo_of[r] for r in training}
    twice = [
        i["path"].split("/", 1)[1]
        for i in held
        if photo_of.get(i["path"].split("/", 1)[1]) in trained_photos
    ]
    return {
        "published_twice": twice,
        "planted": len(planted),
        "found": len(hits),
        "missed": sorted(set(planted) - set(hits)),
        "held_out": len(held),
        "true_flags": true_flags,
        "false_flags": false_flags,
        "one_photograph_pairs": len(ONE_PHOTOGRAPH),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.keep or Path(tempfile.mkdtemp(prefix="mpx-external-"))
    try:
        if out.exists() and any(out.iterdir()):
            shutil.rmtree(out / "training", ignore_errors=True)
            shutil.rmtree(out / "external", ignore_errors=True)
        planted = build(args.data, out, args)
        found, seconds = check(out)
        result = score(found, planted, args.data)
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    n_training = sum(1 for _ in args.data.glob("*/*.jpg")) - result["held_out"]
    print(
        f"training {n_training} photos, external {result['held_out']} held-out photos + "
        f"{result['planted']} planted copies (seed {args.seed})"
    )
    print(f"planted copies found: {result['found']} of {result['planted']}")
    for rel in result["missed"]:
        print(f"  missed: {rel} (copy of {planted[rel]})")
    twice = result["published_twice"]
    flagged_twice = len(result["true_flags"])
    print(
        f"held-out photos that are one photograph with a training photo: {len(twice)}, "
        f"flagged {flagged_twice}"
    )
    print(
        f"held-out photos flagged: {len(result['true_flags']) + len(result['false_flags'])} "
        f"of {result['held_out']}: {len(result['true_flags'])} one photograph with a training "
        f"photo (true), {len(result['false_flags'])} false"
    )
    for rel, copies in result["true_flags"] + result["false_flags"]:
        print(f"  {rel} ~ {', '.join(copies)}")
    print(f"check: {seconds:.1f} s wall (1-minute load {load:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
