"""Numbers as text, and the report's plain-language sentences: the checkpoint rules, the blog's
checkpoint rule, the seed split beside the honest estimate, the paired tests and the
verdicts (rendered from :mod:`mpx_eval.assessment.verdicts`, never decided here).

Sentences are built from numbers only; the templates escape every string they print.
"""

from __future__ import annotations

from ..assessment.intervals import HasEnds, finite, usable
from ..assessment.layout import Estimate
from ..assessment.verdicts import ALPHA, PRIMARY_TEST, ComparisonVerdict, Outcome
from ..assessment.verdicts import p_text as pvalue
from ..summary.checkpoints import RULES
from ..summary.layout import Comparison, CrossValidation, Effect, Optimism, SeedSplit

_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "f1_macro": "F1 (macro average of the classes)",
    "mcc": "Matthews correlation",
    "kappa": "Cohen's kappa",
    "roc_auc": "AUC (ROC)",
    "average_precision": "Average precision",
    "brier": "Brier score (lower is better)",
    "ece": "Calibration error, ECE (lower is better)",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "Positive predictive value",
    "npv": "Negative predictive value",
}

#: With more than two classes, labels that say how a per-class score became one number.
_MULTICLASS_LABELS = {
    "roc_auc": "AUC (one-vs-rest, macro)",
    "average_precision": "Average precision (one-vs-rest, macro)",
}

#: Metrics that repeat another with more than two classes: metrics.json records ``f1`` as
#: the macro F1 there, the value of ``f1_macro``, so a table lists it once.
_MULTICLASS_COPIES = {"f1": "f1_macro"}


def metric_label(name: str, positive: str | None) -> str:
    """A reader's name for a metric; the positive class is named where it matters, and a
    multi-class average says how it was taken."""
    label = _LABELS.get(name, name.replace("_", " "))
    if positive is not None and name in ("f1", "sensitivity", "ppv"):
        return f"{label} ({positive})"
    if positive is None:
        if name in _MULTICLASS_COPIES:
            return metric_label(_MULTICLASS_COPIES[name], positive)
        return _MULTICLASS_LABELS.get(name, label)
    return label


def reported_metrics(names, positive: str | None) -> list[str]:
    """``names`` without the metrics that only repeat another one (more than two classes:
    ``f1`` is ``f1_macro``), so that each row of a table is a metric of its own."""
    names = list(names)
    if positive is not None:
        return names
    return [n for n in names if _MULTICLASS_COPIES.get(n) not in names]


def num(value, digits: int = 3) -> str:
    """``0.942``; ``n/a`` for a value that is undefined on these images."""
    # Adding 0.0 turns the -0.0 of a value that rounds to zero into 0.0.
    return f"{round(value, digits) + 0.0:.{digits}f}" if finite(value) else "n/a"


def pm(mean, std, digits: int = 3) -> str:
    """``0.942 ± 0.030`` (the spread over folds), or the mean alone without a spread."""
    if not finite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if finite(std) else f"{mean:.{digits}f}"


def interval(ci: HasEnds | None, digits: int = 3) -> str:
    """``0.901–0.970``, or an empty string when there is no interval.

    A zero-width interval (a bootstrap whose every resample gave the same value) is no
    interval at all: it is left out rather than shown as ``1.000–1.000``.
    """
    if not usable(ci):
        return ""
    return f"{ci.low:.{digits}f}–{ci.high:.{digits}f}"


def method_name(method: str | None) -> str:
    """A short name of how an interval was computed, for captions and cell notes."""
    text = str(method or "")
    if "Wilson" in text:
        return "Wilson, clustered" if "design effect" in text else "Wilson"
    if "exact" in text:
        return "exact binomial"
    if "DeLong" in text:
        return "DeLong"
    if "group" in text:
        return "cluster bootstrap"
    if "percentile" in text or "BCa" in text or "bootstrap" in text:
        return "bootstrap"
    return text or "n/a"


