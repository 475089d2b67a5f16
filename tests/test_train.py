"""Training one unit: precision choice, determinism, the per-epoch record."""

from __future__ import annotations

import numpy as np
import pytest

from mpx_eval.cli import main
from mpx_eval.training import backend

train = pytest.importorskip("mpx_eval.training.train")
models = pytest.importorskip("mpx_eval.training.models")


@pytest.mark.parametrize(
    ("precision", "device", "expected"),
    [
        ("auto", {"kind": "cpu", "backend": "tensorflow", "bf16": True}, "mixed_bfloat16"),
        ("auto", {"kind": "cpu", "backend": "tensorflow", "bf16": False}, "float32"),
        ("auto", {"kind": "cpu", "backend": "jax", "bf16": True}, "float32"),
        ("auto", {"kind": "gpu", "backend": "jax"}, "float32"),
        ("float32", {"kind": "cpu", "backend": "tensorflow", "bf16": True}, "float32"),
        ("mixed", {"kind": "cpu", "backend": "tensorflow"}, "mixed_bfloat16"),
        ("mixed", {"kind": "gpu", "compute_capability": (9, 0)}, "mixed_bfloat16"),
        ("mixed", {"kind": "gpu", "compute_capability": (7, 5)}, "mixed_float16"),
    ],
)
def test_precision_policy(precision, device, expected):
    assert backend.precision_policy(precision, device) == expected


def _tiny_unit(policy: str, seed: int = 3):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    x[y == 1, :, :, 0] = 255  # a learnable signal
    rows = rng.permutation(40)
    return train.train_unit(
        models.resolve_model("t4"),
        x,
        y,
        train=rows[:24],
        val=rows[24:30],
        test=rows[30:],
        num_classes=2,
        epochs=3,
        batch_size=8,
        learning_rate=1e-3,
        seed=seed,
        policy=policy,
    )


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_same_seed_same_unit(policy):
    first, second = _tiny_unit(policy), _tiny_unit(policy)
    assert first.history == second.history
    assert np.array_equal(first.probs_best, second.probs_best)
    assert np.array_equal(first.probs_last, second.probs_last)


def test_unit_record_and_checkpoint():
    result = _tiny_unit("float32")
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    val = [row["val_accuracy"] for row in result.history]
    assert result.best_epoch == int(np.argmax(val)) + 1  # the first best epoch
    assert result.probs_best.shape == (10, 2) and np.allclose(result.probs_best.sum(1), 1)
    assert len(result.seconds_per_epoch) == 3
    assert result.params == 155_042  # T4 at 32 x 32 x 3


def test_resume_refuses_units_of_another_precision(tmp_path, monkeypatch, capsys):
    """--precision auto may mean float32 on one machine and bfloat16 on another."""
    import json

    out = tmp_path / "out"
    argv = [
        "run",
        "--demo",
        "--folds",
        "0",
        "--models",
        "t4",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    unit = json.loads((out / "units" / "t4-seed-0" / "unit.json").read_text())
    other = "float32" if unit["precision_policy"] != "float32" else "mixed_bfloat16"
    monkeypatch.setattr(backend, "precision_policy", lambda precision, info: other)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"means {other} on this machine" in err and "--precision explicitly" in err
