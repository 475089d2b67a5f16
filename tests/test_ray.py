"""The Ray executor: same artefacts as the local one, failures named, resume."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mpx_eval.cli import main
from mpx_eval.rundir.kept import read_gradcam

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'mpx-eval[ray]'")

TINY = ["--demo", "--folds", "2", "--epochs", "2", "--image-size", "48", "--quiet"]


@pytest.fixture(scope="module")
def fail_flag(tmp_path_factory):
    """A fresh local Ray instance whose workers see the failure flag's path."""
    flag = tmp_path_factory.mktemp("flag") / "fail"
    ray.shutdown()
    os.environ["MPX_EVAL_TEST_FAIL_FLAG"] = str(flag)
    yield flag
    ray.shutdown()
    os.environ.pop("MPX_EVAL_TEST_FAIL_FLAG", None)


def test_ray_run_equals_local_run(tmp_path, fail_flag, monkeypatch):
    from mpx_eval.training import models

    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["run", *TINY, "--out", str(local)]) == 0

    def refuse(*args, **kwargs):
        raise AssertionError("the driver of a Ray run built a model")

    monkeypatch.setattr(models, "build", refuse)  # the workers are other processes
    assert main(["run", *TINY, "--executor", "ray", "--out", str(remote)]) == 0
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] >= 1
    units = sorted(p.name for p in (local / "units").iterdir())
    assert sorted(p.name for p in (remote / "units").iterdir()) == units
    executors = {
        json.loads((remote / "units" / u / "unit.json").read_text())["executor"] for u in units
    }
    assert executors == {"ray"}
    # the tasks keep what a local unit keeps: the seed split's model, the same heatmaps
    for u in units:
        assert (remote / "units" / u / "model.keras").is_file() == u.endswith("-seed-0")
        ray_cams, local_cams = (read_gradcam(out / "units" / u) for out in (remote, local))
        assert np.array_equal(ray_cams["heatmaps"], local_cams["heatmaps"]), u
    # the tasks train with the local run's thread count, so nothing differs, not even the
    # last bit of a probability
    for name in ("predictions.csv", "history.csv", "metrics.json", "models.json"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    threads = {
        json.loads((out / "units" / u / "unit.json").read_text())["threads"]
        for out in (local, remote)
        for u in units
    }
    assert len(threads) == 1 and threads.pop() >= 1


def test_failed_task_is_named_others_finish_and_resume_trains_only_it(tmp_path, fail_flag, capsys):
    out = tmp_path / "out"
    flaky = "tests.helpers.user_models:explodes_while_flagged"
    argv = [
        "run",
        "--demo",
        "--folds",
        "0",
        "--epochs",
        "1",
        "--image-size",
        "40",
        "--quiet",
        "--models",
        f"t4,{flaky}",
        "--executor",
        "ray",
        "--max-retries",
        "1",
        "--out",
        str(out),
    ]
    fail_flag.write_text("fail")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"unit {flaky}-seed-0 failed" in err and "refuses to train" in err
    assert "Traceback" not in err
    finished = sorted(p.parent.name for p in (out / "units").glob("*/unit.json"))
    assert finished == ["t4-seed-0"]
    t4_before = (out / "units" / "t4-seed-0" / "unit.json").read_bytes()

    fail_flag.unlink()
    assert main(argv) == 0  # resume: only the failed unit trains
    assert (out / "units" / "t4-seed-0" / "unit.json").read_bytes() == t4_before
    assert len(list((out / "units").glob("*/unit.json"))) == 2


def test_resume_with_the_other_executor(tmp_path, fail_flag):
    out = tmp_path / "out"
    assert main(["run", *TINY, "--models", "t4", "--out", str(out)]) == 0
    first = {p: p.read_bytes() for p in (out / "units").rglob("*") if p.is_file()}
    assert main(["run", *TINY, "--models", "t4", "--executor", "ray", "--out", str(out)]) == 0
    assert {p: p.read_bytes() for p in (out / "units").rglob("*") if p.is_file()} == first


def test_a_model_that_does_not_build_on_ray_stops_the_run_in_one_line(tmp_path, fail_flag, capsys):
    out = tmp_path / "out"
    argv = ["run", *TINY, "--folds", "0", "--executor", "ray", "--out", str(out)]
    assert main([*argv, "--models", "tests.helpers.user_models:not_a_model"]) == 2
    err = capsys.readouterr().err.strip()
    assert "returned str, not a keras.Model" in err and len(err.splitlines()) == 1
    assert not (out / "models.json").exists()
