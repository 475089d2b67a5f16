"""Reliability, second pass: a run touches only what it wrote, holds its folder alone,
records diverging training as a result, checks users' models and data, and turns damaged
units, full disks and users' sys.exit() into one-line answers. (The one-line refusals are
in the catalogue of test_reliability.py.)"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mpx_eval.cli import main
from mpx_eval.errors import MpxEvalError
from mpx_eval.rundir import folder
from mpx_eval.rundir.layout import LOCK, MARKER
from mpx_eval.training.models import outputs_probabilities

from .conftest import REPO
from .test_reliability import tree

TINY = "tests.helpers.user_models:tiny"
FAST = ["--epochs", "1", "--image-size", "32", "--folds", "0", "--quiet"]
UNIT = f"{TINY.replace(':', '_')}-seed-0"


def run(root: Path, out: Path, *extra: str, models: str = TINY) -> int:
    return main(
        ["run", "--data-dir", str(root), "--models", models, *FAST, "--out", str(out), *extra]
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-unit run (copy it before changing it)."""
    base = tmp_path_factory.mktemp("finished")
    root = tree(base / "data", {"A": 6, "B": 6})
    assert run(root, base / "out") == 0
    return base


@pytest.fixture
def copy(finished, tmp_path) -> tuple[Path, Path]:
    shutil.copytree(finished / "data", tmp_path / "data")
    shutil.copytree(finished / "out", tmp_path / "out")
    return tmp_path / "data", tmp_path / "out"


# --------------------------------------------------------------------------- 1 ownership


def test_reruns_and_overwrite_remove_only_what_mpx_eval_wrote(copy, capsys):
    root, out = copy
    assert (out / MARKER).is_file()
    (out / "figures" / "user_plot.png").write_bytes(b"mine")
    (out / "units" / "mystuff").mkdir()
    (out / "units" / "mystuff" / "notes.txt").write_text("my notes")
    (out / "README.txt").write_text("my readme")
    ours = sorted(p.name for p in (out / "figures").glob("*.png") if p.name != "user_plot.png")
    assert ours

    assert run(root, out) == 0  # resumes: nothing to train, the report is rendered again
    assert (out / "figures" / "user_plot.png").read_bytes() == b"mine"

    assert run(root, out, "--overwrite") == 0
    assert (out / "figures" / "user_plot.png").read_bytes() == b"mine"
    assert (out / "units" / "mystuff" / "notes.txt").read_text() == "my notes"
    assert (out / "README.txt").read_text() == "my readme"
    assert (out / "units" / UNIT / "unit.json").is_file()  # trained afresh

    folder.clear_run(out)  # what --overwrite removes before training
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == [
        ".mpx_eval",
        ".mpx_eval.lock",
        "README.txt",
        "figures/user_plot.png",
        "units/mystuff/notes.txt",
    ]


def test_a_placeholder_does_not_make_a_folder_foreign(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / ".gitignore").write_text("*\n")  # as in the repository's reports/
    folder.check_owned(out)
    (out / "mine.txt").write_text("x")
    with pytest.raises(MpxEvalError, match=r"not an mpx_eval run folder \(it holds mine.txt\)"):
        folder.check_owned(out)


# --------------------------------------------------------------------------- 2 lock

