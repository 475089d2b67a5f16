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


def _tiny_unit(policy: str, seed: int = 3, **options):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    x[y == 1, :, :, 0] = 255  # a learnable signal
    rows = rng.permutation(40)
    options = {"epochs": 3, **options}
    return train.train_unit(
        models.resolve_model("t4"),
        x,
        y,
        train=rows[:24],
        val=rows[24:30],
        test=rows[30:],
        num_classes=2,
        batch_size=8,
        learning_rate=1e-3,
        seed=seed,
        policy=policy,
        **options,
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
    assert result.best_epoch == int(np.argmax(val)) + 1  # the seed split's rule: the first best
    assert result.probs_best.shape == (10, 2) and np.allclose(result.probs_best.sum(1), 1)
    assert len(result.seconds_per_epoch) == 3
    assert result.params == 155_042  # T4 at 32 x 32 x 3
    # every epoch's probabilities, validation rows then test rows; the chosen one among them
    assert result.probs_by_epoch.shape == (3, 16, 2)
    assert np.allclose(result.probs_by_epoch[result.best_epoch - 1, 6:], result.probs_best)
    assert np.allclose(result.probs_by_epoch[-1, 6:], result.probs_last)


@pytest.mark.parametrize("rule", ["val-loss", "val-accuracy-latest", "last", "mean-val-loss"])
def test_training_keeps_the_epoch_its_rule_chooses(rule):
    from mpx_eval.summary.checkpoints import choose_epoch
    from mpx_eval.summary.checkpoints import rule as rule_of

    result = _tiny_unit("float32", checkpoint=rule, epochs=5)
    # a pooled rule trains with its per-fold form; the run applies the pooled choice later
    per_fold = rule_of(rule).during_training
    column = rule_of(per_fold).column or "epoch"
    assert result.best_epoch == choose_epoch([r[column] for r in result.history], per_fold)
    assert np.allclose(result.probs_by_epoch[result.best_epoch - 1, 6:], result.probs_best)


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