def seconds(value) -> str:
    """``0.37 s``, ``13.1 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if not finite(value):
        return "n/a"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def integer(value) -> str:
    return f"{int(value):,}" if finite(value) else "n/a"


def fraction(value) -> str:
    """``12.5 %`` for 0.125."""
    return f"{100 * value:g} %" if finite(value) else "n/a"


# --------------------------------------------------------------------------- sentences


def checkpoint_sentence(optimism: Optimism, honest: Estimate | None = None) -> str:
    """The run's checkpoint rule, what the other honest rules give, whether their spread is
    selection noise (within the headline interval) or more, and what choosing on the test
    images would have claimed, in plain words. ``honest``: the headline accuracy."""
    chosen, best = optimism.chosen, optimism.best_epoch_on_test
    if not finite(chosen):
        return ""
    described = RULES[optimism.rule].description if optimism.rule in RULES else optimism.rule
    text = (
        f"Each fold's epoch was chosen by the rule fixed before the run, {optimism.rule} "
        f"({described}); at those epochs the test folds score {chosen:.3f} on average."
    )
    rules = [r for r in optimism.rules if r.honest and finite(r.mean)]
    if len(rules) > 1:
        low = min(rules, key=lambda r: r.mean)
        high = max(rules, key=lambda r: r.mean)
        spread = high.mean - low.mean
        text += (
            f" All the honest rules, each choosing on the inner validation part only, give "
            f"between {low.mean:.3f} ({low.rule}) and {high.mean:.3f} ({high.rule})."
        )
        if honest is not None and finite(honest.low) and finite(honest.high):
            half = (honest.high - honest.low) / 2
            if spread <= half:
                text += (
                    f" A spread of {spread:.3f}, within the headline's 95 % interval "
                    f"(±{half:.3f}), is selection noise: where a rule lands on a noisy curve, "
                    "not a difference in skill."
                )
            else:
                text += (
                    f" A spread of {spread:.3f} is wider than the headline's 95 % interval "
                    f"(±{half:.3f}): on this data the epoch matters, which is why the rule "
                    "is fixed in advance rather than picked after seeing these numbers."
                )
    if finite(best) and best - chosen >= 0.0005:
        text += (
            f" Choosing each fold's epoch on its own test images, which no honest protocol "
            f"can do, would have claimed {best:.3f}."
        )
    return text


def seed_sentence(
    seed: SeedSplit,
    cv: CrossValidation | None,
    split_seed,
    epochs,
    *,
    honest: Estimate | None = None,
    n_classes: int = 2,
) -> str:
    """The blog-style number beside the honest one, described by its procedure, and the
    difference between them read for what it is on so few images: mostly selection and
    the luck of one split, not a measure of the blog's figure (which is for two classes).

    ``honest`` is the cross-validated pooled accuracy with its interval, as the headline
    shows it.
    """
    best_val = seed.best_val_accuracy
    if not finite(best_val):
        return ""
    over = f" over {epochs} epochs" if epochs else ""
    which = f"the single seed-{split_seed} split" if split_seed is not None else "the seed split"
    text = (
        f"Reported the blog's way — the best validation accuracy{over} on {which} "
        f"({seed.n_val} images) — this model scores {best_val:.3f}. The same images chose "
        "the checkpoint and then graded it, so that figure is not independent of the choice."
    )
    if n_classes > 2:
        text += (
            f" The blog reported two classes; here its procedure is applied to {n_classes}, "
            "so no figure of the blog's is being checked."
        )
    estimate = honest.estimate if honest is not None else None
    if cv is None or not finite(estimate):
        return text + " This run has no cross-validation, so no honest estimate is available."
    ci = interval(honest)
    text += (
        f" Cross-validated, where the test images never influence any choice, the pooled "
        f"accuracy over {cv.k} test folds ({cv.n} images) is {estimate:.3f}"
        + (f" (95 % CI {ci})." if ci else ".")
    )
    return text + _gap_sentence(best_val - estimate, seed.n_val)


def _gap_sentence(gap: float, n_val) -> str:
    """The seed split's figure minus the cross-validated one, read neutrally."""
    if abs(gap) < 0.0005:
        return " In this run the two figures agree."
    if gap > 0:
        return (
            f" In this run the seed-split figure is {gap:.3f} higher. On {n_val} validation "
            "images such a gap is mostly selection (the epoch picked on the images that grade "
            "it) and the luck of one small split, so it describes this procedure on this "
            "data, not the size of an error in any published figure."
        )
    return (
        f" In this run the seed-split figure came out {-gap:.3f} lower: on {n_val} images "
        "one split's figure can land anywhere in a wide range, and a lower number does not "
        "make the procedure sound."
    )


