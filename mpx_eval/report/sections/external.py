"""The external validation section: each model's figures on the external sets beside its
internal cross-validated ones, the gap between them, every fold model alone, and the external
images left out because a copy of them is among the training images (with thumbnails)."""

from __future__ import annotations

from collections.abc import Callable

from ...assessment.layout import Estimate, ExternalFigures, ExternalModel
from .. import text as T
from ..run import Run
from .cells import estimate_cell

#: Contaminated external images shown with their training copies; external.json has all.
CONTAMINATED_SHOWN = 24
#: Training copies shown beside each contaminated image.
COPIES_SHOWN = 4

_METRICS = ("accuracy", "roc_auc", "sensitivity", "specificity")
_NAMES = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
}


def _cell(found: Estimate | None) -> dict:
    if found is None:
        return {"value": "—", "ci": "", "method": "", "note": ""}
    return estimate_cell(found)


def _row(label: str, what: str, figures: ExternalFigures | None, metrics, *, muted=False):
    if figures is None:
        return None
    return {
        "label": label,
        "what": what,
        "muted": muted,
        "n": f"{figures.n_images} images, {figures.n_clusters} clusters",
        "cells": [_cell(getattr(figures, m)) for m in metrics],
    }


def _internal_row(run: Run, model: str, metrics) -> dict | None:
    assessment = run.assessment(model)
    if assessment is None or assessment.evaluated_on != "cv":
        return None
    headline = assessment.headline
    n = f"{assessment.n_images or assessment.n} images"
    if assessment.n_groups:
        n += f", {assessment.n_groups} groups"
    return {
        "label": "Internal (cross-validated)",
        "what": "each training image predicted once, by the fold model that did not train on it",
        "muted": False,
        "n": n,
        "cells": [_cell(getattr(headline, m, None)) for m in metrics],
    }


def _model(run: Run, name: str, found: ExternalModel, metrics, k: int) -> dict:
    rows = [
        _internal_row(run, name, metrics),
        _row(
            "External, fold models",
            f"each external image predicted by each of the {k} fold models, pooled",
            found.fold_models,
            metrics,
        ),
        _row(
            "External, ensemble",
            "the mean of the fold models' probabilities",
            found.ensemble,
            metrics,
        ),
        _row(
            "External, seed-split model",
            "the blog's single model (trained on the seed split)",
            found.seed_split,
            metrics,
        ),
        _row(
            "Contaminated external images",
            "ensemble, on the external images with a copy among the training images "
            "(not in the rows above)",
            found.contaminated,
            metrics,
            muted=True,
        ),
    ]
    gaps = [
        {
            "metric": _NAMES[m],
            "internal": T.num(g.internal),
            "external": T.num(g.external),
            "difference": T.num(g.difference),
            "ci": f"{T.num(g.low)} to {T.num(g.high)}",
            "excludes_zero": g.low > 0 or g.high < 0,
        }
        for m, g in found.gap.items()
    ]
    folds = [
        {"fold": f.fold, "n": f.n_images, "cells": [_cell(getattr(f, m)) for m in metrics]}
        for f in found.folds
    ]
    return {"name": name, "rows": [r for r in rows if r], "gaps": gaps, "folds": folds}


def _contaminated(run: Run, info: dict) -> list[dict]:
    shown = []
    for image in info["images"]:
        if not image["contaminated"]:
            continue
        copies = image["copies_in_training"]
        shown.append(
            {
                "image": dict(run.external_thumbnail(image["path"]), label=image["label"]),
                "copies": [
                    dict(run.thumbnail(c["path"]), label=c["label"]) for c in copies[:COPIES_SHOWN]
                ],
                "more": max(len(copies) - COPIES_SHOWN, 0),
            }
        )
        if len(shown) == CONTAMINATED_SHOWN:
            break
    return shown


def external_section(run: Run) -> dict | None:
    """Everything ``_external.html`` shows; None for a run without an external set."""
    summary, info = run.metrics.external, run.external
    if summary is None or info is None:
        return None
    metrics = [m for m in _METRICS if m == "accuracy" or run.positive is not None]
    k = len({f.fold for found in summary.models.values() for f in found.folds})
    sources = [
        f"{s.name} ({', '.join(f'{c} {n}' for c, n in s.counts.items())})" for s in summary.sources
    ]
    n_bad = summary.n_contaminated
    return {
        "sources": sources,
        "n_images": summary.n_images,
        "n_contaminated": n_bad,
        "share": T.num(100 * n_bad / summary.n_images, 1) if summary.n_images else "n/a",
        "included": summary.contaminated_included,
        "threshold": T.num(summary.rule_threshold, 2),
        "positive": run.positive,
        "columns": [_NAMES[m] for m in metrics],
        "models": [_model(run, name, found, metrics, k) for name, found in summary.models.items()],
        "contaminated": _contaminated(run, info),
        "contaminated_more": max(n_bad - CONTAMINATED_SHOWN, 0),
        "conflicts": list(info["label_conflicts"]),
        "notes": list(info.get("detection_notes") or []),
    }


def external_methods(run: Run, code: Callable[[object], str]) -> list[str]:
    """The methods section's paragraphs on external validation (none without it); ``code``
    marks a file name as code, as the methods section does."""
    summary = run.metrics.external
    if summary is None:
        return []
    sets = ", ".join(f"{s.name} ({s.n_images} images)" for s in summary.sources)
    fate = (
        "kept in the external figures at the user's request"
        if summary.contaminated_included
        else "left out of the external figures and reported on their own"
    )
    return [
        f"Every fold model and the seed-split model also predicted {summary.n_images} images "
        f"of another source ({sets}), at the epoch its checkpoint rule kept; nothing was "
        "chosen on these images. Their classes were matched to the training classes by "
        "folder name (or an explicit mapping).",
        "Before training, copies of training images among them were searched for by image "
        "family detection across both sets (identical files, perceptual-hash near "
        f"duplicates and geometric matches); {summary.n_contaminated} external images had "
        f"such a copy and were {fate}; {summary.n_label_conflicts} were copies of a "
        f"differently labelled training image. The list is in {code('external.json')}.",
        "External figures are given for the fold models' predictions pooled, for the mean "
        "of their probabilities (an ensemble) and for the seed-split model. Intervals count "
        "clusters: copies of one photo within the external images, photos of one patient, "
        "and the predictions of one image by several fold models; accuracy, sensitivity and "
        "specificity have Wilson intervals widened by the design effect, the AUC a "
        "clustered DeLong interval. The gap between the internal cross-validated figure "
        "and the fold models' external one has a MOVER interval (Newcombe 1998; Zou and "
        "Donner 2008) that treats the two sets' sampling as independent and leaves out the "
        f"variation between trainings. Predictions are in {code('external_predictions.csv')}.",
    ]
