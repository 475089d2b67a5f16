"""The batched engine trains each unit as the sequential engine would (Keras on JAX)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from mpx_eval.errors import MpxEvalError

from .conftest import REPO

batched = pytest.importorskip("mpx_eval.training.batched")

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install jax)"
)

# Three units of unequal parts: their epochs have different numbers of batches and last
# batches of different sizes, one has no test part (the seed split's shape), and a chunk
# of two forces a second program for the third unit.
_COMPARE = """
import json, numpy as np
from mpx_eval.training import batched, train
from mpx_eval.training.models import resolve_model
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (72, 32, 32, 3), dtype=np.uint8)
y = np.repeat([0, 1], 36)
x[y == 1, :, :, 0] = 255
units = []
for k, (n_train, n_val, n_test) in enumerate([(40, 8, 16), (35, 10, 0), (44, 6, 12)]):
    rows = rng.permutation(72)
    units.append(dict(
        train=rows[:n_train], val=rows[n_train:n_train + n_val],
        test=rows[n_train + n_val:n_train + n_val + n_test], num_classes=2, epochs=2,
        batch_size=16, learning_rate=1e-3, seed=100 + k,
        checkpoint=("val-loss", "val-accuracy", "val-accuracy-latest")[k]))
spec = resolve_model("t4")
alone = [train.train_unit(spec, x, y, **u) for u in units]
together = batched.train_units(spec, x, y, units, chunk=2)
keys = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
print(json.dumps([{
    "history": max(abs(a[k] - b[k]) for a, b in zip(s.history, t.history) for k in keys
                   if a[k] == a[k]),
    "epochs": [len(s.history), len(t.history)],
    "best_epoch": [s.best_epoch, t.best_epoch],
    "probs": max(float(np.abs(s.probs_best - t.probs_best).max()),
                 float(np.abs(s.probs_last - t.probs_last).max()),
                 float(np.abs(s.probs_by_epoch - t.probs_by_epoch).max())),
    "rows": bool(np.array_equal(s.eval_index, t.eval_index)),
} for s, t in zip(alone, together)]))
"""


@needs_jax
def test_batched_matches_sequential_on_jax():
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "-1",
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", _COMPARE], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-2000:]
    units = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(units) == 3
    for unit in units:
        assert unit["epochs"] == [2, 2]
        assert unit["best_epoch"][0] == unit["best_epoch"][1]
        assert unit["rows"]
        assert unit["history"] <= 1e-5
        assert unit["probs"] <= 1e-4


@pytest.mark.parametrize(
    ("engine", "device", "policy", "expected"),
    [
        ("auto", {"backend": "jax", "kind": "gpu"}, "float32", "batched"),
        ("auto", {"backend": "jax", "kind": "gpu"}, "mixed_float16", "sequential"),
        ("auto", {"backend": "jax", "kind": "cpu"}, "float32", "sequential"),
        ("auto", {"backend": "tensorflow", "kind": "gpu"}, "float32", "sequential"),
        ("batched", {"backend": "jax", "kind": "cpu"}, "float32", "batched"),
        ("sequential", {"backend": "jax", "kind": "gpu"}, "float32", "sequential"),
    ],
)
def test_resolve_engine(engine, device, policy, expected):
    assert batched.resolve_engine(engine, device, policy) == expected


@pytest.mark.parametrize(
    ("device", "policy", "named"),
    [
        ({"backend": "tensorflow", "kind": "cpu"}, "float32", "tensorflow"),
        ({"backend": "jax", "kind": "gpu"}, "mixed_float16", "float16"),
    ],
)
def test_batched_refused_where_it_cannot_run(device, policy, named):
    with pytest.raises(MpxEvalError, match=named):
        batched.resolve_engine("batched", device, policy)


def test_epoch_plan_keeps_each_units_batches():
    import numpy as np

    trains = [np.arange(10, 15), np.arange(20, 28)]
    orders = [np.array([4, 3, 2, 1, 0]), np.arange(8)]
    rows, mask, active = batched._epoch_plan(orders, trains, 3)
    assert rows.shape == (3, 2, 3)
    assert rows[:, 0][mask[:, 0] > 0].tolist() == [14, 13, 12, 11, 10]
    assert rows[:, 1][mask[:, 1] > 0].tolist() == list(range(20, 28))
    assert active.tolist() == [[True, True], [True, True], [False, True]]


def _run_on_jax(out, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "-1",
        "PYTHONPATH": str(REPO),
    }
    command = [
        sys.executable,
        "-m",
        "mpx_eval",
        "run",
        "--demo",
        "--folds",
        "2",
        "--models",
        "t4",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--out",
        str(out),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)


@needs_jax
def test_a_batched_run_writes_every_artefact_and_resumes(tmp_path):
    out = tmp_path / "out"
    first = _run_on_jax(out, "--engine", "batched", "--quiet")
    assert first.returncode == 0, first.stderr[-2000:]
    units = [json.loads(p.read_text()) for p in sorted(out.glob("units/*/unit.json"))]
    assert [u["unit"] for u in units] == ["t4-cv-1", "t4-cv-2", "t4-seed-0"]
    assert {u["engine"] for u in units} == {"batched"}
    assert json.loads((out / "runinfo.json").read_text())["engine"] == "batched"
    assert "Engine</th><td>batched" in (out / "index.html").read_text(encoding="utf-8")
    for unit in units:
        history = (out / "units" / unit["dirname"] / "history.csv").read_text().splitlines()
        assert len(history) == 2  # header and the one epoch
    again = _run_on_jax(out, "--engine", "sequential")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming: 3 of 3 units already finished" in again.stderr


def test_batched_engine_on_tensorflow_is_a_one_line_error(tmp_path):
    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "mpx_eval", "run", "--demo", "--folds", "0", "--epochs"]
    command += ["1", "--image-size", "32", "--engine", "batched", "--out", str(tmp_path / "o")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mpx_eval: error: --engine batched needs")
    assert not (tmp_path / "o" / "units").exists()


def test_engine_must_be_known():
    from mpx_eval.config import RunConfig

    with pytest.raises(MpxEvalError, match=r"engine must be one of .*'fast'"):
        RunConfig(engine="fast")


def test_chunks_fit_the_free_memory():
    models = pytest.importorskip("mpx_eval.training.models")
    model = models.build(models.resolve_model("t4"), 32, 2)
    per_unit = batched._per_unit_bytes(model, 16)
    weights = model.count_params() * 4 * 4  # weights, gradients and two Adam moments
    assert per_unit > weights
    room = 3 * per_unit + 1000  # three units beside a 1,000-byte image array
    free = int(room / batched.MEMORY_SHARE) + 1
    assert batched.chunk_size(model, 16, x_bytes=1000, free=free) == 3
    assert batched.chunk_size(model, 16, x_bytes=1000, free=10) == 1
