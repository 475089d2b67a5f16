"""Synthetic prediction and history tables shaped like a run's predictions.csv / history.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_run(
    *,
    models=("cnn", "vgg"),
    classes=("Monkeypox", "Others"),
    n=228,
    k=5,
    seed=0,
    patients=None,
    with_seed=True,
    with_last=True,
    epochs=6,
):
    """A predictions table and a matching history table.

    Images get a label (cycling through the classes), a cv test fold (stratified round robin)
    and, when ``patients`` is given, a patient id shared by several images of one label.
    Each model's probabilities are a softmax of a noisy score that favours the true class,
    with model-specific strength, so models differ but are correlated through the images.
    """
    rng = np.random.default_rng(seed)
    classes = list(classes)
    labels = np.array([classes[i % len(classes)] for i in range(n)], dtype=object)
    rng.shuffle(labels)
    folds = np.empty(n, dtype=int)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        folds[idx] = np.arange(idx.shape[0]) % k + 1
    paths = np.array([f"img_{i:04d}.jpg" for i in range(n)], dtype=object)
    if patients is None:
        groups = paths.copy()
    else:
        groups = np.empty(n, dtype=object)
        for c in classes:
            idx = np.flatnonzero(labels == c)
            groups[idx] = [f"{c}_p{j % patients}" for j in range(idx.shape[0])]
    difficulty = rng.normal(0, 1.0, n)  # shared by models: makes their errors correlated
    seed_part = rng.permutation(n)[: n // 5]

    rows = []
    history = []
    for m, model in enumerate(models):
        strength = 1.2 + 0.6 * m
        for scheme, fold_ids, members in (
            ("cv", range(1, k + 1), None),
            ("seed", [0], seed_part),
        ):
            if scheme == "seed" and not with_seed:
                continue
            for fold in fold_ids:
                idx = np.flatnonzero(folds == fold) if scheme == "cv" else members
                for checkpoint in ("best", "last") if with_last else ("best",):
                    shift = 0.0 if checkpoint == "best" else -0.3
                    logits = rng.normal(0, 1.0, (idx.shape[0], len(classes)))
                    true = np.array([classes.index(c) for c in labels[idx]])
                    logits[np.arange(idx.shape[0]), true] += strength + shift + difficulty[idx]
                    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
                    prob /= prob.sum(axis=1, keepdims=True)
                    for r, i in enumerate(idx):
                        row = {
                            "model": model,
                            "scheme": scheme,
                            "fold": int(fold),
                            "checkpoint": checkpoint,
                            "path": paths[i],
                            "label": labels[i],
                            "group": groups[i],
                        }
                        row.update({f"prob_{c}": prob[r, j] for j, c in enumerate(classes)})
                        rows.append(row)
                for epoch in range(1, epochs + 1):
                    history.append(
                        {
                            "model": model,
                            "scheme": scheme,
                            "fold": int(fold),
                            "epoch": epoch,
                            "loss": float(rng.uniform(0.1, 1)),
                            "accuracy": float(rng.uniform(0.5, 1)),
                            "val_loss": float(rng.uniform(0.1, 1)),
                            "val_accuracy": float(np.round(rng.uniform(0.5, 1), 2)),
                            "test_loss": np.nan if scheme == "seed" else float(rng.uniform(0.1, 1)),
                            "test_accuracy": np.nan
                            if scheme == "seed"
                            else float(np.round(rng.uniform(0.5, 1), 2)),
                        }
                    )
    return pd.DataFrame(rows), pd.DataFrame(history)