# --------------------------------------------------------------------------- comparisons


def _corrected_t_row(comparison: Comparison) -> dict | None:
    t = comparison.corrected_t
    if t is None:
        return None
    a, b = comparison.a, comparison.b
    statistic = f"t = {num(t.t, 2)}, df = {t.df}"
    if t.undefined_reason == "no_variance":
        statistic = (
            "not computed: the accuracy difference is the same in every fold, so the "
            "test has no variance to judge it by (this is not certainty)"
        )
    return {
        "key": "corrected_t",
        "name": "Corrected repeated k-fold t-test (Bouckaert–Frank)"
        if comparison.repeats > 1
        else "Corrected resampled t-test (Nadeau–Bengio)",
        "what": f"per-fold accuracy over {comparison.k} folds: "
        f"{a} {num(comparison.mean_a)} vs {b} {num(comparison.mean_b)}",
        "statistic": statistic,
        "p": t.p,
    }


def _mcnemar_name(method: str) -> str:
    """The McNemar test's name for the method ``mcnemar_test`` recorded."""
    if "Durkalski" in method:
        return "McNemar's test for grouped images (Durkalski et al., per-group proportions)"
    if method.startswith("clustered"):
        return "McNemar's test for grouped images (Obuchowski, cluster counts)"
    return "McNemar's exact test"


def _mcnemar_row(comparison: Comparison) -> dict:
    a, b, m = comparison.a, comparison.b, comparison.mcnemar
    return {
        "key": "mcnemar",
        "name": _mcnemar_name(m.method),
        "what": f"images only {a} got right: {m.n_a_only}; only {b}: "
        f"{m.n_b_only} (of {comparison.n_paired} paired test images)",
        "statistic": f"discordant pairs {m.n_a_only} / {m.n_b_only}",
        "p": m.p,
    }


def _delong_row(comparison: Comparison) -> dict | None:
    d = comparison.delong
    if d is None:
        return None
    return {
        "key": "delong",
        "name": "DeLong's test",
        "what": f"pooled AUC: {comparison.a} {num(d.auc_a)} vs {comparison.b} {num(d.auc_b)}",
        "statistic": f"z = {num(d.z, 2)}",
        "p": d.p,
    }


def useful_ranges(thresholds, model, treat_all) -> list[tuple[float, float]]:
    """The runs of threshold probabilities where the model's net benefit exceeds both
    treating everyone and treating no one."""
    ranges: list[tuple[float, float]] = []
    start = None
    previous = None
    for t, nb, everyone in zip(thresholds, model, treat_all, strict=True):
        better = finite(nb) and nb > max(everyone if finite(everyone) else 0.0, 0.0) + 1e-12
        if better and start is None:
            start = t
        if not better and start is not None:
            ranges.append((start, previous))
            start = None
        previous = t
    if start is not None:
        ranges.append((start, previous))
    return _steady(ranges)


def _steady(ranges: list[tuple[float, float]], gap: float = 0.025, width: float = 0.025):
    """Runs closer than ``gap`` joined, then runs narrower than ``width`` dropped: a curve
    that crosses a reference back and forth on a small data set is read as one run, and a
    blip of one or two thresholds as none."""
    joined: list[tuple[float, float]] = []
    for start, end in ranges:
        if joined and start - joined[-1][1] <= gap:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return [(a, b) for a, b in joined if b - a >= width]


