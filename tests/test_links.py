"""A run folder is touched only inside itself: no write, deletion, rename or lock through a
symbolic link below ``--out``; a lock that deleting its file or swapping ``--out`` cannot get
around; and a report that leaves neither half-written figures nor font warnings behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from mpx_eval.atomic import write_bytes, write_json
from mpx_eval.cli import main
from mpx_eval.commands import guards
from mpx_eval.errors import MpxEvalError
from mpx_eval.rundir import folder, lock
from mpx_eval.rundir.layout import LOCK, RunPaths

from .conftest import REPO
from .test_reliability import tree
from .test_run_folder_safety import HOLDER, UNIT, run

pytestmark = pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges there")

#: A class name no default matplotlib font can draw.
CJK = "猴痘"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-unit run, one of whose classes is named in CJK (copy it before
    changing it)."""
    base = tmp_path_factory.mktemp("links")
    root = tree(base / "data", {CJK: 6, "B": 6})
    assert run(root, base / "out") == 0
    return base


@pytest.fixture
def copy(finished, tmp_path) -> tuple[Path, Path]:
    shutil.copytree(finished / "data", tmp_path / "data")
    shutil.copytree(finished / "out", tmp_path / "out")
    return tmp_path / "data", tmp_path / "out"


def files(where: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``where``: its bytes and inode (a file written again gets a new one)."""
    return {
        p.relative_to(where).as_posix(): (p.read_bytes(), p.stat().st_ino)
        for p in sorted(where.rglob("*"))
        if p.is_file()
    }


def refused(capsys, link: Path, target: Path) -> None:
    """The command said, in one line, that it will not go through ``link``."""
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"mpx_eval: error: {link} is a link to {target.resolve()}; mpx_eval never writes or "
        "deletes through a link out of the run folder: remove the link"
    ]


def report(out: Path) -> int:
    return main(["report", "--out", str(out)])


# --------------------------------------------------------------------------- deleting


def test_overwrite_deletes_nothing_through_a_linked_unit_folder(copy, tmp_path, capsys):
    root, out = copy
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "units" / UNIT, elsewhere)
    (out / "units" / UNIT).symlink_to(elsewhere, target_is_directory=True)
    before = files(elsewhere)
    assert {"history.csv", "predictions.csv", "unit.json", "model.keras"} <= set(before)

    assert run(root, out, "--overwrite") == 2
    refused(capsys, out / "units" / UNIT, elsewhere)
    assert files(elsewhere) == before
    assert RunPaths(out).runinfo.is_file()  # refused before anything was removed


def test_clearing_refuses_a_linked_figures_folder_and_removes_nothing(copy, tmp_path):
    _, out = copy
    mine = tmp_path / "my-figures"
    shutil.move(out / "figures", mine)
    (out / "figures").symlink_to(mine, target_is_directory=True)
    before = files(mine)

    with pytest.raises(MpxEvalError, match=r"figures is a link to .*my-figures; mpx_eval never"):
        folder.clear_run(out)
    assert files(mine) == before
    assert RunPaths(out).metrics.is_file()


def test_moving_a_damaged_unit_aside_renames_nothing_through_a_link(copy, tmp_path):
    _, out = copy
    elsewhere = tmp_path / "units-elsewhere"
    shutil.move(out / "units", elsewhere)
    (out / "units").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(MpxEvalError, match=r"units is a link to .*units-elsewhere"):
        folder.move_aside(out / "units" / UNIT)
    assert os.listdir(elsewhere) == [UNIT]


# --------------------------------------------------------------------------- writing


def test_report_writes_no_figure_through_a_linked_figures_folder(copy, tmp_path, capsys):
    _, out = copy
    mine = tmp_path / "my-figures"
    shutil.move(out / "figures", mine)
    for png in mine.glob("*.png"):  # the user's own plots, under the names the report uses
        png.write_bytes(b"my own plot")
    (out / "figures").symlink_to(mine, target_is_directory=True)
    before = files(mine)
    assert any(name.endswith("-roc.png") for name in before)

    assert report(out) == 2
    refused(capsys, out / "figures", mine)
    assert files(mine) == before


def test_run_writes_no_unit_into_a_linked_unfinished_unit_folder(copy, tmp_path, capsys):
    root, out = copy
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    shutil.rmtree(out / "units" / UNIT)
    (out / "units" / UNIT).symlink_to(elsewhere, target_is_directory=True)

    assert run(root, out) == 2
    refused(capsys, out / "units" / UNIT, elsewhere)
    assert os.listdir(elsewhere) == ["notes.txt"]


@pytest.mark.parametrize("command", ["run", "report"])
def test_a_linked_lock_file_is_refused_and_its_target_kept(copy, tmp_path, capsys, command):
    root, out = copy
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / LOCK).unlink()
    (out / LOCK).symlink_to(victim)

    assert (run(root, out) if command == "run" else report(out)) == 2
    refused(capsys, out / LOCK, victim)
    assert victim.read_text() == "precious"


def test_writes_under_the_lock_refuse_a_link_made_after_the_checks(copy, tmp_path):
    """The writers and deleters themselves refuse: a link that appears once the command has
    checked the folder gets nothing either."""
    _, out = copy
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "figures", elsewhere)
    before = files(elsewhere)
    with lock.locked(out):
        (out / "figures").symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(MpxEvalError, match="figures is a link to"):
            write_bytes(out / "figures" / "new-roc.png", b"png")  # as the report writes
        with pytest.raises(MpxEvalError, match="figures is a link to"):
            folder.replace_figures(out / "figures", [])  # deletes the figures not drawn
    assert files(elsewhere) == before


def test_a_link_inside_the_run_folder_is_refused_too(copy, capsys):
    root, out = copy
    other = out / "units" / f"{UNIT}.damaged-20250101T000000Z"
    shutil.move(out / "units" / UNIT, other)
    (out / "units" / UNIT).symlink_to(other.name, target_is_directory=True)

    assert run(root, out) == 2
    err = capsys.readouterr().err
    link = out / "units" / UNIT
    assert err.strip().splitlines() == [
        f"mpx_eval: error: {link} is a link to {other.resolve()}; mpx_eval never writes or "
        "deletes through a link in the run folder: remove the link"
    ]


def test_out_itself_may_be_a_link(copy, tmp_path):
    """An output folder kept on another disk: only what lies below ``--out`` is checked."""
    root, out = copy
    (tmp_path / "reports").symlink_to(out, target_is_directory=True)
    assert run(root, tmp_path / "reports", "--overwrite") == 0
    assert (out / "units" / UNIT / "unit.json").is_file()
    assert report(tmp_path / "reports") == 0


# --------------------------------------------------------------------------- the lock


def test_deleting_the_lock_file_does_not_let_a_second_process_in(copy, capsys):
    root, out = copy
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        (out / LOCK).unlink()
        before = files(out)
        assert report(out) == 2
        assert "is in use by another mpx_eval process" in capsys.readouterr().err
        assert run(root, out) == 2
        assert "is in use by another mpx_eval process" in capsys.readouterr().err
        assert files(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_out_swapped_for_the_data_folder_after_the_checks_gets_nothing(
    tmp_path, capsys, monkeypatch
):
    root = tree(tmp_path / "data", {"A": 6, "B": 6})
    out = tmp_path / "out"
    check = guards.check_training_classes

    def swap_then_check(images, plan):  # runs after the folder checks, before the lock
        out.symlink_to(root, target_is_directory=True)
        check(images, plan)

    monkeypatch.setattr(guards, "check_training_classes", swap_then_check)
    before = files(root)
    assert run(root, out) == 2
    assert "is not empty and is not an mpx_eval run folder" in capsys.readouterr().err
    assert files(root) == before  # no lock file left in the data folder


def test_a_run_folder_swapped_while_locked_gets_no_more_writes(copy, tmp_path):
    _, out = copy
    other = tmp_path / "other"
    other.mkdir()
    with lock.locked(out):
        out.rename(tmp_path / "moved")
        out.symlink_to(other, target_is_directory=True)
        with pytest.raises(MpxEvalError, match="is no longer the folder mpx_eval started"):
            write_json(RunPaths(out).metrics, {})
    assert os.listdir(other) == []


def test_where_a_folder_cannot_be_locked_the_lock_file_is(copy, monkeypatch):
    import fcntl

    _, out = copy
    monkeypatch.setattr(lock, "_open_folder", lambda out: None)  # as on Windows
    with lock.locked(out, command=["mpx_eval", "report"]):
        fd = os.open(out / LOCK, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        assert lock._holder(out).endswith(": mpx_eval report")


# --------------------------------------------------------------------------- leftovers


def test_report_removes_half_written_figures_a_killed_report_left(copy):
    _, out = copy
    figures = RunPaths(out).figures
    fd, stale = tempfile.mkstemp(prefix=".t4-roc.png.", suffix=".tmp", dir=figures)
    os.close(fd)  # what atomic_open leaves when killed during a write
    (figures / ".my-notes.tmp").write_text("mine")

    assert report(out) == 0
    assert not Path(stale).exists()
    assert (figures / ".my-notes.tmp").read_text() == "mine"


def test_overwrite_clears_half_written_figures(copy):
    _, out = copy
    fd, stale = tempfile.mkstemp(prefix=".t4-roc.png.", suffix=".tmp", dir=out / "figures")
    os.close(fd)
    folder.clear_run(out)
    assert not Path(stale).exists()
    assert not (out / "figures").exists()


def test_overwrite_of_a_folder_not_there_yet_clears_nothing(tmp_path):
    folder.clear_run(tmp_path / "new")  # `run --overwrite --out new` stopped here
    assert not (tmp_path / "new").exists()


def test_a_report_on_classes_no_font_draws_prints_no_glyph_warnings(copy):
    root, out = copy
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(root, out) == 0  # resumes: nothing to train, the report is drawn again
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert CJK in RunPaths(out).index.read_text(encoding="utf-8")
