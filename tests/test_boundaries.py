"""Module boundaries: only the model, training, backend and saved-model modules import Keras
or TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys

from .conftest import REPO

KERAS_MODULES = {"keras", "tensorflow", "jax", "torch"}
ALLOWED = {
    "mpx_eval/training/backend.py",
    "mpx_eval/training/models.py",
    "mpx_eval/training/train.py",
    "mpx_eval/training/keep.py",
    "mpx_eval/training/gradcam.py",
    "mpx_eval/training/predict.py",
    "mpx_eval/training/batched.py",
}


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_models_train_and_saved_model_modules_import_keras():
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & KERAS_MODULES)
        for path in (REPO / "mpx_eval").rglob("*.py")
        if str(path.relative_to(REPO)) not in ALLOWED and _imports(path) & KERAS_MODULES
    }
    assert offenders == {}


def test_cli_help_does_not_load_tensorflow():
    code = (
        "import sys; from mpx_eval.cli import build_parser; build_parser(); "
        "import mpx_eval.commands.run, mpx_eval.data.splits, mpx_eval.data.audit; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