def net_benefit_sentence(name: str, thresholds, model, treat_all) -> str:
    """``At threshold probabilities from 10 % to 40 %, acting on t4's call does better than
    treating everyone or treating no one``, in plain words."""
    ranges = useful_ranges(thresholds, model, treat_all)
    if not ranges:
        return (
            f"At no threshold probability does acting on {name}'s call do better than "
            "treating everyone or treating no one."
        )
    spans = " and ".join(f"from {100 * a:.0f} % to {100 * b:.0f} %" for a, b in ranges)
    return (
        f"At threshold probabilities {spans}, acting on {name}'s call does better than "
        "treating everyone or treating no one."
    )


def signed(value, digits: int = 3) -> str:
    """``+0.042``, ``−0.067`` (a true minus sign), ``n/a``."""
    if not finite(value):
        return "n/a"
    text = f"{abs(value):.{digits}f}"
    return ("−" if value < 0 and float(text) != 0 else "+") + text


def effect_text(effect: Effect) -> str:
    """``+0.042 (95 % CI −0.067 to +0.148)``, or the difference with why it has no interval."""
    if finite(effect.low) and finite(effect.high):
        return (
            f"{signed(effect.difference)} (95 % CI {signed(effect.low)} to {signed(effect.high)})"
        )
    return f"{signed(effect.difference)} ({effect.reason or 'no interval'})"


def comparison_effects(comparison: Comparison) -> list[dict]:
    """The effect sizes of one pair (a − b), each with what it measures and how."""
    effects = comparison.effects
    if effects is None:
        return []
    rows = (
        ("Accuracy, pooled test images (paired)", effects.accuracy),
        ("AUC, pooled test images (paired)", effects.roc_auc),
        ("Mean of the per-fold accuracy differences", effects.fold_mean_accuracy),
    )
    return [
        {"what": what, "text": effect_text(effect), "method": effect.method}
        for what, effect in rows
        if effect is not None
    ]


def effect_sentence(comparison: Comparison) -> str:
    """``t3 − t4: +0.042 accuracy, 95 % CI −0.067 to +0.148`` (pooled images), for a verdict."""
    effects = comparison.effects
    if effects is None or not finite(effects.accuracy.difference):
        return ""
    acc = effects.accuracy
    text = f"{comparison.a} − {comparison.b}: {signed(acc.difference)} accuracy"
    if finite(acc.low) and finite(acc.high):
        text += f", 95 % CI {signed(acc.low)} to {signed(acc.high)}"
    auc = effects.roc_auc
    if auc is not None and finite(auc.difference):
        text += f"; {signed(auc.difference)} AUC"
        if finite(auc.low) and finite(auc.high):
            text += f", 95 % CI {signed(auc.low)} to {signed(auc.high)}"
    return text + " (paired, on the pooled test images)."


def comparison_tests(
    comparison: Comparison, *, primary: str = PRIMARY_TEST, alpha: float = ALPHA
) -> list[dict]:
    """The paired tests of one pair, each with its statistic, p-value, what it compares, and
    its role: the primary test (declared in advance) decides the verdict, the others do not."""
    rows = (_corrected_t_row(comparison), _mcnemar_row(comparison), _delong_row(comparison))
    tests = [row for row in rows if row is not None]
    for test in tests:
        test["p_text"] = pvalue(test["p"], alpha=alpha)
        test["significant"] = finite(test["p"]) and test["p"] < alpha
        test["role"] = "primary" if test["key"] == primary else "secondary"
    return tests


def _favours_text(verdict: ComparisonVerdict, secondary: list[dict]) -> str:
    text = (
        f"Evidence that {verdict.favoured} is more accurate than {verdict.other}: the primary "
        f"test ({verdict.test_name}) gives {verdict.p_text}."
    )
    against = [t["name"] for t in secondary if not t["significant"]]
    if against:
        text += f" Not confirmed by the secondary {', '.join(against)} (p ≥ {verdict.alpha})."
    return text


