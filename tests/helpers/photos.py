"""Photo-like test images for the family detector and the audits."""

from __future__ import annotations

import numpy as np
from PIL import Image


def photo_like(seed: int, label: int) -> Image.Image:
    """A 128 px photo-like image: a tinted gradient (by ``label``), a few large shapes (so
    that distinct photos differ in many perceptual-hash bits), blotches of several sizes and
    fine grain (so that it has corners at many scales, as a skin photo does)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:128, 0:128] / 128
    base = ((150, 110, 90), (90, 120, 160))[label]
    img = np.stack([base[0] + 60 * xx, base[1] + 50 * yy, base[2] + 30 * xx * yy], axis=-1)
    img += rng.normal(0, 4, img.shape)
    for _ in range(6):
        cx, cy, r = rng.uniform(16, 112), rng.uniform(16, 112), rng.uniform(8, 22)
        img[np.hypot(xx * 128 - cx, yy * 128 - cy) < r] = rng.uniform(30, 240, 3)
    for _ in range(50):
        cx, cy = rng.uniform(0, 128, 2)
        r, ax = rng.uniform(2, 9), rng.uniform(0.5, 1.5)
        mask = ((xx * 128 - cx) * ax) ** 2 + ((yy * 128 - cy) / ax) ** 2 < r * r
        img[mask] = img[mask] * 0.3 + rng.uniform(30, 230, 3) * 0.7
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
