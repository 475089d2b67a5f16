"""One call from a run's predictions (and training history) to every number its report shows.

``summarize_predictions`` reads the long prediction table written by a run and returns the
plain, JSON-ready dict laid out in :mod:`mpx_eval.summary.layout`. Every number comes from
the public functions of :mod:`mpx_eval.metrics`; this module selects rows and arranges them.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from ..metrics import (
    confusion_matrix,
    mean_roc_curve,
    precision_recall_f1_support,
    reliability_curve,
    summarize_folds,
)
from ..metrics.validation import (
    ROW_SUM_TOLERANCE,
    as_probabilities,
    check_confidence_level,
    check_positive_int,
    encode,
    format_labels,
    resolve_classes,
    resolve_positive,
)
from ..rundir.layout import PREDICTION_KEYS
from . import checkpoints as CK
from ._compare import compare
from ._rows import Rows, Settings, repeat_of

#: The history columns the summary reads: a subset of what a run writes
#: (``mpx_eval.rundir.layout.HISTORY_COLUMNS``), so a history of only these is accepted too;
#: ``val_loss`` as well when it is there (the rules that read it need it).
HISTORY_USED = ("model", "scheme", "fold", "epoch", "val_accuracy", "test_accuracy")


def _json(value):
    """Plain Python containers and scalars; NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- input checks ---


