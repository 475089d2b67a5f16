"""The shortcut audit: image properties that give the class away without the lesion."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mpx_eval.data.images import load_image_set
from mpx_eval.data.shortcuts import (
    PROPERTIES,
    border_share,
    image_traits,
    jpeg_quality,
    shortcut_audit,
)


def _photo(rng, width: int, height: int) -> Image.Image:
    noise = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(noise).resize((width, height), Image.Resampling.BILINEAR)


def _tree(root, *, big_share: float, n: int = 24, seed: int = 0):
    """Two classes of n photos from n patients each; ``big_share`` of class B is 640x480
    and saved at quality 95, the rest of both classes 200x200 at quality 75."""
    rng = np.random.default_rng(seed)
    for name in ("A", "B"):
        (root / name).mkdir(parents=True)
        for i in range(n):
            big = name == "B" and i < big_share * n
            size, quality = ((640, 480), 95) if big else ((200, 200), 75)
            _photo(rng, *size).save(root / name / f"{name}{i:02d}_1.jpg", quality=quality)
    return load_image_set(root, group_pattern=r"^([^_]+)_")


def _audit(images):
    traits = image_traits(images.root, images.paths, images.original_sizes, images.thumbnails)
    return shortcut_audit(traits, images.labels, images.groups, images.class_names)


def test_a_class_of_larger_photos_is_flagged_with_its_table(tmp_path):
    found = _audit(_tree(tmp_path, big_share=0.75))
    assert {"width", "height", "aspect", "jpeg_quality"} <= set(found["flagged"])
    width = found["properties"]["width"]
    assert width["auc"] >= 0.8 and width["low"] > 0.5
    medians = {row["class"]: row["median"] for row in width["by_class"]}
    assert medians == {"A": 200.0, "B": 640.0}
    assert "B 640 px, A 200 px" in width["sentence"]
    assert "alone reaches AUC 0.8" in width["sentence"]
    assert not found["properties"]["brightness"]["flagged"]


def test_photos_alike_in_every_property_flag_nothing(tmp_path):
    found = _audit(_tree(tmp_path, big_share=0.0))
    assert found["flagged"] == []
    assert found["properties"]["width"] == {"constant": True, "flagged": False}
    assert not found["properties"]["brightness"]["flagged"]
    assert set(found["properties"]) == set(PROPERTIES)


def test_a_format_that_belongs_to_one_class_is_flagged(tmp_path):
    traits = pd.DataFrame({key: [1.0] * 40 for key in PROPERTIES})
    traits["format"] = ["PNG"] * 20 + ["JPEG"] * 20
    traits["camera"] = "(none)"
    labels = np.repeat([0, 1], 20)
    found = shortcut_audit(traits, labels, np.arange(40), ["A", "B"])
    assert found["flagged"] == ["format"]
    assert "A mostly PNG (100%), B mostly JPEG (100%)" in found["properties"]["format"]["sentence"]


def test_three_classes_use_the_macro_auc():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 30)
    traits = pd.DataFrame({key: rng.normal(size=90) for key in PROPERTIES})
    traits["width"] = labels * 100 + rng.normal(size=90)
    traits["format"], traits["camera"] = "JPEG", "(none)"
    found = shortcut_audit(traits, labels, np.arange(90), ["A", "B", "C"])
    assert found["flagged"] == ["width"]
    assert found["properties"]["width"]["method"].startswith("one-vs-rest macro")


def test_a_class_with_one_group_skips_the_audit():
    traits = pd.DataFrame({key: [1.0, 2.0, 3.0, 4.0] for key in PROPERTIES})
    found = shortcut_audit(
        traits, np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "c"]), ["A", "B"]
    )
    assert "fewer than two groups" in found["skipped"]


@pytest.mark.parametrize("quality", [30, 75, 95])
def test_jpeg_quality_is_estimated_from_the_tables(quality):
    buf = io.BytesIO()
    _photo(np.random.default_rng(0), 64, 64).save(buf, "JPEG", quality=quality)
    estimate = jpeg_quality(Image.open(io.BytesIO(buf.getvalue())).quantization)
    assert abs(estimate - quality) <= 2
    assert np.isnan(jpeg_quality(None))


def test_border_share_measures_a_plain_band():
    image = np.random.default_rng(0).integers(0, 255, (100, 100, 3)).astype(np.uint8)
    assert border_share(image) < 0.05
    image[:20] = 0
    assert border_share(image) == pytest.approx(0.2)


def test_splits_prints_and_the_report_shows_a_flagged_shortcut(tmp_path, capsys):
    import json

    from mpx_eval.cli import main

    from .report.conftest import Page

    _tree(tmp_path / "data", big_share=0.75)
    data = ["--data-dir", str(tmp_path / "data"), "--group-pattern", r"^([^_]+)_"]
    assert main(["splits", *data, "--folds", "3", "--out", str(tmp_path / "plan.csv")]) == 0
    printed = "".join(capsys.readouterr())
    assert "! shortcut: The image width differs by class (medians: B 640 px, A 200 px)" in printed
    found = json.loads((tmp_path / "plan.audit.json").read_text())["shortcuts"]
    assert "width" in found["flagged"]

    out = tmp_path / "run"
    fast = ["--models", "t4", "--folds", "0", "--epochs", "1", "--image-size", "32", "--quiet"]
    assert main(["run", *data, *fast, "--out", str(out)]) == 0
    page = Page((out / "index.html").read_text(encoding="utf-8"))
    assert "shortcuts" in page.ids
    assert "Flagged. The image width differs by class" in page.text
    assert "A 24 200 (200–200)" in page.text  # the by-class table: class, images, median
