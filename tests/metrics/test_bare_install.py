"""`pip install mpx-eval` without extras gives a working metrics library and no deep learning."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from mpx_eval.config import tomllib

ROOT = Path(__file__).resolve().parents[2]
METRICS_STACK = {"numpy", "scipy", "scikit-learn", "pandas"}
RUN_ONLY = ("tensorflow", "keras", "matplotlib", "seaborn", "jinja2", "PIL")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def test_the_bare_package_depends_on_the_metrics_stack_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {_name(r) for r in project["dependencies"]} == METRICS_STACK
    run = {_name(r) for r in project["optional-dependencies"]["run"]}
    assert {"tensorflow", "keras", "matplotlib", "jinja2", "pillow"} <= run


@pytest.mark.slow
def test_a_fresh_venv_installs_the_bare_package_and_imports_the_metrics(tmp_path):
    """About 70 s on a 2-core machine with the wheels in pip's cache (scipy, pandas, ...)."""
    source = tmp_path / "src"
    source.mkdir()
    # A copy, so that pip's build leaves nothing behind in the repository.
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "mpx_eval", source / "mpx_eval", ignore=shutil.ignore_patterns("__pycache__")
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    check = f"""
import importlib.util, sys
import mpx_eval.metrics as M
ci = M.wilson_interval(10, 10)
assert round(ci.low, 4) == 0.7225, ci
assert M.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
import mpx_eval.summary as S
assert S.metrics_json_schema()["required"] == ["classes", "models", "comparisons"]
present = [m for m in {RUN_ONLY!r} if importlib.util.find_spec(m) is not None]
assert present == [], present
print("ok")
"""
    result = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