HOLDER = """
import sys, time
from pathlib import Path
from mpx_eval.rundir.lock import locked
with locked(Path(sys.argv[1]), command=["holder", "of", "the", "lock"]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_process_is_refused_until_the_holder_dies(copy, capsys):
    root, out = copy
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = (out / "index.html").read_bytes()
        assert run(root, out) == 2
        err = capsys.readouterr().err
        assert f"is in use by another mpx_eval process (pid {holder.pid} on" in err
        assert "holder of the lock" in err and len(err.strip().splitlines()) == 1
        assert main(["report", "--out", str(out)]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert (out / "index.html").read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)  # the OS releases the lock of a killed process
        holder.wait()
    assert main(["report", "--out", str(out)]) == 0


# --------------------------------------------------------------------------- 3 divergence


def test_a_diverging_unit_is_recorded_and_not_retrained_unless_asked(tmp_path, capsys):
    root = tree(tmp_path / "data", {"A": 6, "B": 6})
    out = tmp_path / "out"
    models = f"{TINY},tests.helpers.user_models:outputs_nan"
    assert run(root, out, models=models) == 0
    err = capsys.readouterr().err
    assert "1 unit(s) diverged" in err and "outputs_nan-seed-0 at epoch 1" in err
    folder = out / "units" / "tests.helpers.user_models_outputs_nan-seed-0"
    info = json.loads((folder / "unit.json").read_text())
    assert info["status"] == "diverged" and info["diverged_at"] == 1
    assert (folder / "history.csv").is_file() and not (folder / "predictions.csv").exists()
    assert (out / "units" / UNIT / "predictions.csv").is_file()  # the other unit finished
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["units_diverged"] == {"tests.helpers.user_models:outputs_nan-seed-0": 1}
    assert set(pd.read_csv(out / "predictions.csv").model) == {TINY}
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "1 unit(s) diverged (non-finite loss)" in html and "diverged at epoch 1" in html

    marker = (folder / "unit.json").stat().st_ino
    assert run(root, out, models=models) == 0  # a result: kept
    assert (folder / "unit.json").stat().st_ino == marker
    assert run(root, out, "--retrain-diverged", models=models) == 0
    assert (folder / "unit.json").stat().st_ino != marker  # trained (and diverged) again
    assert main(["report", "--out", str(out)]) == 0


# --------------------------------------------------------------------------- 5 softmax


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        ("softmax_layer", True),
        ("softmax_activation", True),
        ("softmax_head", True),
        ("tiny", False),
    ],
)
def test_a_final_softmax_is_detected_however_it_is_written(builder, expected):
    from tests.helpers import user_models

    model = getattr(user_models, builder)((32, 32, 3), 2)
    assert outputs_probabilities(model) is expected


# --------------------------------------------------------------------------- 8 unread files


def test_files_of_unread_extensions_are_named_and_the_seed_split_is_unchanged(tmp_path, capsys):
    root = tree(tmp_path / "data", {"A": 6, "B": 6})
    assert main(["splits", "--data-dir", str(root), "--out", str(tmp_path / "plain.csv")]) == 0
    capsys.readouterr()
    (root / "A" / "photo.webp").write_bytes(b"RIFF")
    (root / "B" / "scan.tif").write_bytes(b"II*\0")
    (root / "B" / ".DS_Store").write_bytes(b"")
    assert main(["splits", "--data-dir", str(root), "--out", str(tmp_path / "more.csv")]) == 0
    err = capsys.readouterr().err
    assert "left out 2 file(s) whose extension mpx_eval does not read (.tif 1, .webp 1" in err
    assert "A/photo.webp" in err and "B/scan.tif" in err and ".DS_Store" not in err
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "more.csv").read_bytes()


# --------------------------------------------------------------------------- 11 damaged units


def test_a_damaged_unit_is_named_by_report_and_moved_aside_by_run(copy, capsys):
    root, out = copy
    folder = out / "units" / UNIT
    (folder / "predictions.csv").write_text("model,scheme\n")
    assert main(["report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"units/{UNIT}/predictions.csv" in err
    assert f"unit {TINY}-seed-0 is damaged: `mpx_eval run` with the same options moves it" in err

    assert run(root, out) == 0
    err = capsys.readouterr().err
    assert f"unit {TINY}-seed-0 was damaged" in err and "moved it aside to" in err
    aside = [p for p in (out / "units").iterdir() if p.name.startswith(f"{UNIT}.damaged-")]
    assert len(aside) == 1
    assert (aside[0] / "predictions.csv").read_text() == "model,scheme\n"  # kept as it was
    assert len(pd.read_csv(folder / "predictions.csv")) > 0  # trained again

    info = json.loads((folder / "unit.json").read_text())
    info["seconds"] = "abc"  # a field of the wrong type
    (folder / "unit.json").write_text(json.dumps(info))
    assert main(["report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unit.json has 'seconds' of the wrong type (str)" in err and "Traceback" not in err
    assert run(root, out) == 0
    assert json.loads((folder / "unit.json").read_text())["seconds"] != "abc"


# --------------------------------------------------------------------------- 12 errors


def test_a_full_disk_names_the_file_and_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    root = tree(tmp_path / "data", {"A": 6, "B": 6})
    target = tmp_path / "plan.csv"

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    assert main(["splits", "--data-dir", str(root), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1] == f"mpx_eval: error: cannot write {target}: No space left on device; "
        "nothing of it was written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no file, no temporary


def test_report_on_a_folder_it_cannot_write_is_one_line(copy, capsys, monkeypatch):
    _, out = copy
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(LOCK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    assert main(["report", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write in {out} (Permission denied)" in err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- 13 user code


def test_sys_exit_in_a_user_module_is_that_models_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(7)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    root = tree(tmp_path / "data", {"A": 6, "B": 6})
    assert run(root, tmp_path / "o1", models="exits_on_import:build") == 2
    err = capsys.readouterr().err
    assert "cannot import exits_on_import (the model's code called sys.exit(7))" in err

    out = tmp_path / "o2"
    models = f"{TINY},tests.helpers.user_models:exits_in_training"
    assert run(root, out, models=models) == 1
    err = capsys.readouterr().err
    assert "exits_in_training-seed-0 failed: the model's code called sys.exit(3)" in err
    assert (out / "units" / UNIT / "unit.json").is_file()  # the other model finished
