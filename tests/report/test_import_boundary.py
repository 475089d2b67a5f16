"""The report never loads TensorFlow or Keras: not on import, not while rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .synthetic_run import make_run

FORBIDDEN = ("tensorflow", "keras")

_CODE = """
import json, sys
import mpx_eval.report
after_import = sorted(sys.modules)
mpx_eval.report.render_run(sys.argv[1])
print(json.dumps({"import": after_import, "render": sorted(sys.modules)}))
"""


def test_importing_and_rendering_load_no_deep_learning_framework(tmp_path):
    out = make_run(tmp_path / "run", folds=2, n_per_class=8, epochs=3)
    result = subprocess.run(
        [sys.executable, "-c", _CODE, str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert (out / "index.html").is_file()
    assert "matplotlib" in {m.split(".")[0] for m in loaded["render"]}  # it did draw
    for phase in ("import", "render"):
        offending = [m for m in loaded[phase] if m.split(".")[0] in FORBIDDEN]
        assert offending == [], phase
    assert "matplotlib" not in {m.split(".")[0] for m in loaded["import"]}
    assert "matplotlib.pyplot" not in loaded["render"]
