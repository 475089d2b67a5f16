"""Importing the metrics or the run summary stays light: no deep-learning or plotting stack."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

FORBIDDEN = ("tensorflow", "keras", "matplotlib", "seaborn", "jinja2", "PIL")


@pytest.mark.parametrize("module", ["mpx_eval", "mpx_eval.metrics", "mpx_eval.summary"])
def test_importing_metrics_loads_no_heavy_or_plotting_modules(module):
    code = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],  # the repository root, where mpx_eval lives
    )
    loaded = json.loads(result.stdout)
    assert module in loaded
    offending = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offending == []
