"""The page in a real browser: it loads from file:// without console errors, draws
something at desktop and phone widths, and its main tables fit a desktop screen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.chromium

CHROMIUM = shutil.which("chromium")


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _console_lines(result: subprocess.CompletedProcess) -> list[str]:
    # Chromium logs every console message (errors included) as an INFO:CONSOLE line.
    return [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def _shot(page: Path, tmp_path: Path, width: int) -> tuple[np.ndarray, list[str]]:
    target = tmp_path / f"shot-{width}.png"
    result = _chromium(
        page, tmp_path / f"profile-{width}", f"--window-size={width},2000", f"--screenshot={target}"
    )
    assert target.is_file(), result.stderr[-2000:]
    with Image.open(target) as image:
        assert image.size == (width, 2000)
        return np.asarray(image.convert("L"), dtype=float), _console_lines(result)


def test_console_messages_are_detected(tmp_path):
    """The check below relies on the log format; a page that errs must be caught by it."""
    canary = tmp_path / "canary.html"
    canary.write_text("<!doctype html><p>x</p><script>console.error('canary-error')</script>")
    lines = _console_lines(_chromium(canary, tmp_path / "profile", "--dump-dom"))
    assert any("canary-error" in line for line in lines)


def test_page_loads_without_console_errors_and_is_drawn_at_both_widths(binary_run, tmp_path):
    dom = _chromium(binary_run.index, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0
    assert "Detailed results" in dom.stdout and 'id="reproduce"' in dom.stdout
    assert dom.stdout.index('id="verdict"') < dom.stdout.index('id="overview"')
    assert _console_lines(dom) == []
    for width in (1280, 390):
        pixels, console = _shot(binary_run.index, tmp_path, width)
        assert console == []
        assert pixels.std() > 20, f"the {width} px screenshot looks blank"
        dark = (pixels < 128).mean()
        assert 0.005 < dark < 0.5, f"the {width} px screenshot has {dark:.1%} dark pixels"


_TABLE_WIDTHS = """
<script>
window.addEventListener("load", () => {
  const boxes = [...document.querySelectorAll("#verdict .scroll, #headline .scroll")];
  document.querySelectorAll("h4").forEach((h) => {
    if (h.textContent.trim() === "All metrics") boxes.push(h.nextElementSibling);
  });
  document.body.setAttribute("data-measured", JSON.stringify(boxes.map((box) => ({
    table: (box.previousElementSibling || box.parentElement).textContent.trim().slice(0, 40),
    scroll: box.scrollWidth,
    client: box.clientWidth,
  }))));
});
</script>
"""


@pytest.mark.parametrize("fixture", ["binary_run", "three_class_run"])
def test_the_main_tables_fit_a_1280_pixel_screen(fixture, request, tmp_path):
    """The verdict, the detailed results and every all-metrics table show all their columns
    at 1280 px: none hides specificity, AUC, F1 or the last epoch behind a scroll bar."""
    run = request.getfixturevalue(fixture)
    page = tmp_path / "measured.html"
    page.write_text(run.html.replace("</body>", _TABLE_WIDTHS + "</body>"), encoding="utf-8")
    dom = _chromium(page, tmp_path / "profile", "--window-size=1280,800", "--dump-dom")
    found = re.search(r'data-measured="([^"]+)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    boxes = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(boxes) >= 4  # the verdict, the detailed results, two models' metrics
    for box in boxes:
        assert box["scroll"] <= box["client"], box
