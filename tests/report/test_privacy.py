"""``--images none``: a report that embeds no photo of the data set, and says so; ``report``
renders either way from the same run folder."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from mpx_eval.cli import main

from ..conftest import random_image
from .conftest import Page


def _data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(("Monkeypox", "Others")):
        (root / name).mkdir(parents=True)
        for i in range(8):
            random_image(rng, 40, label=label).save(root / name / f"p{i:02d}_{label}.jpg")
    # a copy, so that the families section shows a strip of thumbnails
    (root / "Others" / "copy_1.jpg").write_bytes((root / "Others" / "p00_1.jpg").read_bytes())
    return root


def _sources(out: Path) -> tuple[list[str], set[str]]:
    page = Page((out / "index.html").read_text(encoding="utf-8"))
    charts = {
        "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
        for p in (out / "figures").glob("*.png")
    }
    return [img["src"] for img in page.images()], charts


def test_images_none_embeds_no_photo_and_report_puts_them_back(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--data-dir", str(_data(tmp_path / "data")), "--models", "t4", "--folds", "0"]
    argv += ["--epochs", "1", "--image-size", "32", "--quiet", "--out", str(out)]
    assert main([*argv, "--images", "none"]) == 0
    assert "images = 'none'" in (out / "config.toml").read_text()
    sources, charts = _sources(out)
    assert sources and set(sources) <= charts  # the charts, and nothing else
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "data:image/jpeg" not in html
    assert "No photos: this report embeds no image of the data set" in html
    assert "photo left out" in html  # the families strip keeps its place, without the photo

    assert main(["report", "--out", str(out), "--images", "all"]) == 0
    sources, charts = _sources(out)
    photos = [s for s in sources if s not in charts]
    assert any(s.startswith("data:image/jpeg") for s in photos)
    page = Page((out / "index.html").read_text(encoding="utf-8"))
    shown = {i["alt"] for i in page.images() if i["src"].startswith("data:image/jpeg")}
    assert f"This report contains {len(shown)} photos" in page.text
    assert "--images none writes the same report without any photo" in page.text

    assert main(["report", "--out", str(out)]) == 0  # back to what the run recorded
    assert "data:image/jpeg" not in (out / "index.html").read_text(encoding="utf-8")
    capsys.readouterr()
