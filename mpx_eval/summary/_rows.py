"""One model's rows of one scheme and checkpoint, and the options of a summary: what the
summary's parts (one model's figures, the paired comparisons) compute on."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..metrics import (
    bootstrap_prediction_metrics,
    delong_auc_ci,
    fold_metrics,
    metric_names,
    predicted_labels,
    prediction_metrics,
    proportion_intervals,
)


class Settings(NamedTuple):
    """The options of one summary, checked once and read by every part of it."""

    classes: list[str]
    positive: int | None  # index of the positive class; None with more than two classes
    confidence_level: float
    n_resamples: int
    random_state: int | None
    n_samples: int | None
    folds_per_repeat: int | None
    checkpoint: str  # the rule that chose each cv fold's epoch (mpx_eval.summary.checkpoints)

    @property
    def positive_class(self) -> str | None:
        return self.classes[self.positive] if self.positive is not None else None

    @property
    def names(self) -> tuple[str, ...]:
        return metric_names(len(self.classes))


class Rows:
    """One model's rows of one scheme and checkpoint, as the arrays the metric functions take."""

    def __init__(self, frame: pd.DataFrame, settings: Settings):
        self.frame = frame.reset_index(drop=True)
        self.settings = settings
        self.y = self.frame["label"].to_numpy()
        self.prob = self.frame[[f"prob_{c}" for c in settings.classes]].to_numpy(dtype=float)
        self.predicted = predicted_labels(self.prob, labels=settings.classes)
        self.folds = self.frame["fold"].to_numpy()
        self.groups = self.frame["group"].to_numpy()
        self.options = {"labels": settings.classes, "positive_class": settings.positive_class}

    def __len__(self):
        return self.frame.shape[0]

    def subset(self, mask: np.ndarray) -> Rows:
        return Rows(self.frame.loc[mask], self.settings)

    def pooled(self) -> dict[str, float]:
        return prediction_metrics(self.y, self.prob, **self.options)

    def fold_table(self) -> pd.DataFrame:
        return fold_metrics(self.y, self.prob, self.folds, **self.options)

    def groups_repeat(self) -> bool:
        return bool(self.frame["group"].duplicated().any())

    def has_both(self) -> bool:
        """Two classes, and the rows hold the positive class and the other one."""
        if self.settings.positive is None:
            return False
        n_positive = int((self.y == self.settings.positive_class).sum())
        return 0 < n_positive < len(self)

    def positive_score(self, prob: np.ndarray | None = None) -> np.ndarray:
        """The positive class's column of ``prob`` (by default these rows' probabilities)."""
        return (self.prob if prob is None else prob)[:, self.settings.positive]

    def auc_interval(self):
        return delong_auc_ci(
            self.y,
            self.positive_score(),
            positive_class=self.settings.positive_class,
            groups=self.groups,
            confidence_level=self.settings.confidence_level,
        )

    def intervals(self) -> dict[str, dict]:
        """Wilson for proportions, DeLong for the AUC, the bootstrap for the rest.

        Every one accounts for groups that hold several images: whole groups are
        resampled, proportions use their design effect and the AUC Obuchowski's variance.
        """
        s = self.settings
        intervals = bootstrap_prediction_metrics(
            self.y,
            self.prob,
            **self.options,
            groups=self.groups if self.groups_repeat() else None,
            confidence_level=s.confidence_level,
            n_resamples=s.n_resamples,
            random_state=s.random_state,
        )
        intervals.update(
            proportion_intervals(
                self.y,
                self.predicted,
                **self.options,
                groups=self.groups,
                confidence_level=s.confidence_level,
            )
        )
        out: dict[str, dict] = {
            name: {"low": ci.low, "high": ci.high, "method": ci.method, "n_dropped": ci.n_dropped}
            for name, ci in intervals.items()
        }
        if self.has_both():
            ci = self.auc_interval()
            method = (
                "Obuchowski's clustered DeLong variance, logit scale, t on the rarer class's groups"
                if self.groups_repeat()
                else "DeLong variance, logit scale"
            )
            out["roc_auc"] = {
                "low": ci.low,
                "high": ci.high,
                "method": method,
                "n_dropped": 0,
            }
        return out


def repeat_of(folds, folds_per_repeat: int | None) -> np.ndarray:
    """Repeat (from 1) of each cv fold number: folds 1..k are repeat 1, k+1..2k repeat 2, ..."""
    folds = np.asarray(folds)
    if folds_per_repeat is None:
        return np.ones(folds.shape[0], dtype=int)
    return (folds - 1) // folds_per_repeat + 1