def _no_evidence_text(verdict: ComparisonVerdict, secondary: list[dict]) -> str:
    a, b, diff = verdict.a, verdict.b, verdict.mean_difference
    text = (
        f"No evidence of a difference in accuracy between {a} and {b} at this sample size: "
        f"the primary test ({verdict.test_name}) gives {verdict.p_text}."
    )
    if finite(diff) and abs(diff) >= 0.0005:
        higher, lower = (a, b) if diff > 0 else (b, a)
        text += (
            f" {higher}'s mean accuracy is {abs(diff):.3f} higher than {lower}'s, a gap "
            f"that chance alone could produce with {verdict.n_images} test images."
        )
    leads = [f"{t['name']} ({t['p_text']})" for t in secondary if t["significant"]]
    if leads:
        text += (
            f" A secondary test reaches p < {verdict.alpha} ({', '.join(leads)}); it was not "
            "declared in advance and treats the images as independent, so it is a lead to "
            "check with more data, not evidence."
        )
    return text + " This does not show that the models are equally good."


def verdict(verdict: ComparisonVerdict, tests: list[dict]) -> str:
    """The comparison section's verdict of one pair, in full sentences; ``tests`` are the
    rows of :func:`comparison_tests` (the secondary ones are named, and decide nothing)."""
    a, b = verdict.a, verdict.b
    secondary = [t for t in tests if t["role"] == "secondary"]
    outcome = verdict.outcome
    if outcome is Outcome.NOT_DESIGNS:
        parts = "; ".join(f"{name} {alarm}" for name, alarm in verdict.warned)
        return (
            f"Not a comparison of designs: {parts}. A model that did not learn to tell the "
            f"classes apart cannot show whether {a} or {b} is the better architecture; "
            "train longer or check the data before reading the tests below."
        )
    if outcome is Outcome.NO_VARIANCE:
        return (
            f"No evidence either way from the primary test: the accuracy difference between {a} "
            f"and {b} is the same in every fold, so the corrected t-test is undefined (zero "
            "variance is not certainty). The secondary tests below are shown for information "
            "and decide nothing."
        )
    if outcome is Outcome.NO_TEST:
        return (
            "No verdict: the primary test (the corrected t-test over folds) needs at least two "
            "folds that both models finished. The secondary tests below are shown for "
            "information and decide nothing."
        )
    if outcome is Outcome.INCONCLUSIVE:
        return (
            f"The primary test gives {verdict.p_text} but {verdict.reason}; treat the "
            "comparison as inconclusive."
        )
    if outcome is Outcome.FAVOURS:
        return _favours_text(verdict, secondary)
    return _no_evidence_text(verdict, secondary)


def short_verdict(verdict: ComparisonVerdict) -> str:
    """One clause of the architecture verdict for the first screen: the primary test's
    outcome, or why there is no comparison of designs."""
    a, b, outcome = verdict.a, verdict.b, verdict.outcome
    where = f"primary test, {verdict.test_name}, {verdict.p_text}"
    if outcome is Outcome.NOT_DESIGNS:
        return f"{a} vs {b}: not a comparison of designs, since {verdict.reason}."
    if outcome is Outcome.NO_TEST:
        return f"{a} vs {b}: no verdict ({verdict.reason})."
    if outcome is Outcome.NO_VARIANCE:
        return (
            f"{a} vs {b}: no evidence either way ({verdict.reason}, so the primary test is "
            "undefined)."
        )
    if outcome is Outcome.INCONCLUSIVE:
        return f"{a} vs {b}: inconclusive ({where}, but {verdict.reason})."
    if outcome is Outcome.FAVOURS:
        return f"Evidence that {verdict.favoured} is more accurate than {verdict.other} ({where})."
    return f"No evidence that {a} and {b} differ in accuracy ({where})."
