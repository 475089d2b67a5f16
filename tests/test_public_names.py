"""Each layer's package names its public surface, and every name it lists is there."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from .conftest import REPO

LAYERS = ["data", "training", "rundir", "assessment", "commands", "report", "summary", "metrics"]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_public_name_of_a_layer_resolves(layer):
    package = importlib.import_module(f"mpx_eval.{layer}")
    assert package.__all__
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []
    with pytest.raises(AttributeError, match="has no attribute 'nothing_of_that_name'"):
        package.nothing_of_that_name  # noqa: B018


def test_importing_a_layer_loads_its_modules_only_when_a_name_is_used():
    code = (
        "import sys, mpx_eval.training, mpx_eval.data\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'cv2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr
