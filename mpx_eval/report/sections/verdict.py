"""The first screen of the report: per model the honest accuracy and AUC with their own
intervals beside the trivial baseline, the alarms, the architecture verdict in one sentence,
and the banner of settings that depart from the blog's.

Every interval shown here belongs to the number beside it; the caption names the estimator.
"""

from __future__ import annotations

import shlex

from ..assessment import headline as A
from . import _text as T
from ._artefacts import Run


def interval_cell(value, ci: dict | None, *, proportion: tuple[int, int] | None = None) -> dict:
    """A number and its 95 % interval: the metrics' interval when it has a width, else the
    exact binomial interval of a proportion, else no interval ("n too small")."""
    if not A._finite(value):
        return {"value": "n/a", "ci": "", "method": "", "note": ""}
    if not A.usable(ci) and proportion is not None and proportion[1] > 0:
        ci = A.exact_interval(*proportion)
    if A.usable(ci):
        return {
            "value": T.num(value),
            "ci": T.interval(ci),
            "method": T.method_name(ci.get("method")),
            "note": "",
        }
    return {"value": T.num(value), "ci": "", "method": "", "note": "no interval: n too small"}


def fold_mean_cell(cv: dict, metric: str, counts: dict | None) -> dict:
    """The mean over the folds where ``metric`` is defined, with a t interval over them, and
    how many folds those are when some were left out."""
    values = [f.get(metric) for f in cv.get("folds") or []]
    ci = A.t_interval(values)
    mean = cv["mean"].get(metric)
    cell = {"value": T.num(mean), "ci": "", "method": "", "note": ""}
    if ci is not None and A.usable(ci):
        cell.update(ci=T.interval(ci), method=f"t over {ci['k']} folds")
    elif ci is not None:
        cell["note"] = "no interval: the same value on every fold"
    elif A._finite(mean):
        cell["note"] = "no interval: fewer than two folds"
    counted = (counts or {}).get(metric)
    if counted and counted["n"] < counted["of"]:
        cell["note"] = (cell["note"] + "; " if cell["note"] else "") + folds_note(counted)
    return cell


def folds_note(counted: dict) -> str:
    """``mean of 2 of 5 folds (folds 1, 3, 4: the model predicted no Monkeypox)``."""
    if not counted or counted["n"] >= counted["of"]:
        return ""
    by_reason: dict[str, list[int]] = {}
    for item in counted["left_out"]:
        by_reason.setdefault(item["reason"], []).append(item["fold"])
    why = "; ".join(
        f"fold{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))}: {reason}"
        for reason, folds in by_reason.items()
    )
    return f"mean of {counted['n']} of {counted['of']} folds ({why})"


def _headline_cell(entry: dict, key: str) -> dict:
    found = entry.get(key) or {}
    if A._finite(found.get("estimate")) and not A._finite(found.get("low")):
        return {
            "value": T.num(found["estimate"]),
            "ci": "",
            "method": "",
            "note": found.get("no_interval") or "no interval: n too small",
        }
    return interval_cell(found.get("estimate"), found)


def _sizes(run: Run) -> dict[str, int]:
    return {
        name: int(info["input_shape"][0])
        for name, info in run.models.items()
        if info.get("input_shape")
    }


def one_size_command(run: Run) -> str | None:
    """The run's command again with one ``--image-size`` for every model (the smallest of
    their sizes) and its own output folder, or None when the models share a size."""
    sizes = _sizes(run)
    if len(set(sizes.values())) < 2:
        return None
    size = min(sizes.values())
    command = [str(c) for c in run.runinfo.get("command") or ["python", "-m", "mpx_eval", "run"]]
    kept, skip = [], False
    for arg in command:
        if skip:
            skip = False
            continue
        if arg in ("--image-size", "--out", "--overwrite"):
            skip = arg != "--overwrite"
            continue
        if arg.startswith(("--image-size=", "--out=")):
            continue
        kept.append(arg)
    out = f"{str(run.out).rstrip('/')}-size{size}"
    return shlex.join([*kept, "--image-size", str(size), "--out", out])


def size_mix(run: Run) -> str | None:
    """The sentence that says a comparison mixes input size and design, or None."""
    sizes = _sizes(run)
    if len(set(sizes.values())) < 2:
        return None
    listed = ", ".join(f"{name} {size} px" for name, size in sizes.items())
    return (
        f"The models also differ in input size ({listed}), so this comparison mixes size and "
        "design."
    )


