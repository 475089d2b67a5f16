"""Family detection against ground truth: an augmented set built from the MSLD originals.

Writes ``--copies`` augmented copies of every original photo (random mixes of flips, 90°
turns, rotation up to ±45° with fill or crop, zoom/crop down to 70 % of the side, shift,
shear, brightness/contrast/saturation/hue, blur, noise, JPEG re-compression, resizing) into
a temporary folder, under random file names that carry no family; the truth stays in
``truth.csv`` beside the class folders. Then, in a child process (so its peak memory is
the detector's, not the generator's), loads the set with mpx_eval and finds its families,
and prints pair recall, pair precision, the share of originals whose copies land in more
than one cv test fold when folds are grouped by the detected families, wall time and memory.

    python benchmarks/families.py                      # 14 copies per original (3,192 images)
    python benchmarks/families.py --sizes 3192,10000,30000 --keep families-sets
    python benchmarks/families.py --copies 0           # the negative control only
    python benchmarks/families.py --setting last_budget_min=100 --setting ratio=0.75

``--keep`` keeps the built sets and uses them again on a later run (same size and seed).
Detection runs with the family cache off, so that every run measures it from scratch, and
shows its progress line (a line every 30 s) on stderr.

``--data`` (or ``$MPX_EVAL_MSLD``) is the folder holding ``Monkeypox/`` and ``Others/``;
by default the shared data set beside the repository. ``--sizes`` draws that many images
per measurement (more copies per original where needed) and times each. ``--setting``
changes a field of ``FamilySettings`` (docs/families.md lists them) for every detection.

The negative control runs first: detection on the 228 originals alone, its links listed.
MSLD publishes some photographs twice (identical files, or cropped or recoloured, under one
patient id or two); those pairs, checked by eye, are listed in ``ONE_PHOTOGRAPH``, and the
scores are given both against the originals as given and against the photographs that list
defines (never against the detector's own output).
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _common import REPO, child_env
from PIL import Image, ImageEnhance, ImageFilter

MSLD_DEFAULT = REPO.parent / "shared" / "datasets" / "msld-original"


#: MSLD originals that show one photograph (identical files, or one cropped, zoomed or
#: recoloured), each pair looked at side by side. This list, not the detector, defines the
#: "photographs" truth, so a join of two distinct photos counts as an error. Monkeypox/a4_1
#: and a4_2, which the detector joins, look like two photos of one hand: not listed.
ONE_PHOTOGRAPH = (
    ("Monkeypox/P2_2.jpg", "Monkeypox/P2_1.jpg"),
    ("Monkeypox/P2_2.jpg", "Monkeypox/a13_1.jpg"),
    ("Monkeypox/P24_1.jpg", "Monkeypox/P24_2.jpg"),
    ("Monkeypox/P6_1.jpg", "Monkeypox/P6_2.jpg"),
    ("Monkeypox/j6_1.jpg", "Monkeypox/j6_2.jpg"),
    ("Monkeypox/P28_1.jpg", "Monkeypox/a25_1.jpg"),
    ("Monkeypox/a14_2.jpg", "Monkeypox/a14_1.jpg"),
    ("Monkeypox/P5_1.jpg", "Monkeypox/P5_2.jpg"),
    ("Monkeypox/a13_2.jpg", "Monkeypox/P2_1.jpg"),
    ("Monkeypox/P38_2.jpg", "Monkeypox/P38_1.jpg"),
    ("Monkeypox/P35_1.jpg", "Monkeypox/P35_3.jpg"),
    ("Monkeypox/a3.jpg", "Monkeypox/j3.jpg"),
    ("Monkeypox/P3_1.jpg", "Monkeypox/P3_2.jpg"),
    ("Monkeypox/a24_2.jpg", "Monkeypox/a24_1.jpg"),
    ("Monkeypox/a25_1.jpg", "Monkeypox/a25_2.jpg"),
    ("Monkeypox/P28_3.jpg", "Monkeypox/a25_2.jpg"),
    ("Monkeypox/P19_1.jpg", "Monkeypox/P19_3.jpg"),
    ("Monkeypox/P18_1.jpg", "Monkeypox/P18_2.jpg"),
    ("Monkeypox/P33_2.jpg", "Monkeypox/P33_1.jpg"),
    ("Monkeypox/P36_2.jpg", "Monkeypox/P36_3.jpg"),
    ("Monkeypox/a25_2.jpg", "Monkeypox/P28_2.jpg"),
    ("Monkeypox/P7_1.jpg", "Monkeypox/P7_3.jpg"),
    ("Monkeypox/P17_1.jpg", "Monkeypox/P17_2.jpg"),
    ("Monkeypox/j7_2.jpg", "Monkeypox/j7_1.jpg"),
    ("Monkeypox/a8_1.jpg", "Monkeypox/a8_2.jpg"),
    ("Monkeypox/P35_3.jpg", "Monkeypox/P35_2.jpg"),
    ("Others/82_1.jpg", "Others/34_1.jpg"),
    ("Others/75_2.jpg", "Others/75_1.jpg"),
    ("Others/21_2.jpg", "Others/21_1.jpg"),
    ("Others/29.jpg", "Others/34.jpg"),
    ("Others/12.jpg", "Others/4.jpg"),
    ("Others/15.jpg", "Others/16.jpg"),
    # crops of one photo that overlap in a narrow strip (both palms; a shoulder, the same
    # lesions shifted by half the width): looked at when the 10,000-image set joined them
    ("Monkeypox/P8_1.jpg", "Monkeypox/P8_2.jpg"),
    ("Monkeypox/P4_1.jpg", "Monkeypox/P4_2.jpg"),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("MPX_EVAL_MSLD", str(MSLD_DEFAULT)),
        help="the MSLD originals (default: $MPX_EVAL_MSLD or the shared data set)",
    )
    parser.add_argument(
        "--copies", type=int, default=14, help="augmented copies per original (default 14)"
    )
    parser.add_argument(
        "--sizes",
        default="",
        help="comma-separated image counts to time instead (e.g. 1000,3000,10000)",
    )
    parser.add_argument("--folds", type=int, default=5, help="cv folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="augmentation seed (default 0)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="build the sets here and keep them, or use those kept there by an earlier run "
        "(same size and seed; default: a temporary folder)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a FamilySettings field to change for detection (repeatable)",
    )
    parser.add_argument("--detect", metavar="DIR", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def family_settings(changes: list[str]):
    """``FamilySettings`` with each ``NAME=VALUE`` of ``changes`` applied (a value of the
    field's own type: ``ratio=0.75``, ``fine_stretch=(2, 98)``)."""
    from mpx_eval.data.families import FamilySettings

    defaults = FamilySettings()
    names = {f.name for f in dataclasses.fields(defaults)}
    values = {}
    for change in changes:
        name, _, value = change.partition("=")
        if name not in names:
            raise SystemExit(f"--setting {change}: FamilySettings has no field {name!r}")
        values[name] = type(getattr(defaults, name))(ast.literal_eval(value))
    return dataclasses.replace(defaults, **values)


def _affine(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rotation, zoom (crop down to 70 % of the side), shear and shift as one affine map,
    the uncovered corners filled with black, the edge colour or a reflection, or cropped
    away by zooming in further."""
    w, h = img.size
    angle = np.deg2rad(rng.uniform(-45, 45)) if rng.random() < 0.8 else 0.0
    zoom = rng.uniform(1.0, 1 / 0.7) if rng.random() < 0.7 else 1.0
    shear = rng.uniform(-0.2, 0.2) if rng.random() < 0.4 else 0.0
    shift = rng.uniform(-0.1, 0.1, 2) * (w, h) if rng.random() < 0.6 else np.zeros(2)
    fill = rng.choice(["black", "edge", "reflect", "crop"])
    if fill == "crop":  # zoom in until the rotated frame covers the output
        zoom = max(zoom, abs(np.cos(angle)) + abs(np.sin(angle)))
    c, s = np.cos(angle), np.sin(angle)
    forward = zoom * np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    centre = np.array([w / 2, h / 2])
    offset = centre - inverse @ (centre + shift)
    coeffs = (*inverse[0], offset[0], *inverse[1], offset[1])
    if fill in ("edge", "reflect"):  # pad so that the map samples the border, not black
        pad = w
        arr = np.pad(np.asarray(img), ((pad, pad), (pad, pad), (0, 0)), mode=fill)
        big = Image.fromarray(arr)
        coeffs = (*inverse[0], offset[0] + pad, *inverse[1], offset[1] + pad)
        return big.transform((w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    return img.transform((w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)


def _colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    if rng.random() < 0.7:
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.7, 1.3))
    if rng.random() < 0.7:
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))
    if rng.random() < 0.6:
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.6, 1.4))
    if rng.random() < 0.5:
        hsv = np.asarray(img.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(-20, 21))) % 256
        img = Image.fromarray(hsv, "HSV").convert("RGB")
    return img


def augment(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """One random mix of the transforms; returns the copy and its JPEG quality."""
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        img = img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if rng.random() < 0.3:
        img = img.rotate(90 * int(rng.integers(1, 4)), expand=True)
    img = _affine(img, rng)
    img = _colour(img, rng)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    if rng.random() < 0.3:
        noisy = np.asarray(img, float) + rng.normal(0, rng.uniform(3, 10), (*img.size[::-1], 3))
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        side = int(img.size[0] * rng.uniform(0.5, 0.9))
        img = img.resize((side, side), Image.Resampling.BILINEAR)
    return img, int(rng.integers(40, 96))


def build_set(originals: Path, out: Path, n_images: int, *, seed: int) -> Path:
    """``n_images`` augmented copies spread evenly over the originals, in class folders
    under random names; ``truth.csv`` (path, original, label) beside them. With
    ``n_images == 0`` the originals themselves are copied (the negative control)."""
    sources = sorted(p for p in originals.glob("*/*") if p.suffix.lower() in (".jpg", ".png"))
    if not sources:
        raise SystemExit(f"no MSLD images under {originals}: pass --data or set MPX_EVAL_MSLD")
    if _built(out, n_images or len(sources), seed):
        return out  # kept from an earlier run (--keep): the same images
    if out.exists():
        shutil.rmtree(out)  # a set left half built, or another one: never mixed with the new
    rng = np.random.default_rng(seed)
    jobs = []
    if n_images == 0:
        jobs = [(src, None) for src in sources]
    else:
        rounds = -(-n_images // len(sources))
        order = np.concatenate([rng.permutation(len(sources)) for _ in range(rounds)])
        jobs = [(sources[k], int(rng.integers(2**32))) for k in order[:n_images]]
    for name in {src.parent.name for src in sources}:
        (out / name).mkdir(parents=True, exist_ok=True)

    names = [f"{x:016x}" for x in rng.integers(2**63, size=len(jobs))]

    def make(k: int) -> tuple[str, str, str]:
        src, job_seed = jobs[k]
        rel = f"{src.parent.name}/{names[k]}.jpg"
        if job_seed is None:
            shutil.copyfile(src, out / rel)
        else:
            with Image.open(src) as img:
                copy, quality = augment(img.convert("RGB"), np.random.default_rng(job_seed))
            buf = io.BytesIO()
            copy.save(buf, "JPEG", quality=quality)
            (out / rel).write_bytes(buf.getvalue())
        return rel, src.relative_to(originals).as_posix(), src.parent.name

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        rows = list(pool.map(make, range(len(jobs))))
    with open(out / "truth.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "original", "label"])
        writer.writerows(rows)
    (out / "built.json").write_text(json.dumps({"images": len(rows), "seed": seed}))
    return out


def _built(out: Path, n_images: int, seed: int) -> bool:
    """Whether ``out`` holds the set of ``n_images`` that ``build_set`` made with ``seed``."""
    try:
        done = json.loads((out / "built.json").read_text())
    except (OSError, ValueError):
        return False
    return done == {"images": n_images, "seed": seed}


def detect(folder: Path, folds: int, changes: list[str]) -> dict:
    """Load ``folder`` with mpx_eval and find its families with the settings ``changes``
    (run in a child process)."""
    from mpx_eval.data.families import find_families
    from mpx_eval.data.grouping import DetectionProgress
    from mpx_eval.data.images import load_image_set
    from mpx_eval.data.splits import make_plan

    started = time.perf_counter()
    images = load_image_set(folder)
    loaded = time.perf_counter()
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = time.process_time()
    load = os.getloadavg()[0]
    # the progress line goes to stderr (a line every 30 s): how its ETA holds up is measured
    # too; the cache is off, so that every run measures a detection from scratch
    progress = DetectionProgress(len(images))
    found = find_families(images, settings=family_settings(changes), progress=progress, cache=False)
    seconds = time.perf_counter() - loaded
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load = max(load, os.getloadavg()[0])
    grouped = dataclasses.replace(images, groups=found.family.astype(str).astype(object))
    test_fold = np.full(len(images), -1)
    for split in make_plan(grouped, folds=folds)[1:]:
        test_fold[split.test] = split.fold
    return {
        "paths": images.paths,
        "family": found.family.tolist(),
        "test_fold": test_fold.tolist(),
        "notes": found.notes,
        "kinds": dict(Counter(link.kind for link in found.links)),
        "links": [[link.a, link.b, link.kind, link.score] for link in found.links],
        "decode_s": loaded - started,
        "detect_s": seconds,
        "detect_cpu_s": cpu,
        "load": load,
        "rss_loaded_kib": rss_loaded,
        "peak_kib": peak,
    }


def _pairs(counts) -> int:
    return sum(c * (c - 1) // 2 for c in counts)


def score(folder: Path, result: dict, photo_of: dict[str, str]) -> dict:
    """Pair recall and precision against ``truth.csv``, each copy's truth being the photograph
    its original shows (``photo_of``), and the photographs whose copies sit in several test
    folds when the folds are grouped by the detected families."""
    with open(folder / "truth.csv", newline="") as fh:
        truth = {row["path"]: row["original"] for row in csv.DictReader(fh)}
    origin = [photo_of[truth[p]] for p in result["paths"]]
    family = result["family"]
    true_pairs = _pairs(Counter(origin).values())
    found_pairs = _pairs(Counter(family).values())
    shared = _pairs(Counter(zip(origin, family, strict=True)).values())
    folds_of = defaultdict(set)
    for o, fold in zip(origin, result["test_fold"], strict=True):
        folds_of[o].add(fold)
    return {
        "recall": shared / true_pairs if true_pairs else float("nan"),
        "precision": shared / found_pairs if found_pairs else float("nan"),
        "true_pairs": true_pairs,
        "found_pairs": found_pairs,
        "photographs": len(folds_of),
        "split_photographs": sum(len(f) > 1 for f in folds_of.values()),
    }


def run_detection(folder: Path, args: argparse.Namespace) -> dict:
    """``detect`` in a child process, so that its peak memory is the detector's own."""
    command = [sys.executable, __file__, "--detect", str(folder), "--folds", str(args.folds)]
    command += [f"--setting={change}" for change in args.setting]
    done = subprocess.run(command, env=child_env(), check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout)


def negative_control(originals: Path, folder: Path, args: argparse.Namespace) -> dict[str, str]:
    """Detection on the originals alone, its links listed so that a reader can look at them
    (a link between originals that ``ONE_PHOTOGRAPH`` does not make one photograph, directly
    or through others, is marked). Returns the photograph each original shows, from
    ``ONE_PHOTOGRAPH`` alone."""
    build_set(originals, folder, 0, seed=args.seed)
    result = run_detection(folder, args)
    with open(folder / "truth.csv", newline="") as fh:
        original = {row["path"]: row["original"] for row in csv.DictReader(fh)}
    paths, family = [original[p] for p in result["paths"]], result["family"]
    sizes = Counter(family)
    joined = sum(c for c in sizes.values() if c > 1)
    print(
        f"negative control: {len(paths)} originals, {len(sizes)} families; {joined} originals "
        f"in {sum(c > 1 for c in sizes.values())} multi-image families "
        f"({result['detect_s']:.1f} s); links {result['kinds']}:"
    )
    photo = photographs(sorted(paths))
    for a, b, kind, link_score in result["links"]:
        mark = "" if photo[paths[a]] == photo[paths[b]] else "  <- not one photograph"
        print(f"  {paths[a]} ~ {paths[b]} ({kind}, {link_score:g}){mark}")
    return photo


def photographs(originals: list[str]) -> dict[str, str]:
    """Each original's photograph: the first original of its piece of ``ONE_PHOTOGRAPH``."""
    parent = {o: o for o in originals}

    def root(o: str) -> str:
        while parent[o] != o:
            o = parent[o]
        return o

    for a, b in ONE_PHOTOGRAPH:
        if a in parent and b in parent:
            ra, rb = sorted((root(a), root(b)))
            parent[rb] = ra
    return {o: root(o) for o in originals}


def measure(
    originals: Path, folder: Path, n_images: int, args: argparse.Namespace, photo_of: dict
) -> None:
    started = time.perf_counter()
    build_set(originals, folder, n_images, seed=args.seed)
    built = time.perf_counter() - started
    result = run_detection(folder, args)
    n = len(result["paths"])
    sizes = Counter(result["family"])
    print(
        f"{n} augmented copies (built in {built:.0f} s): decoding {result['decode_s']:.1f} s, "
        f"detection {result['detect_s']:.1f} s (CPU time {result['detect_cpu_s']:.1f} s, all "
        f"threads; 1-minute load average up to {result['load']:.1f}); peak RSS "
        f"{result['peak_kib'] / 1024:.0f} MiB, "
        f"{(result['peak_kib'] - result['rss_loaded_kib']) / 1024:.0f} MiB above the decoded set"
    )
    print(
        f"  {len(sizes)} families (largest {max(sizes.values())}), links {result['kinds']}, "
        f"{len(result['notes'])} notes"
    )
    as_given = {o: o for o in photo_of}
    for name, truth in (("originals as given", as_given), ("photographs", photo_of)):
        found = score(folder, result, truth)
        print(
            f"  against the {name}: pair recall {found['recall']:.4f}, pair precision "
            f"{found['precision']:.4f} ({found['true_pairs']} true pairs, {found['found_pairs']} "
            f"put in one family); {found['split_photographs']} of {found['photographs']} have "
            f"copies in more than one of {args.folds} test folds grouped by family"
        )
    for note in result["notes"][:3]:
        print(f"  note: {note}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.detect:
        print(json.dumps(detect(Path(args.detect), args.folds, args.setting)))
        return 0
    family_settings(args.setting)  # a wrong name or value stops here, before any set is built
    if args.setting:
        print(f"family settings changed: {', '.join(args.setting)}")
    originals = Path(args.data)
    if not (originals / "Monkeypox").is_dir():
        print(
            f"no MSLD originals at {originals}: pass --data or set MPX_EVAL_MSLD", file=sys.stderr
        )
        return 2
    n_originals = sum(1 for p in originals.glob("*/*") if p.suffix.lower() in (".jpg", ".png"))
    sizes = [int(s) for s in args.sizes.split(",") if s] or [n_originals * args.copies]
    sizes = [s for s in sizes if s > 0]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mpx-families-"))
    try:
        photo_of = negative_control(originals, root / f"originals-seed{args.seed}", args)
        for n_images in sizes:
            measure(originals, root / f"set-{n_images}-seed{args.seed}", n_images, args, photo_of)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
