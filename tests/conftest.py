"""Shared fixtures: small generated image trees, the MSLD folder when present, a private
cache for the demo set (tests never write into the user's cache)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MSLD_DEFAULT = REPO.parent / "shared" / "datasets" / "msld-original"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterable[Path]:
    cache = tmp_path_factory.mktemp("mpx-cache")
    old = os.environ.get("MPX_EVAL_CACHE_DIR")
    os.environ["MPX_EVAL_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("MPX_EVAL_CACHE_DIR", None)
    else:
        os.environ["MPX_EVAL_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _private_family_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Path:
    """A family cache of the test's own: none in the home folder, none shared by tests."""
    cache = tmp_path_factory.mktemp("family-cache")
    monkeypatch.setenv("MPX_EVAL_FAMILY_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def msld_dir() -> Path:
    """The MSLD original images (228 photos); tests using it skip where it is absent."""
    path = Path(os.environ.get("MPX_EVAL_MSLD", MSLD_DEFAULT))
    if not (path / "Monkeypox").is_dir():
        pytest.skip(
            f"MSLD data set not found at {path}: set MPX_EVAL_MSLD to the folder holding "
            "Monkeypox/ and Others/ to run this test"
        )
    return path


def random_image(rng: np.random.Generator, size: int = 40, *, label: int = 0) -> Image.Image:
    """A small RGB image whose colour depends on the label, plus noise."""
    base = np.array([[200, 80, 80], [80, 80, 200], [80, 200, 80], [200, 200, 80]])[label % 4]
    pixels = base + rng.normal(0, 30, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


MakeTree = Callable[..., Path]


@pytest.fixture
def make_tree(tmp_path: Path) -> MakeTree:
    """``make_tree({"A": 6, "B": 5}, patients=2)`` writes a class-per-folder tree of JPEGs
    named ``<class><patient>_<k>.jpg`` and returns its root."""

    def make(
        classes: dict[str, int] | None = None,
        *,
        root: Path | None = None,
        patients: int = 1,
        size: int = 40,
        seed: int = 0,
        ext: str = ".jpg",
    ) -> Path:
        classes = classes or {"Monkeypox": 8, "Others": 8}
        root = root or tmp_path / "data"
        rng = np.random.default_rng(seed)
        for label, (name, count) in enumerate(classes.items()):
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                patient, shot = divmod(i, patients)
                img = random_image(rng, size, label=label)
                img.save(folder / f"{name[:1]}{patient:03d}_{shot}{ext}")
        return root

    return make
