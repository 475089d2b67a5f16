"""What a finished run prints on the terminal: per model the headline beside the baseline and
its warnings, each comparison's verdict, the departures from the blog's settings, the seed
split's accuracy with and without a copy in training, and where the report is. It renders
the assessment and the verdicts; it decides nothing."""

from __future__ import annotations

from pathlib import Path

from ..assessment.intervals import finite
from ..assessment.layout import Estimate, LeakagePart, RunMetrics, SeedLeakage
from ..assessment.operating import RULE_THRESHOLD
from ..assessment.verdicts import ComparisonVerdict, Outcome, decide_all, no_interval_reason


def _num(value) -> str:
    return f"{value:.3f}" if finite(value) else "n/a"


def _with_interval(found: Estimate) -> str:
    text = _num(found.estimate)
    if finite(found.low) and finite(found.high):
        return f"{text} (95 % CI {found.low:.3f}–{found.high:.3f})"
    return text + (f" ({no_interval_reason(found)})" if finite(found.estimate) else "")


def _model_lines(metrics: RunMetrics, width: int) -> list[str]:
    lines = []
    for name, entry in metrics.models.items():
        found = entry.assessment
        if not found:
            lines.append(f"  {name:<{width}}  no finished unit")
            continue
        head, base = found.headline, found.baseline
        where = (
            f"{entry.cv.k} test folds"
            if found.evaluated_on == "cv" and entry.cv is not None
            else "seed split only, whose images chose the checkpoint"
        )
        lines.append(
            f"  {name:<{width}}  accuracy {_with_interval(head.accuracy)} vs baseline "
            f"{_num(base.accuracy)} (always {base.class_}); AUC "
            f"{_with_interval(head.roc_auc)} vs 0.500; {where}"
        )
        if head.sensitivity is not None and head.specificity is not None:
            sens, spec = head.sensitivity, head.specificity
            groups = f" of {found.n_groups} groups" if found.n_groups else ""
            lines.append(
                f"  {'':<{width}}  at P({metrics.positive_class}) >= {RULE_THRESHOLD:g}: "
                f"sensitivity {_with_interval(sens)}, "
                f"{sens.successes} of {sens.n}; specificity {_with_interval(spec)}, "
                f"{spec.successes} of {spec.n} ({found.n_images or found.n} images{groups})"
            )
        for alarm in found.alarms:
            lines.append(f"  {'':<{width}}  WARNING: {name} {alarm.message}")
        seed = entry.seed_split
        if seed is not None and finite(seed.best_val_accuracy):
            lines.append(
                f"  {'':<{width}}  blog-style seed split: best validation accuracy "
                f"{seed.best_val_accuracy:.3f} on {seed.n_val} images that also chose the epoch"
            )
    return lines


def verdict_clause(verdict: ComparisonVerdict) -> str:
    """A comparison's verdict after ``a vs b, corrected t over folds (primary test):``."""
    outcome = verdict.outcome
    if outcome is Outcome.NOT_DESIGNS:
        names = verdict.warned_models
        have = "has" if len(names) == 1 else "have"
        return f"not a comparison of designs ({' and '.join(names)} {have} warnings)"
    if outcome is Outcome.NO_TEST:
        return f"no primary test ({verdict.reason})"
    if outcome is Outcome.NO_VARIANCE:
        return f"no evidence either way ({verdict.reason}, so the test is undefined)"
    if outcome is Outcome.FAVOURS:
        return f"evidence that {verdict.favoured} is more accurate ({verdict.p_text})"
    if outcome is Outcome.INCONCLUSIVE:
        return f"inconclusive ({verdict.p_text}, but {verdict.reason})"
    return f"no evidence of a difference in accuracy ({verdict.p_text})"


def summary_lines(metrics: RunMetrics) -> list[str]:
    """The result a user reads first in the terminal: per model the pooled accuracy and AUC
    with their intervals beside the majority-class baseline, the warnings, the primary test,
    and the departures from the blog's settings."""
    rules = {e.optimism.rule for e in metrics.models.values() if e.optimism is not None}
    by = f" by {rules.pop()}" if len(rules) == 1 else ""
    lines = [
        "Results (pooled over the held-out test images; checkpoints chosen on inner "
        f"validation{by}):"
    ]
    width = max((len(name) for name in metrics.models), default=4)
    lines += _model_lines(metrics, width)
    for verdict in decide_all(metrics):
        lines.append(
            f"{verdict.a} vs {verdict.b}, corrected t over folds (primary test): "
            f"{verdict_clause(verdict)}"
        )
    if metrics.departures:
        listed = "; ".join(f"{d.name} {d.used} (blog {d.blog})" for d in metrics.departures)
        lines.append(f"Departs from the blog's settings: {listed}")
    return lines


def _leakage_text(leak: SeedLeakage) -> str:
    def _fmt(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def part(entry: LeakagePart) -> str:
        ci = f" (95% CI {_fmt(entry.low)}-{_fmt(entry.high)})" if entry.low is not None else ""
        return f"{_fmt(entry.accuracy)}{ci} on {entry.n}"

    return (
        "seed split accuracy on validation images with a copy or group member in training "
        f"{part(leak.with_sibling)}, without one {part(leak.without_sibling)}"
    )


def external_result_lines(metrics: RunMetrics) -> list[str]:
    """Per model: its fold models' figures on the external sets and the gap to the
    internal ones (none without external sets)."""
    found = metrics.external
    if found is None:
        return []
    left = "" if found.contaminated_included else ", left out"
    lines = [
        f"External validation ({found.n_images} images of "
        f"{', '.join(s.name for s in found.sources)}; {found.n_contaminated} with a copy "
        f"among the training images{left}):"
    ]
    for name, model in found.models.items():
        pooled = model.fold_models
        if pooled is None:
            continue
        text = f"  {name}  accuracy {_with_interval(pooled.accuracy)}"
        if pooled.roc_auc is not None:
            text += f"; AUC {_with_interval(pooled.roc_auc)}"
        lines.append(text + f" ({pooled.n_images} images, {pooled.n_clusters} clusters)")
        for metric, gap in model.gap.items():
            if metric in ("accuracy", "roc_auc"):
                lines.append(
                    f"      {'AUC' if metric == 'roc_auc' else metric} internal "
                    f"{gap.internal:.3f} vs external {gap.external:.3f}: gap "
                    f"{gap.difference:+.3f} (95 % CI {gap.low:+.3f} to {gap.high:+.3f})"
                )
    return lines


def print_summary(metrics: RunMetrics, report: Path) -> None:
    """The headline per model on stdout: what a user reads first (``--quiet`` too: it
    silences progress, not the result)."""
    lines = summary_lines(metrics)
    for name in metrics.models:
        leak = metrics.seed_leakage.get(name)
        if leak and leak.with_sibling.n:
            lines.append(f"  {name}: {_leakage_text(leak)}")
    lines += external_result_lines(metrics)
    print("\n".join([*lines, f"Report: {report}"]))
