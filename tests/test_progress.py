"""The progress line's ETA: from the run's own epochs, per model, and steady."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest

from mpx_eval.progress import Progress


@dataclass(frozen=True)
class _Split:
    train: np.ndarray
    val: tuple = ()
    test: tuple = ()


@dataclass(frozen=True)
class _Unit:
    model: str
    name: str
    size: int
    split: _Split


def _units(n_train=(100, 80, 80)) -> list[_Unit]:
    return [
        _Unit(model, f"{model}-{i}", size, _Split(np.arange(n)))
        for model, size in (("t3", 180), ("t4", 224))
        for i, n in enumerate(n_train)
    ]


def _progress(units, epochs=50) -> Progress:
    return Progress(units, set(), epochs, quiet=True, stream=io.StringIO())


def test_no_estimate_from_the_first_epoch_alone():
    units = _units()
    progress = _progress(units)
    progress.unit_started(units[0])
    progress.epoch(units[0], {"epoch": 1}, 30.0)  # graph building makes it slow
    assert progress.eta() is None


def test_the_estimate_counts_images_and_the_first_epochs_extra_cost():
    units = _units()
    progress = _progress(units)
    t3 = units[:3]
    progress.unit_started(t3[0])
    progress.epoch(t3[0], {"epoch": 1}, 3.0)
    progress.epoch(t3[0], {"epoch": 2}, 1.0)  # 0.01 s per image and epoch, 2 s extra
    rate, extra = 0.01, 2.0
    t3_left = 48 * rate * 100 + 2 * (50 * rate * 80 + extra)
    t4_rate = rate * (224 / 180) ** 2  # not measured yet: scaled by the pixel count
    t4_left = 50 * t4_rate * (100 + 80 + 80) + 3 * extra
    assert progress.eta() == pytest.approx(t3_left + t4_left)


def test_the_estimate_stays_steady_instead_of_jumping_after_twenty_epochs():
    units = _units((100,))
    progress = _progress(units, epochs=50)
    progress.unit_started(units[0])
    etas = []
    for epoch in range(1, 51):
        progress.epoch(units[0], {"epoch": epoch}, 5.0 if epoch == 1 else 1.0)
        if epoch >= 2:
            etas.append(progress.eta())
    # each epoch takes exactly its one second off: no step when the slow first epoch would
    # have left a moving window (the old estimate jumped by a fifth at epoch 21)
    assert np.allclose(-np.diff(etas), 1.0)
    # and the first estimate was already right: 48 epochs of this unit, 50 of the other
    # model's (scaled by its pixel count) and its first epoch's extra 4 s
    assert etas[0] == pytest.approx(48 + 50 * (224 / 180) ** 2 + 4.0)


def test_units_trained_elsewhere_teach_the_estimate_their_total_time():
    units = _units((100,))
    progress = _progress(units, epochs=10)
    progress.unit_started(units[0])
    progress.unit_done(units[0], 10.0)  # a Ray task: only its total is known
    assert progress.eta() == pytest.approx(10 * 0.01 * (224 / 180) ** 2 * 100)


def test_images_evaluated_after_each_epoch_count_a_third():
    unit = _Unit("t3", "t3-cv-1", 180, _Split(np.arange(90), tuple(range(15)), tuple(range(15))))
    progress = _progress([unit], epochs=3)
    progress.unit_started(unit)
    progress.epoch(unit, {"epoch": 1}, 1.0)
    progress.epoch(unit, {"epoch": 2}, 1.0)  # 90 + 30 / 3 = 100 images' worth: 0.01 s each
    assert progress.eta() == pytest.approx(1.0)