def _check_predictions(predictions, classes: list) -> pd.DataFrame:
    if not isinstance(predictions, pd.DataFrame):
        raise ValueError(
            f"predictions must be a pandas DataFrame, got {type(predictions).__name__}"
        )
    prob_columns = [f"prob_{c}" for c in classes]
    missing = [c for c in (*PREDICTION_KEYS, *prob_columns) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lacks column(s): {', '.join(missing)}")
    if predictions.shape[0] == 0:
        raise ValueError("predictions has no rows")
    frame = predictions.loc[:, [*PREDICTION_KEYS, *prob_columns]].copy()
    for column in ("model", "scheme", "checkpoint", "path", "label", "group"):
        if frame[column].isna().any():
            raise ValueError(
                f"predictions has {int(frame[column].isna().sum())} empty '{column}' values"
            )
        frame[column] = frame[column].astype(str)
    _check_keys(frame)
    encode("predictions['label']", frame["label"].to_numpy(), np.asarray(classes, dtype=object))
    _check_probabilities(frame, classes)
    row = _first_repeat(frame, ["model", "scheme", "fold", "checkpoint", "path"])
    if row is not None:
        raise ValueError(
            f"predictions lists path {row['path']!r} more than once for model {row['model']!r}, "
            f"scheme {row['scheme']!r}, fold {row['fold']}, checkpoint {row['checkpoint']!r}"
        )
    return frame


def _first_repeat(frame: pd.DataFrame, key: list[str]) -> pd.Series | None:
    """The first row whose ``key`` columns repeat an earlier row's, or None."""
    repeated = frame.duplicated(key)
    return frame.loc[repeated].iloc[0] if repeated.any() else None


def _check_keys(frame: pd.DataFrame) -> None:
    """Scheme, checkpoint and fold of every row (fold made an int in place)."""
    for column, allowed in (("scheme", ("seed", "cv")), ("checkpoint", ("best", "last"))):
        bad = sorted(set(frame[column]) - set(allowed))
        if bad:
            raise ValueError(
                f"predictions has {column} values {format_labels(bad)}; "
                f"expected {' or '.join(repr(a) for a in allowed)}"
            )
    fold = pd.to_numeric(frame["fold"], errors="coerce")
    if fold.isna().any() or (fold != np.round(fold)).any():
        raise ValueError("predictions has fold values that are not integers")
    frame["fold"] = fold.astype(int)
    seed_folds = sorted(set(frame.loc[frame["scheme"] == "seed", "fold"]) - {0})
    if seed_folds:
        raise ValueError(
            f"predictions has scheme 'seed' rows with fold {seed_folds[0]}; expected 0"
        )


def _check_probabilities(frame: pd.DataFrame, classes: list) -> None:
    values = frame[[f"prob_{c}" for c in classes]].to_numpy()
    # Values first (as one list), then the row sums with a message naming the image.
    probs = as_probabilities("predictions' probability columns", values.ravel(), ndim=1).reshape(
        values.shape
    )
    off = np.abs(probs.sum(axis=1) - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        first = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"predictions has {int(off.sum())} rows whose probabilities do not sum to 1 "
            f"(e.g. path {frame['path'].iloc[first]!r}: {probs[first].sum():.4g}); "
            f"the prob_ columns must cover exactly the classes {classes}"
        )


def _check_history(history) -> pd.DataFrame:
    if not isinstance(history, pd.DataFrame):
        raise ValueError(
            f"history must be a pandas DataFrame or None, got {type(history).__name__}"
        )
    missing = [c for c in HISTORY_USED if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s): {', '.join(missing)}")
    read = [*HISTORY_USED, *(["val_loss"] if "val_loss" in history.columns else [])]
    frame = history.loc[:, read].copy()
    frame["model"] = frame["model"].astype(str)
    frame["scheme"] = frame["scheme"].astype(str)
    for column in ("fold", "epoch"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or (values != np.round(values)).any():
            raise ValueError(f"history has {column} values that are not integers")
        frame[column] = values.astype(int)
    if (frame["epoch"] < 1).any():
        raise ValueError("history has epoch values below 1; epochs are counted from 1")
    for column in read[len(HISTORY_USED) - 2 :]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    row = _first_repeat(frame, ["model", "scheme", "fold", "epoch"])
    if row is not None:
        raise ValueError(
            f"history lists epoch {row['epoch']} more than once for model {row['model']!r}, "
            f"scheme {row['scheme']!r}, fold {row['fold']}"
        )
    return frame


# --- pieces of one model's summary ---


def _check_partition(rows: Rows, model: str, checkpoint: str) -> None:
    repeat = repeat_of(rows.folds, rows.settings.folds_per_repeat)
    repeated = pd.Series(list(zip(repeat, rows.frame["path"], strict=True))).duplicated(keep=False)
    if repeated.any():
        path = rows.frame.loc[repeated, "path"].iloc[0]
        folds = sorted(rows.frame.loc[rows.frame["path"] == path, "fold"].tolist())
        raise ValueError(
            f"model {model!r}, checkpoint {checkpoint!r}: path {path!r} is in cv folds "
            f"{', '.join(map(str, folds))}; the cv test folds must partition the images"
        )


def _seed_split_epoch(rows: pd.DataFrame):
    """(epoch the seed split's rule keeps, its validation accuracy), or (None, None)."""
    values = rows["val_accuracy"].to_numpy(dtype=float)
    epoch = CK.choose_epoch(values, CK.SEED_SPLIT_RULE)
    if epoch is None:
        return None, None
    return int(rows["epoch"].iloc[epoch - 1]), float(values[epoch - 1])


def _history_rows(history, model, scheme, fold) -> pd.DataFrame:
    if history is None:
        return pd.DataFrame(columns=list(HISTORY_USED))
    mask = (history["model"] == model) & (history["scheme"] == scheme) & (history["fold"] == fold)
    return history.loc[mask].sort_values("epoch")


def _per_class(rows: Rows) -> dict[str, dict]:
    classes = rows.settings.classes
    per_fold = [
        precision_recall_f1_support(
            rows.y[rows.folds == fold], rows.predicted[rows.folds == fold], labels=classes
        )
        for fold in np.unique(rows.folds)
    ]
    pooled = precision_recall_f1_support(rows.y, rows.predicted, labels=classes)
    out = {}
    for j, name in enumerate(classes):
        entry = {}
        for metric in ("precision", "recall", "f1", "support"):
            column = pd.Series([float(getattr(scores, metric)[j]) for scores in per_fold])
            score = {
                "mean": float(column.mean()),
                "std": float(column.std(ddof=1)),
                "pooled": float(getattr(pooled, metric)[j]),
            }
            entry[metric] = score
        entry["support"]["pooled"] = int(entry["support"]["pooled"])
        out[name] = entry
    return out


def _fold_summary(table: pd.DataFrame, names) -> dict[str, dict]:
    summary = summarize_folds(table[list(names)])
    return {stat: summary.loc[stat].to_dict() for stat in ("mean", "std", "min", "max")}


def _cv_checkpoints(cv: pd.DataFrame, model: str, s: Settings) -> dict[str, Rows]:
    """A model's cv rows by checkpoint, each checked to partition the images."""
    by_checkpoint = {}
    for checkpoint in ("best", "last"):
        part = cv.loc[cv["checkpoint"] == checkpoint].sort_values(["fold", "path"])
        if part.shape[0]:
            by_checkpoint[checkpoint] = Rows(part, s)
            _check_partition(by_checkpoint[checkpoint], model, checkpoint)
    if "best" not in by_checkpoint:
        raise ValueError(f"model {model!r} has cv rows but none with checkpoint 'best'")
    return by_checkpoint


def _fold_rows(table: pd.DataFrame, model, history, n: int, s: Settings) -> list[dict]:
    chosen = _chosen(history, model, s.checkpoint, s) if history is not None else {}
    folds = []
    for fold, row in table.iterrows():
        epoch = chosen.get(int(fold))
        folds.append(
            {
                "fold": int(fold),
                "n_test": int(row["n_test"]),
                "n_train": n - int(row["n_test"]),
                "best_epoch": epoch,
                **{name: float(row[name]) for name in s.names},
            }
        )
    return folds


def _cv_history(history, model) -> pd.DataFrame:
    return history.loc[(history["model"] == model) & (history["scheme"] == "cv")]


def _chosen(history, model, rule_name: str, s: Settings) -> dict[int, int]:
    """Fold -> epoch that ``rule_name`` chooses for ``model`` from its cv history."""
    h = _cv_history(history, model)
    chosen = CK.rule(rule_name)
    if h.shape[0] == 0 or (chosen.column is not None and chosen.column not in h.columns):
        return {}
    return CK.chosen_epochs(h, rule_name, s.folds_per_repeat)


def _auc_delong(best: Rows) -> dict | None:
    if not best.has_both():
        return None
    ci = best.auc_interval()
    return {"auc": ci.auc, "low": ci.low, "high": ci.high, "reason": ci.reason}


def _mean_roc(best: Rows, table: pd.DataFrame) -> dict | None:
    # The pooled rows can hold both classes while no single fold does (no fold AUC).
    if not best.has_both() or not table["roc_auc"].notna().any():
        return None
    curve = mean_roc_curve(best.y, best.prob, best.folds, **best.options, n_points=101)
    return {
        "fpr": curve.fpr,
        "tpr_mean": curve.tpr_mean,
        "tpr_std": curve.tpr_std,
        "folds": curve.folds,
    }


def _reliability(best: Rows) -> dict:
    # On the positive class's probability for two classes, on the top label's for more.
    curve = reliability_curve(best.y, best.prob, **best.options)
    return {
        "mean_predicted": curve.mean_predicted,
        "observed_frequency": curve.observed_frequency,
        "counts": curve.counts,
    }


def _confusion(best: Rows) -> dict:
    classes = best.settings.classes
    return {
        "labels": list(classes),
        "counts": confusion_matrix(best.y, best.predicted, labels=classes),
        "normalized": confusion_matrix(best.y, best.predicted, labels=classes, normalize="true"),
    }


def _last(rows: Rows | None, names) -> dict | None:
    if rows is None:
        return None
    summary = _fold_summary(rows.fold_table(), names)
    return {"mean": summary["mean"], "std": summary["std"], "pooled": rows.pooled()}


def _cv_summary(
    frame: pd.DataFrame, model: str, history, s: Settings
) -> tuple[dict | None, Rows | None]:
    cv = frame.loc[frame["scheme"] == "cv"]
    if cv.shape[0] == 0:
        return None, None
    if s.n_samples is not None and s.n_samples < cv["path"].nunique():
        raise ValueError(
            f"n_samples is {s.n_samples}, but model {model!r} has cv predictions for "
            f"{cv['path'].nunique()} distinct images"
        )
    by_checkpoint = _cv_checkpoints(cv, model, s)
    best = by_checkpoint["best"]
    n = int(cv["path"].nunique()) if s.n_samples is None else s.n_samples
    table = best.fold_table()
    folds = _fold_rows(table, model, history, n, s)
    cv_summary = {
        "k": len(folds),
        "n": n,
        "repeats": int(np.unique(repeat_of(best.folds, s.folds_per_repeat)).shape[0]),
        "folds": folds,
        **_fold_summary(table, s.names),
        "pooled": best.pooled(),
        "ci": best.intervals(),
        "auc_delong": _auc_delong(best),
        "confusion_matrix": _confusion(best),
        "per_class": _per_class(best),
        "last": _last(by_checkpoint.get("last"), s.names),
        "mean_roc": _mean_roc(best, table),
        "reliability": _reliability(best),
    }
    return cv_summary, best


def _seed_summary(frame: pd.DataFrame, model: str, history, s: Settings) -> dict | None:
    seed = frame.loc[frame["scheme"] == "seed"]
    if seed.shape[0] == 0:
        return None
    best_part = seed.loc[seed["checkpoint"] == "best"].sort_values("path")
    if best_part.shape[0] == 0:
        raise ValueError(f"model {model!r} has seed rows but none with checkpoint 'best'")
    best = Rows(best_part, s)
    metrics = best.pooled()
    h = _history_rows(history, model, "seed", 0)
    if h.shape[0]:
        best_epoch, best_val = _seed_split_epoch(h)
        last_val = float(h["val_accuracy"].iloc[-1])
        source = "history"
    else:
        best_epoch, best_val = None, metrics["accuracy"]
        last_part = seed.loc[seed["checkpoint"] == "last"]
        last_val = Rows(last_part, s).pooled()["accuracy"] if last_part.shape[0] else None
        source = "predictions"
    return {
        "n_val": len(best),
        "best_epoch": best_epoch,
        "best_val_accuracy": best_val,
        "last_val_accuracy": last_val,
        "val_accuracy_source": source,
        **metrics,
        "ci": best.intervals(),
    }


def _finite_mean(values: list) -> float:
    """Mean of the finite entries (None counts as missing); NaN when there are none."""
    values = np.array([np.nan if v is None else v for v in values], dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return float("nan")
    return float(np.where(finite, values, 0.0).sum() / finite.sum())


def _rule_outcome(name: str, epochs: dict[int, int], test: pd.Series, **flags) -> dict:
    accuracy = [float(test.loc[(fold, epoch)]) for fold, epoch in sorted(epochs.items())]
    return {
        "rule": name,
        **flags,
        "mean": _finite_mean(accuracy),
        "std": float(np.std(accuracy, ddof=1)) if len(accuracy) > 1 else None,
        "epochs": [epochs[fold] for fold in sorted(epochs)],
    }


def _optimism(history, model, s: Settings) -> dict | None:
    """Every checkpoint rule's test-fold accuracy (the run's rule and the honest
    alternatives), beside the optimistic best epoch on each test fold and the last epoch."""
    if history is None:
        return None
    h = _cv_history(history, model)
    if h.shape[0] == 0:
        return None
    test = h.set_index(["fold", "epoch"])["test_accuracy"].astype(float)
    rules = []
    for name, rule in CK.RULES.items():
        epochs = _chosen(history, model, name, s)
        if epochs:
            rules.append(_rule_outcome(name, epochs, test, honest=True, pooled=rule.pooled))
    best_on_test = CK.chosen_epochs(h.assign(val_accuracy=h["test_accuracy"]), "val-accuracy")
    rules.append(_rule_outcome(CK.BEST_ON_TEST, best_on_test, test, honest=False, pooled=False))
    chosen = _chosen(history, model, s.checkpoint, s)
    last = CK.chosen_epochs(h, "last")
    per_fold = []
    for fold in sorted(best_on_test):
        epoch = chosen.get(fold)
        per_fold.append(
            {
                "fold": int(fold),
                "chosen_epoch": epoch,
                "best_test_epoch": best_on_test[fold],
                "best_epoch_on_test": float(test.loc[(fold, best_on_test[fold])]),
                "chosen": float(test.loc[(fold, epoch)]) if epoch is not None else None,
                "last": float(test.loc[(fold, last[fold])]),
            }
        )
    best = _finite_mean([f["best_epoch_on_test"] for f in per_fold])
    mean_chosen = _finite_mean([f["chosen"] for f in per_fold])
    return {
        "best_epoch_on_test": best,
        "chosen": mean_chosen,
        "last": _finite_mean([f["last"] for f in per_fold]),
        "gap": best - mean_chosen,
        "per_fold": per_fold,
        "rule": s.checkpoint,
        "rules": rules,
    }


def summarize_predictions(
    predictions,
    *,
    labels,
    history=None,
    positive_class=None,
    confidence_level=0.95,
    n_resamples=2000,
    random_state=0,
    n_samples=None,
    folds_per_repeat=None,
    checkpoint=CK.DEFAULT_RULE,
) -> dict:
    """Summarise a run's predictions (and optionally its training history) for reporting.

    Parameters
    ----------
    predictions : pandas.DataFrame
        A run's prediction table, one row per (model, scheme, fold, checkpoint, image):

        - ``model`` (str), ``scheme`` (``"seed"`` or ``"cv"``), ``fold`` (int: 0 for
          ``"seed"``, the test fold 1..k for ``"cv"``), ``checkpoint`` (``"best"`` or
          ``"last"``), ``path`` (unique per image), ``label`` (true class name),
          ``group`` (patient/group id; equal to ``path`` when there is no grouping),
        - ``prob_<class>`` for every class in ``labels``: probabilities, rows summing to 1
          (within 1e-6).

        For ``"cv"`` a fold's rows are that fold's held-out test images and the folds of a
        model partition the data set; for ``"seed"`` the rows are the validation part of a
        single split, on which the checkpoint was chosen. The predicted class is the most
        probable one (the first class on ties).
    labels : sequence of str
        The class names, in the order used throughout the output (written to the result
        as ``classes``).
    history : pandas.DataFrame, optional
        The run's training history: ``model``, ``scheme``, ``fold``, ``epoch`` (from 1),
        ``val_accuracy`` and ``test_accuracy`` are read (other columns are ignored).
        ``val_*`` is the part that chose the checkpoint; ``test_*`` is NaN for ``"seed"``.
    positive_class : str, optional
        Two classes only: the class whose sensitivity, PPV, ... are reported; by default
        the second class. Must be ``None`` with more than two classes.
    confidence_level : float, default=0.95
        Of the bootstrap and DeLong intervals.
    n_resamples : int, default=2000
        Bootstrap resamples.
    random_state : int, default=0
        Seed of the bootstrap; the whole result is deterministic for a given seed.
    n_samples : int, optional
        The size n of the whole data set, for ``n_train = n - n_test``. By default the
        number of distinct images in a model's cv rows, which is n once every fold has
        finished; pass it for a partial run.
    folds_per_repeat : int, optional
        For repeated cross-validation: k, when the cv folds are k folds drawn R times and
        numbered on (repeat r holds folds ``(r - 1) k + 1`` to ``r k``). Each repeat's folds
        must then partition the images; means, spreads and the corrected t-test run over
        all R k folds (with R > 1 that test is Bouckaert & Frank's (2004) corrected
        repeated k-fold t-test, the same formula with R k folds), and the pooled rows hold
        every image R times, which the group-aware intervals and tests treat as one
        cluster. By default every fold belongs to one repetition.
    checkpoint : str, default=mpx_eval.summary.checkpoints.DEFAULT_RULE
        The rule (:data:`mpx_eval.summary.checkpoints.RULES`) that chose the epoch of the
        cv "best" rows: the folds' chosen epochs are read from the history by it, and every
        other rule's test-fold accuracy is given beside it.

    Returns
    -------
    Summary
        A plain ``dict`` laid out as :class:`mpx_eval.summary.layout.Summary`: per model
        the cross-validation (per fold, over the folds, pooled with confidence intervals),
        the seeded split and the optimism of choosing the epoch on the test fold; paired
        comparisons of every two models. Only ``dict``/``list``/``str``/``int``/``float``/
        ``None`` (NaN and infinities become ``None``), ready for ``json.dumps``; its JSON
        Schema is :func:`mpx_eval.summary.metrics_json_schema`.

    Raises
    ------
    ValueError
        For missing columns, unknown labels, invalid probabilities, duplicated rows, cv
        folds that do not partition a model's images, or two models whose cv folds do not
        hold the same images.

    Examples
    --------
    >>> import pandas as pd
    >>> from mpx_eval.summary import summarize_predictions
    >>> rows = []
    >>> for fold in (1, 2):
    ...     for i, (label, p) in enumerate([("Monkeypox", 0.9), ("Monkeypox", 0.4),
    ...                                     ("Others", 0.2), ("Others", 0.3)]):
    ...         rows.append({"model": "cnn", "scheme": "cv", "fold": fold,
    ...                      "checkpoint": "best", "path": f"{fold}-{i}.jpg",
    ...                      "label": label, "group": f"{fold}-{i}.jpg",
    ...                      "prob_Monkeypox": p, "prob_Others": 1 - p})
    >>> summary = summarize_predictions(pd.DataFrame(rows), labels=["Monkeypox", "Others"],
    ...                                 positive_class="Monkeypox", n_resamples=200)
    >>> cv = summary["models"]["cnn"]["cv"]
    >>> cv["k"], cv["n"], cv["mean"]["accuracy"], cv["pooled"]["sensitivity"]
    (2, 8, 0.75, 0.5)
    >>> summary["comparisons"]
    []
    """
    s = _settings(
        labels,
        positive_class,
        confidence_level,
        n_resamples,
        random_state,
        n_samples,
        folds_per_repeat,
        checkpoint,
    )
    frame = _check_predictions(predictions, s.classes)
    history = _check_history(history) if history is not None else None

    models: dict[str, dict] = {}
    best_rows = {}
    for model in sorted(frame["model"].unique()):
        rows = frame.loc[frame["model"] == model]
        cv, best = _cv_summary(rows, model, history, s)
        if best is not None:
            best_rows[model] = (best, cv["n"])
        models[model] = {
            "cv": cv,
            "seed_split": _seed_summary(rows, model, history, s),
            "optimism": _optimism(history, model, s) if cv is not None else None,
        }
    comparisons = [
        comparison
        for a, b in combinations(sorted(best_rows), 2)
        if (comparison := compare(a, best_rows[a][0], b, best_rows[b][0], best_rows[a][1]))
        is not None
    ]
    return _json(
        {
            "classes": s.classes,
            "positive_class": s.positive_class,
            "confidence_level": s.confidence_level,
            "n_resamples": s.n_resamples,
            "metrics": list(s.names),
            "models": models,
            "comparisons": comparisons,
        }
    )


def _settings(
    labels,
    positive_class,
    confidence_level,
    n_resamples,
    random_state,
    n_samples,
    folds_per_repeat,
    checkpoint,
) -> Settings:
    classes = resolve_classes(labels, name="labels").tolist()
    if len(classes) < 2:
        raise ValueError("labels must name at least two classes")
    if len(classes) == 2:
        positive = resolve_positive(np.asarray(classes, dtype=object), positive_class)
    elif positive_class is not None:
        raise ValueError(
            f"positive_class applies to two classes only; {len(classes)} classes were given"
        )
    else:
        positive = None
    confidence_level = check_confidence_level(confidence_level)
    n_resamples = check_positive_int("n_resamples", n_resamples, minimum=2)
    if folds_per_repeat is not None:
        folds_per_repeat = check_positive_int("folds_per_repeat", folds_per_repeat, minimum=2)
    CK.rule(checkpoint)
    return Settings(
        classes,
        positive,
        confidence_level,
        n_resamples,
        random_state,
        n_samples,
        folds_per_repeat,
        checkpoint,
    )
