"""One call from a run's predictions (and training history) to every number its report shows.

``summarize_predictions`` reads the long prediction table written by a run and returns a
plain, JSON-ready dict: per model the cross-validated metrics with their spread, pooled values
and confidence intervals, the single seeded split, the optimism of checkpoint selection, and
paired comparisons between every two models.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations

import numpy as np
import pandas as pd

from . import _kernels as K
from ._bootstrap import _bundle_intervals, make_plan
from ._bundle import MetricBundle, metric_names
from ._calibration import _reliability
from ._comparison import _delong_ci, _delong_test, _mcnemar, corrected_resampled_ttest
from ._folds import _fold_table, _mean_roc, fold_weights, summarize_folds
from ._intervals import group_index, intervals_of
from ._validation import (
    ROW_SUM_TOLERANCE,
    _format_labels,
    as_probabilities,
    check_confidence_level,
    check_positive_int,
    encode,
    resolve_classes,
    resolve_positive,
)

PREDICTION_COLUMNS = ("model", "scheme", "fold", "checkpoint", "path", "label", "group")
HISTORY_COLUMNS = ("model", "scheme", "fold", "epoch", "val_accuracy", "test_accuracy")


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


def _scalar_dict(values: dict) -> dict:
    return {name: float(np.asarray(v).reshape(-1)[0]) for name, v in values.items()}


# --- input checks ---


def _check_predictions(predictions, classes: list) -> pd.DataFrame:
    if not isinstance(predictions, pd.DataFrame):
        raise ValueError(
            f"predictions must be a pandas DataFrame, got {type(predictions).__name__}"
        )
    prob_columns = [f"prob_{c}" for c in classes]
    missing = [c for c in (*PREDICTION_COLUMNS, *prob_columns) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lacks column(s): {', '.join(missing)}")
    if predictions.shape[0] == 0:
        raise ValueError("predictions has no rows")
    frame = predictions.loc[:, [*PREDICTION_COLUMNS, *prob_columns]].copy()
    for column in ("model", "scheme", "checkpoint", "path", "label", "group"):
        if frame[column].isna().any():
            raise ValueError(
                f"predictions has {int(frame[column].isna().sum())} empty '{column}' values"
            )
        frame[column] = frame[column].astype(str)
    for column, allowed in (("scheme", ("seed", "cv")), ("checkpoint", ("best", "last"))):
        bad = sorted(set(frame[column]) - set(allowed))
        if bad:
            raise ValueError(
                f"predictions has {column} values {_format_labels(bad)}; "
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
    encode("predictions['label']", frame["label"].to_numpy(), np.asarray(classes, dtype=object))
    values = frame[prob_columns].to_numpy()
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
    key = ["model", "scheme", "fold", "checkpoint", "path"]
    duplicated = frame.duplicated(key)
    if duplicated.any():
        row = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"predictions lists path {row['path']!r} more than once for model {row['model']!r}, "
            f"scheme {row['scheme']!r}, fold {row['fold']}, checkpoint {row['checkpoint']!r}"
        )
    return frame


def _check_history(history) -> pd.DataFrame:
    if not isinstance(history, pd.DataFrame):
        raise ValueError(
            f"history must be a pandas DataFrame or None, got {type(history).__name__}"
        )
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s): {', '.join(missing)}")
    frame = history.loc[:, list(HISTORY_COLUMNS)].copy()
    frame["model"] = frame["model"].astype(str)
    frame["scheme"] = frame["scheme"].astype(str)
    for column in ("fold", "epoch"):
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() or (values != np.round(values)).any():
            raise ValueError(f"history has {column} values that are not integers")
        frame[column] = values.astype(int)
    if (frame["epoch"] < 1).any():
        raise ValueError("history has epoch values below 1; epochs are counted from 1")
    for column in ("val_accuracy", "test_accuracy"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    duplicated = frame.duplicated(["model", "scheme", "fold", "epoch"])
    if duplicated.any():
        row = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"history lists epoch {row['epoch']} more than once for model {row['model']!r}, "
            f"scheme {row['scheme']!r}, fold {row['fold']}"
        )
    return frame


# --- pieces of one model's summary ---


class _Rows:
    """One model's rows of one scheme and checkpoint, encoded for the metric kernels."""

    def __init__(self, frame: pd.DataFrame, classes: list, positive: int | None):
        self.frame = frame.reset_index(drop=True)
        self.classes = np.asarray(classes, dtype=object)
        self.codes = encode("label", self.frame["label"].to_numpy(), self.classes)
        self.prob = self.frame[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
        self.positive = positive
        self.bundle = MetricBundle(self.codes, self.prob, positive)
        self.folds = self.frame["fold"].to_numpy()

    def __len__(self):
        return self.frame.shape[0]

    def subset(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.frame.loc[mask], list(self.classes), self.positive)

    def pooled(self) -> dict:
        return _scalar_dict(self.bundle.compute(np.ones((1, len(self)))))

    def fold_table(self) -> pd.DataFrame:
        return _fold_table(self.bundle, self.folds)

    def groups_repeat(self) -> bool:
        return bool(self.frame["group"].duplicated().any())

    @property
    def group(self) -> np.ndarray:
        """Integer group id of each row (patients, image families)."""
        return group_index(self.frame["group"].to_numpy(), len(self))

    def intervals(self, confidence_level, n_resamples, random_state) -> dict:
        """Wilson for proportions, DeLong for the AUC, the bootstrap for the rest.

        Every one accounts for groups that hold several images: whole groups are
        resampled, proportions use their design effect and the AUC Obuchowski's variance.
        """
        groups = self.frame["group"].to_numpy() if self.groups_repeat() else None
        plan = make_plan(self.frame["label"].to_numpy(), groups, stratify=False)
        intervals = _bundle_intervals(
            self.bundle, plan, confidence_level, n_resamples, random_state
        )
        group = self.group
        intervals.update(
            intervals_of(self.codes, self.bundle.pred, self.positive, group, confidence_level)
        )
        out = {
            name: {"low": ci.low, "high": ci.high, "method": ci.method, "n_dropped": ci.n_dropped}
            for name, ci in intervals.items()
        }
        is_positive = self.codes == self.positive
        if self.positive is not None and is_positive.any() and not is_positive.all():
            ci = _delong_ci(is_positive, self.prob[:, self.positive], confidence_level, group)
            clustered = "Obuchowski's clustered " if self.groups_repeat() else ""
            out["roc_auc"] = {
                "low": ci.low,
                "high": ci.high,
                "method": f"{clustered}DeLong variance, logit scale",
                "n_dropped": 0,
            }
        return out


def _repeat_of(folds, folds_per_repeat: int | None) -> np.ndarray:
    """Repeat (from 1) of each cv fold number: folds 1..k are repeat 1, k+1..2k repeat 2, ..."""
    folds = np.asarray(folds)
    if folds_per_repeat is None:
        return np.ones(folds.shape[0], dtype=int)
    return (folds - 1) // folds_per_repeat + 1


def _check_partition(
    rows: _Rows, model: str, checkpoint: str, folds_per_repeat: int | None = None
) -> None:
    repeat = _repeat_of(rows.folds, folds_per_repeat)
    repeated = pd.Series(list(zip(repeat, rows.frame["path"], strict=True))).duplicated(keep=False)
    if repeated.any():
        path = rows.frame.loc[repeated, "path"].iloc[0]
        folds = sorted(rows.frame.loc[rows.frame["path"] == path, "fold"].tolist())
        raise ValueError(
            f"model {model!r}, checkpoint {checkpoint!r}: path {path!r} is in cv folds "
            f"{', '.join(map(str, folds))}; the cv test folds must partition the images"
        )


def _first_best_epoch(rows: pd.DataFrame, column: str):
    """(epoch of the first maximum of ``column``, that maximum), or (None, None)."""
    values = rows[column].to_numpy(dtype=float)
    if rows.shape[0] == 0 or not np.isfinite(values).any():
        return None, None
    i = int(np.nanargmax(values))
    return int(rows["epoch"].iloc[i]), float(values[i])


def _history_rows(history, model, scheme, fold) -> pd.DataFrame:
    if history is None:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    mask = (history["model"] == model) & (history["scheme"] == scheme) & (history["fold"] == fold)
    return history.loc[mask].sort_values("epoch")


def _per_class(rows: _Rows) -> dict:
    _, W = fold_weights(rows.folds)
    per_fold = K.per_class(rows.bundle.confusion(W))
    pooled = K.per_class(rows.bundle.confusion(np.ones((1, len(rows)))))
    out = {}
    for j, name in enumerate(rows.classes.tolist()):
        entry = {}
        for metric, fold_values, pooled_values in zip(
            ("precision", "recall", "f1", "support"), per_fold, pooled, strict=True
        ):
            column = pd.Series(fold_values[:, j])
            entry[metric] = {
                "mean": float(column.mean()),
                "std": float(column.std(ddof=1)),
                "pooled": float(pooled_values[0, j]),
            }
        entry["support"]["pooled"] = int(entry["support"]["pooled"])
        out[name] = entry
    return out


def _fold_summary(table: pd.DataFrame, names) -> dict:
    summary = summarize_folds(table[list(names)])
    return {stat: summary.loc[stat].to_dict() for stat in ("mean", "std", "min", "max")}


def _cv_summary(
    frame,
    model,
    classes,
    positive,
    history,
    confidence_level,
    n_resamples,
    random_state,
    n_samples=None,
    folds_per_repeat=None,
):
    cv = frame.loc[frame["scheme"] == "cv"]
    if cv.shape[0] == 0:
        return None, None
    if n_samples is not None and n_samples < cv["path"].nunique():
        raise ValueError(
            f"n_samples is {n_samples}, but model {model!r} has cv predictions for "
            f"{cv['path'].nunique()} distinct images"
        )
    names = metric_names(len(classes))
    by_checkpoint = {}
    for checkpoint in ("best", "last"):
        part = cv.loc[cv["checkpoint"] == checkpoint].sort_values(["fold", "path"])
        if part.shape[0]:
            by_checkpoint[checkpoint] = _Rows(part, classes, positive)
            _check_partition(by_checkpoint[checkpoint], model, checkpoint, folds_per_repeat)
    if "best" not in by_checkpoint:
        raise ValueError(f"model {model!r} has cv rows but none with checkpoint 'best'")
    best = by_checkpoint["best"]
    n = int(cv["path"].nunique()) if n_samples is None else n_samples
    table = best.fold_table()
    folds = []
    for fold, row in table.iterrows():
        epoch, _ = _first_best_epoch(_history_rows(history, model, "cv", fold), "val_accuracy")
        folds.append(
            {
                "fold": int(fold),
                "n_test": int(row["n_test"]),
                "n_train": n - int(row["n_test"]),
                "best_epoch": epoch,
                **{name: float(row[name]) for name in names},
            }
        )
    summary = _fold_summary(table, names)
    pooled_counts = best.bundle.confusion(np.ones((1, len(best))))[0]
    binary = positive is not None
    both_present = binary and 0 < int((best.codes == positive).sum()) < len(best)
    auc_delong = None
    mean_roc = None
    if both_present:
        is_positive = best.codes == positive
        score = best.prob[:, positive]
        ci = _delong_ci(is_positive, score, confidence_level, best.group)
        auc_delong = {"auc": ci.auc, "low": ci.low, "high": ci.high}
        # The pooled rows can hold both classes while no single fold does (no fold AUC).
        if table["roc_auc"].notna().any():
            curve = _mean_roc(score, is_positive, best.folds, 101)
            mean_roc = {
                "fpr": curve.fpr,
                "tpr_mean": curve.tpr_mean,
                "tpr_std": curve.tpr_std,
                "folds": curve.folds,
            }
    if binary:
        reliability = _reliability(best.prob[:, positive], best.codes == positive, 10)
    else:
        top = np.argmax(best.prob, axis=1)
        reliability = _reliability(best.prob.max(axis=1), top == best.codes, 10)
    last = None
    if "last" in by_checkpoint:
        last_rows = by_checkpoint["last"]
        last_summary = _fold_summary(last_rows.fold_table(), names)
        last = {
            "mean": last_summary["mean"],
            "std": last_summary["std"],
            "pooled": last_rows.pooled(),
        }
    cv_summary = {
        "k": len(folds),
        "n": n,
        "repeats": int(np.unique(_repeat_of(best.folds, folds_per_repeat)).shape[0]),
        "folds": folds,
        **summary,
        "pooled": best.pooled(),
        "ci": best.intervals(confidence_level, n_resamples, random_state),
        "auc_delong": auc_delong,
        "confusion_matrix": {
            "labels": list(classes),
            "counts": pooled_counts.astype(int),
            "normalized": K.safe_divide(pooled_counts, pooled_counts.sum(axis=1, keepdims=True)),
        },
        "per_class": _per_class(best),
        "last": last,
        "mean_roc": mean_roc,
        "reliability": {
            "mean_predicted": reliability.mean_predicted,
            "observed_frequency": reliability.observed_frequency,
            "counts": reliability.counts,
        },
    }
    return cv_summary, best


def _seed_summary(
    frame, model, classes, positive, history, confidence_level, n_resamples, random_state
):
    seed = frame.loc[frame["scheme"] == "seed"]
    if seed.shape[0] == 0:
        return None
    best_part = seed.loc[seed["checkpoint"] == "best"].sort_values("path")
    if best_part.shape[0] == 0:
        raise ValueError(f"model {model!r} has seed rows but none with checkpoint 'best'")
    best = _Rows(best_part, classes, positive)
    metrics = best.pooled()
    h = _history_rows(history, model, "seed", 0)
    if h.shape[0]:
        best_epoch, best_val = _first_best_epoch(h, "val_accuracy")
        last_val = float(h["val_accuracy"].iloc[-1])
        source = "history"
    else:
        best_epoch, best_val = None, metrics["accuracy"]
        last_part = seed.loc[seed["checkpoint"] == "last"]
        last_val = (
            _Rows(last_part, classes, positive).pooled()["accuracy"] if last_part.shape[0] else None
        )
        source = "predictions"
    return {
        "n_val": len(best),
        "best_epoch": best_epoch,
        "best_val_accuracy": best_val,
        "last_val_accuracy": last_val,
        "val_accuracy_source": source,
        **metrics,
        "ci": best.intervals(confidence_level, n_resamples, random_state),
    }


def _optimism(history, model):
    if history is None:
        return None
    h = history.loc[(history["model"] == model) & (history["scheme"] == "cv")]
    if h.shape[0] == 0:
        return None
    per_fold = []
    for fold, rows in h.groupby("fold", sort=True):
        rows = rows.sort_values("epoch")
        chosen_epoch, _ = _first_best_epoch(rows, "val_accuracy")
        best_test_epoch, best_test = _first_best_epoch(rows, "test_accuracy")
        test = rows.set_index("epoch")["test_accuracy"]
        chosen = float(test.loc[chosen_epoch]) if chosen_epoch is not None else None
        per_fold.append(
            {
                "fold": int(fold),
                "chosen_epoch": chosen_epoch,
                "best_test_epoch": best_test_epoch,
                "best_epoch_on_test": best_test,
                "chosen": chosen,
                "last": float(test.iloc[-1]),
            }
        )

    def mean_of(key):
        values = np.array([np.nan if f[key] is None else f[key] for f in per_fold], dtype=float)
        return float(K.nanmean(values))

    best_on_test, chosen = mean_of("best_epoch_on_test"), mean_of("chosen")
    return {
        "best_epoch_on_test": best_on_test,
        "chosen": chosen,
        "last": mean_of("last"),
        "gap": best_on_test - chosen,
        "per_fold": per_fold,
    }


def _common_folds(rows_a: _Rows, rows_b: _Rows) -> tuple[_Rows, _Rows, list[int]]:
    """Both models restricted to the folds both have (a partial run may lack some)."""
    common = np.intersect1d(np.unique(rows_a.folds), np.unique(rows_b.folds))
    if len(common) < len(np.unique(rows_a.folds)):
        rows_a = rows_a.subset(np.isin(rows_a.folds, common))
    if len(common) < len(np.unique(rows_b.folds)):
        rows_b = rows_b.subset(np.isin(rows_b.folds, common))
    return rows_a, rows_b, [int(f) for f in common]


def _compare(
    name_a, rows_a: _Rows, name_b, rows_b: _Rows, n: int, positive, folds_per_repeat=None
) -> dict | None:
    rows_a, rows_b, folds = _common_folds(rows_a, rows_b)
    if not folds:
        return None
    key_a = rows_a.frame.set_index(["fold", "path"]).index
    key_b = rows_b.frame.set_index(["fold", "path"]).index
    only_a, only_b = key_a.difference(key_b), key_b.difference(key_a)
    if len(only_a) or len(only_b):
        parts = []
        for name, only in ((name_a, only_a), (name_b, only_b)):
            if len(only):
                fold, path = only[0]
                parts.append(f"{len(only)} only in {name!r} (e.g. fold {fold}, path {path!r})")
        raise ValueError(
            f"models {name_a!r} and {name_b!r} do not hold the same cv test images "
            f"(checkpoint 'best'): {'; '.join(parts)}"
        )
    order = key_b.get_indexer(key_a)
    codes_b, prob_b = rows_b.codes[order], rows_b.prob[order]
    if (codes_b != rows_a.codes).any():
        i = int(np.flatnonzero(codes_b != rows_a.codes)[0])
        fold, path = key_a[i]
        raise ValueError(
            f"models {name_a!r} and {name_b!r} disagree on the label of fold {fold}, path {path!r}"
        )
    table_a, table_b = rows_a.fold_table(), rows_b.fold_table()
    acc_a = table_a["accuracy"].to_numpy()
    acc_b = table_b["accuracy"].to_numpy()
    k = acc_a.shape[0]
    corrected = None
    if k >= 2:
        n_test = float(table_a["n_test"].mean())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = corrected_resampled_ttest(acc_a, acc_b, n_train=n - n_test, n_test=n_test)
        corrected = {
            "t": result.statistic,
            "p": result.pvalue,
            "df": result.df,
            "undefined_reason": "no_variance" if caught else None,
        }
    pred_a = np.argmax(rows_a.prob, axis=1)
    pred_b = np.argmax(prob_b, axis=1)
    group = rows_a.group
    mcnemar = _mcnemar(pred_a == rows_a.codes, pred_b == rows_a.codes, group)
    delong = None
    if positive is not None:
        is_positive = rows_a.codes == positive
        if is_positive.any() and not is_positive.all():
            result = _delong_test(is_positive, rows_a.prob[:, positive], prob_b[:, positive], group)
            delong = {
                "z": result.statistic,
                "p": result.pvalue,
                "auc_a": result.auc_a,
                "auc_b": result.auc_b,
            }
    return {
        "a": name_a,
        "b": name_b,
        "metric": "accuracy",
        "k": k,
        "repeats": int(np.unique(_repeat_of(folds, folds_per_repeat)).shape[0]),
        "folds": folds,
        "mean_a": float(acc_a.mean()),
        "mean_b": float(acc_b.mean()),
        "mean_difference": float(acc_a.mean() - acc_b.mean()),
        "corrected_t": corrected,
        "mcnemar": {
            "statistic": mcnemar.statistic,
            "p": mcnemar.pvalue,
            "n_a_only": mcnemar.n_a_only,
            "n_b_only": mcnemar.n_b_only,
            "method": mcnemar.method,
        },
        "delong": delong,
        "n_paired": len(rows_a),
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
):
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

    Returns
    -------
    dict
        Plain ``dict``/``list``/``str``/``int``/``float``/``None`` only (NaN and infinities
        become ``None``), ready for ``json.dumps``:

        - ``classes``, ``positive_class`` (``None`` with more than two classes),
          ``confidence_level``, ``n_resamples``, ``metrics`` (the metric names used below,
          in order: see :func:`prediction_metrics`; ``sensitivity``, ``specificity``,
          ``ppv`` and ``npv`` exist for two classes only),
        - ``models``: for each model name (sorted), a dict with

          - ``cv``: ``None`` without cv rows, else

            - ``k`` (folds, over all repeats), ``n`` (distinct images over the model's cv
              rows), ``repeats`` (repetitions of the k folds present, see
              ``folds_per_repeat``),
            - ``folds``: per fold (checkpoint ``"best"``) ``fold``, ``n_test``,
              ``n_train`` (= n - n_test), ``best_epoch`` (first epoch with the highest
              ``val_accuracy`` in ``history``, else ``None``) and every metric; a metric
              undefined in a fold (e.g. ``roc_auc`` when the fold's test rows hold one
              class only) is ``None``,
            - ``mean``, ``std`` (ddof=1), ``min``, ``max``: per metric over the folds where
              it is defined,
            - ``pooled``: every metric on all cv ``"best"`` rows together,
            - ``ci``: per metric ``{"low", "high", "method", "n_dropped"}`` on the pooled
              rows: Wilson score intervals for ``accuracy``, ``sensitivity``,
              ``specificity``, ``ppv`` and ``npv`` (see :func:`proportion_intervals`), the
              DeLong interval on the logit scale for a binary ``roc_auc`` (see
              :func:`delong_auc_ci`), a percentile bootstrap without strata for the rest
              (``n_dropped``: resamples where the metric was undefined). When a ``group``
              occurs on more than one row, all of them account for the groups: design
              effect, Obuchowski's clustered variance, whole groups resampled,
            - ``auc_delong``: ``{"auc", "low", "high"}``, the same interval of the pooled AUC
              (two classes, both present; else ``None``),
            - ``confusion_matrix``: ``{"labels", "counts", "normalized"}`` of the pooled
              rows; rows are true classes, ``normalized`` divides each row by its total,
            - ``per_class``: for each class ``precision``, ``recall``, ``f1`` and
              ``support``, each ``{"mean", "std", "pooled"}`` (mean and std over folds),
            - ``last``: ``{"mean", "std", "pooled"}`` of the same metrics for checkpoint
              ``"last"``, or ``None`` without such rows,
            - ``mean_roc``: two classes only, the fold-averaged ROC curve on 101 FPR
              points ``{"fpr", "tpr_mean", "tpr_std", "folds"}`` (see
              :func:`mean_roc_curve`), else ``None``,
            - ``reliability``: pooled reliability curve in 10 bins ``{"mean_predicted",
              "observed_frequency", "counts"}``, on the positive class's probability for
              two classes, on the top-label confidence for more.

          - ``seed_split``: ``None`` without seed rows, else ``n_val``, ``best_epoch``,
            ``best_val_accuracy``, ``last_val_accuracy`` (from ``history`` when it has the
            model's seed rows, else from the ``"best"``/``"last"`` predictions; which one is
            said by ``val_accuracy_source``: ``"history"`` or ``"predictions"``), every
            metric of the ``"best"`` rows, and their bootstrap ``ci`` as above.
          - ``optimism``: ``None`` without ``history`` rows of the model's cv, else
            ``best_epoch_on_test`` (mean over folds of the highest ``test_accuracy`` of any
            epoch, an optimistic figure no honest procedure can reach), ``chosen`` (mean
            ``test_accuracy`` at the epoch the inner validation chose), ``last`` (mean
            ``test_accuracy`` of the last epoch), ``gap`` (= best_epoch_on_test - chosen)
            and ``per_fold`` entries ``{"fold", "chosen_epoch", "best_test_epoch",
            "best_epoch_on_test", "chosen", "last"}``.

        - ``comparisons``: for every pair of models with cv rows (names sorted, ``a < b``),
          rows paired by (fold, path) on checkpoint ``"best"``, over the folds both models
          have (``folds``; a partial run may lack some; a pair with none in common is left
          out): ``a``, ``b``, ``metric`` (``"accuracy"``), ``k``, ``repeats``, ``folds``,
          ``mean_a``,
          ``mean_b``, ``mean_difference`` (a - b, of the fold means), ``corrected_t``
          ``{"t", "p", "df", "undefined_reason"}`` (Nadeau-Bengio on the per-fold
          accuracies with n_test the mean fold size and n_train = n - n_test; ``t`` and
          ``p`` ``None`` with ``undefined_reason`` ``"no_variance"`` when the per-fold
          differences do not vary; ``None`` with one fold), ``mcnemar`` ``{"statistic",
          "p", "n_a_only", "n_b_only", "method"}`` (on the pooled paired correctness:
          exact, or Durkalski et al.'s clustered test when groups repeat; see
          :func:`mcnemar_test`), ``delong`` ``{"z", "p", "auc_a", "auc_b"}`` on the pooled
          positive-class probabilities (clustered when groups repeat; two classes only,
          else ``None``) and ``n_paired``. The JSON Schema of the whole result is
          :func:`metrics_json_schema`.

    Raises
    ------
    ValueError
        For missing columns, unknown labels, invalid probabilities, duplicated rows, cv
        folds that do not partition a model's images, or two models whose cv folds do not
        hold the same images.

    Examples
    --------
    >>> import pandas as pd
    >>> from mpx_eval.metrics import summarize_predictions
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
    frame = _check_predictions(predictions, classes)
    history = _check_history(history) if history is not None else None

    models = {}
    best_rows = {}
    for model in sorted(frame["model"].unique()):
        rows = frame.loc[frame["model"] == model]
        cv, best = _cv_summary(
            rows,
            model,
            classes,
            positive,
            history,
            confidence_level,
            n_resamples,
            random_state,
            n_samples,
            folds_per_repeat,
        )
        if best is not None:
            best_rows[model] = (best, cv["n"])
        models[model] = {
            "cv": cv,
            "seed_split": _seed_summary(
                rows,
                model,
                classes,
                positive,
                history,
                confidence_level,
                n_resamples,
                random_state,
            ),
            "optimism": _optimism(history, model) if cv is not None else None,
        }
    comparisons = [
        comparison
        for a, b in combinations(sorted(best_rows), 2)
        if (
            comparison := _compare(
                a, best_rows[a][0], b, best_rows[b][0], best_rows[a][1], positive, folds_per_repeat
            )
        )
        is not None
    ]
    return _json(
        {
            "classes": classes,
            "positive_class": classes[positive] if positive is not None else None,
            "confidence_level": confidence_level,
            "n_resamples": n_resamples,
            "metrics": list(metric_names(len(classes))),
            "models": models,
            "comparisons": comparisons,
        }
    )
