"""The first screen of the report: per model the honest accuracy and AUC with their own
intervals beside the trivial baseline, the alarms, the architecture verdict in one sentence,
and the banner of settings that depart from the blog's.

Every interval shown here belongs to the number beside it; the caption names the estimator.
It renders the assessment and the verdicts; it decides nothing.
"""

from __future__ import annotations

from ...assessment.layout import Assessment, Estimate
from ...assessment.operating import RULE_THRESHOLD
from ...assessment.verdicts import Outcome
from .. import text as T
from ..run import Run
from .cells import estimate_cell
from .comparison import size_mix


def _row(run: Run, name: str, assessment: Assessment) -> dict:
    """One model's row of the verdict table."""
    base, headline = assessment.baseline, assessment.headline
    cv = run.entry(name).cv
    rows = run.rows(name, assessment.evaluated_on)
    evaluated = (
        f"{cv.k} test folds, {_counted(assessment)}"
        if assessment.evaluated_on == "cv" and cv is not None
        else f"seed split only: {_counted(assessment)} that also chose the checkpoint"
    )
    return {
        "missing": False,
        "evaluated": evaluated,
        "honest": assessment.evaluated_on == "cv",
        "accuracy": estimate_cell(headline.accuracy, rows, "accuracy"),
        "baseline_accuracy": T.num(base.accuracy),
        "baseline_class": base.class_,
        "auc": estimate_cell(headline.roc_auc, rows, "roc_auc"),
        "recall": [
            {"name": cls, **_rate_cell(found, "found")} for cls, found in headline.recall.items()
        ],
        "sensitivity": _rate_cell(headline.sensitivity, "found"),
        "specificity": _rate_cell(headline.specificity, "cleared"),
        "baseline_auc": T.num(base.roc_auc),
        "alarms": [a.short or a.message for a in assessment.alarms],
    }


def _rate_cell(found: Estimate | None, what: str) -> dict | None:
    """A sensitivity or specificity cell, with the counts behind it (``43 of 102 …``)."""
    if found is None:
        return None
    cell = {**estimate_cell(found), "method": ""}  # the caption says how (clustered Wilson)
    counts = f"{found.successes} of {found.n} {what}" if found.successes is not None else ""
    cell["note"] = "; ".join(filter(None, (counts, cell.get("note"))))
    return cell


def _counted(assessment: Assessment) -> str:
    """``228 images of 129 patient or photo groups`` (images counted once each, repeats
    or not); the image count alone where every image is its own group."""
    images = assessment.n_images or assessment.n
    groups = assessment.n_groups
    if groups is None or groups >= images:
        return f"{images} images"
    return f"{images} images of {groups} patient or photo groups"


def decision_rule(run: Run) -> str:
    """The rule that turns probabilities into the classes the verdict counts."""
    if run.positive is not None:
        return (
            f"Decision rule: an image is called {run.positive} when its probability of "
            f"{run.positive} is at least {RULE_THRESHOLD:g} (the more probable class)."
        )
    return (
        "Decision rule: each image is called the class the model finds most probable; "
        "a class's recall is the share of its images called that class."
    )


def architecture_sentence(run: Run, pairs: list[dict]) -> str:
    """The architecture verdict in one sentence (several pairs: one clause each), put in
    words from the verdicts the assessment decided."""
    names = list(run.models) or list(run.metrics.models)
    if len(names) < 2:
        return f"One model only ({', '.join(names)}): there is no architecture to compare."
    if not pairs:
        return (
            "No architecture verdict: paired tests need cross-validated predictions of both "
            "models on the same test images, and this run has none."
        )
    text = " ".join(_architecture_clause(p) for p in pairs)
    mix = size_mix(run)
    if mix:
        text += " " + mix
    return text


def _architecture_clause(pair: dict) -> str:
    """One pair's clause: the primary test's outcome and the size of the difference; no
    size where a model did not learn the task, since it measures no design."""
    decided = pair["verdict_decided"]
    clause = T.short_verdict(decided)
    if decided.outcome is Outcome.NOT_DESIGNS or not pair.get("effect_sentence"):
        return clause
    return f"{clause} {pair['effect_sentence']}"


