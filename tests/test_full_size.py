"""Full-size runs at the blog's settings. Slow (on 2 CPU cores about 6 minutes for MSLD and
1 for the demo, on top of the rest), so the default session skips them:
``nox -s tests -- -m slow``."""

from __future__ import annotations

import json

import pytest

from mpx_eval.cli import main

pytestmark = pytest.mark.slow


def test_msld_default_protocol(msld_dir, tmp_path):
    """5 patient-grouped folds plus the seed split, T3 and T4, 50 epochs, 224/180 px."""
    out = tmp_path / "msld"
    argv = ["run", "--folds", "5", "--data-dir", str(msld_dir), "--group-pattern", r"^([^_]+)_"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("t3", "t4"):
        model = metrics["models"][name]
        assert len(model["cv"]["folds"]) == 5
        # where the blog's own script lands on these 228 photos (45 validation images)
        assert 0.5 <= model["seed_split"]["best_val_accuracy"] <= 0.9
        assert 0.5 <= model["cv"]["mean"]["accuracy"] <= 0.9
    assert metrics["models"]["t4"]["params"] == 22_175_138


def test_demo_at_default_settings(tmp_path):
    """The first command a new user types."""
    out = tmp_path / "demo"
    assert main(["run", "--folds", "5", "--demo", "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["t4"]["cv"]["mean"]["accuracy"] > 0.75
