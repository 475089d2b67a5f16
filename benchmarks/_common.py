"""What the benchmark scripts share: the synthetic image set, and how they start mpx_eval.

Only the standard library, numpy and Pillow are imported here, so a benchmark that imports
this module still measures mpx_eval's memory, not its own.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("Monkeypox", "Others")


def synthetic_set(root: Path, n: int, size: int = 224, seed: int = 0) -> Path:
    """``n`` JPEGs of ``size`` pixels in two class folders: a few bright blobs vs many small
    dark spots on a noisy background, so a run has something to learn. Kept when ``root``
    already holds ``n`` of them; deterministic for a given ``seed``."""
    if root.is_dir() and sum(1 for _ in root.rglob("*.jpg")) == n:
        return root

    def draw(i: int) -> None:
        rng = np.random.default_rng([seed, i])
        label = i % 2
        base = rng.normal(150, 25, (size, size, 3)).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(base)
        pen = ImageDraw.Draw(img)
        scale = size / 224
        for _ in range(int(rng.integers(4, 12) if label == 0 else rng.integers(20, 60))):
            x, y = rng.uniform(0, size, 2)
            r = scale * (rng.uniform(6, 14) if label == 0 else rng.uniform(2, 5))
            colour = (240, 230, 200) if label == 0 else (170, 40, 40)
            pen.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        img.save(root / CLASSES[label] / f"S{i // 2:04d}_{label}.jpg", quality=90)

    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(draw, range(n)))
    return root


def child_env(backend: str | None = None) -> dict[str, str]:
    """The environment of an mpx_eval child: this checkout first on the path, TensorFlow's
    start-up notices off, and ``KERAS_BACKEND`` when given."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if backend:
        env["KERAS_BACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def mpx_eval_run(*options: str) -> list[str]:
    """The command line of ``python -m mpx_eval run`` with ``options``."""
    return [sys.executable, "-m", "mpx_eval", "run", *options]