def first_screen(run: Run, sections: list[dict], pairs: list[dict]) -> dict:
    """The context of the verdict block (``sections``: the per-model sections, for links)."""
    rows = []
    alarms = {}
    for section in sections:
        name = section["name"]
        assessment = run.assessment(name)
        if assessment is None:
            rows.append({"name": name, "anchor": section["anchor"], "missing": True})
            continue
        alarms[name] = [a.message for a in assessment.alarms]
        rows.append({"name": name, "anchor": section["anchor"], **_row(run, name, assessment)})
    shown = [r for r in rows if not r["missing"]]
    evaluated = {r["evaluated"] for r in shown}
    return {
        "rows": rows,
        "alarms": alarms,
        "any_alarm": any(alarms.values()),
        "architecture": architecture_sentence(run, pairs),
        "rule": decision_rule(run),
        "positive": run.positive,
        "rates": any(r.get("sensitivity") for r in rows),
        "recalls": any(r.get("recall") for r in rows),
        # one line above the table when every model was evaluated alike, else a column
        "evaluated": next(iter(evaluated)) if len(evaluated) == 1 else None,
        "auc_label": _auc_label(run),
        "caption": _caption(run, shown),
    }


def _auc_label(run: Run) -> str:
    """The AUC's column name: with more than two classes, how one number was made of the
    classes' curves."""
    return "AUC" if run.positive is not None else "AUC (one-vs-rest, macro)"


def _caption(run: Run, rows: list[dict]) -> str:
    """What the numbers of the verdict table are and how their intervals were made, as the
    intervals beside them record it."""
    proportions = (
        "accuracy, sensitivity and specificity"
        if run.positive is not None
        else "accuracy and each class's recall"
    )
    auc = (
        "AUC"
        if run.positive is not None
        else f"AUC (each class against the rest, averaged over the {len(run.classes)} classes)"
    )
    return (
        "Each number is the pooled estimate over every held-out test image, each predicted "
        "by the fold model that never saw it, with its 95 % interval on those images: "
        f"{proportions} by {_accuracy_interval_words(rows)}; {auc} by "
        f"{_auc_interval_words(rows)}. The baseline always answers the majority class; its "
        "AUC is 0.5 by construction."
    )


def _auc_interval_words(rows: list[dict]) -> str:
    """How the AUC intervals of the verdict table were computed, in words: each method the
    cells show (metrics.json's record of it), named once."""
    words = {
        "DeLong": "DeLong's interval",
        "cluster bootstrap": "a bootstrap that resamples whole patient groups",
        "bootstrap": "a percentile bootstrap",
    }
    methods = dict.fromkeys((r.get("auc") or {}).get("method", "") for r in rows)
    named = [words.get(m, m) for m in methods if m]
    return " and ".join(named) if named else "no interval"


def _accuracy_interval_words(rows: list[dict]) -> str:
    """How the accuracy intervals of the verdict table were computed, in words."""
    methods = {(r.get("accuracy") or {}).get("method", "") for r in rows}
    if any("design effect" in m or "clustered" in m for m in methods):
        return (
            "the Wilson score interval widened by the design effect of shared patients or "
            "image families (clustered Wilson)"
        )
    if any("Wilson" in m for m in methods):
        return "the Wilson score interval"
    if any("cluster" in m for m in methods):
        return "a bootstrap that resamples whole patients (cluster bootstrap)"
    return "an exact binomial interval where no other interval has a width, else a bootstrap"


def banner(run: Run) -> dict | None:
    """Every departure from the blog's settings, for any run; the demo's label on top."""
    departures = run.metrics.departures
    demo = run.runinfo.get("demo") or (
        {"label": None} if run.runinfo["dataset"].get("demo") else None
    )
    if not departures and not demo:
        return None
    changes = [f"{d.name}: {d.used} (the blog: {d.blog})" for d in departures]
    if demo:
        label = demo.get("label") or "synthetic demo data — not medical images"
        text = (
            "These images are drawn by a program to try the tool out. Nothing in this report "
            "says anything about monkeypox or any skin condition."
        )
    else:
        label = "Settings that depart from the blog's: its numbers are not the blog's protocol"
        text = ""
    if changes and demo:
        text += (
            " This run departs from the blog's settings, so its numbers are not the blog's "
            "protocol:"
        )
    return {"label": label, "text": text, "changes": changes, "demo": bool(demo)}
