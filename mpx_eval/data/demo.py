"""The synthetic demo set: two classes of drawn 'lesion' photos for trying the tool anywhere.

They are NOT medical images. Monkeypox-like images carry a few large pustules with a dark,
umbilicated centre and a red halo; Others-like images carry many small red macules and clear
vesicles. Each 'patient' has one to three similar photos (so grouping matters), and the set
holds one exact and one near-duplicate under other patient ids, so the audit has something
to find. Generation is deterministic and happens once per cache folder.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from ..errors import MpxEvalError

DEMO_VERSION = 1
DEMO_LABEL = "synthetic demo data — not medical images"
SIDE = 224
PER_CLASS = 60
CLASSES = ("Monkeypox", "Others")

_SKIN_TONES = np.array(
    [(238, 206, 179), (224, 182, 146), (198, 145, 108), (164, 113, 80), (120, 82, 58)],
    dtype=np.float64,
)


def cache_root() -> Path:
    """Where mpx_eval keeps generated files: ``$MPX_EVAL_CACHE_DIR``, else the user cache."""
    if os.environ.get("MPX_EVAL_CACHE_DIR"):
        return Path(os.environ["MPX_EVAL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mpx_eval"


def _smooth_field(rng: np.random.Generator, cells: int, scale: float) -> np.ndarray:
    coarse = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    img = Image.fromarray(coarse, "F").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float64) * scale


def _skin(rng: np.random.Generator, tone: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + 0.18 * ((xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle))
    blotch = _smooth_field(rng, 5, 0.04)
    img = tone[None, None, :] * (light + blotch)[..., None]
    img[..., 0] += _smooth_field(rng, 7, 10.0)  # uneven redness
    img += rng.normal(0.0, 4.0, img.shape)  # pores and sensor noise
    return img


def _blend(img: np.ndarray, cx: float, cy: float, radius: float, colour, alpha) -> None:
    """Paint a soft disc: ``alpha`` is the peak opacity, falling off past ``radius``."""
    r = int(radius * 2.5) + 2
    x0, x1 = max(0, int(cx) - r), min(SIDE, int(cx) + r + 1)
    y0, y1 = max(0, int(cy) - r), min(SIDE, int(cy) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - cx, yy - cy) / max(radius, 0.5)
    weight = alpha * np.clip(1.5 - d, 0.0, 1.0) ** 1.5
    patch = img[y0:y1, x0:x1]
    patch += weight[..., None] * (np.asarray(colour, dtype=np.float64) - patch)


def _pustule(img: np.ndarray, cx: float, cy: float, r: float) -> None:
    _blend(img, cx, cy, r * 1.9, (196, 70, 60), 0.45)  # inflamed halo
    _blend(img, cx, cy, r, (238, 228, 196), 0.9)  # raised, pus-filled dome
    _blend(img, cx + r * 0.25, cy - r * 0.3, r * 0.35, (255, 255, 245), 0.5)  # highlight
    _blend(img, cx, cy, r * 0.32, (92, 52, 40), 0.85)  # umbilicated centre


def _macule(img: np.ndarray, cx: float, cy: float, r: float) -> None:
    _blend(img, cx, cy, r, (205, 62, 58), 0.65)


def _vesicle(img: np.ndarray, cx: float, cy: float, r: float) -> None:
    _blend(img, cx, cy, r * 1.4, (214, 96, 84), 0.35)
    _blend(img, cx, cy, r, (240, 226, 214), 0.55)


def _layout(rng: np.random.Generator, monkeypox: bool) -> list[tuple[str, float, float, float]]:
    """The lesions of one patient: (kind, x, y, radius). About one patient in eight is
    atypical (few small pustules, or a rash with large vesicles), so the task is not trivial."""
    lesions = []
    atypical = rng.random() < 0.125
    if monkeypox:
        count = int(rng.integers(4, 8)) if atypical else int(rng.integers(12, 24))
        for _ in range(count):
            radius = rng.uniform(6, 10) if atypical else rng.uniform(8, 15)
            lesions.append(("pustule", *rng.uniform(8, SIDE - 8, 2), radius))
        for _ in range(int(rng.integers(0, 12))):
            lesions.append(("macule", *rng.uniform(0, SIDE, 2), rng.uniform(3, 6)))
    else:
        for _ in range(int(rng.integers(60, 120))):
            lesions.append(("macule", *rng.uniform(0, SIDE, 2), rng.uniform(3, 7)))
        for _ in range(int(rng.integers(6, 12) if atypical else rng.integers(0, 4))):
            lesions.append(("vesicle", *rng.uniform(10, SIDE - 10, 2), rng.uniform(6, 10)))
    return lesions


_PAINT = {"pustule": _pustule, "macule": _macule, "vesicle": _vesicle}


def _photo(
    shot_rng: np.random.Generator, monkeypox: bool, tone: np.ndarray, lesions
) -> Image.Image:
    img = _skin(shot_rng, tone * shot_rng.uniform(0.92, 1.08))
    if not monkeypox:  # measles and chickenpox rashes redden the skin around the spots
        flush = np.clip(_smooth_field(shot_rng, 4, 0.5) + 0.8, 0.2, 1.4)
        img += flush[..., None] * np.array([28.0, -12.0, -10.0])
    dx, dy = shot_rng.normal(0, 6, 2)
    zoom = shot_rng.uniform(0.9, 1.1)
    for kind, x, y, r in lesions:
        cx = SIDE / 2 + (x - SIDE / 2) * zoom + dx
        cy = SIDE / 2 + (y - SIDE / 2) * zoom + dy
        _PAINT[kind](img, cx, cy, r * zoom)
    photo = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    return photo.filter(ImageFilter.GaussianBlur(shot_rng.uniform(0.4, 1.3)))


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _draw_class(folder: Path, seed: int, label: int, quota: int, prefix: str) -> None:
    """``quota`` photos of class ``label`` into ``folder``, one to three per 'patient'."""
    folder.mkdir(parents=True)
    written, patient = 0, 1
    while written < quota:
        patient_rng = np.random.default_rng([seed, label, patient])
        tone = _SKIN_TONES[patient_rng.integers(len(_SKIN_TONES))]
        lesions = _layout(patient_rng, monkeypox=label == 0)
        shots = min(int(patient_rng.choice([1, 1, 2, 2, 3])), quota - written)
        for shot in range(1, shots + 1):
            shot_rng = np.random.default_rng([seed, label, patient, shot])
            img = _photo(shot_rng, label == 0, tone, lesions)
            quality = int(shot_rng.integers(82, 96))
            (folder / f"{prefix}{patient:02d}_{shot}.jpg").write_bytes(_jpeg(img, quality))
            written += 1
        patient += 1


def _generate(target: Path, seed: int) -> None:
    for label, name in enumerate(CLASSES):
        # keep two slots in Others/Monkeypox for the planted duplicates
        _draw_class(target / name, seed, label, PER_CLASS - 1, name[0])
    # As in web-scraped sets: the same photo filed again under another patient id ...
    others = target / "Others"
    (others / "O90_1.jpg").write_bytes((others / "O03_1.jpg").read_bytes())
    # ... and a downsized, re-compressed copy of another one.
    source = Image.open(target / "Monkeypox" / "M02_1.jpg").convert("RGB")
    small = source.resize((160, 160), Image.Resampling.BILINEAR)
    (target / "Monkeypox" / "M90_1.jpg").write_bytes(_jpeg(small, 70))
    _describe(target, seed, "")


def _describe(target: Path, seed: int, what: str) -> None:
    (target / "DEMO.txt").write_text(
        f"mpx_eval {DEMO_LABEL}{what}, version {DEMO_VERSION}, seed {seed}.\n"
        "Drawn by mpx_eval.data.demo; safe to delete (it is generated again when needed).\n",
        encoding="utf-8",
    )


#: The demo's external set: photos of other 'patients' per class, and copies of demo photos
#: (turned, cropped, recoloured: the contamination external validation must catch).
EXTERNAL_PER_CLASS = 16
EXTERNAL_COPIES = ("Monkeypox/M10_1.jpg", "Monkeypox/M20_1.jpg", "Others/O10_1.jpg")


def _generate_external(target: Path, seed: int, training: Path) -> None:
    for label, name in enumerate(CLASSES):
        # another 'clinic': the same drawing rules, other patients
        _draw_class(target / name, seed + 1000, label, EXTERNAL_PER_CLASS, f"C{name[0]}")
    for k, rel in enumerate(EXTERNAL_COPIES):
        img = Image.open(training / rel).convert("RGB").rotate(90 * (k + 1))
        side = img.size[0]
        crop = img.crop((side // 10, side // 12, side - side // 12, side - side // 10))
        warm = Image.fromarray(
            np.clip(np.asarray(crop) * [1.08, 1.0, 0.92], 0, 255).astype(np.uint8)
        )
        folder = target / rel.split("/", 1)[0]
        (folder / f"copy_{k + 1}.jpg").write_bytes(_jpeg(warm, 80))
    _describe(target, seed, " (external set)")


def demo_dataset(*, seed: int = 0, root: Path | None = None) -> Path:
    """Path of the demo image set, generating it on first use (a few seconds).

    Generation goes to a temporary sibling folder that is renamed into place, so an
    interrupted or concurrent first use never leaves a half-written set behind.
    """
    root = Path(root) if root is not None else cache_root()
    return _cached(root, f"demo-v{DEMO_VERSION}-seed{seed}", lambda tmp: _generate(tmp, seed))


def demo_external_dataset(*, seed: int = 0, root: Path | None = None) -> Path:
    """Path of the demo's external set (``run --demo`` validates on it), generated on first
    use like :func:`demo_dataset`, whose photos it partly copies."""
    root = Path(root) if root is not None else cache_root()
    training = demo_dataset(seed=seed, root=root)
    return _cached(
        root,
        f"demo-v{DEMO_VERSION}-seed{seed}-external",
        lambda tmp: _generate_external(tmp, seed, training),
    )


def _cached(root: Path, name: str, generate) -> Path:
    """``root / name``, made by ``generate(folder)`` in a temporary folder renamed into
    place when it does not exist yet."""
    target = root / name
    if target.is_dir():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    except OSError as exc:
        raise MpxEvalError(
            f"cannot create the demo image set under {root} ({exc.strerror}); "
            "set MPX_EVAL_CACHE_DIR to a writable folder"
        ) from None
    try:
        generate(tmp)
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
