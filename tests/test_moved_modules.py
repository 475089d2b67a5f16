"""Documented modules that moved into the package's layers still import under their old
names, with a warning that names the new place."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import mpx_eval

from .conftest import REPO


def test_an_old_module_name_warns_and_is_the_module_in_its_new_place():
    sys.modules.pop("mpx_eval.families", None)
    with pytest.warns(DeprecationWarning, match=r"mpx_eval\.families has moved to mpx_eval\.data"):
        old = importlib.import_module("mpx_eval.families")
    new = importlib.import_module("mpx_eval.data.families")
    assert old is new and old.find_families is new.find_families


@pytest.mark.parametrize("old", sorted(mpx_eval.MOVED_MODULES))
def test_every_moved_name_points_at_a_module_that_exists(old):
    assert importlib.util.find_spec(mpx_eval.MOVED_MODULES[old]) is not None
    assert importlib.util.find_spec(old) is not None


def test_an_old_name_from_import_works_in_a_fresh_interpreter():
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "try:\n    from mpx_eval import families\nexcept DeprecationWarning as w:\n"
        "    print('warned:', w)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert "warned: mpx_eval.families has moved to mpx_eval.data.families" in out.stdout


def test_a_name_that_never_existed_still_fails():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("mpx_eval.predictions")