def architecture_sentence(run: Run, pairs: list[dict], alarms: dict[str, list[str]]) -> str:
    """The architecture verdict in one sentence (several pairs: one clause each)."""
    names = list(run.models) or list(run.metrics["models"])
    if len(names) < 2:
        return f"One model only ({', '.join(names)}): there is no architecture to compare."
    if not pairs:
        return (
            "No architecture verdict: paired tests need cross-validated predictions of both "
            "models on the same test images, and this run has none."
        )
    clauses = [T.short_verdict(p["comparison"], p["tests"], alarms=alarms) for p in pairs]
    text = " ".join(clauses)
    mix = size_mix(run)
    if mix:
        text += " " + mix
    return text


def build(run: Run, sections: list[dict], pairs: list[dict]) -> dict:
    """The context of the verdict block (``sections``: the per-model sections, for links)."""
    metrics = run.metrics
    rows = []
    alarms = {}
    for section in sections:
        name = section["name"]
        entry = metrics["models"].get(name) or {}
        assessment = entry.get("assessment")
        if not assessment:
            rows.append({"name": name, "anchor": section["anchor"], "missing": True})
            continue
        base = assessment["baseline"]
        headline = assessment["headline"]
        found = assessment.get("alarms") or []
        alarms[name] = [a["message"] for a in found]
        cv = entry.get("cv")
        evaluated = (
            f"{cv['k']} test folds, {assessment['n']} images"
            if assessment["evaluated_on"] == "cv"
            else f"seed split only: {assessment['n']} images that also chose the checkpoint"
        )
        rows.append(
            {
                "name": name,
                "anchor": section["anchor"],
                "missing": False,
                "evaluated": evaluated,
                "honest": assessment["evaluated_on"] == "cv",
                "accuracy": _headline_cell(headline, "accuracy"),
                "baseline_accuracy": T.num(base.get("accuracy")),
                "baseline_class": base.get("class"),
                "auc": _headline_cell(headline, "roc_auc"),
                "baseline_auc": T.num(base.get("roc_auc")),
                "alarms": [a.get("short") or a["message"] for a in found],
            }
        )
    return {
        "rows": rows,
        "alarms": alarms,
        "any_alarm": any(alarms.values()),
        "architecture": architecture_sentence(run, pairs, alarms),
        "caption": (
            "Each number is the pooled estimate over every held-out test image (each image "
            "predicted by the fold model that never saw it), and its 95 % interval is computed "
            "on those same pooled images: accuracy with "
            + _accuracy_interval_words(rows)
            + "; AUC with "
            "DeLong's interval. The baseline always answers the majority class: its accuracy "
            "is that class's share, its AUC 0.5. Fold means with t intervals are in the "
            "detailed results."
        ),
    }


def _accuracy_interval_words(rows: list[dict]) -> str:
    """How the accuracy intervals of the verdict table were computed, in words."""
    methods = {(r.get("accuracy") or {}).get("method", "") for r in rows}
    if any("design effect" in m or "clustered" in m for m in methods):
        return (
            "the Wilson score interval, widened by the design effect of images that share a "
            "patient or image family (clustered Wilson)"
        )
    if any("Wilson" in m for m in methods):
        return "the Wilson score interval"
    if any("cluster" in m for m in methods):
        return "a bootstrap that resamples whole patients (cluster bootstrap)"
    return "an exact binomial interval where no other interval has a width, else a bootstrap"


def banner(run: Run) -> dict | None:
    """Every departure from the blog's settings, for any run; the demo's label on top."""
    departures = run.metrics.get("departures") or []
    demo = run.runinfo.get("demo") or (
        {"label": None} if run.runinfo["dataset"].get("demo") else None
    )
    if not departures and not demo:
        return None
    changes = [f"{d['name']}: {d['used']} (the blog: {d['blog']})" for d in departures]
    if demo:
        label = demo.get("label") or "synthetic demo data — not medical images"
        text = (
            "These images are drawn by a program to try the tool out. Nothing in this report "
            "says anything about monkeypox or any skin condition."
        )
    else:
        label = "Settings that depart from the blog's"
        text = ""
    if changes:
        text += (" " if text else "") + (
            "This run departs from the blog's settings, so its numbers are not the blog's protocol:"
        )
    return {"label": label, "text": text, "changes": changes, "demo": bool(demo)}
