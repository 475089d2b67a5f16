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
# external rows beyond the image set's: the first unit's test rows again, which must come out
# as that unit's test probabilities, epoch by epoch
x = np.concatenate([x, x[units[0]["test"]]])
units[0]["external"] = np.arange(72, 72 + len(units[0]["test"]))
spec = resolve_model("t4")
def keep(model, result):
    return {"weights": model.get_weights(), "names": [layer.name for layer in model.layers]}
alone = [train.train_unit(spec, x, y, keep=keep, **u) for u in units]
together = batched.train_units(spec, x, y, units, chunk=2, keeps=[None, keep, keep])
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
    "external": None if s.external_by_epoch is None else [
        float(np.abs(s.external_by_epoch - t.external_by_epoch).max()),
        float(np.abs(s.external_by_epoch - s.probs_by_epoch[:, 8:]).max()),
    ],
    "kept": t.kept and {
        "weights": max(float(np.abs(a - b).max())
                       for a, b in zip(s.kept["weights"], t.kept["weights"], strict=True)),
        "names": s.kept["names"] == t.kept["names"],
    },
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
    # the first unit's external rows (its test rows again) match, alone and batched
    assert units[0]["external"][0] <= 1e-4 and units[0]["external"][1] <= 1e-6
    assert units[1]["external"] is None and units[2]["external"] is None
    for unit in units:
        assert unit["epochs"] == [2, 2]
        assert unit["best_epoch"][0] == unit["best_epoch"][1]
        assert unit["rows"]
        assert unit["history"] <= 1e-5
        assert unit["probs"] <= 1e-4
    # what the keep hook was given: each unit's own weights at its chosen epoch
    assert [bool(unit["kept"]) for unit in units] == [False, True, True]
    for unit in units[1:]:
        assert unit["kept"]["weights"] <= 1e-4
        assert unit["kept"]["names"]
    assert any(unit["best_epoch"][0] < 2 for unit in units[1:]), "no kept unit chose epoch 1"


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
    command = [sys.executable, "-m", "mpx_eval", "run", *TINY_RUN, "--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)


# Two epochs: at this size the seed split's unit chooses its first, so what it keeps
# must come from an epoch before the last
TINY_RUN = ["--demo", "--folds", "2", "--models", "t4", "--epochs", "2", "--image-size", "32"]
TINY_RUN += ["--families", "off", "--save-models", "all"]
UNITS = ["t4-cv-1", "t4-cv-2", "t4-seed-0"]
KEPT = {"model.keras", "model.json", "gradcam.npz"}


def _trained(out, engine: str):
    done = _run_on_jax(out, "--engine", engine, "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def batched_run(tmp_path_factory):
    return _trained(tmp_path_factory.mktemp("batched") / "out", "batched")


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    return _trained(tmp_path_factory.mktemp("sequential") / "out", "sequential")


@needs_jax
def test_a_batched_run_writes_every_artefact_and_resumes(batched_run):
    out = batched_run
    units = [json.loads(p.read_text()) for p in sorted(out.glob("units/*/unit.json"))]
    assert [u["unit"] for u in units] == UNITS
    assert {u["engine"] for u in units} == {"batched"}
    assert json.loads((out / "runinfo.json").read_text())["engine"] == "batched"
    assert "Engine</th><td>batched" in (out / "index.html").read_text(encoding="utf-8")
    for unit in units:
        history = (out / "units" / unit["dirname"] / "history.csv").read_text().splitlines()
        assert len(history) == 3  # header and the two epochs
    again = _run_on_jax(out, "--engine", "sequential")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Resuming: 3 of 3 units already finished" in again.stderr


def _architecture(model) -> list[tuple]:
    return [
        (type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
        for layer in model.layers
    ]


def _softmax(logits):
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@needs_jax
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras loading TF variables
def test_batched_engine_keeps_models_and_gradcam_as_the_sequential_one(batched_run, sequential_run):
    import keras
    import numpy as np
    import pandas as pd

    from mpx_eval.data.demo import demo_dataset
    from mpx_eval.data.images import decode_file
    from mpx_eval.rundir.kept import read_gradcam

    root = demo_dataset()
    best_epochs = []
    for unit in UNITS:
        batch, alone = batched_run / "units" / unit, sequential_run / "units" / unit
        names = {p.name for p in batch.iterdir()}
        assert names & KEPT == KEPT, f"{unit} keeps only {sorted(names & KEPT)}"
        assert names == {p.name for p in alone.iterdir()}
        record = json.loads((batch / "model.json").read_text())
        assert record.keys() == json.loads((alone / "model.json").read_text()).keys()
        assert record["unit"] == unit
        model = keras.saving.load_model(batch / "model.keras", compile=False)
        reference = keras.saving.load_model(alone / "model.keras", compile=False)
        assert _architecture(model) == _architecture(reference)
        # the unit's own weights, at the epoch its checkpoint chose
        expected = pd.read_csv(batch / "predictions.csv").query("checkpoint == 'best'")
        x = np.stack([decode_file(root / p, [32]).arrays[32] for p in expected.path])
        probs = _softmax(model.predict_on_batch(x))
        columns = [c for c in expected.columns if c.startswith("prob_")]
        np.testing.assert_allclose(probs, expected[columns].to_numpy(), rtol=0, atol=1e-4)
        cams, cams_alone = read_gradcam(batch), read_gradcam(alone)
        assert {k: (v.shape, v.dtype) for k, v in cams.items()} == {
            k: (v.shape, v.dtype) for k, v in cams_alone.items()
        }
        info = json.loads((batch / "unit.json").read_text())
        assert info["saved_model"]["file"] == "model.keras"
        assert (
            info["gradcam"]["position"]
            == json.loads((alone / "unit.json").read_text())["gradcam"]["position"]
        )
        best_epochs.append((info["best_epoch"], info["epochs"]))
    assert any(best < last for best, last in best_epochs), best_epochs


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
